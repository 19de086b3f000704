//go:build integration

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/kube"
)

// TestOperatorRoleReadsTheSummaries: against the real API server and its
// RBAC, a user bound to the shipped qbackup-operator Role alone, with no
// credentials and the installed store unreachable, lists, describes and
// previews a restore from the summaries; without list on configmaps the
// refusal names the verb, the resource and the Role.
func TestOperatorRoleReadsTheSummaries(t *testing.T) {
	noCredentials(t)
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	installOverlay(t, cs, ns, "dev", map[string]string{
		"QBACKUP_STORAGE": "s3://unreachable/qbackup", "QBACKUP_S3_ENDPOINT": "http://127.0.0.1:1", "QBACKUP_S3_MAX_ATTEMPTS": "1", "QBACKUP_CLUSTER": "prod",
	})
	stacktest.RunPod(t, cs, ns, "qdrant-0", qdrantLabels, "10.0.0.1", true)
	stacktest.RunPod(t, cs, ns, "qdrant-1", qdrantLabels, "10.0.0.2", true)
	sums := kube.NewSummaries(cs, ns)
	for _, id := range []string{olderID, newestID} {
		started, _ := time.Parse("20060102T150405Z", id[:16])
		sum := kube.SummarizeManifest(summaryManifest(id, started), "", started)
		if err := sums.Put(context.Background(), &sum); err != nil {
			t.Fatal(err)
		}
	}
	operator := operatorWithout(t, cs, ns, "", "")
	for _, tc := range []struct {
		args       []string
		wantOut    string
		wantStderr string
	}{
		{[]string{"list", "-o", "name", operator}, "backup/" + newestID + "\nbackup/" + olderID + "\n", ""},
		{[]string{"describe", "latest", operator}, "Backup:          " + newestID, ""},
		{[]string{"status", operator}, "Last complete set:  " + newestID, ""},
		// No node runs the peers query here: it times out, and the
		// operator's Role deletes its Job.
		{[]string{"restore", "latest", "--dry-run=client", "-o", "yaml", "--peers-timeout=2s", operator}, "- " + newestID, "→ direct\n  Qdrant's peers not read: job qbackup-peers-"},
	} {
		code, out, errOut := plugin(t, ns, tc.args...)
		if tc.args[0] == "restore" {
			t.Logf("restore preview without a node for the peers query:\n%s", errOut)
		}
		if code != cli.ExitOK || !strings.Contains(out, tc.wantOut) || !strings.Contains(errOut, tc.wantStderr) || strings.Contains(errOut, "not deleted") {
			t.Errorf("%q: exit %d\n%s\n%s", tc.args, code, out, errOut)
		}
	}
	noList := operatorWithout(t, cs, ns, "list", "configmaps")
	code, _, errOut := plugin(t, ns, "list", noList)
	if code == cli.ExitOK || !strings.Contains(errOut, `cannot list resource "configmaps"`) || !strings.Contains(errOut, "--role=qbackup-operator") {
		t.Errorf("without list on configmaps: exit %d\n%s", code, errOut)
	}
}
