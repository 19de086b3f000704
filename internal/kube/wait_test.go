package kube

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestJobState(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 12, 6, 2, 30, 0, 0, time.UTC))
	pod := func(name string, created time.Duration, phase corev1.PodPhase, exit int32, msg string) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(created))}, Status: corev1.PodStatus{Phase: phase}}
		if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "qbackup", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Message: msg}}}}
		}
		return p
	}
	indexed := func(p corev1.Pod, index string) corev1.Pod {
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: index}
		return p
	}
	failed := func(reason string) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: t0}}
	}
	for _, tc := range []struct {
		name       string
		conditions []batchv1.JobCondition
		pods       []corev1.Pod
		want       string
		wantExit   int32
		wantMsg    string
	}{
		{"no pod yet", nil, nil, "job.batch/j: pending", 0, ""},
		{"pod scheduled", nil, []corev1.Pod{pod("j-1", 0, corev1.PodPending, 0, "")}, "job.batch/j: pending (pod j-1 Pending)", 0, ""},
		{"pod ended, job status not yet synced", nil, []corev1.Pod{pod("j-1", 0, corev1.PodSucceeded, 0, "")}, "job.batch/j: running (pod j-1 Succeeded)", 0, ""},
		{"complete", []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}, []corev1.Pod{pod("j-1", 0, corev1.PodSucceeded, 0, "")}, "job.batch/j: succeeded (pod j-1 Succeeded)", 0, ""},
		{"retried, newest pod counts, last line of the message", failed("BackoffLimitExceeded"),
			[]corev1.Pod{pod("j-2", time.Minute, corev1.PodFailed, 1, "line one\ncannot reach S3\n"), pod("j-1", 0, corev1.PodFailed, 4, "old")},
			"job.batch/j: failed (pod j-2 Failed, attempt 2)", 1, "cannot reach S3"},
		{"a JSON log record as the message shows its error", failed("PodFailurePolicy"),
			[]corev1.Pod{pod("j-1", 0, corev1.PodFailed, 2, `{"time":"2026-12-06T02:30:00Z","level":"INFO","msg":"starting"}`+"\n"+
				`{"time":"2026-12-06T02:30:01Z","level":"ERROR","msg":"command failed","error":"--concurrency 0 (QBACKUP_CONCURRENCY): must be at least 1","exit_code":2}`+"\n")},
			"job.batch/j: failed (pod j-1 Failed)", 2, "--concurrency 0 (QBACKUP_CONCURRENCY): must be at least 1"},
		{"a success shows the run's summary", []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}},
			[]corev1.Pod{pod("j-1", 0, corev1.PodSucceeded, 0, `backup 20261206T023000Z-3f9c of cluster "prod": 3 collections, 10 shards, 4096 bytes`)},
			"job.batch/j: succeeded (pod j-1 Succeeded)", 0, `backup 20261206T023000Z-3f9c of cluster "prod": 3 collections, 10 shards, 4096 bytes`},
		{"qbackup's own failure message loses the exit code JobState has", failed("PodFailurePolicy"),
			[]corev1.Pod{pod("j-1", 0, corev1.PodFailed, 2, "exit 2: AWS_SECRET_ACCESS_KEY is missing")},
			"job.batch/j: failed (pod j-1 Failed)", 2, "AWS_SECRET_ACCESS_KEY is missing"},
		{"indexed: worker 0's pod speaks for the set, however many pods", []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}},
			[]corev1.Pod{indexed(pod("j-0-a", 0, corev1.PodFailed, 137, ""), "0"), indexed(pod("j-0-b", time.Minute, corev1.PodSucceeded, 0, "backup 20261206T023000Z-3f9c of cluster \"prod\": 3 collections, 10 shards, 4096 bytes"), "0"),
				indexed(pod("j-1-a", 2*time.Minute, corev1.PodSucceeded, 0, "worker 1 of 2: part of backup 20261206T023000Z-3f9c stored (5 shards, 2048 bytes); worker 0 commits the set"), "1")},
			"job.batch/j: succeeded (pod j-0-b Succeeded, attempt 2)", 0, `backup 20261206T023000Z-3f9c of cluster "prod": 3 collections, 10 shards, 4096 bytes`},
		{"an exit prefix that is not the container's code stays", failed("BackoffLimitExceeded"),
			[]corev1.Pod{pod("j-1", 0, corev1.PodFailed, 137, "exit 2: half written")},
			"job.batch/j: failed (pod j-1 Failed)", 137, "exit 2: half written"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"}, Status: batchv1.JobStatus{Conditions: tc.conditions}}
			if strings.HasPrefix(tc.name, "indexed") {
				mode := batchv1.IndexedCompletion
				job.Spec.CompletionMode = &mode
			}
			st := jobState(job, tc.pods)
			if st.Line() != tc.want || st.ExitCode != tc.wantExit || st.Message != tc.wantMsg {
				t.Errorf("got %q exit %d message %q, want %q exit %d message %q", st.Line(), st.ExitCode, st.Message, tc.want, tc.wantExit, tc.wantMsg)
			}
		})
	}
}
