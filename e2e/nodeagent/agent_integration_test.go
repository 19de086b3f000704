//go:build integration

package nodeagent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/e2e/nodeagent"
	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

func startAgent(t *testing.T, ns string) *nodeagent.Agent {
	t.Helper()
	a, err := nodeagent.Start(context.Background(), nodeagent.Config{
		Kube: stacktest.Kube(t), Namespaces: []string{ns}, StateDir: t.TempDir(),
		Images: map[string]nodeagent.Image{"shell": {Binary: "/bin/sh", Entrypoint: "/bin/sh", User: 65532, Group: 65532}},
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

func waitPod(t *testing.T, cs kubernetes.Interface, ns, name string, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: timed out waiting for %s; last %+v (err %v)", name, what, p.Status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func terminated(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func TestAgentRunsAPodAsAKubeletWould(t *testing.T) {
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	a := startAgent(t, ns)
	ctx := context.Background()
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
		Data: map[string]string{"GREETING": "hello", "bad-name": "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"},
		Data: map[string][]byte{"PASSWORD": []byte("s3cret")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	yes := true
	script := `echo "$GREETING $WHO $PASSWORD $POD_NAME $(id -u) $KUBERNETES_SERVICE_HOST"; ` +
		`cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; ` +
		`test -s /var/run/secrets/kubernetes.io/serviceaccount/token && test -s /var/run/secrets/kubernetes.io/serviceaccount/ca.crt && echo token-ok; ` +
		`echo "$1"; echo going wrong >&2; exit 3`
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "job-pod"}, Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{
			Name: "main", Image: "registry.example/shell:1", Command: []string{"sh", "-c", script, "sh"},
			Args: []string{"$(GREETING)-arg $$(GREETING)"},
			EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Optional: &yes}},
			},
			Env: []corev1.EnvVar{
				{Name: "WHO", Value: "$(GREETING)-world"},
				{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "PASSWORD"}}},
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			},
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		}},
	}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, cs, ns, "job-pod", "the end", terminated)
	if p.Spec.NodeName != a.NodeName() || p.Status.Phase != corev1.PodFailed || p.Status.StartTime == nil {
		t.Fatalf("node %q phase %s start %v", p.Spec.NodeName, p.Status.Phase, p.Status.StartTime)
	}
	term := p.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.ExitCode != 3 || term.Reason != "Error" || !strings.HasSuffix(term.Message, "going wrong") {
		t.Fatalf("terminated state %+v", term)
	}
	out, err := a.Logs(ns, "job-pod", "main")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hello hello-world s3cret job-pod 65532 127.0.0.1\n", ns + "\n", "token-ok\n", "hello-arg $(GREETING)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// kubectl logs, through the API server's pods/log and the agent's
	// log endpoint.
	b, err := cs.CoreV1().Pods(ns).GetLogs("job-pod", &corev1.PodLogOptions{Container: "main"}).DoRaw(ctx)
	if err != nil || string(b) != out {
		t.Errorf("pods/log: %q (err %v), want %q", b, err, out)
	}
}

func TestAgentReportsAMissingKeyAsCreateContainerConfigError(t *testing.T) {
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	startAgent(t, ns)
	ctx := context.Background()
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{Name: "main", Image: "shell", Command: []string{"sh", "-c", "echo $K"},
			Env: []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "API_KEY"}}}}}},
	}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, cs, ns, "p", "CreateContainerConfigError", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "CreateContainerConfigError"
	})
	if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; msg != "couldn't find key API_KEY in Secret "+ns+"/sec" || p.Status.Phase != corev1.PodPending {
		t.Fatalf("phase %s, message %q", p.Status.Phase, msg)
	}
	// Fixing the Secret lets the retried start succeed.
	if _, err := cs.CoreV1().Secrets(ns).Update(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"},
		Data: map[string][]byte{"API_KEY": []byte("k")}}, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	p = waitPod(t, cs, ns, "p", "success", terminated)
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s: %+v", p.Status.Phase, p.Status.ContainerStatuses)
	}
}

func TestAgentStopsPodsOnDeletionAndDeadline(t *testing.T) {
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	startAgent(t, ns)
	ctx := context.Background()
	deadline, grace := int64(1), int64(1)
	for _, p := range []*corev1.Pod{
		// Traps SIGTERM and exits 7: the deletion's grace period lets it.
		{ObjectMeta: metav1.ObjectMeta{Name: "deleted"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "main", Image: "shell", Command: []string{"sh", "-c", "trap 'exit 7' TERM; echo up; while :; do sleep 0.1; done"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "deadline"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			ActiveDeadlineSeconds: &deadline, TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "main", Image: "shell", Command: []string{"sh", "-c", "sleep 60"}}}}},
	} {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitPod(t, cs, ns, "deleted", "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	time.Sleep(300 * time.Millisecond) // let the trap be set
	start := time.Now()
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "deleted", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, "deleted", metav1.GetOptions{})
		if err != nil {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("the deleted pod is still there")
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := waitPod(t, cs, ns, "deadline", "the deadline", terminated)
	if p.Status.Phase != corev1.PodFailed || p.Status.Reason != "DeadlineExceeded" {
		t.Fatalf("phase %s reason %q", p.Status.Phase, p.Status.Reason)
	}
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 137 && term.ExitCode != 143 {
		t.Fatalf("terminated state %+v", term)
	}
}
