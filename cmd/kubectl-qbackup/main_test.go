package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/cli"
)

func TestUsageErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		// want is what the message must say: what was wrong, and the
		// values that are right.
		want []string
	}{
		{[]string{"backup", "--from", "deployment/qbackup"}, []string{"cronjob/<name>"}},
		{[]string{"restore", "latest", "--plan", "sideways"}, []string{"sideways"}},
		{[]string{"restore", "latest", "--shards", "many"}, []string{"--shards many: not a shard count", "auto, or keep"}},
		{[]string{"restore", "latest", "--shards", "0"}, []string{"--shards 0: must be 1 to 1000, auto, or keep"}},
		{[]string{"restore", "latest", "--shards", "6", "--no-reshard"}, []string{"--no-reshard and --shards 6 contradict each other"}},
		{[]string{"restore", "latest", "--peers-timeout=0s"}, []string{"--peers-timeout 0s: must be positive", "--skip-peers-query"}},
		{[]string{"restore", "latest", "--peers-timeout=soon"}, []string{"--peers-timeout", "soon"}},
		{[]string{"list", "-o", "csv"}, []string{"--output", `"wide"`, `"name"`, `"csv"`}},
		{[]string{"status", "-o", "wid"}, []string{"--output", `"wide"`, `"name"`, `"wid"`}},
		{[]string{"backup", "--workers=-1"}, []string{"--workers -1", "1 to 256 pods", "0 for the CronJob's own setting"}},
		{[]string{"backup", "--workers=1000"}, []string{"--workers 1000", "1 to 256"}},
		{[]string{"backup", "--workers=3", "--worker-retries=-2"}, []string{"--worker-retries -2", "0 or more"}},
		{[]string{"restore", "latest", "--workers=-1"}, []string{"--workers -1", "1 to 256 pods", "0 for the template's own setting"}},
		{[]string{"restore", "latest", "--workers=300"}, []string{"--workers 300", "1 to 256"}},
		{[]string{"restore", "latest", "--workers=3", "--worker-retries=-1"}, []string{"--worker-retries -1", "0 or more"}},
		{[]string{"backup", "--dry-run=maybe"}, []string{"--dry-run", `"client"`, `"server"`, `"maybe"`}},
		{[]string{"restore", "latest", "--dry-run", "true"}, []string{"--dry-run", `"none"`, `"server"`, `"true"`}},
		{[]string{"completion", "tcsh"}, []string{"<shell>", `"bash"`, `"zsh"`, `"fish"`, `"tcsh"`}},
		{[]string{"completion"}, []string{"<shell>"}},
		{[]string{"schedule", "resume", "--from=cronjob/qbackup-restore"}, []string{"restore template", "stays suspended", "cronjob/qbackup"}},
		{[]string{"schedule", "suspend", "--from=qbackup"}, []string{"cronjob/<name>"}},
		{[]string{"schedule", "pause"}, []string{"pause"}},
		{[]string{"verify", "yesterday"}, []string{`"yesterday" is not a backup id`, "latest"}},
		{[]string{"verify", "latest", "--dry-run=yes"}, []string{"--dry-run", `"server"`}},
		{[]string{"verify", "--timeout=-1s", "--wait"}, []string{"--timeout", "negative"}},
		{[]string{"describe", "20261125"}, []string{`"20261125" is not a backup id`}},
		{[]string{"describe", "latest", "-o", "wide"}, []string{"--output", `"text"`, `"wide"`}},
		{[]string{"rebalance", "--replication-factor=0"}, []string{"--replication-factor 0", "at least 1"}},
		{[]string{"rebalance", "--collections=docs,,images"}, []string{"--collections", "entry 2 is empty"}},
		{[]string{"rebalance", "--shards=0"}, []string{"--shards 0", "must be 1 to 1000, auto, or keep"}},
		{[]string{"rebalance", "--from=qbackup-restore"}, []string{"cronjob/<name>", "cronjob/qbackup-restore"}},
		{[]string{"rebalance", "--dry-run=maybe"}, []string{"--dry-run", `"client"`, `"maybe"`}},
		{[]string{"nosuchcommand"}, []string{"nosuchcommand"}},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &errOut); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %s", tc.args, code, cli.ExitUsage, errOut.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut.String(), w) {
				t.Errorf("%v: stderr %q does not say %s", tc.args, errOut.String(), w)
			}
		}
		if out.Len() != 0 {
			t.Errorf("%v: refused, yet printed %q", tc.args, out.String())
		}
	}
}

func TestListEmptyStorage(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"list", "--storage", "file://" + t.TempDir(), "-o", "json"}, &out, &errOut); code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if strings.TrimSpace(out.String()) != "[]" {
		t.Fatalf("got %q, want []", out.String())
	}
}

func TestDescribeReadsTheStore(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	store := fileBackup(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"describe", "--storage", store}, []string{"Backup:          " + backupID, "Status:          complete", "Size:            10 B in 2 shards", "qdrant-1", `Collection "docs"`}},
		{[]string{"describe", backupID, "--storage", store, "-o", "json"}, []string{`"backup_id": "` + backupID + `"`, `"manifest"`}},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tc.args, &out, &errOut); code != cli.ExitOK {
			t.Fatalf("%q: exit %d: %s", tc.args, code, errOut.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%q lacks %q:\n%s", tc.args, w, out.String())
			}
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"describe", "20261124T133000Z-0000", "--storage", store}, &out, &errOut); code != cli.ExitUsage || !strings.Contains(errOut.String(), "no such backup") ||
		!strings.Contains(errOut.String(), "kubectl qbackup list") {
		t.Errorf("a missing backup: exit %d, want %d and the plugin's own list command named: %s", code, cli.ExitUsage, errOut.String())
	}
}
