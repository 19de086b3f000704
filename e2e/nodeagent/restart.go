package nodeagent

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The kubelet's container restart back-off: 10s doubling up to 5 minutes
// (pkg/kubelet/kubelet.go: backOffPeriod and MaxContainerBackOff, given to
// flowcontrol.NewBackOff without jitter).
const (
	defaultRestartBackOff    = 10 * time.Second
	defaultMaxRestartBackOff = 300 * time.Second
)

// backOff is one container's restart back-off, as client-go's
// flowcontrol.Backoff keeps it per container
// (k8s.io/client-go/util/flowcontrol/backoff.go): no entry until the first
// restart, which is immediate; each later restart waits the entry's delay
// counted from the instance's end, and doubles it up to max; an entry not
// moved on for twice max (a container that ran that long) starts over.
type backOff struct {
	initial, max time.Duration
	delay        time.Duration // zero: no entry
	lastUpdate   time.Time
}

func (b *backOff) expired(eventTime time.Time) bool {
	return eventTime.Sub(b.lastUpdate) > 2*b.max
}

// wait is how long a restart of an instance that ended at finished must
// still wait at now (the kubelet's IsInBackOffSince); zero means restart
// now, after which next must be called.
func (b *backOff) wait(finished, now time.Time) time.Duration {
	if b.delay == 0 || b.expired(finished) {
		return 0
	}
	if d := b.delay - now.Sub(finished); d > 0 {
		return d
	}
	return 0
}

// next moves the back-off on for a restart at now of an instance that
// ended at finished (the kubelet's Next).
func (b *backOff) next(finished, now time.Time) {
	if b.delay == 0 || b.expired(finished) {
		b.delay = b.initial
	} else {
		b.delay = min(2*b.delay, b.max)
	}
	b.lastUpdate = now
}

// shouldRestart is kubecontainer.ShouldContainerBeRestarted
// (pkg/kubelet/container/helpers.go) for a container that has run: Never
// never restarts it, OnFailure when it failed, Always always.
func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	default:
		return true
	}
}

// podPhase is the kubelet's getPhase (pkg/kubelet/kubelet_pods.go) from
// the containers' statuses, without sidecar (restartable init) containers,
// which the agent does not run: a failed init container fails the Pod
// under restartPolicy Never; a Pod initialising or with a container never
// started is Pending; one with a container running is Running; once every
// container has stopped, a terminal Pod (being deleted) or a policy other
// than Always gives Succeeded if all succeeded, else Failed (Never) or
// Running (OnFailure: restarting).
func podPhase(spec *corev1.PodSpec, initStatuses, statuses []corev1.ContainerStatus, terminal bool) corev1.PodPhase {
	find := func(list []corev1.ContainerStatus, name string) (corev1.ContainerStatus, bool) {
		for _, s := range list {
			if s.Name == name {
				return s, true
			}
		}
		return corev1.ContainerStatus{}, false
	}
	pendingInit, failedInit := 0, 0
	for _, c := range spec.InitContainers {
		s, ok := find(initStatuses, c.Name)
		switch {
		case !ok:
			pendingInit++
		case s.State.Running != nil:
			pendingInit++
		case s.State.Terminated != nil:
			if s.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case s.State.Waiting != nil:
			if t := s.LastTerminationState.Terminated; t != nil {
				if t.ExitCode != 0 {
					failedInit++
				}
			} else {
				pendingInit++
			}
		default:
			pendingInit++
		}
	}
	unknown, running, waiting, stopped, succeeded := 0, 0, 0, 0, 0
	for _, c := range spec.Containers {
		s, ok := find(statuses, c.Name)
		switch {
		case !ok:
			unknown++
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil:
			if s.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		default:
			unknown++
		}
	}
	if failedInit > 0 && spec.RestartPolicy == corev1.RestartPolicyNever {
		return corev1.PodFailed
	}
	switch {
	case pendingInit > 0, waiting > 0:
		return corev1.PodPending
	case running > 0 && unknown == 0:
		return corev1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		if terminal {
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
		if spec.RestartPolicy == corev1.RestartPolicyAlways {
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		if spec.RestartPolicy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}
