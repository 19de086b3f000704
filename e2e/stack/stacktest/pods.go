package stacktest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// RunPod creates a Pod and reports it Running at ip, Ready or not, through
// the status subresource, as a kubelet would: the stack has no kubelet.
// The pod names a scheduler of its own, so that a node agent running
// beside it (the stand-in kubelet of the Job tests, which binds pending
// pods of the default scheduler) neither binds it nor races its status.
func RunPod(t testing.TB, cs kubernetes.Interface, ns, name string, labels map[string]string, ip string, ready bool) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			SchedulerName: "stacktest-runpod",
			Containers:    []corev1.Container{{Name: "qdrant", Image: "qdrant/qdrant:v1.19.0"}},
		},
	}
	created, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	status := corev1.ConditionTrue
	if !ready {
		status = corev1.ConditionFalse
	}
	now := metav1.Now()
	created.Status = corev1.PodStatus{
		Phase:  corev1.PodRunning,
		PodIP:  ip,
		PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: status, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: status, LastTransitionTime: now},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status of pod %s: %v", name, err)
	}
}

// PodReader creates the ServiceAccount "qbackup" in ns with a Role that
// grants only get and list on pods — what the backup Job runs with — and
// returns a client config that uses a token issued for it through the
// TokenRequest API. It waits until RBAC lets the token list pods and checks
// that it may not list secrets or create pods, so a test using it proves
// least privilege.
func PodReader(t testing.TB, admin kubernetes.Interface, ns string) *rest.Config {
	t.Helper()
	ctx := context.Background()
	const name = "qbackup"
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}},
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expiry := int64(600)
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	cfg := rest.AnonymousClientConfig(Kube(t))
	cfg.BearerToken = tok.Status.Token
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// RBAC takes a moment to see the new binding.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := sa.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service account cannot list pods: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the service account may list secrets (err %v): the test would not prove least privilege", err)
	}
	if _, err := sa.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the service account may create pods (err %v): the test would not prove least privilege", err)
	}
	return cfg
}

// Kubeconfig writes a kubeconfig file for cfg's bearer token against the
// stack's API server (CA and address from the admin kubeconfig), with ns as
// its namespace, and returns its path.
func Kubeconfig(t testing.TB, cfg *rest.Config, ns string) string {
	t.Helper()
	adminPath := env(t, EnvKubeconfig)
	admin, err := clientcmd.LoadFromFile(adminPath)
	if err != nil {
		t.Fatalf("load %s: %v", adminPath, err)
	}
	kctx := admin.Contexts[admin.CurrentContext]
	if kctx == nil {
		t.Fatalf("%s has no current context", adminPath)
	}
	out := clientcmdapi.NewConfig()
	out.Clusters["stack"] = admin.Clusters[kctx.Cluster].DeepCopy()
	out.AuthInfos["token"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	out.Contexts["token"] = &clientcmdapi.Context{Cluster: "stack", AuthInfo: "token", Namespace: ns}
	out.CurrentContext = "token"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*out, path); err != nil {
		t.Fatal(err)
	}
	return path
}
