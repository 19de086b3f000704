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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// simOnPodAddresses starts simulator peers on fixed ports 6333/6334 on
// their own loopback addresses, like pod IPs. The base address is chosen
// from the process id so parallel test binaries do not collide.
func simOnPodAddresses(t *testing.T, peers int) *qdrantsim.Cluster {
	t.Helper()
	base := fmt.Sprintf("127.%d.%d.2", 100+os.Getpid()%100, os.Getpid()/100%250)
	sim, err := qdrantsim.Start(context.Background(), qdrantsim.Options{
		Peers: peers, APIKey: simKey, BindBase: base, HTTPPort: 6333, GRPCPort: 6334,
		Tick: 10 * time.Millisecond, PeerDownDelay: 60 * time.Millisecond,
		Realism: qdrantsim.RealismOr(qdrantsim.RealismDefault),
	})
	if err != nil {
		t.Fatalf("start simulator on %s: %v", base, err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

func TestKubernetesDiscoveryWithALeastPrivilegeServiceAccount(t *testing.T) {
	admin := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, admin)
	sim := simOnPodAddresses(t, 3)

	qdrantLabels := map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "prod"}
	for i, p := range sim.Peers() {
		stacktest.RunPod(t, admin, ns, fmt.Sprintf("qdrant-%d", i), qdrantLabels, p.Addr(), true)
	}
	// Another release's pod that the instance label excludes.
	stacktest.RunPod(t, admin, ns, "other-0", map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "staging"}, "127.0.0.250", true)

	sa, err := kubernetes.NewForConfig(stacktest.PodReader(t, admin, ns))
	if err != nil {
		t.Fatal(err)
	}
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
		stacktest.RunPod(t, admin, ns, "qdrant-tools", qdrantLabels, ip, true)
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
