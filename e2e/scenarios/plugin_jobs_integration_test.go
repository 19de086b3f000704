//go:build integration

package scenarios

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// TestPluginRunsAndFollowsJobs drives an installation with kubectl qbackup
// alone, as an operator would: backup --wait succeeds with the Job, status
// and logs show it, and a Job refused by its configuration makes the
// waiting plugin exit with the Job's own exit code.
func TestPluginRunsAndFollowsJobs(t *testing.T) {
	t.Parallel()
	st, cat := newS3Store(t), newCatalog(t)
	in, _ := newInstallation(t, 10, st, map[string]string{
		"QBACKUP_CATALOG_DSN": cat.dsn, "AWS_ACCESS_KEY_ID": st.env_.AccessKey, "AWS_SECRET_ACCESS_KEY": st.env_.SecretKey,
	})
	kp := newCLI(t).with("KUBECONFIG", os.Getenv(stacktest.EnvKubeconfig)).plugin(t)
	k := func(args ...string) result { return kp.run(t, append([]string{args[0], "-n", in.ns}, args[1:]...)...) }

	r := k("backup", "--wait", "--timeout=2m")
	ok(t, r)
	if !strings.Contains(r.stdout, "succeeded in") || !strings.Contains(r.stderr, ": pending") || !strings.Contains(r.stderr, ": succeeded (pod ") {
		t.Errorf("backup --wait shows no progress or outcome:\n%s", r)
	}

	r = k("status", "-o", "json")
	ok(t, r)
	var s struct {
		Schedule        string `json:"schedule"`
		Image           string `json:"image"`
		RestoreTemplate bool   `json:"restoreTemplate"`
		Running         []string
		Jobs            []struct {
			Job, Component, Phase string
			ExitCode              int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	if s.Schedule == "" || !strings.Contains(s.Image, "qbackup") || !s.RestoreTemplate || len(s.Running) != 0 ||
		len(s.Jobs) != 1 || s.Jobs[0].Component != "backup" || s.Jobs[0].Phase != "succeeded" {
		t.Errorf("status: %+v", s)
	}
	r = k("status")
	ok(t, r)
	if !strings.Contains(r.stdout, s.Jobs[0].Job) || !strings.Contains(r.stdout, "succeeded") {
		t.Errorf("status table:\n%s", r.stdout)
	}

	r = k("logs")
	ok(t, r)
	if !strings.Contains(r.stdout, "backup complete") || !strings.Contains(r.stderr, s.Jobs[0].Job) {
		t.Errorf("logs latest:\n%s", r)
	}

	// A configuration the Job refuses (exit 2): the waiting plugin exits
	// 2 as well, naming the Job and the cause.
	in.setConfig(t, map[string]string{"QBACKUP_CONCURRENCY": "0"})
	r = k("backup", "--wait", "--timeout=2m")
	expect(t, r, exitUsage, "failed (PodFailurePolicy)", "exit code 2", "concurrency")
	r = k("status")
	ok(t, r)
	if !strings.Contains(r.stdout, "failed") {
		t.Errorf("status does not show the failed job:\n%s", r.stdout)
	}
}
