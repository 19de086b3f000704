package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// QdrantConfig maps the Pods of Qdrant StatefulSets to simulator peers:
// the agent cannot run Qdrant itself, so a Pod whose container image is
// Qdrant's becomes a peer of an in-process simulated cluster, one cluster
// per StatefulSet, one peer per ordinal.
//
//   - The Pod's IP (status.podIP) is its peer's loopback address, so
//     Kubernetes discovery reaches the peer at podIP:6333 when the
//     simulator listens on Qdrant's ports.
//   - Ready follows the peer's health: the container's readinessProbe
//     path (httpGet; default /readyz, as the Qdrant Helm chart probes) is
//     fetched from the peer every ProbePeriod. A peer a test stops turns
//     its Pod NotReady, and Ready again once restarted.
//   - A new ordinal (the StatefulSet scaled up) joins a new empty peer to
//     the cluster; a deleted Pod (scaled down, or deleted) stops its peer,
//     which stays in consensus with its data, as a Qdrant pod's peer does
//     while its volume is kept. A Pod created again for that ordinal
//     restarts the same peer, unless the peer was removed from the cluster
//     meanwhile: then a new empty peer joins, as with a fresh volume.
type QdrantConfig struct {
	// Image is the repository name of Qdrant images (default "qdrant",
	// matching qdrant/qdrant:v1.19.0).
	Image string
	// Cluster returns the simulator of a StatefulSet; it is called once
	// per StatefulSet, on its first Pod. A cluster that already has peers
	// gives them to ordinals 0, 1... in join order; further ordinals get
	// new peers. The agent never closes the cluster.
	Cluster func(ctx context.Context, namespace, statefulSet string) (*qdrantsim.Cluster, error)
	// ProbePeriod is how often readiness is probed; default 300ms (the
	// kubelet's default of 10s would make every test wait).
	ProbePeriod time.Duration
}

func (q QdrantConfig) image() string {
	if q.Image == "" {
		return "qdrant"
	}
	return q.Image
}

// peerSet is the simulator of one StatefulSet and which peer each
// ordinal has.
type peerSet struct {
	mu        sync.Mutex // serialises peer assignment
	cluster   *qdrantsim.Cluster
	initial   []*qdrantsim.Peer
	byOrdinal map[int]*qdrantsim.Peer
}

// peerSets are the agent's peer sets, by namespace/StatefulSet.
type peerSets struct {
	mu   sync.Mutex
	sets map[string]*peerSet
}

// isQdrant reports whether a Pod runs a Qdrant image, so the agent maps it
// to a simulator peer instead of running a process.
func (a *Agent) isQdrant(p *corev1.Pod) bool {
	if a.cfg.Qdrant.Cluster == nil {
		return false
	}
	for _, c := range p.Spec.Containers {
		if imageName(c.Image) == a.cfg.Qdrant.image() {
			return true
		}
	}
	return false
}

// statefulSetOrdinal is the StatefulSet owning a Pod and the Pod's
// ordinal: the apps.kubernetes.io/pod-index label, else the name's suffix.
func statefulSetOrdinal(p *corev1.Pod) (string, int, error) {
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "StatefulSet" || !strings.HasPrefix(ref.APIVersion, appsv1.GroupName+"/") {
		return "", 0, errors.New("a Qdrant pod must belong to a StatefulSet: the test node agent maps StatefulSet ordinals to simulator peers")
	}
	idx := p.Labels[appsv1.PodIndexLabel]
	if idx == "" {
		idx = strings.TrimPrefix(p.Name, ref.Name+"-")
	}
	n, err := strconv.Atoi(idx)
	if err != nil || n < 0 {
		return "", 0, fmt.Errorf("pod %s of StatefulSet %s has no ordinal", p.Name, ref.Name)
	}
	return ref.Name, n, nil
}

