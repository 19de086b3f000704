package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// podWorker runs one Pod on the node, from its first status to its final
// deletion.
type podWorker struct {
	a                 *Agent
	uid               types.UID
	ns, name          string
	created           time.Time
	pod               *corev1.Pod
	containers        []*containerRun
	done              chan struct{}
	deleteOnce        sync.Once
	deleting          chan struct{}
	grace             int64 // seconds, set before deleting is closed
	killOnce          sync.Once
	killed            chan struct{}
	mu                sync.Mutex // guards the fields below
	startTime         metav1.Time
	phase             corev1.PodPhase
	reason, message   string
	podIP             string // the node's, or a Qdrant peer's address
	containersStarted bool
}

func newPodWorker(a *Agent, p *corev1.Pod) *podWorker {
	w := &podWorker{
		a: a, uid: p.UID, ns: p.Namespace, name: p.Name, created: time.Now(), pod: p.DeepCopy(),
		done: make(chan struct{}), deleting: make(chan struct{}), killed: make(chan struct{}),
		phase: corev1.PodPending, podIP: nodeIP,
	}
	for _, c := range p.Spec.Containers {
		w.containers = append(w.containers, newContainerRun(w, c))
	}
	return w
}

func (w *podWorker) logger() any { return w.ns + "/" + w.name }

// delete asks for a graceful stop: SIGTERM, grace seconds, SIGKILL, then
// the final delete of the Pod.
func (w *podWorker) delete(grace int64) {
	w.deleteOnce.Do(func() {
		w.grace = grace
		close(w.deleting)
	})
}

// kill stops every container at once, without a final status.
func (w *podWorker) kill() {
	w.killOnce.Do(func() { close(w.killed) })
}

func (w *podWorker) run() {
	defer close(w.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.killed:
			cancel()
		case <-w.done:
		}
	}()
	log := w.a.log.With("pod", w.logger())

	// A Pod that was already finished when the agent saw it (e.g. after a
	// restart of the agent) is not run again.
	if p := w.pod; p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		w.finalDelete(ctx)
		return
	}
	w.mu.Lock()
	w.startTime = metav1.Now()
	w.mu.Unlock()
	w.push(ctx)

	var deadline <-chan time.Time
	if d := w.pod.Spec.ActiveDeadlineSeconds; d != nil {
		t := time.NewTimer(time.Duration(*d) * time.Second)
		defer t.Stop()
		deadline = t.C
	}
	if w.a.isQdrant(w.pod) {
		w.runPeer(ctx, deadline)
		return
	}
	if len(w.pod.Spec.InitContainers) > 0 {
		w.fail(ctx, "UnsupportedByNodeAgent", "init containers are not supported by the test node agent")
		w.finalDelete(ctx)
		return
	}

	// Prepare every container, retrying configuration errors with a
	// back-off as the kubelet does, until the Pod is deleted or its
	// deadline passes.
	backoff := 500 * time.Millisecond
	for {
		err := w.prepare(ctx)
		if err == nil {
			break
		}
		log.Info("container start failed", "err", err)
		w.push(ctx)
		select {
		case <-ctx.Done():
			return
		case <-w.deleting:
			w.finalDelete(ctx)
			return
		case <-deadline:
			w.fail(ctx, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
			w.finalDelete(ctx)
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}

	for _, c := range w.containers {
		if err := c.start(); err != nil {
			c.setStartError(err)
		}
	}
	w.mu.Lock()
	w.phase = corev1.PodRunning
	w.containersStarted = true
	w.mu.Unlock()
	w.push(ctx)
	log.Info("pod running")

	exited := make(chan struct{})
	go func() {
		for _, c := range w.containers {
			<-c.exited
		}
		close(exited)
	}()
	select {
	case <-exited:
	case <-ctx.Done():
		w.stopAll(0)
		return
	case <-w.deleting:
		w.stopAll(w.grace)
		w.finish()
		w.push(ctx)
		w.finalDelete(ctx)
		return
	case <-deadline:
		grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
		if g := w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		w.stopAll(grace)
		w.finish()
		w.mu.Lock()
		w.phase, w.reason, w.message = corev1.PodFailed, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"
		w.mu.Unlock()
		w.push(ctx)
		log.Info("pod deadline exceeded")
		w.waitDelete(ctx)
		return
	}
	w.finish()
	w.push(ctx)
	log.Info("pod finished", "phase", w.phase)
	w.waitDelete(ctx)
}

// finish sets the terminal phase from the containers' exit codes
// (restartPolicy Never: any failure fails the Pod).
func (w *podWorker) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.phase = corev1.PodSucceeded
	for _, c := range w.containers {
		if c.exitCode() != 0 {
			w.phase = corev1.PodFailed
		}
	}
}

