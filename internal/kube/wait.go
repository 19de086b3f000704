package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// JobState is what an operator waiting on a Job wants to see: where it
// is, and once it ended, how.
type JobState struct {
	Job string `json:"job"`
	// Phase is "pending", "running", "succeeded" or "failed".
	Phase string `json:"phase"`
	// Pod is the Job's newest pod, Attempts how many it has had.
	Pod      string          `json:"pod,omitempty"`
	PodPhase corev1.PodPhase `json:"podPhase,omitempty"`
	Attempts int             `json:"attempts"`
	// ExitCode and Message are the qbackup container's, once it ended:
	// the run's one-line summary when it succeeded, its error when it
	// failed (the last log line when it wrote no message).
	ExitCode int32  `json:"exitCode"`
	Message  string `json:"message,omitempty"`
	// Reason is the Job's failure reason (BackoffLimitExceeded,
	// DeadlineExceeded, PodFailurePolicy).
	Reason   string    `json:"reason,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// Line is the state as one progress line.
func (s JobState) Line() string {
	line := "job.batch/" + s.Job + ": " + s.Phase
	if s.Pod != "" {
		line += fmt.Sprintf(" (pod %s %s", s.Pod, s.PodPhase)
		if s.Attempts > 1 {
			line += fmt.Sprintf(", attempt %d", s.Attempts)
		}
		line += ")"
	}
	return line
}

// JobFailedError is a Job that failed; its exit code is the qbackup
// container's, so a waiting plugin exits as the Job's run did.
type JobFailedError struct {
	State JobState
	// Namespace is the Job's, so the hint to read its log works as
	// printed from any kubectl context.
	Namespace string
}

func (e *JobFailedError) Error() string {
	msg := fmt.Sprintf("job %s failed", e.State.Job)
	if e.State.Reason != "" {
		msg += " (" + e.State.Reason + ")"
	}
	if e.State.ExitCode != 0 {
		msg += fmt.Sprintf(": exit code %d", e.State.ExitCode)
	}
	if e.State.Message != "" {
		msg += ": " + e.State.Message
	}
	if e.Namespace == "" {
		return msg + fmt.Sprintf("; see kubectl logs job/%s", e.State.Job)
	}
	return msg + fmt.Sprintf("; see kubectl -n %s logs job/%s", e.Namespace, e.State.Job)
}

// WaitJob polls the Job every poll until it succeeds or fails, calling
// report whenever its state line changes. A failed Job returns a
// *JobFailedError; a cancelled ctx stops the wait, not the Job.
func WaitJob(ctx context.Context, cs kubernetes.Interface, ns, name string, poll time.Duration, report func(JobState)) (JobState, error) {
	var last string
	for {
		st, err := JobStatus(ctx, cs, ns, name)
		if err != nil {
			return st, err
		}
		if line := st.Line(); line != last {
			last = line
			report(st)
		}
		switch st.Phase {
		case "succeeded":
			return st, nil
		case "failed":
			return st, &JobFailedError{State: st, Namespace: ns}
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("stopped waiting for job %s, which goes on (kubectl qbackup -n %s logs %s -f): %w", name, ns, name, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// JobStatus reads the state of one Job and its newest pod.
func JobStatus(ctx context.Context, cs kubernetes.Interface, ns, name string) (JobState, error) {
	job, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return JobState{Job: name}, fmt.Errorf("get job %s in namespace %s: %w", name, ns, err)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name})
	if err != nil {
		return JobState{Job: name}, fmt.Errorf("list pods of job %s in namespace %s: %w", name, ns, err)
	}
	return jobState(job, pods.Items), nil
}

func jobState(job *batchv1.Job, pods []corev1.Pod) JobState {
	st := JobState{Job: job.Name, Phase: "pending", Attempts: len(pods)}
	if job.Status.Active > 0 && job.Status.Ready != nil && *job.Status.Ready > 0 {
		st.Phase = "running"
	}
	if job.Status.StartTime != nil {
		st.Started = job.Status.StartTime.Time
	}
	if job.Status.CompletionTime != nil {
		st.Finished = job.Status.CompletionTime.Time
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp) })
	if indexed := job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion; indexed {
		// Of an indexed backup, index 0 commits the set: its pod's state
		// and summary are the run's (the others report their parts).
		var first []corev1.Pod
		for _, p := range pods {
			if p.Annotations[batchv1.JobCompletionIndexAnnotation] == "0" {
				first = append(first, p)
			}
		}
		if len(first) > 0 {
			pods, st.Attempts = first, len(first)
		}
	}
	if n := len(pods); n > 0 {
		p := pods[n-1]
		st.Pod, st.PodPhase = p.Name, p.Status.Phase
		// The Job's own status lags its pod's by a sync: a pod that ran
		// means the Job runs, until the Job says how it ended.
		if p.Status.Phase != corev1.PodPending && p.Status.Phase != "" {
			st.Phase = "running"
		}
		for _, c := range p.Status.ContainerStatuses {
			if t := c.State.Terminated; t != nil && (c.Name == "qbackup" || len(p.Status.ContainerStatuses) == 1) {
				st.ExitCode, st.Message = t.ExitCode, containerMessage(t)
			}
		}
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			st.Phase = "succeeded"
		case batchv1.JobFailed:
			st.Phase, st.Reason = "failed", c.Reason
			if st.Finished.IsZero() {
				st.Finished = c.LastTransitionTime.Time
			}
		}
	}
	return st
}

// containerMessage is what a terminated qbackup container says of its
// run: its termination message, "exit N: <error>" for a failure, without
// the exit code JobState carries apart.
func containerMessage(t *corev1.ContainerStateTerminated) string {
	msg := lastLine(t.Message)
	if rest, ok := strings.CutPrefix(msg, fmt.Sprintf("exit %d: ", t.ExitCode)); ok && t.ExitCode != 0 {
		return rest
	}
	return msg
}

// lastLine keeps the last non-empty line of a termination message: with
// FallbackToLogsOnError it holds the log's tail, whose last line is the
// error. A JSON log record (qbackup's format in pods) is shown as its
// error, or its message, rather than as escaped JSON.
func lastLine(s string) string {
	line := lastRawLine(s)
	var rec struct {
		Msg   string `json:"msg"`
		Error string `json:"error"`
	}
	if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &rec) == nil {
		switch {
		case rec.Error != "":
			return rec.Error
		case rec.Msg != "":
			return rec.Msg
		}
	}
	return line
}

func lastRawLine(s string) string {
	end := len(s)
	for end > 0 && (s[end-1] == '\n' || s[end-1] == ' ') {
		end--
	}
	start := end
	for start > 0 && s[start-1] != '\n' {
		start--
	}
	return s[start:end]
}