// peerFor returns the peer of a StatefulSet's ordinal, running.
func (a *Agent) peerFor(ctx context.Context, ns, sts string, ordinal int) (*qdrantsim.Peer, error) {
	a.peers.mu.Lock()
	if a.peers.sets == nil {
		a.peers.sets = map[string]*peerSet{}
	}
	key := ns + "/" + sts
	set := a.peers.sets[key]
	if set == nil {
		c, err := a.cfg.Qdrant.Cluster(ctx, ns, sts)
		if err != nil {
			a.peers.mu.Unlock()
			return nil, fmt.Errorf("simulator of StatefulSet %s: %w", key, err)
		}
		set = &peerSet{cluster: c, initial: c.Peers(), byOrdinal: map[int]*qdrantsim.Peer{}}
		a.peers.sets[key] = set
	}
	a.peers.mu.Unlock()

	set.mu.Lock()
	defer set.mu.Unlock()
	inCluster := func(p *qdrantsim.Peer) bool { return p != nil && set.cluster.Peer(p.ID()) == p }
	assigned := func(p *qdrantsim.Peer) bool {
		for _, q := range set.byOrdinal {
			if q == p {
				return true
			}
		}
		return false
	}
	p := set.byOrdinal[ordinal]
	switch {
	case inCluster(p):
		// The same peer again: its volume was kept.
	case ordinal < len(set.initial) && inCluster(set.initial[ordinal]) && !assigned(set.initial[ordinal]):
		p = set.initial[ordinal]
	default:
		var err error
		if p, err = set.cluster.AddPeer(ctx); err != nil {
			return nil, fmt.Errorf("join a peer for ordinal %d of %s: %w", ordinal, key, err)
		}
		a.log.Info("peer joined", "statefulset", key, "ordinal", ordinal, "peer", p.ID(), "addr", p.Addr())
	}
	set.byOrdinal[ordinal] = p
	if err := p.Start(ctx); err != nil {
		return nil, fmt.Errorf("start peer %d for ordinal %d of %s: %w", p.ID(), ordinal, key, err)
	}
	return p, nil
}

// runPeer runs a Qdrant Pod as a simulator peer until the Pod is deleted
// or the agent stops.
func (w *podWorker) runPeer(ctx context.Context, deadline <-chan time.Time) {
	log := w.a.log.With("pod", w.logger())
	if len(w.pod.Spec.Containers) != 1 || len(w.pod.Spec.InitContainers) > 0 {
		w.fail(ctx, "UnsupportedByNodeAgent", "a Qdrant pod must have exactly one container and no init containers: the test node agent maps it to one simulator peer")
		w.finalDelete(ctx)
		return
	}
	c := w.containers[0]
	sts, ordinal, err := statefulSetOrdinal(w.pod)
	if err != nil {
		w.fail(ctx, "UnsupportedByNodeAgent", err.Error())
		w.finalDelete(ctx)
		return
	}
	var peer *qdrantsim.Peer
	backoff := 500 * time.Millisecond
	for {
		if peer, err = w.a.peerFor(ctx, w.ns, sts, ordinal); err == nil {
			break
		}
		log.Info("peer start failed", "err", err)
		c.setWaiting("RunContainerError", err.Error())
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
	if err := os.MkdirAll(c.dir, 0o755); err == nil {
		_ = os.WriteFile(c.logPath, fmt.Appendf(nil, "simulated Qdrant peer %d listening on %s\n", peer.ID(), peer.URL()), 0o644)
	}
	w.mu.Lock()
	w.podIP = peer.Addr()
	w.containersStarted = true
	w.mu.Unlock()
	started := metav1.Now()
	c.setPeerRunning(started, w.a.probe(ctx, peer, c.spec))
	w.push(ctx)
	log.Info("peer pod running", "peer", peer.ID(), "addr", peer.Addr())

	period := w.a.cfg.Qdrant.ProbePeriod
	if period <= 0 {
		period = 300 * time.Millisecond
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			peer.Stop()
			return
		case <-w.deleting:
			// SIGTERM: Qdrant shuts down and exits 0 well within any grace
			// period.
			peer.Stop()
			c.setPeerExited(started)
			w.finish()
			w.push(ctx)
			log.Info("peer pod stopped", "peer", peer.ID())
			w.finalDelete(ctx)
			return
		case <-tick.C:
			if c.setProbe(w.a.probe(ctx, peer, c.spec)) {
				w.push(ctx)
			}
		}
	}
}

// probe is the container's readiness: its httpGet readinessProbe path
// (default /readyz) answered 2xx or 3xx by the peer, within a second.
func (a *Agent) probe(ctx context.Context, peer *qdrantsim.Peer, spec corev1.Container) bool {
	path := "/readyz"
	if p := spec.ReadinessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "" {
		path = p.HTTPGet.Path
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peer.URL()+path, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

// setPeerRunning marks a peer container running, ready or not.
func (c *containerRun) setPeerRunning(started metav1.Time, ready bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.newInstance()
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	c.probed, c.ready = true, ready
}

// setProbe records a readiness result and reports whether it changed.
func (c *containerRun) setProbe(ready bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := c.ready != ready
	c.ready = ready
	return changed
}

// setPeerExited marks a peer container terminated after SIGTERM.
func (c *containerRun) setPeerExited(started metav1.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: metav1.Now(),
		ContainerID: fmt.Sprintf("process://%s/%s/0", c.w.uid, c.spec.Name),
	}}
	c.ready = false
	close(c.exited)
}
