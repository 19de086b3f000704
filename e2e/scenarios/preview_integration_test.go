//go:build integration

package scenarios

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"

	"github.com/qbackup/qbackup/internal/golden"
)

// previewNormal replaces what changes from run to run in a restore
// preview: the namespace, the backup id, the Jobs' names and peer ids.
func previewNormal(out, ns, backupID string) string {
	out = strings.ReplaceAll(out, ns, "qdrant")
	out = strings.ReplaceAll(out, backupID, "<backup id>")
	out = regexp.MustCompile(`qbackup-peers-[0-9]{14}`).ReplaceAllString(out, "qbackup-peers-<time>")
	out = regexp.MustCompile(`qbackup-restore-([0-9a-f]+)-[0-9]{14}`).ReplaceAllString(out, "qbackup-restore-<id>-<time>")
	return regexp.MustCompile(`peer [0-9]+`).ReplaceAllString(out, "peer <id>")
}

// TestRestorePreviewShowsQdrantsPeerCount: the dev overlay on 3 Qdrant
// pods; kubectl qbackup restore's preview runs the peers query as a Job
// (the node agent runs it with the installation's image, Secret and
// ServiceAccount), reads Qdrant's own peer count from its log and deletes
// it. With a fourth Ready pod whose Qdrant never joined the cluster the
// preview names it, and plans on Qdrant's 3 peers, not the 4 pods. An
// operator bound only to the qbackup-operator Role sees the same.
// Golden output.
func TestRestorePreviewShowsQdrantsPeerCount(t *testing.T) {
	t.Parallel()
	st := newS3Store(t)
	in, _ := newInstallation(t, 14, st, map[string]string{"AWS_ACCESS_KEY_ID": st.env_.AccessKey, "AWS_SECRET_ACCESS_KEY": st.env_.SecretKey})
	job, pod := in.runJobFromCronJob(t, "qbackup-first")
	if !jobCondition(job, batchv1.JobComplete) {
		out, _ := in.agent.Logs(in.ns, pod.Name, "qbackup")
		t.Fatalf("backup job did not complete: %+v\n%s", job.Status, out)
	}
	kp := newCLI(t).with("KUBECONFIG", os.Getenv(stacktest.EnvKubeconfig)).plugin(t)
	operator := in.serviceAccountWithRole(t, "operator", "qbackup-operator", nil)
	preview := func(as string) result {
		t.Helper()
		args := []string{"restore", "latest", "--dry-run=client", "-n", in.ns, "--peers-timeout=1m"}
		if as != "" {
			args = append(args, "--as=system:serviceaccount:"+in.ns+":"+as)
		}
		began := time.Now()
		r := kp.run(t, args...)
		ok(t, r)
		t.Logf("restore preview with the peers query (as %q): %s", as, time.Since(began).Round(time.Millisecond))
		if strings.Contains(r.stderr, "not deleted") {
			t.Errorf("the peers query Job was not deleted:\n%s", r)
		}
		return r
	}
	backupID := regexp.MustCompile(`Backup (\S+) of cluster`).FindStringSubmatch(preview("").stdout)

	r := preview("")
	if backupID == nil || !strings.Contains(r.stdout, "pods in backup: 3, Ready pods now: 3, Qdrant peers: 3 → direct\n  Qdrant reports 3 peers, 3 pods Ready: they agree\n") {
		t.Fatalf("the preview does not show Qdrant's agreeing count:\n%s", r)
	}
	agree := previewNormal(r.stdout, in.ns, backupID[1])

	// A fourth Ready pod whose Qdrant is a cluster of its own.
	lone := podSim(t, 15, 1)
	stacktest.RunPod(t, in.cs, in.ns, "qdrant-3", qdrantLabels, lone.peer0().Addr(), true)
	for _, as := range []string{"", operator} {
		r = preview(as)
		if !strings.Contains(r.stdout, "pods in backup: 3, Ready pods now: 4, Qdrant peers: 3 → direct\n") ||
			!strings.Contains(r.stdout, "Qdrant reports 3 peers, 4 pods Ready: qdrant-3 (peer ") ||
			!strings.Contains(r.stdout, ") has not joined consensus (it sees 1 peer)") {
			t.Errorf("as %q: the preview does not name the pod that has not joined:\n%s", as, r)
		}
	}
	// The rebalance preview asks the same query and names the same pod
	// before it would create its Job.
	began := time.Now()
	rb := kp.run(t, "rebalance", "--dry-run=client", "-n", in.ns, "--peers-timeout=1m", "--as=system:serviceaccount:"+in.ns+":"+operator)
	ok(t, rb)
	t.Logf("rebalance preview with the peers query (as %q): %s", operator, time.Since(began).Round(time.Millisecond))
	if !strings.Contains(rb.stdout, "Rebalance over the 4 Ready pods of namespace "+in.ns+" (Qdrant peers: 3)\n  Qdrant reports 3 peers, 4 pods Ready: qdrant-3 (peer ") ||
		!strings.Contains(rb.stdout, ") has not joined consensus (it sees 1 peer); the rebalance Job refuses a cluster whose pods and peers disagree: fix it first, or pass --allow-node-mismatch\n") {
		t.Errorf("the rebalance preview does not name the pod that has not joined:\n%s", rb)
	}
	t.Logf("kubectl qbackup rebalance --dry-run=client with a pod outside consensus:\n%s", previewNormal(rb.stdout, in.ns, backupID[1]))
	golden.CheckString(t, filepath.Join("testdata", "restore-preview-qdrant-peers.txt"),
		"$ kubectl qbackup -n qdrant restore latest --dry-run=client   # 3 pods, 3 peers\n"+agree+
			"\n$ kubectl qbackup -n qdrant restore latest --dry-run=client   # a 4th pod whose Qdrant never joined\n"+previewNormal(r.stdout, in.ns, backupID[1]))

	// Every peers Job was deleted once read.
	peersJobs := func() []string {
		t.Helper()
		jobs, err := in.cs.BatchV1().Jobs(in.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=peers"})
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, j := range jobs.Items {
			if j.DeletionTimestamp == nil {
				left = append(left, j.Name)
			}
		}
		return left
	}
	if left := peersJobs(); len(left) > 0 {
		t.Errorf("peers jobs left behind: %v", left)
	}

	// A Role without pods/log: the query runs but cannot be read; the
	// preview says so and goes on with the pod counts, which plan onto 4
	// pods where Qdrant has 3 peers.
	noLogs := in.serviceAccountWithRole(t, "operator-nolog", "qbackup-operator", func(r *rbacv1.Role) {
		var kept []rbacv1.PolicyRule
		for _, rule := range r.Rules {
			if !slices.Contains(rule.Resources, "pods/log") {
				kept = append(kept, rule)
			}
		}
		r.Rules = kept
	})
	r = preview(noLogs)
	if !strings.Contains(r.stdout, "pods in backup: 3, Ready pods now: 4 → redistribute\n  Qdrant's peers not read: read the log of pod qbackup-peers-") ||
		!strings.Contains(r.stdout, `cannot get resource "pods/log"`) || !strings.Contains(r.stdout, "the preview counts Kubernetes pods only") {
		t.Errorf("without pods/log:\n%s", r)
	}
	if left := peersJobs(); len(left) > 0 {
		t.Errorf("peers jobs left behind: %v", left)
	}

	// A Role without delete on jobs: the answer is read, the Job stays
	// for its ttl, and the warning says so.
	noDelete := in.serviceAccountWithRole(t, "operator-nodelete", "qbackup-operator", func(r *rbacv1.Role) {
		for i, rule := range r.Rules {
			if slices.Contains(rule.Resources, "jobs") {
				r.Rules[i].Verbs = slices.DeleteFunc(slices.Clone(rule.Verbs), func(v string) bool { return v == "delete" })
			}
		}
	})
	r = kp.run(t, "restore", "latest", "--dry-run=client", "-n", in.ns, "--as=system:serviceaccount:"+in.ns+":"+noDelete)
	ok(t, r)
	if !strings.Contains(r.stdout, "Qdrant peers: 3 → direct") || !strings.Contains(r.stderr, "was not deleted (its ttl of 300s removes it)") ||
		!strings.Contains(r.stderr, `cannot delete resource "jobs"`) {
		t.Errorf("without delete on jobs:\n%s", r)
	}
	left := peersJobs()
	if len(left) != 1 {
		t.Errorf("peers jobs left: %v, want the one its Role could not delete", left)
	}

	// That Job is no operation: status leaves it out (a preview may be
	// reading one this young) and logs latest follows the backup Job.
	asOperator := "--as=system:serviceaccount:" + in.ns + ":" + operator
	sr := kp.run(t, "status", "-n", in.ns, asOperator)
	ok(t, sr)
	if strings.Contains(sr.stdout, "qbackup-peers-") || !strings.Contains(sr.stdout, "\nqbackup-first ") || !strings.Contains(sr.stdout, "Running:") ||
		strings.Contains(sr.stdout, "Leftover") {
		t.Errorf("status with a peers query Job in the namespace (%v):\n%s", left, sr)
	}
	lg := kp.run(t, "logs", "latest", "-n", in.ns, asOperator)
	ok(t, lg)
	if !strings.HasPrefix(lg.stderr, "==> job.batch/qbackup-first, pod qbackup-first-") {
		t.Errorf("logs latest with a newer peers query Job (%v) did not follow the backup Job:\n%s", left, lg)
	}
}
