//go:build integration

package nodeagent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/qbackup/qbackup/e2e/nodeagent"
	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// qdrantStatefulSet is a Qdrant StatefulSet as a Helm chart would make
// it (labels, image), started in parallel so scaling is quick.
func qdrantStatefulSet(name string, replicas int32) *appsv1.StatefulSet {
	labels := map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, ServiceName: name + "-headless",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "qdrant", Image: "docker.io/qdrant/qdrant:v1.19.0",
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(6333)}}},
				}}},
			},
		},
	}
}

// startQdrantAgent starts an agent whose StatefulSets all map to c.
func startQdrantAgent(t *testing.T, ns string, c *qdrantsim.Cluster) *nodeagent.Agent {
	t.Helper()
	a, err := nodeagent.Start(context.Background(), nodeagent.Config{
		Kube: stacktest.Kube(t), Namespaces: []string{ns}, StateDir: t.TempDir(),
		Qdrant: nodeagent.QdrantConfig{Cluster: func(context.Context, string, string) (*qdrantsim.Cluster, error) { return c, nil }},
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

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyPods waits until the StatefulSet's pods are exactly want, all
// Ready, and returns pod name → IP.
func readyPods(t *testing.T, cs kubernetes.Interface, ns string, want ...string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=qdrant"})
		if err == nil {
			got := map[string]string{}
			var names []string
			all := true
			for _, p := range pods.Items {
				got[p.Name] = p.Status.PodIP
				names = append(names, p.Name)
				all = all && podReady(&p)
			}
			sort.Strings(names)
			if all && fmt.Sprint(names) == fmt.Sprint(want) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("pods %v (all Ready: %v), want %v Ready", names, all, want)
			}
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func scale(t *testing.T, cs kubernetes.Interface, ns, name string, n int32) {
	t.Helper()
	ctx := context.Background()
	// The controller updates the StatefulSet meanwhile: retry conflicts,
	// as kubectl scale does.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := cs.AppsV1().StatefulSets(ns).GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.Replicas = n
		_, err = cs.AppsV1().StatefulSets(ns).UpdateScale(ctx, name, s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("scale %s to %d: %v", name, n, err)
	}
}

// clusterPeers is what a peer answers on GET /cluster: the peers in
// consensus, by id.
func clusterPeers(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url + "/cluster")
	if err != nil {
		t.Fatalf("GET %s/cluster: %v", url, err)
	}
	defer resp.Body.Close()
	var body struct {
		Result struct {
			Peers map[string]any `json:"peers"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for id := range body.Result.Peers {
		out[id] = true
	}
	return out
}

func TestAgentMapsAStatefulSetsPodsToSimulatorPeers(t *testing.T) {
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	// Peers of its own address range: a stopped peer is started again on
	// the same ports, which another test binary's simulator on the
	// default addresses (127.0.0.2..) could take meanwhile. Second octets
	// 90-99 are used by no other package; the rest is per process.
	pid := os.Getpid()
	base := fmt.Sprintf("127.%d.%d.2", 90+pid%10, pid/10%250)
	c, err := qdrantsim.Start(context.Background(), qdrantsim.Options{Peers: 3, Tick: 10 * time.Millisecond, PeerDownDelay: 60 * time.Millisecond, BindBase: base})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	initial := c.Peers()
	startQdrantAgent(t, ns, c)
	ctx := context.Background()
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, qdrantStatefulSet("qdrant", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The real statefulset controller creates the pods; each is its
	// ordinal's peer, at the peer's address.
	ips := readyPods(t, cs, ns, "qdrant-0", "qdrant-1", "qdrant-2")
	for i, p := range initial {
		if got := ips[fmt.Sprintf("qdrant-%d", i)]; got != p.Addr() {
			t.Errorf("qdrant-%d has IP %s, want peer %d's address %s", i, got, p.ID(), p.Addr())
		}
	}

	// A peer that stops serving turns its pod NotReady, and Ready again.
	initial[1].Stop()
	waitPod(t, cs, ns, "qdrant-1", "NotReady", func(p *corev1.Pod) bool { return !podReady(p) && p.Status.Phase == corev1.PodRunning })
	if err := initial[1].Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitPod(t, cs, ns, "qdrant-1", "Ready again", podReady)

	// A deleted pod stops its peer; the pod the controller creates again
	// restarts the same peer (its volume was kept).
	old0, err := cs.CoreV1().Pods(ns).Get(ctx, "qdrant-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "qdrant-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p0 := waitPod(t, cs, ns, "qdrant-0", "created again and Ready", func(p *corev1.Pod) bool { return p.UID != old0.UID && podReady(p) })
	if p0.Status.PodIP != initial[0].Addr() || !initial[0].Running() || len(c.Peers()) != 3 {
		t.Errorf("qdrant-0 again at %s (peer %d running %v, %d peers), want its old peer at %s", p0.Status.PodIP, initial[0].ID(), initial[0].Running(), len(c.Peers()), initial[0].Addr())
	}

	// Scaled up: a new empty peer joins the cluster.
	scale(t, cs, ns, "qdrant", 4)
	ips = readyPods(t, cs, ns, "qdrant-0", "qdrant-1", "qdrant-2", "qdrant-3")
	peers := c.Peers()
	if len(peers) != 4 || peers[3].Addr() != ips["qdrant-3"] {
		t.Fatalf("after scaling to 4 the cluster has %d peers; qdrant-3 is at %s", len(peers), ips["qdrant-3"])
	}
	if ids := clusterPeers(t, initial[0].URL()); len(ids) != 4 || !ids[fmt.Sprint(peers[3].ID())] {
		t.Errorf("GET /cluster lists peers %v, want the 4 including the new %d", ids, peers[3].ID())
	}

	// Scaled down: the highest ordinals' peers stop, and stay in
	// consensus (their volumes are kept).
	scale(t, cs, ns, "qdrant", 2)
	readyPods(t, cs, ns, "qdrant-0", "qdrant-1")
	for i, p := range c.Peers() {
		if want := i < 2; p.Running() != want {
			t.Errorf("peer %d (ordinal %d) running %v, want %v", p.ID(), i, p.Running(), want)
		}
	}
	if n := len(c.Peers()); n != 4 {
		t.Errorf("%d peers in consensus after scaling down, want 4", n)
	}

	// Back to 3: ordinal 2 gets its own peer again. Ordinal 3's peer was
	// removed from the cluster meanwhile, so scaling to 4 joins a new one.
	old3 := peers[3]
	if err := c.RemovePeer(old3.ID()); err != nil {
		t.Fatal(err)
	}
	scale(t, cs, ns, "qdrant", 4)
	ips = readyPods(t, cs, ns, "qdrant-0", "qdrant-1", "qdrant-2", "qdrant-3")
	if ips["qdrant-2"] != initial[2].Addr() || !initial[2].Running() {
		t.Errorf("qdrant-2 is at %s (peer %d running %v), want its old peer at %s", ips["qdrant-2"], initial[2].ID(), initial[2].Running(), initial[2].Addr())
	}
	now := c.Peers()
	if len(now) != 4 || now[3] == old3 || now[3].Addr() != ips["qdrant-3"] {
		t.Errorf("qdrant-3 is at %s; cluster peers %d, want a new 4th peer", ips["qdrant-3"], len(now))
	}
	// kubectl logs shows which peer a pod is.
	b, err := cs.CoreV1().Pods(ns).GetLogs("qdrant-0", &corev1.PodLogOptions{}).DoRaw(ctx)
	if want := fmt.Sprintf("simulated Qdrant peer %d listening on %s\n", initial[0].ID(), initial[0].URL()); err != nil || string(b) != want {
		t.Errorf("pods/log of qdrant-0: %q (err %v), want %q", b, err, want)
	}
}
