package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/qbackup/qbackup/internal/cli"
)

// TestBadWorkerFlagsAreUsageErrors: each is refused before anything is
// contacted (the storage folder is never created), with exit 2 and a
// message naming the flag, its variable and the fix.
func TestBadWorkerFlagsAreUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no workers", []string{"--workers=0"}, []string{"--workers 0", "QBACKUP_WORKERS", "at least 1"}},
		{"too many workers", []string{"--workers=1000", "--set-id=x"}, []string{"--workers 1000", "at most 256"}},
		{"index beyond the workers", []string{"--workers=3", "--worker-index=3", "--set-id=x"}, []string{"--worker-index 3", "JOB_COMPLETION_INDEX", "0 to 2", "as many completions as workers"}},
		{"negative index", []string{"--workers=3", "--worker-index=-1", "--set-id=x"}, []string{"--worker-index -1"}},
		{"index of a single worker", []string{"--worker-index=1"}, []string{"--worker-index 1", "0 to 0"}},
		{"no set id", []string{"--workers=3"}, []string{"--workers 3", "needs --set-id", "QBACKUP_SET_ID", "downward API"}},
		{"set id with a slash", []string{"--workers=3", "--set-id=a/b"}, []string{`--set-id "a/b"`, "letters, digits"}},
		{"write lock", []string{"--workers=2", "--set-id=x", "--write-lock"}, []string{"--write-lock", "cannot be used with --workers 2"}},
		{"no plan wait", []string{"--workers=2", "--set-id=x", "--plan-wait=0s"}, []string{"--plan-wait 0s", "at least 1s"}},
		{"failures not a count", []string{"--workers=2", "--set-id=x", "--worker-failures=two"}, []string{`--worker-failures "two"`, "QBACKUP_WORKER_FAILURES"}},
		{"negative retries", []string{"--workers=2", "--set-id=x", "--worker-retries=-1"}, []string{"--worker-retries -1", "QBACKUP_WORKER_RETRIES"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "store")
			args := append([]string{"--log-format=text", "backup", "--storage=file://" + dir, "--cluster=prod",
				"--discovery=static", "--qdrant-url=http://127.0.0.1:1"}, tc.args...)
			var out, errOut bytes.Buffer
			if code := run(context.Background(), args, &out, &errOut); code != cli.ExitUsage {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, cli.ExitUsage, errOut.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr %q does not name %q", errOut.String(), w)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the storage was touched: %v", err)
			}
		})
	}
}

// TestOnlyWorkerZeroPushesMetrics: of a set taken by several workers,
// worker 0's outcome is the set's; another worker pushes nothing, even
// when it fails.
func TestOnlyWorkerZeroPushesMetrics(t *testing.T) {
	for _, tc := range []struct {
		index string
		want  bool
	}{{"0", true}, {"1", false}} {
		t.Run("worker "+tc.index, func(t *testing.T) {
			var pushes atomic.Int32
			gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				pushes.Add(1)
				w.WriteHeader(http.StatusOK)
			}))
			defer gw.Close()
			args := []string{"--log-format=text", "backup", "--storage=file://" + filepath.Join(t.TempDir(), "store"), "--cluster=prod",
				"--discovery=static", "--qdrant-url=http://127.0.0.1:1", "--workers=2", "--set-id=job-uid", "--worker-index=" + tc.index,
				"--metrics-pushgateway=" + gw.URL}
			var out, errOut bytes.Buffer
			if code := run(context.Background(), args, &out, &errOut); code == cli.ExitOK {
				t.Fatalf("a backup of an unreachable peer succeeded: %s", errOut.String())
			}
			if got := pushes.Load() > 0; got != tc.want {
				t.Fatalf("pushed %t, want %t\n%s", got, tc.want, errOut.String())
			}
		})
	}
}
