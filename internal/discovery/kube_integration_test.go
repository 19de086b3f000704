//go:build integration

package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// leastPrivilegeClient creates a ServiceAccount whose Role grants only get
// and list on pods in ns, and returns a clientset authenticated with a
// token issued for it through the TokenRequest API — what the backup Job's
// pod runs with.
func leastPrivilegeClient(t *testing.T, admin kubernetes.Interface, adminCfg *rest.Config, ns string) kubernetes.Interface {
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
	cfg := rest.AnonymousClientConfig(adminCfg)
	cfg.BearerToken = tok.Status.Token
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// RBAC takes a moment to see the new binding; wait until the token can
	// list pods, and check it can do nothing more.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service account cannot list pods: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the service account may list secrets (err %v): the test would not prove least privilege", err)
	}
	return cs
}

// runPod creates a Pod and reports it Running and Ready at ip through the
// status subresource, as a kubelet would.
func runPod(t *testing.T, cs kubernetes.Interface, ns, name string, labels map[string]string, ip string, ready bool) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "qdrant", Image: "qdrant/qdrant:v1.19.0"}}},
	}
	created, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
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

// simOnPodAddresses starts simulator peers on fixed ports 6333/6334 on
// their own loopback addresses, like pod IPs. The base address is chosen
// from the process id so parallel test binaries do not collide.
func simOnPodAddresses(t *testing.T, peers int) *qdrantsim.Cluster {
	t.Helper()
	base := fmt.Sprintf("127.%d.%d.2", 100+os.Getpid()%100, os.Getpid()/100%250)
	sim, err := qdrantsim.Start(context.Background(), qdrantsim.Options{
		Peers: peers, APIKey: simKey, BindBase: base, HTTPPort: 6333, GRPCPort: 6334,
		Tick: 10 * time.Millisecond, PeerDownDelay: 60 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("start simulator on %s: %v", base, err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

func TestKubernetesDiscoveryWithALeastPrivilegeServiceAccount(t *testing.T) {
	adminCfg := stacktest.Kube(t)
	admin := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, admin)
	sim := simOnPodAddresses(t, 3)

	qdrantLabels := map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "prod"}
	for i, p := range sim.Peers() {
		runPod(t, admin, ns, fmt.Sprintf("qdrant-%d", i), qdrantLabels, p.Addr(), true)
	}
	// Another release's pod that the instance label excludes.
	runPod(t, admin, ns, "other-0", map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "staging"}, "127.0.0.250", true)

	sa := leastPrivilegeClient(t, admin, adminCfg, ns)
	clients := NewClients(qdrant.Options{APIKey: simKey})
	defer clients.Close()
	src := &Kubernetes{Client: sa, Namespace: ns, Selector: "app.kubernetes.io/name=qdrant,app.kubernetes.io/instance=prod"}

	topo, err := Discover(context.Background(), src, clients.Dial, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Peers) != 3 {
		t.Fatalf("peers %+v", topo.Peers)
	}
	for i, sp := range sim.Peers() {
		p := topo.Peers[i]
		if p.Pod != fmt.Sprintf("qdrant-%d", i) || p.ID != sp.ID() || p.Addr.REST != sp.URL() || p.Addr.GRPC != sp.GRPCAddr() {
			t.Errorf("pod %d: %+v, want peer %d at %s", i, p, sp.ID(), sp.URL())
		}
	}

	t.Run("a peer whose pod is not Ready fails the node count", func(t *testing.T) {
		pod, err := admin.CoreV1().Pods(ns).Get(context.Background(), "qdrant-2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		orig := pod.DeepCopy()
		pod.Status.Conditions[0].Status = corev1.ConditionFalse
		pod.Status.Conditions[0].Reason = "ContainersNotReady"
		if _, err := admin.CoreV1().Pods(ns).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cur, err := admin.CoreV1().Pods(ns).Get(context.Background(), "qdrant-2", metav1.GetOptions{})
			if err == nil {
				cur.Status = orig.Status
				_, err = admin.CoreV1().Pods(ns).UpdateStatus(context.Background(), cur, metav1.UpdateOptions{})
			}
			if err != nil {
				t.Errorf("restore pod status: %v", err)
			}
		}()
		_, err = Discover(context.Background(), src, clients.Dial, Options{Logger: quiet})
		var nce *NodeCountError
		if !errors.As(err, &nce) {
			t.Fatalf("error %v, want *NodeCountError", err)
		}
		for _, w := range []string{"3 Qdrant peers in consensus but 2 Ready pods", fmt.Sprintf("peer %d", sim.Peers()[2].ID()),
			"qdrant-2 (Running, not Ready (ContainersNotReady))", "kubectl get pods -n " + ns} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error lacks %q: %v", w, err)
			}
		}
	})

	t.Run("a pod of the selector that is not Qdrant is named", func(t *testing.T) {
		// A web tool carrying the Qdrant labels, on its own pod address.
		ip := strings.TrimSuffix(sim.Peers()[0].Addr(), ".2") + ".200"
		lis, err := net.Listen("tcp", net.JoinHostPort(ip, "6333"))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "<html><title>dashboard</title></html>")
		})}
		go func() { _ = srv.Serve(lis) }()
		defer srv.Close()
		runPod(t, admin, ns, "qdrant-tools", qdrantLabels, ip, true)
		defer func() {
			_ = admin.CoreV1().Pods(ns).Delete(context.Background(), "qdrant-tools", metav1.DeleteOptions{})
		}()
		_, err = Discover(context.Background(), src, clients.Dial, Options{Logger: quiet})
		want := "pod qdrant-tools (http://" + ip + ":6333) matched app.kubernetes.io/name=qdrant,app.kubernetes.io/instance=prod but is not a Qdrant peer"
		if !errors.Is(err, ErrNotQdrant) || !strings.Contains(err.Error(), want) {
			t.Fatalf("%v\nwant %q", err, want)
		}
	})

	t.Run("no pod for the selector names namespace and selector", func(t *testing.T) {
		empty := &Kubernetes{Client: sa, Namespace: ns, Selector: "app.kubernetes.io/name=nothing"}
		_, err := Discover(context.Background(), empty, clients.Dial, Options{Logger: quiet})
		if !errors.Is(err, ErrNoPods) || !strings.Contains(err.Error(), ns) || !strings.Contains(err.Error(), "app.kubernetes.io/name=nothing") {
			t.Fatalf("%v", err)
		}
	})
}
