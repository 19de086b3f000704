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
	a              *Agent
	uid            types.UID
	ns, name       string
	created        time.Time
	pod            *corev1.Pod
	initContainers []*containerRun
	containers     []*containerRun
	done           chan struct{}
	deleteOnce     sync.Once
	deleting       chan struct{}
	grace          int64 // seconds, set before deleting is closed
	killOnce       sync.Once
	killed         chan struct{}
	// wake tells the worker a container has exited: it acts on it (a
	// restart, the next init container, the Pod's end) and reports it.
	wake              chan struct{}
	mu                sync.Mutex // guards the fields below
	startTime         metav1.Time
	phase             corev1.PodPhase // set only when the Pod failed as a whole; else from the containers
	reason, message   string
	terminal          bool   // no container will run again: the Pod is done or being deleted
	podIP             string // the node's, or a Qdrant peer's address
	containersStarted bool
}

func newPodWorker(a *Agent, p *corev1.Pod) *podWorker {
	w := &podWorker{
		a: a, uid: p.UID, ns: p.Namespace, name: p.Name, created: time.Now(), pod: p.DeepCopy(),
		done: make(chan struct{}), deleting: make(chan struct{}), killed: make(chan struct{}),
		wake: make(chan struct{}, 1), podIP: nodeIP,
	}
	for _, c := range p.Spec.InitContainers {
		w.initContainers = append(w.initContainers, newContainerRun(w, c, true))
	}
	for _, c := range p.Spec.Containers {
		w.containers = append(w.containers, newContainerRun(w, c, false))
	}
	return w
}

// all is every container of the Pod, init containers first.
func (w *podWorker) all() []*containerRun {
	return append(append([]*containerRun(nil), w.initContainers...), w.containers...)
}

func (w *podWorker) wakeUp() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
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
	w.mu.Lock()
	w.containersStarted = true
	w.mu.Unlock()

	// The kubelet's sync loop: act on the containers' states, report,
	// wait for an exit or a back-off's end.
	var backOffTimer *time.Timer
	defer func() {
		if backOffTimer != nil {
			backOffTimer.Stop()
		}
	}()
	for {
		done, wait := w.syncContainers(time.Now())
		w.push(ctx)
		if done {
			break
		}
		var backOffEnd <-chan time.Time
		if wait > 0 {
			if backOffTimer != nil {
				backOffTimer.Stop()
			}
			backOffTimer = time.NewTimer(wait)
			backOffEnd = backOffTimer.C
		}
		select {
		case <-w.wake:
		case <-backOffEnd:
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
	}
	w.finish()
	w.push(ctx)
	log.Info("pod finished", "phase", w.status(corev1.PodStatus{}).Phase)
	w.waitDelete(ctx)
}

// syncContainers is one pass of the kubelet's computePodActions and
// SyncPod (pkg/kubelet/kuberuntime/kuberuntime_manager.go) over the
// agent's processes, without sidecars:
//   - init containers run one at a time, in order, each once the one
//     before has succeeded (findNextInitContainerToRun); a failed one
//     fails the Pod under restartPolicy Never and is restarted otherwise;
//   - once all have succeeded the regular containers start together; one
//     that has exited restarts when kubecontainer.ShouldContainerBeRestarted
//     says so (shouldRestart);
//   - a restart waits out the container's back-off (doBackOff), reported
//     as Waiting with reason CrashLoopBackOff.
//
// It reports whether the Pod is done (nothing runs and nothing will be
// started) and, if a back-off holds a restart, when to look again.
func (w *podWorker) syncContainers(now time.Time) (done bool, wait time.Duration) {
	policy := w.pod.Spec.RestartPolicy
	for _, c := range w.initContainers {
		started, running, last := c.instance()
		switch {
		case !started:
			w.a.log.Info("starting init container", "pod", w.logger(), "container", c.spec.Name)
			c.run()
			return false, 0
		case running:
			return false, 0
		case last.ExitCode == 0:
			continue
		case policy == corev1.RestartPolicyNever:
			// A failed init container fails the Pod (getPhase); nothing
			// else runs.
			return true, 0
		}
		if d := w.restartAfter(c, now); d > 0 {
			return false, d
		}
		c.run()
		return false, 0
	}
	active := 0
	for _, c := range w.containers {
		started, running, last := c.instance()
		switch {
		case !started:
			c.run()
			active++
		case running:
			active++
		case shouldRestart(policy, last.ExitCode):
			if d := w.restartAfter(c, now); d > 0 {
				if wait == 0 || d < wait {
					wait = d
				}
				continue
			}
			w.a.log.Info("restarting container", "pod", w.logger(), "container", c.spec.Name, "exitCode", last.ExitCode)
			c.run()
			active++
		}
	}
	return active == 0 && wait == 0, wait
}

// restartAfter is how long the container's restart must still wait; when
// zero the back-off is moved on for the restart about to happen.
func (w *podWorker) restartAfter(c *containerRun, now time.Time) time.Duration {
	finished := c.finishedAt()
	if d := c.backOff.wait(finished, now); d > 0 {
		c.setBackOff(c.backOff.delay)
		return d
	}
	c.backOff.next(finished, now)
	return 0
}

// finish marks the Pod terminal: no container will run again, so the
// phase is Succeeded or Failed.
func (w *podWorker) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.terminal = true
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
	for _, c := range w.all() {
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
		for _, c := range w.all() {
			c.setWaiting("ContainerCreating", me.msg)
		}
		return err
	}
	if err != nil {
		return err
	}
	var failed error
	for _, c := range w.all() {
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
		Reason: w.reason, Message: w.message,
		HostIP: nodeIP, HostIPs: []corev1.HostIP{{IP: nodeIP}},
		PodIP: w.podIP, PodIPs: []corev1.PodIP{{IP: w.podIP}},
		StartTime: &w.startTime, QOSClass: old.QOSClass,
	}
	var incomplete []string
	for _, c := range w.initContainers {
		cs := c.status()
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			incomplete = append(incomplete, c.spec.Name)
		}
	}
	for _, c := range w.containers {
		st.ContainerStatuses = append(st.ContainerStatuses, c.status())
	}
	st.Phase = w.phase
	if st.Phase == "" {
		st.Phase = podPhase(&w.pod.Spec, st.InitContainerStatuses, st.ContainerStatuses, w.terminal)
	}
	ended := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	ready := st.Phase == corev1.PodRunning
	for _, cs := range st.ContainerStatuses {
		ready = ready && cs.Ready
	}
	now := metav1.Now()
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: now}
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
	if ended {
		notReady = "PodCompleted"
	}
	if ready {
		notReady = ""
	}
	// Initialized as the kubelet words it (pkg/kubelet/status/generate.go
	// GeneratePodInitializedCondition).
	initialized, initReason, initMsg := len(incomplete) == 0, "", ""
	if !initialized {
		initReason, initMsg = "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: %v", incomplete)
	}
	st.Conditions = append(st.Conditions,
		cond(corev1.PodReadyToStartContainers, !ended, "", ""),
		cond(corev1.PodInitialized, initialized, initReason, initMsg),
		cond(corev1.ContainersReady, ready, notReady, ""),
		cond(corev1.PodReady, ready, notReady, ""),
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
