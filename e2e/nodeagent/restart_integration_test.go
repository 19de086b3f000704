//go:build integration

package nodeagent_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qbackup/qbackup/e2e/nodeagent"
	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// restartBackOff is the tests' first restart back-off (the kubelet's is
// 10s): long enough to measure, short enough to wait for.
const restartBackOff = 2 * time.Second

func startRestartingAgent(t *testing.T, ns string) *nodeagent.Agent {
	t.Helper()
	a, err := nodeagent.Start(context.Background(), nodeagent.Config{
		Kube: stacktest.Kube(t), Namespaces: []string{ns}, StateDir: t.TempDir(),
		Images:         map[string]nodeagent.Image{"shell": {Binary: "/bin/sh", Entrypoint: "/bin/sh", User: 65532, Group: 65532}},
		RestartBackOff: restartBackOff, MaxRestartBackOff: 4 * restartBackOff,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close agent: %v", err)
		}
	})
	return a
}

// counted is a script that appends "start <name> <attempt> <unix time>" to
// /run/state/log, a volume the Pod's containers share across restarts,
// prints its attempt, then runs then.
func counted(name, then string) string {
	return `n=$(grep -c "^start ` + name + ` " /run/state/log 2>/dev/null); n=$((n+1)); ` +
		`echo "start ` + name + ` $n $(date +%s.%N)" >> /run/state/log; echo "` + name + ` attempt $n"; ` + then
}

// statePod is a Pod of the shell image with an emptyDir at /run/state,
// run as root so its containers may write there.
func statePod(name string, policy corev1.RestartPolicy, inits []corev1.Container, containers ...corev1.Container) *corev1.Pod {
	root := int64(0)
	mount := []corev1.VolumeMount{{Name: "state", MountPath: "/run/state"}}
	for i := range inits {
		inits[i].Image, inits[i].VolumeMounts = "shell", mount
	}
	for i := range containers {
		containers[i].Image, containers[i].VolumeMounts = "shell", mount
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		RestartPolicy: policy, InitContainers: inits, Containers: containers,
		SecurityContext: &corev1.PodSecurityContext{RunAsUser: &root, RunAsGroup: &root},
		Volumes:         []corev1.Volume{{Name: "state", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}}
}

func sh(name, script string) corev1.Container {
	return corev1.Container{Name: name, Command: []string{"sh", "-c", script}}
}

// attempts reads the start times the counted scripts of a container
// logged, from the output of a reader container.
func attempts(t *testing.T, log, name string) []float64 {
	t.Helper()
	var out []float64
	for _, line := range strings.Split(log, "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "start" && f[1] == name {
			v, err := strconv.ParseFloat(f[3], 64)
			if err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			out = append(out, v)
		}
	}
	return out
}

