package main

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/kube"
)

type logsCmd struct {
	Job    string `arg:"" optional:"" default:"latest" help:"A qbackup Job's name, or latest (the newest backup, restore, verify or rebalance Job; never a preview's peers query)."`
	Follow bool   `name:"follow" short:"f" help:"Stream the log until the run ends."`
}

func (c *logsCmd) Help() string {
	return `Prints the log of a qbackup Job's newest pod (the qbackup container), as
kubectl logs job/NAME does, found by name or as the newest Job.

Examples:
  kubectl qbackup logs -n qdrant
  kubectl qbackup logs qbackup-manual-20261206213000 -f`
}

func (c *logsCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	cs, ns, err := k.client()
	if err != nil {
		return err
	}
	name := c.Job
	if name == "latest" {
		if name, err = kube.LatestJob(ctx, cs, ns); err != nil {
			return err
		}
	}
	// A Job that has just been created has no running pod yet: with -f
	// wait for one, as an operator who just started it expects.
	var st kube.JobState
	waiting := false
	for {
		st, err = kube.JobStatus(ctx, cs, ns, name)
		if apierrors.IsNotFound(err) {
			return config.Invalidf("job %s not found in namespace %s: kubectl qbackup -n %s status lists the newest Jobs (a finished Job is removed with its history), or name the namespace with -n", name, ns, ns)
		}
		if err != nil {
			return err
		}
		if st.Pod != "" && st.PodPhase != corev1.PodPending {
			break
		}
		if st.Phase == "succeeded" || st.Phase == "failed" {
			// Ended without a pod that ran (its deadline passed while it
			// was pending, or its pods were deleted): there is no log to
			// wait for, with -f or without.
			return fmt.Errorf("job %s %s%s and has no pod that ran, so there is no log to read: kubectl -n %s describe job/%s shows its events",
				name, st.Phase, jobReason(st), ns, name)
		}
		if !c.Follow {
			return fmt.Errorf("job %s has no started pod yet (%s): try again, or use -f to wait", name, st.Line())
		}
		if !waiting {
			// Said once: a pod no node takes would otherwise be a silent
			// wait.
			waiting = true
			fmt.Fprintf(env.stderr, "==> %s; waiting for its pod to start (Ctrl-C stops; if it stays pending, kubectl -n %s describe job/%s says why)\n", st.Line(), ns, name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(jobPoll):
		}
	}
	fmt.Fprintf(env.stderr, "==> job.batch/%s, pod %s\n", name, st.Pod)
	rc, err := cs.CoreV1().Pods(ns).GetLogs(st.Pod, &corev1.PodLogOptions{Container: "qbackup", Follow: c.Follow}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("logs of pod %s (job %s): %w", st.Pod, name, err)
	}
	defer rc.Close()
	if _, err := io.Copy(env.stdout, rc); err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs of pod %s (job %s): %w", st.Pod, name, err)
	}
	return nil
}

// jobReason is " (<the Job's failure reason>)" when it has one.
func jobReason(st kube.JobState) string {
	if st.Reason == "" {
		return ""
	}
	return " (" + st.Reason + ")"
}
