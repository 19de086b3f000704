package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/kube"
)

// peersFlags control the peers query of the restore preview.
type peersFlags struct {
	PeersTimeout   time.Duration `name:"peers-timeout" default:"1m" help:"How long the restore preview waits for its peers query Job (qbackup peers, which asks each Ready Qdrant pod GET /cluster) before it goes on with the Kubernetes counts alone."`
	SkipPeersQuery bool          `name:"skip-peers-query" help:"Do not run the peers query Job: the preview compares the backup with the Ready pods and the StatefulSet only."`
}

// Validate runs before anything is contacted.
func (f peersFlags) Validate() error {
	if f.PeersTimeout <= 0 {
		return config.Invalidf("--peers-timeout %s: must be positive, e.g. 1m; to skip the query pass --skip-peers-query", f.PeersTimeout)
	}
	return nil
}

// peersDelete bounds the explicit delete of a peers Job once read; its
// ttl removes it anyway.
const peersDelete = 10 * time.Second

// queryPeers runs `qbackup peers -o json` as a Job made from the
// installed template tpl, waits for it at most timeout, reads its survey
// through pods/log and deletes the Job (and its pod). It returns the
// survey and the Job's name; an error says why there is none.
func queryPeers(ctx context.Context, env *runEnv, cs kubernetes.Interface, tpl *batchv1.CronJob, timeout time.Duration) (*discovery.Survey, string, error) {
	job, err := kube.PeersJobFromTemplate(tpl, kube.PeersJobName(env.now()), timeout)
	if err != nil {
		return nil, "", err
	}
	ns := tpl.Namespace
	created, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return nil, job.Name, fmt.Errorf("create job %s: %w", job.Name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), peersDelete)
		defer cancel()
		bg := metav1.DeletePropagationBackground
		if err := cs.BatchV1().Jobs(ns).Delete(dctx, created.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			fmt.Fprintf(env.stderr, "warning: the peers query job %s was not deleted (its ttl of %ds removes it): %v\n", created.Name, *job.Spec.TTLSecondsAfterFinished, err)
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := kube.WaitJob(wctx, cs, ns, created.Name, jobPoll, func(kube.JobState) {})
	var failed *kube.JobFailedError
	switch {
	case errors.As(err, &failed):
		return nil, created.Name, fmt.Errorf("job %s failed: %s", created.Name, orText(failed.State.Message, failed.State.Reason))
	case err != nil && wctx.Err() != nil && ctx.Err() == nil:
		return nil, created.Name, fmt.Errorf("job %s did not finish within --peers-timeout=%s (%s): is there a node to run it?", created.Name, timeout, st.Line())
	case err != nil:
		return nil, created.Name, err
	}
	if st.Pod == "" {
		return nil, created.Name, fmt.Errorf("job %s succeeded, but its pod is gone: nothing to read", created.Name)
	}
	rc, err := cs.CoreV1().Pods(ns).GetLogs(st.Pod, &corev1.PodLogOptions{Container: "qbackup"}).Stream(ctx)
	if err != nil {
		return nil, created.Name, fmt.Errorf("read the log of pod %s (job %s): %w", st.Pod, created.Name, err)
	}
	defer rc.Close()
	s, err := kube.ReadSurvey(rc)
	if err != nil {
		return nil, created.Name, fmt.Errorf("job %s: %w", created.Name, err)
	}
	return s, created.Name, nil
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