// TestAgentRestartsContainersAsTheRestartPolicySays runs a container that
// fails twice, then succeeds, under restartPolicy OnFailure, and one that
// fails under Never. OnFailure restarts it in place, as the kubelet does:
// at once after the first failure, after the back-off after the second
// (reported Waiting, CrashLoopBackOff), restartCount counting, the last
// failure in lastState and its output in `kubectl logs --previous`. Never
// leaves the failed container as it is, the Pod Failed.
func TestAgentRestartsContainersAsTheRestartPolicySays(t *testing.T) {
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	a := startRestartingAgent(t, ns)
	ctx := context.Background()
	for _, p := range []*corev1.Pod{
		statePod("on-failure", corev1.RestartPolicyOnFailure, nil,
			sh("main", counted("main", `if [ $n -lt 3 ]; then echo "failing $n" >&2; exit 1; fi; cat /run/state/log`))),
		statePod("never", corev1.RestartPolicyNever, nil, sh("main", counted("main", "exit 1"))),
	} {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// The back-off is seen while it lasts.
	p := waitPod(t, cs, ns, "on-failure", "CrashLoopBackOff", func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff"
	})
	st := p.Status.ContainerStatuses[0]
	if want := "back-off " + restartBackOff.String() + " restarting failed container=main pod=on-failure_" + ns; !strings.HasPrefix(st.State.Waiting.Message, want) {
		t.Errorf("waiting message %q, want it to begin %q", st.State.Waiting.Message, want)
	}
	if st.RestartCount != 1 || st.LastTerminationState.Terminated == nil || st.LastTerminationState.Terminated.ExitCode != 1 {
		t.Errorf("while backing off: restartCount %d, lastState %+v; want 1 and the exit 1", st.RestartCount, st.LastTerminationState)
	}
	if p.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s while backing off, want Running (OnFailure restarts it)", p.Status.Phase)
	}

	p = waitPod(t, cs, ns, "on-failure", "the end", terminated)
	st = p.Status.ContainerStatuses[0]
	if p.Status.Phase != corev1.PodSucceeded || st.RestartCount != 2 || st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
		t.Fatalf("phase %s, container %+v: want Succeeded after two restarts", p.Status.Phase, st)
	}
	if last := st.LastTerminationState.Terminated; last == nil || last.ExitCode != 1 || last.Reason != "Error" {
		t.Errorf("lastState %+v, want the second failure", st.LastTerminationState)
	}
	out, err := a.Logs(ns, "on-failure", "main")
	if err != nil {
		t.Fatal(err)
	}
	starts := attempts(t, out, "main")
	if len(starts) != 3 {
		t.Fatalf("attempts logged: %q", out)
	}
	if gap := starts[1] - starts[0]; gap >= restartBackOff.Seconds() {
		t.Errorf("the first restart came %.2fs after the first start: the kubelet restarts at once the first time", gap)
	}
	if gap := starts[2] - starts[1]; gap < restartBackOff.Seconds() {
		t.Errorf("the second restart came %.2fs after the second start, within the %s back-off", gap, restartBackOff)
	}
	prev, err := cs.CoreV1().Pods(ns).GetLogs("on-failure", &corev1.PodLogOptions{Container: "main", Previous: true}).DoRaw(ctx)
	if err != nil || !strings.Contains(string(prev), "main attempt 2") || !strings.Contains(string(prev), "failing 2") {
		t.Errorf("kubectl logs --previous: %q (err %v), want the second attempt's output", prev, err)
	}

	waitPod(t, cs, ns, "never", "the end", terminated)
	time.Sleep(2 * restartBackOff) // a restart, if any, would have come
	p = waitPod(t, cs, ns, "never", "the end", terminated)
	st = p.Status.ContainerStatuses[0]
	if p.Status.Phase != corev1.PodFailed || st.RestartCount != 0 || st.State.Terminated == nil || st.State.Terminated.ExitCode != 1 {
		t.Fatalf("never: phase %s, container %+v: want Failed, exit 1, no restart", p.Status.Phase, st)
	}
	if out, _ := a.Logs(ns, "never", "main"); strings.Count(out, "attempt") != 1 {
		t.Errorf("never: the container ran more than once:\n%s", out)
	}
}

