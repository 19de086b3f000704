package main

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"

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
	for {
		if st, err = kube.JobStatus(ctx, cs, ns, name); err != nil {
			return err
		}
		if st.Pod != "" && st.PodPhase != corev1.PodPending {
			break
		}
		if !c.Follow {
			return fmt.Errorf("job %s has no started pod yet (%s): try again, or use -f to wait", name, st.Line())
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
