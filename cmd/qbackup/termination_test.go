package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/cli"
)

func TestTerminationLogPath(t *testing.T) {
	tests := []struct {
		name   string
		env    string
		exists bool
		want   string
	}{
		{"the configured path wins", "/run/qbackup/termination-log", true, "/run/qbackup/termination-log"},
		{"Kubernetes' default file in a pod", "", true, defaultTerminationLog},
		{"nowhere outside a pod", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == TerminationLogEnv {
					return tt.env
				}
				return ""
			}
			exists := func(p string) bool { return tt.exists && p == defaultTerminationLog }
			if got := terminationLogPath(getenv, exists); got != tt.want {
				t.Errorf("path %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTerminationMessage(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	tests := []struct {
		name    string
		code    int
		err     error
		summary string
		want    string
	}{
		{"a success is its summary", 0, nil, `backup b1 of cluster "c": 3 collections, 10 shards, 42 bytes`, `backup b1 of cluster "c": 3 collections, 10 shards, 42 bytes`},
		{"a success without a summary leaves no message", 0, nil, "", ""},
		{"a failure is its exit code and error", 2, errors.New("AWS_SECRET_ACCESS_KEY is missing"), "", "exit 2: AWS_SECRET_ACCESS_KEY is missing"},
		{"a failure ignores a summary", 1, errors.New("boom"), "half done", "exit 1: boom"},
		{"a failure with nothing to say is its exit code", 1, errors.New(""), "", "exit 1"},
		{"a multi-line error becomes one line", 5, errors.New("shard 1 corrupt\nshard 2 corrupt\n"), "", "exit 5: shard 1 corrupt; shard 2 corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := terminationMessage(tt.code, tt.err, tt.summary); got != tt.want {
				t.Errorf("message %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("a long message is cut to Kubernetes' limit on a rune boundary", func(t *testing.T) {
		got := terminationMessage(1, errors.New(long), "")
		if len(got) > maxTerminationMessage || len(got) < maxTerminationMessage-4 {
			t.Errorf("%d bytes, want at most %d and close to it", len(got), maxTerminationMessage)
		}
		if !utf8.ValidString(got) || !strings.HasPrefix(got, "exit 1: éé") || !strings.HasSuffix(got, "é...") {
			t.Errorf("cut badly: prefix %q suffix %q", got[:12], got[len(got)-8:])
		}
	})
}

func TestWriteTerminationMessage(t *testing.T) {
	dir := t.TempDir()
	t.Run("replaces what the file holds", func(t *testing.T) {
		p := filepath.Join(dir, "termination-log")
		if err := os.WriteFile(p, []byte("an older, longer message"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := writeTerminationMessage(p, "exit 2: bad"); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != "exit 2: bad" {
			t.Errorf("file holds %q", b)
		}
	})
	t.Run("an unwritable path is an error to log, not a panic", func(t *testing.T) {
		err := writeTerminationMessage(filepath.Join(dir, "missing", "dir", "termination-log"), "exit 1: x")
		if err == nil || !strings.Contains(err.Error(), "write termination message to") {
			t.Errorf("error %v, want one naming the path", err)
		}
	})
	t.Run("no path or no message writes nothing", func(t *testing.T) {
		p := filepath.Join(dir, "untouched")
		if err := writeTerminationMessage(p, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("an empty message created %s", p)
		}
		if err := writeTerminationMessage("", "exit 1: x"); err != nil {
			t.Error(err)
		}
	})
}

// TestRunWritesTheTerminationMessage runs qbackup in-process with
// QBACKUP_TERMINATION_LOG set, as the manifests set it.
func TestRunWritesTheTerminationMessage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"a refused flag, caught by the parser", []string{"--log-format=json", "list", "--storage=backups/prod"}, cli.ExitUsage, `exit 2: list: --storage (QBACKUP_STORAGE): storage URL "backups/prod": scheme must be`},
		{"a run that fails", []string{"--log-format=json", "describe", "nosuch", "--storage=file://" + t.TempDir()}, cli.ExitUsage, `exit 2: "nosuch" is not a backup id`},
		{"a success without a summary", []string{"version"}, cli.ExitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "termination-log")
			t.Setenv(TerminationLogEnv, p)
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d\nstderr: %s", code, tt.wantCode, errOut.String())
			}
			b, err := os.ReadFile(p)
			if tt.want == "" {
				if !os.IsNotExist(err) {
					t.Errorf("termination message %q (%v), want none", b, err)
				}
				return
			}
			if !strings.HasPrefix(string(b), tt.want) || strings.Contains(string(b), "\n") {
				t.Errorf("termination message %q, want one line starting %q\nstderr: %s", b, tt.want, errOut.String())
			}
		})
	}
	t.Run("an unwritable path does not change the outcome", func(t *testing.T) {
		t.Setenv(TerminationLogEnv, filepath.Join(t.TempDir(), "no", "such", "dir", "termination-log"))
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"--log-format=json", "describe", "nosuch", "--storage=file://" + t.TempDir()}, &out, &errOut); code != cli.ExitUsage {
			t.Fatalf("exit code %d, want %d\nstderr: %s", code, cli.ExitUsage, errOut.String())
		}
		if !strings.Contains(errOut.String(), "termination message was not written") {
			t.Errorf("the failed write was not logged:\n%s", errOut.String())
		}
	})
}

// TestBackupLeavesItsSummaryAsTheTerminationMessage: a successful backup's
// message is the summary it logs, naming the set it wrote.
func TestBackupLeavesItsSummaryAsTheTerminationMessage(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	p := filepath.Join(t.TempDir(), "termination-log")
	t.Setenv(TerminationLogEnv, p)
	s := startCLISim(t, qdrantsim.Options{})
	out := mustQbackup(t, s.args("backup")...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^backup (\S+) of cluster "prod": 1 collections, 3 shards, [1-9][0-9]* bytes$`)
	m := re.FindStringSubmatch(string(b))
	if m == nil || !strings.Contains(out, m[1]) {
		t.Errorf("termination message %q, want the summary of the set in the report:\n%s", b, out)
	}
}

// verify and prune leave their summary too, so a successful Job of either
// says what it did.
func TestVerifyAndPruneLeaveTheirSummary(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	p := filepath.Join(t.TempDir(), "termination-log")
	t.Setenv(TerminationLogEnv, p)
	s := startCLISim(t, qdrantsim.Options{})
	mustQbackup(t, s.args("backup")...)
	mustQbackup(t, s.args("backup")...)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "latest"}, `^backup \S+ is intact: [1-9][0-9]* objects, [1-9][0-9]* bytes read$`},
		{[]string{"prune", "--keep-last=1"}, `^pruned 1 sets of cluster "prod"$`},
	} {
		mustQbackup(t, append(tc.args, "--cluster=prod", "--storage="+s.storage)...)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(tc.want).Match(b) {
			t.Errorf("qbackup %s: termination message %q, want %s", tc.args[0], b, tc.want)
		}
	}
}
