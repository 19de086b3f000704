package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

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
