package nodeagent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestBackOffDoublesFromTheSecondRestartAndStartsOverAfterAStableRun(t *testing.T) {
	b := backOff{initial: 10 * time.Second, max: 40 * time.Second}
	t0 := time.Unix(1_000_000, 0)
	type step struct {
		finished, now time.Duration // since t0
		wait          time.Duration // what wait says
		delay         time.Duration // the delay after next, when wait is 0
	}
	for i, s := range []step{
		{finished: 0, now: time.Second, wait: 0, delay: 10 * time.Second},                     // first restart: at once
		{finished: 2 * time.Second, now: 3 * time.Second, wait: 9 * time.Second},              // second: 10s from its end
		{finished: 2 * time.Second, now: 12 * time.Second, wait: 0, delay: 20 * time.Second},  // ...then restarted
		{finished: 13 * time.Second, now: 33 * time.Second, wait: 0, delay: 40 * time.Second}, // 20s passed
		{finished: 34 * time.Second, now: 74 * time.Second, wait: 0, delay: 40 * time.Second}, // capped at max
		// An instance that ran more than twice max since the last
		// restart: the back-off starts over.
		{finished: 74*time.Second + 81*time.Second, now: 156 * time.Second, wait: 0, delay: 10 * time.Second},
	} {
		finished, now := t0.Add(s.finished), t0.Add(s.now)
		if got := b.wait(finished, now); got != s.wait {
			t.Fatalf("step %d: wait %s, want %s", i, got, s.wait)
		}
		if s.wait > 0 {
			continue
		}
		b.next(finished, now)
		if b.delay != s.delay {
			t.Fatalf("step %d: delay %s after the restart, want %s", i, b.delay, s.delay)
		}
	}
}

func TestShouldRestartFollowsTheRestartPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		code   int32
		want   bool
	}{
		{corev1.RestartPolicyNever, 1, false},
		{corev1.RestartPolicyNever, 0, false},
		{corev1.RestartPolicyOnFailure, 1, true},
		{corev1.RestartPolicyOnFailure, 137, true},
		{corev1.RestartPolicyOnFailure, 0, false},
		{corev1.RestartPolicyAlways, 0, true},
		{corev1.RestartPolicyAlways, 2, true},
	} {
		if got := shouldRestart(tc.policy, tc.code); got != tc.want {
			t.Errorf("%s, exit %d: restart %v, want %v", tc.policy, tc.code, got, tc.want)
		}
	}
}

func TestPodPhaseIsTheKubeletsGetPhase(t *testing.T) {
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	exited := func(code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	waiting := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	backingOff := func(code int32) corev1.ContainerStatus {
		s := waiting("CrashLoopBackOff")
		s.LastTerminationState = exited(code).State
		return s
	}
	named := func(name string, s corev1.ContainerStatus) corev1.ContainerStatus { s.Name = name; return s }
	spec := func(policy corev1.RestartPolicy, inits ...string) *corev1.PodSpec {
		s := &corev1.PodSpec{RestartPolicy: policy, Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}}
		for _, n := range inits {
			s.InitContainers = append(s.InitContainers, corev1.Container{Name: n})
		}
		return s
	}
	for _, tc := range []struct {
		name      string
		spec      *corev1.PodSpec
		init, reg []corev1.ContainerStatus
		terminal  bool
		want      corev1.PodPhase
	}{
		{"creating", spec(corev1.RestartPolicyNever), nil, []corev1.ContainerStatus{named("a", waiting("ContainerCreating")), named("b", waiting("ContainerCreating"))}, false, corev1.PodPending},
		{"one running, one not started", spec(corev1.RestartPolicyNever), nil, []corev1.ContainerStatus{named("a", running), named("b", waiting("ContainerCreating"))}, false, corev1.PodPending},
		{"running", spec(corev1.RestartPolicyNever), nil, []corev1.ContainerStatus{named("a", running), named("b", exited(1))}, false, corev1.PodRunning},
		{"never: one failed", spec(corev1.RestartPolicyNever), nil, []corev1.ContainerStatus{named("a", exited(0)), named("b", exited(3))}, false, corev1.PodFailed},
		{"never: all succeeded", spec(corev1.RestartPolicyNever), nil, []corev1.ContainerStatus{named("a", exited(0)), named("b", exited(0))}, false, corev1.PodSucceeded},
		{"on failure: backing off", spec(corev1.RestartPolicyOnFailure), nil, []corev1.ContainerStatus{named("a", exited(0)), named("b", backingOff(1))}, false, corev1.PodRunning},
		{"on failure: backing off, deleted", spec(corev1.RestartPolicyOnFailure), nil, []corev1.ContainerStatus{named("a", exited(0)), named("b", backingOff(1))}, true, corev1.PodFailed},
		{"on failure: all succeeded", spec(corev1.RestartPolicyOnFailure), nil, []corev1.ContainerStatus{named("a", exited(0)), named("b", exited(0))}, false, corev1.PodSucceeded},
		{"always: all exited", spec(corev1.RestartPolicyAlways), nil, []corev1.ContainerStatus{named("a", exited(0)), named("b", exited(0))}, false, corev1.PodRunning},
		{"always: all exited, deleted", spec(corev1.RestartPolicyAlways), nil, []corev1.ContainerStatus{named("a", exited(0)), named("b", exited(0))}, true, corev1.PodSucceeded},
		{"init running", spec(corev1.RestartPolicyNever, "i1", "i2"),
			[]corev1.ContainerStatus{named("i1", exited(0)), named("i2", running)},
			[]corev1.ContainerStatus{named("a", waiting("PodInitializing")), named("b", waiting("PodInitializing"))}, false, corev1.PodPending},
		{"never: init failed", spec(corev1.RestartPolicyNever, "i1", "i2"),
			[]corev1.ContainerStatus{named("i1", exited(2)), named("i2", waiting("PodInitializing"))},
			[]corev1.ContainerStatus{named("a", waiting("PodInitializing")), named("b", waiting("PodInitializing"))}, false, corev1.PodFailed},
		{"on failure: init failed, backing off", spec(corev1.RestartPolicyOnFailure, "i1"),
			[]corev1.ContainerStatus{named("i1", backingOff(2))},
			[]corev1.ContainerStatus{named("a", waiting("PodInitializing")), named("b", waiting("PodInitializing"))}, false, corev1.PodPending},
		{"initialised, running", spec(corev1.RestartPolicyNever, "i1"),
			[]corev1.ContainerStatus{named("i1", exited(0))},
			[]corev1.ContainerStatus{named("a", running), named("b", running)}, false, corev1.PodRunning},
		{"a container without status", spec(corev1.RestartPolicyNever), nil, []corev1.ContainerStatus{named("a", exited(0))}, false, corev1.PodPending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podPhase(tc.spec, tc.init, tc.reg, tc.terminal); got != tc.want {
				t.Errorf("phase %s, want %s", got, tc.want)
			}
		})
	}
}
