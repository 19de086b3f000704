package main

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/kube"
)

// waitFlags make a command wait for the Job it created.
type waitFlags struct {
	Wait    bool          `name:"wait" help:"Wait until the Job ends, showing its progress; exit with its exit code."`
	Timeout time.Duration `name:"timeout" default:"0s" help:"With --wait, stop waiting after this long (0: no limit); the Job goes on."`
}

// Validate runs before anything is contacted.
func (w waitFlags) Validate() error {
	if w.Timeout < 0 {
		return config.Invalidf("--timeout %s is negative: give a duration such as 30m, or 0 for no limit", w.Timeout)
	}
	return nil
}

// jobPoll is how often a waiting plugin reads the Job: Jobs run for
// minutes, and each read is two small API requests.
var jobPoll = time.Second

// wait follows job to its end, printing a line whenever its state
// changes, the run's own progress lines while its pod runs, and the
// outcome with the run's duration at the end.
func (w waitFlags) wait(ctx context.Context, env *runEnv, cs kubernetes.Interface, job *batchv1.Job) error {
	if !w.Wait {
		return nil
	}
	if w.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.Timeout)
		defer cancel()
	}
	start := env.now()
	out := &lockedWriter{w: env.stderr}
	progress := &progressFollower{cs: cs, ns: job.Namespace, out: out}
	st, err := kube.WaitJob(ctx, cs, job.Namespace, job.Name, jobPoll, func(s kube.JobState) {
		if s.Phase == "succeeded" || s.Phase == "failed" {
			// The run's last progress lines come before its outcome.
			progress.stop(progressDrain)
		}
		out.println(s.Line())
		progress.observe(ctx, s)
	})
	progress.stop(progressDrain)
	if err != nil {
		return err
	}
	took := env.now().Sub(start)
	if !st.Started.IsZero() && !st.Finished.IsZero() {
		took = st.Finished.Sub(st.Started)
	}
	// The run's summary (its termination message) says what was done,
	// also to a user who may not read the pod's log.
	line := fmt.Sprintf("job.batch/%s succeeded in %s", job.Name, took.Round(time.Second))
	if st.Message != "" {
		line += ": " + st.Message
	}
	fmt.Fprintln(env.stdout, line)
	return nil
}
