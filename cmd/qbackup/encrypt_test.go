package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/cli"
)

func newAgeKey(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestEncryptedBackupsThroughTheCommandLine: a backup encrypted for two
// recipients (a key and a recipients file), then verify and restore with and without the identity, and
// the bad inputs, each with its exit code and message. No output ever
// holds a secret key.
func TestEncryptedBackupsThroughTheCommandLine(t *testing.T) {
	s := startCLISim(t, qdrantsim.Options{})
	ops, dr, stranger := newAgeKey(t), newAgeKey(t), newAgeKey(t)
	dir := t.TempDir()
	recipientsFile := filepath.Join(dir, "recipients.txt")
	if err := os.WriteFile(recipientsFile, []byte("# disaster-recovery key\n"+dr.Recipient().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	drIdentityFile := filepath.Join(dir, "dr.key")
	if err := os.WriteFile(drIdentityFile, []byte("# created: today\n# public key: "+dr.Recipient().String()+"\n"+dr.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{ops.String(), dr.String(), stranger.String()}
	noSecret := func(t *testing.T, outputs ...string) {
		t.Helper()
		for _, o := range outputs {
			for _, k := range secrets {
				if strings.Contains(o, k) || strings.Contains(o, k[16:40]) {
					t.Fatalf("output holds a secret key:\n%s", o)
				}
			}
		}
	}
	collections := func(t *testing.T) []string {
		t.Helper()
		names, err := s.c.Peers()[0].ListCollections(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		return names
	}

	t.Run("an invalid recipient is refused before anything is written", func(t *testing.T) {
		code, out, errOut := qbackup(t, s.args("backup", "--encrypt-recipient=age1typo")...)
		if code != cli.ExitUsage || !strings.Contains(errOut, `"age1typo"`) || !strings.Contains(errOut, "--encrypt-recipient") {
			t.Fatalf("exit %d, stderr %s; want %d naming the recipient and the flag", code, errOut, cli.ExitUsage)
		}
		code, _, errOut = qbackup(t, s.args("backup", "--encrypt-recipient="+ops.String())...)
		if code != cli.ExitUsage || !strings.Contains(errOut, "secret key") {
			t.Fatalf("a secret key as recipient: exit %d, stderr %s", code, errOut)
		}
		// The variable is read when the flag is not given.
		t.Setenv("QBACKUP_ENCRYPT_RECIPIENTS", filepath.Join(dir, "nonexistent.txt"))
		code, _, errOut = qbackup(t, s.args("backup")...)
		if code != cli.ExitUsage || !strings.Contains(errOut, "QBACKUP_ENCRYPT_RECIPIENTS") || !strings.Contains(errOut, "nonexistent.txt") {
			t.Fatalf("a recipients file that does not exist: exit %d, stderr %s", code, errOut)
		}
		noSecret(t, out, errOut)
		if entries, _ := os.ReadDir(strings.TrimPrefix(s.storage, "file://")); len(entries) != 0 {
			t.Fatalf("refused backups wrote %d entries", len(entries))
		}
	})

	out := mustQbackup(t, s.args("backup", "--encrypt-recipient="+ops.Recipient().String(), "--encrypt-recipient="+recipientsFile, "--compression=zstd")...)
	if !strings.Contains(out, "complete") {
		t.Fatalf("backup report: %s", out)
	}
	// Listing needs no key: the manifest is readable.
	out = mustQbackup(t, storeArgs(s, "list")...)
	noSecret(t, out)
	// describe tells which keys open the set, without any key.
	out = mustQbackup(t, storeArgs(s, "describe", "latest")...)
	if !strings.Contains(out, "Encrypted:       age for ") || !strings.Contains(out, ops.Recipient().String()) || !strings.Contains(out, dr.Recipient().String()) {
		t.Fatalf("describe does not name the recipients:\n%s", out)
	}

	refusals := []struct {
		name     string
		env      map[string]string
		wantCode int
		want     []string
	}{
		{"without an identity", nil, cli.ExitUsage, []string{ops.Recipient().String(), dr.Recipient().String(), "QBACKUP_AGE_IDENTITY", "QBACKUP_AGE_IDENTITY_FILE"}},
		{"with a wrong identity", map[string]string{"QBACKUP_AGE_IDENTITY": stranger.String()}, cli.ExitUsage, []string{ops.Recipient().String(), stranger.Recipient().String()}},
		{"with an unreadable identity file", map[string]string{"QBACKUP_AGE_IDENTITY_FILE": filepath.Join(dir, "missing.key")}, cli.ExitUsage, []string{"QBACKUP_AGE_IDENTITY_FILE", "missing.key"}},
		{"with an identity that is not a key", map[string]string{"QBACKUP_AGE_IDENTITY": "AGE-SECRET-KEY-1NOTAKEY"}, cli.ExitUsage, []string{"QBACKUP_AGE_IDENTITY", "line 1"}},
		{"with both identity variables", map[string]string{"QBACKUP_AGE_IDENTITY": ops.String(), "QBACKUP_AGE_IDENTITY_FILE": drIdentityFile}, cli.ExitUsage, []string{"keep one"}},
	}
	for _, cmd := range []string{"verify", "restore"} {
		for _, tt := range refusals {
			t.Run(cmd+" "+tt.name, func(t *testing.T) {
				for k, v := range tt.env {
					t.Setenv(k, v)
				}
				before := collections(t)
				args := storeArgs(s, "verify", "latest")
				if cmd == "restore" {
					args = s.args("restore", "latest", "--rename=_r")
				}
				code, out, errOut := qbackup(t, args...)
				if code != tt.wantCode {
					t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.wantCode, errOut)
				}
				for _, w := range tt.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("stderr does not name %q:\n%s", w, errOut)
					}
				}
				noSecret(t, out, errOut)
				if got := collections(t); !slices.Equal(got, before) {
					t.Fatalf("the refused %s changed the collections: %v, was %v", cmd, got, before)
				}
			})
		}
	}

	t.Run("verify and restore with the identity", func(t *testing.T) {
		t.Setenv("QBACKUP_AGE_IDENTITY", ops.String())
		out := mustQbackup(t, storeArgs(s, "verify", "latest")...)
		if !strings.Contains(out, "intact") {
			t.Fatalf("verify: %s", out)
		}
		// The other recipient's key, from a mounted file, opens it too.
		t.Setenv("QBACKUP_AGE_IDENTITY", "")
		t.Setenv("QBACKUP_AGE_IDENTITY_FILE", drIdentityFile)
		code, out, errOut := qbackup(t, s.args("restore", "latest", "--rename=_r")...)
		if code != 0 || !strings.Contains(out, "docs_r") {
			t.Fatalf("restore: exit %d\n%s\n%s", code, out, errOut)
		}
		noSecret(t, out, errOut)
	})
}

// storeArgs are the arguments of a command that reads storage only.
func storeArgs(s *cliSim, cmd ...string) []string {
	return append(cmd, "--cluster=prod", "--storage="+s.storage, "--log-format=text")
}
