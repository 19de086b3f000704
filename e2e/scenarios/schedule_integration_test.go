//go:build integration

package scenarios

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// TestScheduledBackupsKeepOnlyCompleteSets runs the installed CronJob's
// Job several times, as the schedule would, with the dev overlay's
// retention (QBACKUP_KEEP_LAST=2, QBACKUP_KEEP_DAILY=2) applied by each
// run's --prune; one run's first pod fails mid-stream (a peer cuts its
// snapshot) and the job controller's retry succeeds. Only complete sets
// count towards the keep rules: the failed set in between does not push
// an older complete set out, and it is pruned with its objects.
func TestScheduledBackupsKeepOnlyCompleteSets(t *testing.T) {
	t.Parallel()
	ms := newFaultMission(t, 14, nil)
	completeSets := func() []string {
		var out []string
		for _, r := range ms.cat.backups(t, devCluster) {
			if r.Status == "complete" {
				out = append(out, r.ID)
			}
		}
		return out
	}
	run := func(name string, wantFailedPods int32) []string {
		t.Helper()
		ms.startJob(t, name)
		j := ms.jobDone(t, name, 90*time.Second)
		if !jobCondition(j, batchv1.JobComplete) || j.Status.Failed != wantFailedPods {
			t.Fatalf("job %s: %+v, want complete after %d failed pods\n%s", name, j.Status, wantFailedPods, ms.jobLogs(t, name))
		}
		return completeSets()
	}

	first := run("qbackup-run-1", 0)
	second := run("qbackup-run-2", 0)
	if len(first) != 1 || len(second) != 2 {
		t.Fatalf("complete sets after two runs: %v then %v", first, second)
	}

	// The third run's first pod: peer 1 cuts every snapshot stream, the
	// set fails (exit 1); the faults are cleared once that pod has failed,
	// so the retry pod makes a complete set and prunes.
	cut := int64(1000)
	ms.sm.c.Peers()[1].SetFaults(faultOn(snapshotRoute, func(f *routeFault) { f.TruncateAfter = &cut }))
	ms.startJob(t, "qbackup-run-3")
	var failedSet string
	eventually(t, 60*time.Second, "the third run's first set to fail", func() bool {
		for _, r := range ms.cat.backups(t, devCluster) {
			if r.Status == "failed" {
				failedSet = r.ID
				return true
			}
		}
		return false
	})
	ms.clearFaults()
	j := ms.jobDone(t, "qbackup-run-3", 90*time.Second)
	if !jobCondition(j, batchv1.JobComplete) || j.Status.Failed != 1 {
		t.Fatalf("job qbackup-run-3: %+v, want complete after one failed pod\n%s", j.Status, ms.jobLogs(t, "qbackup-run-3"))
	}
	third := completeSets()
	// keep-last 2 counts the two newest complete sets: the retry's and the
	// second run's, not the failed one between them.
	if len(third) != 2 || third[0] != second[1] || third[1] <= failedSet {
		t.Errorf("complete sets after the third run: %v; the second run's %s must be kept (failed set %s)", third, second[1], failedSet)
	}
	for _, r := range ms.cat.backups(t, devCluster) {
		if r.ID == failedSet || r.ID == first[0] {
			t.Errorf("set %s (%s) is still in the catalog after the run's prune", r.ID, r.Status)
		}
	}
	sc := &scenario{st: ms.st, cluster: devCluster}
	for _, k := range ms.st.keys(t) {
		if id := setOf(k); id == failedSet || id == first[0] {
			t.Errorf("object %s of a pruned set is still in storage", k)
		}
	}

	fourth := run("qbackup-run-4", 0)
	if want := []string{third[1], fourth[len(fourth)-1]}; len(fourth) != 2 || !reflect.DeepEqual(fourth, want) || fourth[1] <= third[1] {
		t.Errorf("complete sets after the fourth run: %v, want the third's and its own", fourth)
	}
	if n := len(sc.manifests(t)); n != 2 {
		t.Errorf("%d manifests in storage after four runs, want 2", n)
	}
	ms.assertSettled(t)
}

// setOf is the backup id an object key belongs to (<cluster>/<id>/...).
func setOf(key string) string {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) < 3 {
		return ""
	}
	return parts[1]
}

// TestCronJobFiresOnItsSchedule sets the installed CronJob's schedule to
// every minute: the real cronjob controller creates the Job within the
// minute, and its backup completes.
func TestCronJobFiresOnItsSchedule(t *testing.T) {
	t.Parallel()
	ms := newFaultMission(t, 15, nil)
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cj, err := ms.cs.BatchV1().CronJobs(ms.ns).Get(ctx, "qbackup", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cj.Spec.Schedule = "* * * * *"
		_, err = ms.cs.BatchV1().CronJobs(ms.ns).Update(ctx, cj, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set the schedule: %v", err)
	}
	var name string
	eventually(t, 65*time.Second, "the cronjob controller to create a Job", func() bool {
		jobs, err := ms.cs.BatchV1().Jobs(ms.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, j := range jobs.Items {
			for _, o := range j.OwnerReferences {
				if o.Kind == "CronJob" && o.Name == "qbackup" {
					name = j.Name
					return true
				}
			}
		}
		return false
	})
	j := ms.jobDone(t, name, 30*time.Second)
	if !jobCondition(j, batchv1.JobComplete) {
		t.Fatalf("the scheduled job %s: %+v\n%s", name, j.Status, ms.jobLogs(t, name))
	}
	if rows := ms.cat.backups(t, devCluster); len(rows) != 1 || rows[0].Status != "complete" {
		t.Errorf("catalog rows %+v, want the scheduled run's complete set", rows)
	}
}
