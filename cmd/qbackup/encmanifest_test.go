package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/manifest"
)

// storeFiles maps every file under the file store's directory to its
// content.
func storeFiles(t *testing.T, s *cliSim) map[string][]byte {
	t.Helper()
	root := strings.TrimPrefix(s.storage, "file://")
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEncryptedManifestThroughTheCommandLine: backups with
// --encrypt-manifest are listed, pruned (by the sets' times, also by
// backup --prune) and found as latest without the key; describe, verify
// and restore need it and refuse, changing nothing, without it or with
// another; nothing in storage names the collection.
func TestEncryptedManifestThroughTheCommandLine(t *testing.T) {
	for _, v := range []string{"QBACKUP_AGE_IDENTITY", "QBACKUP_AGE_IDENTITY_FILE", "QBACKUP_ENCRYPT_RECIPIENTS", "QBACKUP_ENCRYPT_MANIFEST", "QBACKUP_CATALOG_DSN"} {
		t.Setenv(v, "") // restored after the test
		os.Unsetenv(v)
	}
	s := startCLISim(t, qdrantsim.Options{})
	ops, stranger := newAgeKey(t), newAgeKey(t)
	collections := func(t *testing.T) []string {
		t.Helper()
		names, err := s.c.Peers()[0].ListCollections(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		return names
	}
	unchanged := func(t *testing.T, before map[string][]byte, beforeColls []string) {
		t.Helper()
		after := storeFiles(t, s)
		if len(after) != len(before) {
			t.Fatalf("storage changed: %d files, were %d", len(after), len(before))
		}
		for k, v := range before {
			if !bytes.Equal(after[k], v) {
				t.Fatalf("storage changed: %s", k)
			}
		}
		if got := collections(t); !slices.Equal(got, beforeColls) {
			t.Fatalf("collections changed: %v, were %v", got, beforeColls)
		}
	}

	t.Run("refused without recipients, changing nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			env  string
			says string
		}{
			{"the flag", []string{"--encrypt-manifest"}, "", "--encrypt-manifest (QBACKUP_ENCRYPT_MANIFEST)"},
			{"the variable", nil, "true", "--encrypt-manifest (QBACKUP_ENCRYPT_MANIFEST)"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.env != "" {
					t.Setenv("QBACKUP_ENCRYPT_MANIFEST", tc.env)
				}
				code, _, errOut := qbackup(t, s.args(append([]string{"backup"}, tc.args...)...)...)
				if code != cli.ExitUsage || !strings.Contains(errOut, tc.says) || !strings.Contains(errOut, "--encrypt-recipient (QBACKUP_ENCRYPT_RECIPIENTS)") {
					t.Fatalf("exit %d, stderr %s; want %d naming both settings", code, errOut, cli.ExitUsage)
				}
				if files := storeFiles(t, s); len(files) != 0 {
					t.Fatalf("a refused backup wrote %v", files)
				}
			})
		}
	})

	backupArgs := func(extra ...string) []string {
		return s.args(append([]string{"backup", "-o", "json", "--encrypt-recipient=" + ops.Recipient().String(), "--encrypt-manifest", "--compression=zstd"}, extra...)...)
	}
	var ids []string
	for i := 0; i < 2; i++ {
		if i > 0 {
			// Backup ids are to the second: the sets must be told apart
			// by time.
			time.Sleep(1100 * time.Millisecond)
		}
		var rep backupReport
		if err := json.Unmarshal([]byte(mustQbackup(t, backupArgs()...)), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.ManifestKey != manifest.EncryptedManifestKey("prod", rep.BackupID) || rep.Collections != 1 {
			t.Fatalf("backup report %+v", rep)
		}
		ids = append(ids, rep.BackupID)
	}
	// No stored byte and no key names the collection or its settings:
	// they are all in the encrypted manifest.
	for k, v := range storeFiles(t, s) {
		for _, secret := range []string{"docs", "Cosine", "replication_factor", s.c.Peers()[0].URL()} {
			if strings.Contains(k, secret) || bytes.Contains(v, []byte(secret)) {
				t.Errorf("%s holds %q in clear", k, secret)
			}
		}
		if strings.Contains(k, ".qbackup-tmp-") {
			t.Errorf("a temporary file is left: %s", k)
		}
	}

	t.Run("list and latest without the key", func(t *testing.T) {
		out := mustQbackup(t, storeArgs(s, "list")...)
		for _, id := range ids {
			line := ""
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, id) {
					line = l
				}
			}
			if !strings.Contains(line, "complete") || !strings.Contains(line, "manifest encrypted") || !strings.Contains(line, " ? ") {
				t.Errorf("list row of %s: %q\n%s", id, line, out)
			}
		}
		var rows []struct {
			BackupID  string `json:"backup_id"`
			Status    string `json:"status"`
			Encrypted bool   `json:"manifest_encrypted"`
			Bytes     int64  `json:"total_bytes"`
		}
		if err := json.Unmarshal([]byte(mustQbackup(t, storeArgs(s, "list", "-o", "json")...)), &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0].BackupID != ids[1] || !rows[0].Encrypted || rows[0].Bytes <= 0 {
			t.Fatalf("list -o json: %+v", rows)
		}
	})

	refusals := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"without an identity", nil, []string{ops.Recipient().String(), "QBACKUP_AGE_IDENTITY", "QBACKUP_AGE_IDENTITY_FILE", "--encrypt-manifest"}},
		{"with a wrong identity", map[string]string{"QBACKUP_AGE_IDENTITY": stranger.String()}, []string{ops.Recipient().String(), stranger.Recipient().String(), "QBACKUP_AGE_IDENTITY"}},
	}
	for _, cmd := range []string{"describe", "verify", "restore"} {
		for _, tt := range refusals {
			t.Run(cmd+" "+tt.name, func(t *testing.T) {
				for k, v := range tt.env {
					t.Setenv(k, v)
				}
				before, beforeColls := storeFiles(t, s), collections(t)
				args := storeArgs(s, cmd, "latest")
				if cmd == "restore" {
					args = s.args("restore", "latest", "--rename=_r")
				}
				code, out, errOut := qbackup(t, args...)
				if code != cli.ExitUsage {
					t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, cli.ExitUsage, out, errOut)
				}
				for _, w := range tt.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("stderr does not name %q:\n%s", w, errOut)
					}
				}
				if strings.Contains(out+errOut, ops.String()) || strings.Contains(out+errOut, stranger.String()) {
					t.Fatal("output holds a secret key")
				}
				unchanged(t, before, beforeColls)
			})
		}
	}

	t.Run("describe, verify and restore with the identity", func(t *testing.T) {
		t.Setenv("QBACKUP_AGE_IDENTITY", ops.String())
		out := mustQbackup(t, storeArgs(s, "describe", ids[0])...)
		if !strings.Contains(out, "docs") || !strings.Contains(out, "Manifest:        encrypted too") {
			t.Fatalf("describe:\n%s", out)
		}
		if out := mustQbackup(t, storeArgs(s, "verify", "latest")...); !strings.Contains(out, ids[1]) || !strings.Contains(out, "intact") {
			t.Fatalf("verify: %s", out)
		}
		out = mustQbackup(t, s.args("restore", "latest", "--rename=_r")...)
		if !strings.Contains(out, "docs_r") {
			t.Fatalf("restore: %s", out)
		}
		exact := true
		n, err := s.c.Peers()[0].Count(t.Context(), "docs_r", qdrantsim.CountRequest{Exact: &exact})
		if err != nil || n != 200 {
			t.Fatalf("restored docs_r holds %d points (%v), want 200", n, err)
		}
	})

	t.Run("prune without the key removes by age", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		// backup --prune, as the CronJob runs it: three sets, keep two.
		var rep backupReport
		if err := json.Unmarshal([]byte(mustQbackup(t, backupArgs("--prune", "--keep-last=2")...)), &rep); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rep.BackupID)
		sets := func() []string {
			var out []string
			for k := range storeFiles(t, s) {
				if id := strings.Split(k, "/")[1]; manifest.IsBackupID(id) && !slices.Contains(out, id) {
					out = append(out, id)
				}
			}
			slices.Sort(out)
			return out
		}
		if got := sets(); !slices.Equal(got, ids[1:]) {
			t.Fatalf("after backup --prune --keep-last=2: sets %v, want %v", got, ids[1:])
		}
		out := mustQbackup(t, storeArgs(s, "prune", "--keep-last=1")...)
		if !strings.Contains(out, "removed 1 sets") {
			t.Fatalf("prune: %s", out)
		}
		if got := sets(); !slices.Equal(got, ids[2:]) {
			t.Fatalf("after prune --keep-last=1: sets %v, want %v", got, ids[2:])
		}
	})
}
