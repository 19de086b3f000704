package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	k8stesting "k8s.io/client-go/testing"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/kube"
)

const testSummary = `backup 20261126T083000Z-3f9c of cluster "prod": 3 collections, 10 shards, 1073741824 bytes`

// endJob marks a Job ended, with one pod whose qbackup container left
// msg as its termination message.
func endJob(t *testing.T, cs kubernetes.Interface, job *batchv1.Job, exit int32, msg string) {
	t.Helper()
	ctx := context.Background()
	start := metav1.NewTime(now.Add(-2 * time.Minute))
	end := metav1.NewTime(now.Add(-time.Minute))
	cond := batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: end}
	phase := corev1.PodSucceeded
	if exit != 0 {
		cond.Type, cond.Reason, phase = batchv1.JobFailed, "PodFailurePolicy", corev1.PodFailed
	}
	job.Status = batchv1.JobStatus{StartTime: &start, Conditions: []batchv1.JobCondition{cond}}
	if exit == 0 {
		job.Status.CompletionTime = &end
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-x1", Namespace: job.Namespace, CreationTimestamp: start,
			Labels: map[string]string{"job-name": job.Name, "app.kubernetes.io/name": "qbackup"}},
		Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{Name: "qbackup",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Message: msg}}}}},
	}
	// The pod ends before its Job does, as in a cluster: a waiter polling
	// between the two would otherwise see a finished Job without a pod.
	if _, err := cs.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func newEndedJobFixture(t *testing.T, cs kubernetes.Interface, name, component string, created time.Time) *batchv1.Job {
	t.Helper()
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "qdrant", CreationTimestamp: metav1.NewTime(created),
		Labels: map[string]string{"app.kubernetes.io/name": "qbackup", kube.ComponentLabel: component}}}
	job, err := cs.BatchV1().Jobs("qdrant").Create(context.Background(), job, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// TestStatusShowsTheRunsTerminationMessages: a succeeded Job shows its
// run's summary, a failed one its error without the "exit N:" the EXIT
// column has; the table cuts them to 80 characters, -o wide does not.
func TestStatusShowsTheRunsTerminationMessages(t *testing.T) {
	noCredentials(t)
	cs := installedCluster(t, false)
	endJob(t, cs, newEndedJobFixture(t, cs, "qbackup-manual-ok", "backup", now.Add(-3*time.Minute)), 0, testSummary)
	endJob(t, cs, newEndedJobFixture(t, cs, "qbackup-manual-bad", "backup", now.Add(-2*time.Minute)), 2, "exit 2: AWS_SECRET_ACCESS_KEY is missing")

	code, out, errOut := runFake(t, cs, "status")
	if code != cli.ExitOK {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	okLine, badLine := lineWith(out, "qbackup-manual-ok"), lineWith(out, "qbackup-manual-bad")
	if !strings.HasSuffix(okLine, testSummary[:79]+"…") {
		t.Errorf("the succeeded Job's line does not end with its summary cut to 80 characters:\n%s", out)
	}
	if !regexp.MustCompile(`\s2\s+AWS_SECRET_ACCESS_KEY is missing$`).MatchString(badLine) {
		t.Errorf("the failed Job's line does not end with its exit code and error:\n%s", out)
	}
	code, out, errOut = runFake(t, cs, "status", "-o", "wide")
	if code != cli.ExitOK || !strings.HasSuffix(lineWith(out, "qbackup-manual-ok"), testSummary) {
		t.Errorf("status -o wide: exit %d, want the whole summary\n%s\n%s", code, out, errOut)
	}
}

// TestBackupWaitEndsWithTheRunsSummary: backup --wait prints the outcome
// and what the run did, read from the pod's termination message.
func TestBackupWaitEndsWithTheRunsSummary(t *testing.T) {
	noCredentials(t)
	old := jobPoll
	jobPoll = 10 * time.Millisecond
	t.Cleanup(func() { jobPoll = old })
	cs := installedCluster(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The Job controller and kubelet: the created Job ends at once.
	go func() {
		for ctx.Err() == nil {
			jobs, err := cs.BatchV1().Jobs("qdrant").List(ctx, metav1.ListOptions{})
			if err == nil && len(jobs.Items) == 1 {
				endJob(t, cs, &jobs.Items[0], 0, testSummary)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	code, out, errOut := runFake(t, cs, "backup", "--wait", "--timeout=8s")
	if code != cli.ExitOK {
		t.Fatalf("backup --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, " succeeded in 1m0s: "+testSummary+"\n") {
		t.Errorf("backup --wait does not end with the run's summary:\nstdout: %s\nstderr: %s", out, errOut)
	}
}

// lineWith is the table row of out that starts with s.
func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, s+" ") {
			return strings.TrimRight(l, " ")
		}
	}
	return ""
}

// queryJob is a peers query Job of a preview, created at created, with
// the deadline a --peers-timeout of 1m gives it.
func queryJob(t *testing.T, cs kubernetes.Interface, name string, created time.Time) *batchv1.Job {
	t.Helper()
	deadline := int64(60)
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "qdrant", CreationTimestamp: metav1.NewTime(created),
		Labels: map[string]string{"app.kubernetes.io/name": "qbackup", kube.ComponentLabel: kube.PeersComponent}},
		Spec: batchv1.JobSpec{ActiveDeadlineSeconds: &deadline}}
	job, err := cs.BatchV1().Jobs("qdrant").Create(context.Background(), job, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// TestQueryJobsDoNotDisturbOperators: a preview's peers query Job is no
// backup, restore or rebalance. status leaves out one a preview may be
// reading now (not running, not in the table, not in -o name) and names
// one that outlived its preview as a leftover to delete; logs latest
// picks the newest operation, never a query.
func TestQueryJobsDoNotDisturbOperators(t *testing.T) {
	noCredentials(t)
	cs := installedCluster(t, false)
	endJob(t, cs, newEndedJobFixture(t, cs, "qbackup-manual-ok", "backup", now.Add(-3*time.Minute)), 0, testSummary)
	queryJob(t, cs, "qbackup-peers-20261126085930", now.Add(-30*time.Second))                       // a preview is reading it
	endJob(t, cs, queryJob(t, cs, "qbackup-peers-20261126085000", now.Add(-10*time.Minute)), 0, "") // its plugin died

	code, out, errOut := runFake(t, cs, "status")
	if code != cli.ExitOK {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "qbackup-peers-20261126085930") {
		t.Errorf("status shows the query a preview is reading:\n%s", out)
	}
	if !strings.Contains(out, "Running:                    none\n") {
		t.Errorf("status counts a query as running:\n%s", out)
	}
	if lineWith(out, "qbackup-peers-20261126085000") != "" {
		t.Errorf("status lists the leftover query among the Jobs:\n%s", out)
	}
	if want := "Leftover query Job:         qbackup-peers-20261126085000 (succeeded, 10m0s old; its ttl removes it 5m after it ended): kubectl -n qdrant delete job qbackup-peers-20261126085000\n"; !strings.Contains(out, want) {
		t.Errorf("status does not name the leftover query with its delete command:\n%s\nwant %q", out, want)
	}

	code, out, _ = runFake(t, cs, "status", "-o", "name", "--last=1")
	if code != cli.ExitOK || out != "job.batch/qbackup-manual-ok\n" {
		t.Errorf("status -o name --last=1: exit %d, %q; want the backup Job", code, out)
	}
	code, out, _ = runFake(t, cs, "status", "-o", "json")
	var doc struct {
		Jobs            []kube.JobSummary `json:"jobs"`
		LeftoverQueries []kube.JobSummary `json:"leftoverQueries"`
	}
	if err := json.Unmarshal([]byte(out), &doc); code != cli.ExitOK || err != nil {
		t.Fatalf("status -o json: exit %d, %v\n%s", code, err, out)
	}
	if len(doc.Jobs) != 1 || doc.Jobs[0].Job != "qbackup-manual-ok" || len(doc.LeftoverQueries) != 1 || doc.LeftoverQueries[0].Job != "qbackup-peers-20261126085000" {
		t.Errorf("status -o json: jobs %+v, leftoverQueries %+v", doc.Jobs, doc.LeftoverQueries)
	}

	for _, args := range [][]string{{"logs"}, {"logs", "latest"}} {
		code, out, errOut = runFake(t, cs, args...)
		if code != cli.ExitOK || !strings.Contains(errOut, "==> job.batch/qbackup-manual-ok, pod qbackup-manual-ok-x1\n") {
			t.Errorf("%v: exit %d, want the backup Job's log\n%s\n%s", args, code, out, errOut)
		}
	}
}

// TestRebalanceWaitFollowsItsOwnJob: rebalance --wait follows the Job
// it created, not the peers query its preview ran just before (here left
// behind: the Role has no delete on jobs), and exits with the Job's exit
// code, 3 when the cluster lock is held.
func TestRebalanceWaitFollowsItsOwnJob(t *testing.T) {
	noCredentials(t)
	old := jobPoll
	jobPoll = 10 * time.Millisecond
	t.Cleanup(func() { jobPoll = old })
	cs := installedCluster(t, false)
	peersJobsRun(t, cs)
	cs.PrependReactor("delete", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "", nil)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The Job controller and kubelet: the rebalance Job fails at once,
	// its run having found the lock held.
	go func() {
		for ctx.Err() == nil {
			jobs, err := cs.BatchV1().Jobs("qdrant").List(ctx, metav1.ListOptions{LabelSelector: kube.ComponentLabel + "=" + kube.RebalanceComponent})
			if err == nil && len(jobs.Items) == 1 {
				endJob(t, cs, &jobs.Items[0], 3, "exit 3: the cluster lock is held by restore 20261126T083000Z-3f9c")
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	code, out, errOut := runFake(t, withLogs{cs, surveyLog}, "rebalance", "--yes", "--wait", "--timeout=8s")
	if code != cli.ExitLocked {
		t.Fatalf("rebalance --wait: exit %d, want %d\n%s\n%s", code, cli.ExitLocked, out, errOut)
	}
	if !strings.Contains(errOut, "job qbackup-rebalance-20261126090000 failed (PodFailurePolicy): exit code 3: the cluster lock is held by restore 20261126T083000Z-3f9c; see kubectl -n qdrant logs job/qbackup-rebalance-20261126090000\n") {
		t.Errorf("the wait does not end with the rebalance Job's error:\n%s", errOut)
	}
	if strings.Contains(errOut, "job.batch/qbackup-peers-") {
		t.Errorf("the wait followed the peers query Job:\n%s", errOut)
	}
}

// TestLogsOfAJobWithoutALog: a Job name that does not exist exits 2
// saying where Jobs are listed; a Job that ended without a pod that ran
// (its deadline passed while pending) says there is no log, with -f too,
// instead of waiting for a pod that will never come.
func TestLogsOfAJobWithoutALog(t *testing.T) {
	noCredentials(t)
	cs := installedCluster(t, false)
	job := newEndedJobFixture(t, cs, "qbackup-restore-3f9c-20261126085000", "restore", now.Add(-10*time.Minute))
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "DeadlineExceeded"}}
	if _, err := cs.BatchV1().Jobs("qdrant").UpdateStatus(context.Background(), job, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"logs", "qbackup-manual-nope"}, cli.ExitUsage,
			"job qbackup-manual-nope not found in namespace qdrant: kubectl qbackup -n qdrant status lists the newest Jobs (a finished Job is removed with its history), or name the namespace with -n"},
		{[]string{"logs", "latest"}, cli.ExitFailure,
			"job qbackup-restore-3f9c-20261126085000 failed (DeadlineExceeded) and has no pod that ran, so there is no log to read: kubectl -n qdrant describe job/qbackup-restore-3f9c-20261126085000 shows its events"},
		{[]string{"logs", "latest", "-f"}, cli.ExitFailure,
			"job qbackup-restore-3f9c-20261126085000 failed (DeadlineExceeded) and has no pod that ran"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var out, errOut strings.Builder
			connect := func() (kubernetes.Interface, string, error) { return cs, "qdrant", nil }
			code := runWith(ctx, tc.args, &out, &errOut, connect, func() time.Time { return now })
			if ctx.Err() != nil {
				t.Fatalf("still waiting after 5s: %s", errOut.String())
			}
			if code != tc.wantCode || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, want %d\n%s\nwant %q", code, tc.wantCode, errOut.String(), tc.want)
			}
		})
	}
}

// TestStatusNamesAMissingRestoreTemplate: without cronjob/qbackup-restore
// neither restore nor rebalance can create a Job; status says so and how
// to get it back.
func TestStatusNamesAMissingRestoreTemplate(t *testing.T) {
	noCredentials(t)
	cs := installedCluster(t, false)
	if err := cs.BatchV1().CronJobs("qdrant").Delete(context.Background(), kube.RestoreTemplate, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runFake(t, cs, "status")
	want := "missing (cronjob/qbackup-restore): kubectl qbackup restore and rebalance cannot create Jobs; reinstall the overlay (kubectl apply -k kustomize/overlays/<env>)\n"
	if code != cli.ExitOK || !regexp.MustCompile(`\nRestore template: +`+regexp.QuoteMeta(want)).MatchString(out) {
		t.Errorf("exit %d\n%s\n%s\nwant %q", code, out, errOut, want)
	}
}

// TestLogsFollowSaysItWaits: logs -f of a Job whose pod has not started
// says once that it waits and where to look, rather than waiting in
// silence for a pod no node may take.
func TestLogsFollowSaysItWaits(t *testing.T) {
	noCredentials(t)
	old := jobPoll
	jobPoll = 10 * time.Millisecond
	t.Cleanup(func() { jobPoll = old })
	cs := installedCluster(t, false)
	newEndedJobFixture(t, cs, "qbackup-manual-20261126085900", "backup", now.Add(-time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, errOut strings.Builder
	connect := func() (kubernetes.Interface, string, error) { return cs, "qdrant", nil }
	code := runWith(ctx, []string{"logs", "-f"}, &out, &errOut, connect, func() time.Time { return now })
	want := "==> job.batch/qbackup-manual-20261126085900: pending; waiting for its pod to start (Ctrl-C stops; if it stays pending, kubectl -n qdrant describe job/qbackup-manual-20261126085900 says why)\n"
	if code != cli.ExitInterrupted || strings.Count(errOut.String(), want) != 1 || strings.Count(errOut.String(), "waiting") != 1 {
		t.Errorf("exit %d, want %d\n%s\nwant once %q", code, cli.ExitInterrupted, errOut.String(), want)
	}
}