// TestAgentRunsInitContainersInOrder runs init containers one after the
// other before the regular containers, which wait PodInitializing while
// they run; a failed init container fails the Pod under Never (nothing
// after it runs) and is restarted under OnFailure.
func TestAgentRunsInitContainersInOrder(t *testing.T) {
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	a := startRestartingAgent(t, ns)
	ctx := context.Background()
	for _, p := range []*corev1.Pod{
		statePod("init-ok", corev1.RestartPolicyNever,
			[]corev1.Container{sh("first", counted("first", "sleep 1")), sh("second", counted("second", ""))},
			sh("main", counted("main", "cat /run/state/log")), sh("side", counted("side", ""))),
		statePod("init-fails", corev1.RestartPolicyNever,
			[]corev1.Container{sh("first", counted("first", "exit 2")), sh("second", counted("second", ""))},
			sh("main", counted("main", ""))),
		statePod("init-retried", corev1.RestartPolicyOnFailure,
			[]corev1.Container{sh("first", counted("first", `[ $n -ge 2 ] || exit 2`))},
			sh("main", counted("main", "cat /run/state/log"))),
	} {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// While the first init container sleeps: Pending, not initialised,
	// the regular containers waiting for it.
	p := waitPod(t, cs, ns, "init-ok", "the first init container running", func(p *corev1.Pod) bool {
		return len(p.Status.InitContainerStatuses) == 2 && p.Status.InitContainerStatuses[0].State.Running != nil
	})
	if p.Status.Phase != corev1.PodPending || p.Status.ContainerStatuses[0].State.Waiting == nil ||
		p.Status.ContainerStatuses[0].State.Waiting.Reason != "PodInitializing" || p.Status.InitContainerStatuses[1].State.Waiting == nil {
		t.Errorf("while initialising: phase %s, init %+v, containers %+v", p.Status.Phase, p.Status.InitContainerStatuses, p.Status.ContainerStatuses)
	}
	if c := condition(p, corev1.PodInitialized); c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotInitialized" || !strings.Contains(c.Message, "[first second]") {
		t.Errorf("Initialized while initialising: %+v", c)
	}
	p = waitPod(t, cs, ns, "init-ok", "the end", terminated)
	if p.Status.Phase != corev1.PodSucceeded || condition(p, corev1.PodInitialized).Status != corev1.ConditionTrue {
		t.Fatalf("init-ok: phase %s, conditions %+v", p.Status.Phase, p.Status.Conditions)
	}
	out, err := a.Logs(ns, "init-ok", "main")
	if err != nil {
		t.Fatal(err)
	}
	first, second, main, side := attempts(t, out, "first"), attempts(t, out, "second"), attempts(t, out, "main"), attempts(t, out, "side")
	if len(first) != 1 || len(second) != 1 || len(main) != 1 || second[0]-first[0] < 1 || main[0] < second[0] {
		t.Errorf("init-ok: first %v, second %v, main %v: want first, then second once first had slept, then main", first, second, main)
	}
	if len(side) == 1 && side[0] < second[0] {
		t.Errorf("init-ok: a regular container started before the init containers ended")
	}
	if out, err := a.Logs(ns, "init-ok", "first"); err != nil || !strings.Contains(out, "first attempt 1") {
		t.Errorf("init container output: %q (err %v)", out, err)
	}

	p = waitPod(t, cs, ns, "init-fails", "the end", terminated)
	init := p.Status.InitContainerStatuses
	if p.Status.Phase != corev1.PodFailed || init[0].State.Terminated == nil || init[0].State.Terminated.ExitCode != 2 || init[0].RestartCount != 0 ||
		init[1].State.Waiting == nil || p.Status.ContainerStatuses[0].State.Waiting == nil {
		t.Errorf("init-fails: phase %s, init %+v, containers %+v: want Failed, the first init container exit 2, nothing else run",
			p.Status.Phase, init, p.Status.ContainerStatuses)
	}

	p = waitPod(t, cs, ns, "init-retried", "the end", terminated)
	init = p.Status.InitContainerStatuses
	if p.Status.Phase != corev1.PodSucceeded || init[0].RestartCount != 1 || init[0].State.Terminated == nil || init[0].State.Terminated.ExitCode != 0 ||
		init[0].LastTerminationState.Terminated == nil || init[0].LastTerminationState.Terminated.ExitCode != 2 {
		t.Errorf("init-retried: phase %s, init %+v: want the init container restarted once, then the Pod Succeeded", p.Status.Phase, init)
	}
	if out, _ := a.Logs(ns, "init-retried", "main"); len(attempts(t, out, "first")) != 2 || len(attempts(t, out, "main")) != 1 {
		t.Errorf("init-retried: the log of starts:\n%s", out)
	}
}

func condition(p *corev1.Pod, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

// TestJobCountsTheAgentsRestartsTowardsItsBackoffLimit runs a Job whose
// pod (restartPolicy OnFailure) always fails on the real Job controller:
// the controller counts the container's restarts, as the agent reports
// them, against backoffLimit and fails the Job with BackoffLimitExceeded.
func TestJobCountsTheAgentsRestartsTowardsItsBackoffLimit(t *testing.T) {
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	startRestartingAgent(t, ns)
	ctx := context.Background()
	limit := int32(2)
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "fails"}, Spec: batchv1.JobSpec{
		BackoffLimit: &limit,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyOnFailure,
			Containers:    []corev1.Container{{Name: "main", Image: "shell", Command: []string{"sh", "-c", "echo failing; exit 1"}}},
		}},
	}}
	if _, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var restarts int32
	deadline := time.Now().Add(2 * time.Minute)
	for {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, "fails", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=fails"}); err == nil {
			for _, p := range pods.Items {
				for _, s := range p.Status.ContainerStatuses {
					restarts = max(restarts, s.RestartCount)
				}
			}
		}
		var failed *batchv1.JobCondition
		for i, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				failed = &j.Status.Conditions[i]
			}
		}
		if failed != nil {
			if failed.Reason != "BackoffLimitExceeded" {
				t.Errorf("job failed with %s: %s, want BackoffLimitExceeded", failed.Reason, failed.Message)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not fail within 2 minutes: %+v (restarts seen %d)", j.Status, restarts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if restarts < limit {
		t.Errorf("the job failed after %d restarts were seen, want at least its backoffLimit %d", restarts, limit)
	}
}