// fail ends the Pod without running it.
func (w *podWorker) fail(ctx context.Context, reason, msg string) {
	w.mu.Lock()
	w.phase, w.reason, w.message = corev1.PodFailed, reason, msg
	w.mu.Unlock()
	w.push(ctx)
}

// waitDelete waits for a finished Pod's deletion and completes it.
func (w *podWorker) waitDelete(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-w.deleting:
		w.finalDelete(ctx)
	}
}

// finalDelete removes a Pod whose containers are gone once it is being
// deleted: the kubelet's delete with grace period 0.
func (w *podWorker) finalDelete(ctx context.Context) {
	select {
	case <-w.deleting:
	case <-ctx.Done():
		return
	}
	zero := int64(0)
	uid := w.uid
	err := w.a.cs.CoreV1().Pods(w.ns).Delete(ctx, w.name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
		w.a.log.Warn("final delete failed", "pod", w.logger(), "err", err)
	}
	_ = os.RemoveAll(filepath.Join(w.a.podDir(w.uid), "volumes"))
}

// stopAll stops every running container: SIGTERM, then SIGKILL after
// grace seconds.
func (w *podWorker) stopAll(grace int64) {
	var wg sync.WaitGroup
	for _, c := range w.containers {
		wg.Add(1)
		go func(c *containerRun) {
			defer wg.Done()
			c.stop(time.Duration(grace) * time.Second)
		}(c)
	}
	wg.Wait()
}

// prepare writes the volumes and resolves every container's process.
func (w *podWorker) prepare(ctx context.Context) error {
	dir := w.a.podDir(w.uid)
	err := writeVolumes(ctx, w.a.cs, w.pod, filepath.Join(dir, "volumes"))
	var me *mountError
	if errors.As(err, &me) {
		for _, c := range w.containers {
			c.setWaiting("ContainerCreating", me.msg)
		}
		return err
	}
	if err != nil {
		return err
	}
	var failed error
	for _, c := range w.containers {
		if err := c.prepare(ctx); err != nil {
			failed = err
		}
	}
	return failed
}

// ownConditions are the Pod conditions the kubelet sets; the others
// (PodScheduled, DisruptionTarget...) belong to other components.
var ownConditions = map[corev1.PodConditionType]bool{
	corev1.PodReadyToStartContainers: true, corev1.PodInitialized: true,
	corev1.ContainersReady: true, corev1.PodReady: true,
}

// status is the Pod status as the kubelet would report it now.
func (w *podWorker) status(old corev1.PodStatus) corev1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := corev1.PodStatus{
		Phase: w.phase, Reason: w.reason, Message: w.message,
		HostIP: nodeIP, HostIPs: []corev1.HostIP{{IP: nodeIP}},
		PodIP: w.podIP, PodIPs: []corev1.PodIP{{IP: w.podIP}},
		StartTime: &w.startTime, QOSClass: old.QOSClass,
	}
	ready := w.phase == corev1.PodRunning
	for _, c := range w.containers {
		cs := c.status()
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		ready = ready && cs.Ready
	}
	now := metav1.Now()
	cond := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: now}
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == s {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		return c
	}
	for _, c := range old.Conditions {
		if !ownConditions[c.Type] {
			st.Conditions = append(st.Conditions, c)
		}
	}
	notReady := "ContainersNotReady"
	if w.phase == corev1.PodSucceeded || w.phase == corev1.PodFailed {
		notReady = "PodCompleted"
	}
	if ready {
		notReady = ""
	}
	st.Conditions = append(st.Conditions,
		cond(corev1.PodReadyToStartContainers, w.phase != corev1.PodSucceeded && w.phase != corev1.PodFailed, ""),
		cond(corev1.PodInitialized, true, ""),
		cond(corev1.ContainersReady, ready, notReady),
		cond(corev1.PodReady, ready, notReady),
	)
	return st
}

// push writes the status to the API server, retrying conflicts.
func (w *podWorker) push(ctx context.Context) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := w.a.cs.CoreV1().Pods(w.ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.UID != w.uid {
			return nil
		}
		p.Status = w.status(p.Status)
		_, err = w.a.cs.CoreV1().Pods(w.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		w.a.log.Warn("pod status update failed", "pod", w.logger(), "err", fmt.Sprint(err))
	}
}
