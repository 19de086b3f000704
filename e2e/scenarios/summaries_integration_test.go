//go:build integration

package scenarios

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/manifest"
)

// TestOperatorWithKubectlAccessAlone: the backup Jobs record a summary of
// each set in a ConfigMap, and an operator bound only to the shipped
// qbackup-operator Role, with no storage or catalog credentials on
// their machine, lists, describes, sees the last complete set in status,
// completes backup ids and previews a restore. The Jobs' prune keeps the
// summaries in line with storage: the summaries of the sets it removes,
// and of a set whose manifest was deleted behind qbackup's back, go.
func TestOperatorWithKubectlAccessAlone(t *testing.T) {
	t.Parallel()
	st := newS3Store(t)
	in, _ := newInstallation(t, 16, st, map[string]string{"AWS_ACCESS_KEY_ID": st.env_.AccessKey, "AWS_SECRET_ACCESS_KEY": st.env_.SecretKey})
	// The plugin runs with no credential in its environment (newCLI
	// keeps none, and points the AWS SDK's files and metadata nowhere).
	kp := newCLI(t).with("KUBECONFIG", os.Getenv(stacktest.EnvKubeconfig)).plugin(t)
	operator := in.serviceAccountWithRole(t, "operator", "qbackup-operator", nil)
	as := func(sa string, args ...string) result {
		return kp.run(t, append([]string{args[0], "-n", in.ns, "--as=system:serviceaccount:" + in.ns + ":" + sa}, args[1:]...)...)
	}
	// adminList is the plugin reading storage, with the credentials.
	adminList := func() []string {
		t.Helper()
		r := newCLI(t).with(append(st.env(), "KUBECONFIG", os.Getenv(stacktest.EnvKubeconfig))...).plugin(t).
			run(t, "list", "-n", in.ns, "--read-from=storage", "-o", "json")
		ok(t, r)
		return jsonIDs(t, r.stdout)
	}
	summaries := func() []kube.SetSummary {
		t.Helper()
		all, bad, err := kube.NewSummaries(in.cs, in.ns).List(context.Background(), "")
		if err != nil || len(bad) > 0 {
			t.Fatalf("summaries: %v %+v", err, bad)
		}
		return all
	}
	ids := func(all []kube.SetSummary) []string {
		var out []string
		for _, s := range all {
			out = append(out, s.BackupID)
		}
		return out
	}

	// Three backups, started by the operator; the dev overlay keeps the
	// last 2, so the third run's prune removes the first set and its
	// summary.
	for range 3 {
		ok(t, as(operator, "backup", "--wait", "--timeout=2m"))
	}
	got := summaries()
	if len(got) != 2 || !slices.Equal(ids(got), adminList()) {
		t.Fatalf("summaries %q, storage %q", ids(got), adminList())
	}
	newest := got[0]
	if newest.Cluster != "qdrant-dev" || newest.ShardCount != 8 || newest.CollectionCount != 3 || newest.PodCount != 3 ||
		newest.Detail != kube.DetailFull || newest.Status != "complete" || !strings.HasPrefix(newest.StorageLocation, st.url()) {
		t.Errorf("summary of %s: %+v", newest.BackupID, newest)
	}
	cm, err := in.cs.CoreV1().ConfigMaps(in.ns).Get(context.Background(), kube.SummaryName(newest.Cluster, newest.BackupID), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["app.kubernetes.io/managed-by"] != "qbackup" || cm.Labels["qbackup.io/backup-id"] != newest.BackupID || cm.Labels["qbackup.io/cluster"] != "qdrant-dev" {
		t.Errorf("labels %v", cm.Labels)
	}
	t.Logf("summary of an 8-shard set: %d bytes", len(cm.Data[kube.SummaryKey]))

	// The operator, without credentials: storage is out of reach...
	expect(t, as(operator, "list", "--read-from=storage"), exitFailed, "no usable credentials")
	// ...and every read works from the summaries.
	r := as(operator, "list", "-o", "json")
	ok(t, r)
	if listed := jsonIDs(t, r.stdout); !slices.Equal(listed, ids(got)) {
		t.Errorf("list: %q, want %q", listed, ids(got))
	}
	r = as(operator, "list", "-o", "wide")
	ok(t, r)
	t.Logf("kubectl qbackup list -o wide (the README shows it):\n%s%s", r.stdout, r.stderr)
	if !strings.Contains(r.stderr, "Read from backup summaries") || !strings.Contains(r.stdout, newest.BackupID) {
		t.Errorf("list -o wide:\n%s", r)
	}
	r = as(operator, "describe", "latest")
	ok(t, r)
	t.Logf("kubectl qbackup describe latest (the README shows it):\n%s", r.stdout)
	for _, want := range []string{"Backup:          " + newest.BackupID, `Collection "tenants": custom sharding`, "Size:            ", "in 8 shards", "Read from backup summaries"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("describe latest lacks %q:\n%s", want, r)
		}
	}
	r = as(operator, "status")
	ok(t, r)
	t.Logf("kubectl qbackup status (the README shows it):\n%s", r.stdout)
	if !strings.Contains(r.stdout, "Last complete set:") || !strings.Contains(r.stdout, newest.BackupID+" (finished") {
		t.Errorf("status:\n%s", r)
	}
	r = as(operator, "restore", "latest", "--dry-run=client", "-o", "yaml")
	ok(t, r)
	// The operator's Role runs, reads and deletes the peers query Job.
	if !strings.Contains(r.stderr, "pods in backup: 3, Ready pods now: 3, Qdrant peers: 3 → direct\n  Qdrant reports 3 peers, 3 pods Ready: they agree") ||
		!strings.Contains(r.stderr, "(read from backup summaries") || strings.Contains(r.stderr, "not deleted") ||
		!strings.Contains(r.stdout, "- "+newest.BackupID) {
		t.Errorf("restore preview:\n%s", r)
	}
	r = as(operator, "__complete", "describe", "")
	ok(t, r)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) < 3 || lines[0] != "latest" || !strings.HasPrefix(lines[1], newest.BackupID) {
		t.Errorf("completion of describe:\n%s", r)
	}

	// verify, run as a Job, records its result in the summary.
	ok(t, as(operator, "verify", "latest", "--wait", "--timeout=2m"))
	r = as(operator, "list")
	ok(t, r)
	if !strings.Contains(r.stdout, newest.BackupID+"  complete  verified") {
		t.Errorf("list after verify:\n%s", r)
	}

	// A Role without list on configmaps: the verb, the resource and the
	// Role to bind are named.
	noList := in.serviceAccountWithRole(t, "operator-nolist", "qbackup-operator", func(r *rbacv1.Role) {
		for i, rule := range r.Rules {
			if slices.Contains(rule.Resources, "configmaps") {
				r.Rules[i].Verbs = []string{"get"}
			}
		}
	})
	expect(t, as(noList, "list"), exitFailed, `cannot list resource "configmaps"`, "qbackup-operator", "create rolebinding")

	// The newest set's manifest deleted behind qbackup's back: the next
	// run's prune deletes its summary (the set no longer exists).
	st.remove(t, manifest.ManifestKey(newest.Cluster, newest.BackupID))
	ok(t, as(operator, "backup", "--wait", "--timeout=2m"))
	after := ids(summaries())
	if slices.Contains(after, newest.BackupID) || len(after) != 2 || !slices.Equal(after, adminList()) {
		t.Errorf("after the manifest of %s was deleted: summaries %q, storage %q", newest.BackupID, after, adminList())
	}
}

func jsonIDs(t *testing.T, out string) []string {
	t.Helper()
	var rows []struct {
		BackupID string `json:"backup_id"`
		Status   string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	var ids []string
	for _, r := range rows {
		if r.Status == "complete" {
			ids = append(ids, r.BackupID)
		}
	}
	return ids
}
