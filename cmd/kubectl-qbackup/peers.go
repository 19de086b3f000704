package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
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

// peersFlags control the peers query of the restore and rebalance
// previews.
type peersFlags struct {
	PeersTimeout   time.Duration `name:"peers-timeout" default:"1m" help:"How long the preview waits for its peers query Job (qbackup peers, which asks each Ready Qdrant pod GET /cluster) before it goes on with the Kubernetes counts alone."`
	SkipPeersQuery bool          `name:"skip-peers-query" help:"Do not run the peers query Job: the preview counts the Ready pods and the StatefulSet's replicas only."`
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
	if apierrors.IsAlreadyExists(err) {
		// Another preview asked in the same second (a second operator,
		// or a script running two): its Job is its own to read and
		// delete, so this query gets a name of its own.
		var b [2]byte
		_, _ = rand.Read(b[:]) // crypto/rand never fails
		job.Name += "-" + hex.EncodeToString(b[:])
		created, err = cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	}
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

// previewPeers is what a preview learnt of Qdrant's own peers: the
// check, or why the query did not run.
type previewPeers struct {
	check kube.PeerCheck
	job   string
	// skipped or failed say why Qdrant's count is not known.
	skipped bool
	failed  error
}

// check runs the peers query unless told not to, and compares its
// answer with the pods. A query that cannot run is reported, not fatal:
// the preview goes on with the Kubernetes counts. The restore and the
// rebalance previews share it, so both say the same.
func (f peersFlags) check(ctx context.Context, env *runEnv, cs kubernetes.Interface, tpl *batchv1.CronJob, nodes kube.NodeCount) previewPeers {
	if f.SkipPeersQuery {
		return previewPeers{skipped: true}
	}
	s, job, err := queryPeers(ctx, env, cs, tpl, f.PeersTimeout)
	if err != nil {
		return previewPeers{job: job, failed: err}
	}
	return previewPeers{check: kube.ComparePeers(nodes, s), job: job}
}

// line is the preview's line about Qdrant's peers; kind ("restore",
// "rebalance") names the Job that refuses a disagreement, as both do
// (their discovery checks the same counts again).
func (p previewPeers) line(kind string, allowMismatch bool) string {
	switch {
	case p.skipped:
		return "Qdrant's peers not asked (--skip-peers-query): the preview counts Kubernetes pods only"
	case p.failed != nil:
		return fmt.Sprintf("Qdrant's peers not read: %v; the preview counts Kubernetes pods only", p.failed)
	}
	line := p.check.Summary()
	if !p.check.Agrees() && !allowMismatch {
		line += "; the " + kind + " Job refuses a cluster whose pods and peers disagree: fix it first, or pass --allow-node-mismatch"
	}
	return line
}

// disagrees says that Qdrant answered and its peers and the pods
// disagree.
func (p previewPeers) disagrees() bool { return p.check.Known && !p.check.Agrees() }

// source names where Qdrant's count came from, for the preview's note.
func (p previewPeers) source() string {
	if p.check.Known {
		return "; Qdrant's peers from job " + p.job
	}
	return ""
}

// count is Qdrant's count for the plan annotation.
func (p previewPeers) count() string {
	switch {
	case p.skipped:
		return "not asked"
	case !p.check.Known:
		return "unknown"
	}
	return strconv.Itoa(p.check.Peers)
}
