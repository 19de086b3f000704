package kube

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

var jobsNow = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

// installJob is a Job of the installation, created at created, of the
// given component, with activeDeadlineSeconds deadline (0: none).
func installJob(name, component string, created time.Time, deadline int64) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "qdrant", CreationTimestamp: metav1.NewTime(created),
		Labels: map[string]string{"app.kubernetes.io/name": "qbackup", ComponentLabel: component}}}
	if deadline > 0 {
		j.Spec.ActiveDeadlineSeconds = &deadline
	}
	return j
}

// TestLatestJobNeverPicksAQuery: logs latest follows the newest
// operation, even when a preview's peers query Job is newer (a preview
// running now, or one left behind), and breaks a tie within a second by
// name, not by the API server's order.
func TestLatestJobNeverPicksAQuery(t *testing.T) {
	for _, tc := range []struct {
		name    string
		jobs    []runtime.Object
		want    string
		wantErr string
	}{
		{"a newer peers query", []runtime.Object{
			installJob("qbackup-manual-20261207025000", "backup", jobsNow.Add(-10*time.Minute), 0),
			installJob("qbackup-peers-20261207025900", PeersComponent, jobsNow.Add(-time.Minute), 60),
		}, "qbackup-manual-20261207025000", ""},
		{"the query and the rebalance it previewed, in one second", []runtime.Object{
			installJob("qbackup-rebalance-20261207025959", "rebalance", jobsNow.Add(-time.Second), 0),
			installJob("qbackup-peers-20261207025959", PeersComponent, jobsNow.Add(-time.Second), 60),
			installJob("qbackup-manual-20261207025959", "backup", jobsNow.Add(-time.Second), 0),
		}, "qbackup-rebalance-20261207025959", ""},
		{"only a query", []runtime.Object{
			installJob("qbackup-peers-20261207025900", PeersComponent, jobsNow.Add(-time.Minute), 60),
		}, "", "no backup, restore, verify or rebalance job in namespace qdrant: start one with kubectl qbackup backup, or name the namespace with -n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LatestJob(t.Context(), fake.NewClientset(tc.jobs...), "qdrant")
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got %q, %v; want the error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestSplitQueries: status lists the operations; a peers query Job is
// left out while a preview may still read it (its deadline and a grace
// for the delete), and named as a leftover after that.
func TestSplitQueries(t *testing.T) {
	cs := fake.NewClientset(
		installJob("qbackup-restore-3f9c-20261207024000", "restore", jobsNow.Add(-20*time.Minute), 0),
		installJob("qbackup-peers-20261207025930", PeersComponent, jobsNow.Add(-30*time.Second), 60), // being read
		installJob("qbackup-peers-20261207025800", PeersComponent, jobsNow.Add(-85*time.Second), 60), // deadline passed, within the grace
		installJob("qbackup-peers-20261207025700", PeersComponent, jobsNow.Add(-3*time.Minute), 60),  // left behind
		installJob("qbackup-peers-20261207020000", PeersComponent, jobsNow.Add(-time.Hour), 0),       // no deadline: an hour is beyond any
		installJob("qbackup-rebalance-20261207025935", "rebalance", jobsNow.Add(-25*time.Second), 0),
	)
	jobs, err := ListJobs(t.Context(), cs, "qdrant")
	if err != nil {
		t.Fatal(err)
	}
	ops, leftovers := SplitQueries(jobs, jobsNow)
	names := func(js []JobSummary) string {
		var n []string
		for _, j := range js {
			n = append(n, j.Job)
		}
		return strings.Join(n, ",")
	}
	if got, want := names(ops), "qbackup-rebalance-20261207025935,qbackup-restore-3f9c-20261207024000"; got != want {
		t.Errorf("operations %s, want %s", got, want)
	}
	if got, want := names(leftovers), "qbackup-peers-20261207025700,qbackup-peers-20261207020000"; got != want {
		t.Errorf("leftovers %s, want %s", got, want)
	}
	if slices.ContainsFunc(ops, JobSummary.IsQuery) {
		t.Errorf("a query among the operations: %v", ops)
	}
}

// TestWaitJobHintsNameTheNamespace: the hints a stopped or failed wait
// prints work as copied, from any kubectl context.
func TestWaitJobHintsNameTheNamespace(t *testing.T) {
	cs := fake.NewClientset(installJob("qbackup-manual-1", "backup", jobsNow, 0))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := WaitJob(ctx, cs, "qdrant", "qbackup-manual-1", time.Millisecond, func(JobState) {})
	if err == nil || !strings.Contains(err.Error(), "stopped waiting for job qbackup-manual-1, which goes on (kubectl qbackup -n qdrant logs qbackup-manual-1 -f)") {
		t.Errorf("stopped wait: %v", err)
	}
	failed := installJob("qbackup-manual-2", "backup", jobsNow, 0)
	failed.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}
	cs = fake.NewClientset(failed)
	_, err = WaitJob(t.Context(), cs, "qdrant", "qbackup-manual-2", time.Millisecond, func(JobState) {})
	if err == nil || !strings.HasSuffix(err.Error(), "; see kubectl -n qdrant logs job/qbackup-manual-2") {
		t.Errorf("failed job: %v", err)
	}
}
