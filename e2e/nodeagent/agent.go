package nodeagent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// nodeIP is the node's address, and every pod's: containers are processes
// on the loopback host.
const nodeIP = "127.0.0.1"

// Image is what the agent runs for a container image: a built program
// standing in for the image's entrypoint.
type Image struct {
	// Binary is the program on this host.
	Binary string
	// Entrypoint is the path of the program in the real image (its
	// ENTRYPOINT). A container's command, when set, must name it (or its
	// base name); there is nothing else in the image to run.
	Entrypoint string
	// User and Group are the image's USER, used when the pod does not set
	// runAsUser/runAsGroup.
	User, Group int64
}

// Config configures an Agent.
type Config struct {
	// Kube are credentials with the rights of a scheduler and a kubelet
	// (the stack's admin).
	Kube *rest.Config
	// NodeName is the Node to register; default "qbackup-node-<random>".
	NodeName string
	// Namespaces are the namespaces whose Pods the agent schedules and
	// runs; empty means all. Tests set their own namespace so agents of
	// parallel tests never take each other's Pods.
	Namespaces []string
	// Images maps an image's repository name (without registry, tag or
	// digest: "qbackup" for "registry.example/qbackup:dev") to a program.
	Images map[string]Image
	// StateDir holds volumes and container logs; created if missing.
	StateDir string
	// SyncPeriod is how often Pods are listed; default 200ms.
	SyncPeriod time.Duration
	// Qdrant maps the Pods of Qdrant StatefulSets to simulator peers
	// (qdrant.go); without Qdrant.Cluster, Qdrant images are unknown.
	Qdrant QdrantConfig
	// RestartBackOff and MaxRestartBackOff are the container restart
	// back-off's first delay and ceiling; default the kubelet's 10s and
	// 5m. Tests shorten them.
	RestartBackOff, MaxRestartBackOff time.Duration
	// Log receives what the agent does; default discard.
	Log *slog.Logger
}

// Agent is a running node agent. Close stops it.
type Agent struct {
	cfg     Config
	cs      kubernetes.Interface
	log     *slog.Logger
	node    string
	svc     map[string]string
	tools   tools
	logs    *logServer
	cancel  context.CancelFunc
	stopped chan struct{}

	peers peerSets

	mu   sync.Mutex
	pods map[types.UID]*podWorker
}

// tools are the host programs a container's private mount namespace is
// set up with.
type tools struct{ sh, mount, mkdir, setpriv string }

// Start registers the Node and starts scheduling and running Pods.
func Start(ctx context.Context, cfg Config) (*Agent, error) {
	if cfg.Kube == nil {
		return nil, errors.New("node agent: no Kubernetes client configuration")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("node agent: no state directory")
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = 200 * time.Millisecond
	}
	if cfg.RestartBackOff <= 0 {
		cfg.RestartBackOff = defaultRestartBackOff
	}
	if cfg.MaxRestartBackOff <= 0 {
		cfg.MaxRestartBackOff = defaultMaxRestartBackOff
	}
	cfg.MaxRestartBackOff = max(cfg.MaxRestartBackOff, cfg.RestartBackOff)
	if cfg.NodeName == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		cfg.NodeName = "qbackup-node-" + hex.EncodeToString(b)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("node agent: must run as root (it mounts volumes in a private mount namespace per container and switches to the pod's user)")
	}
	var tl tools
	for _, t := range []struct {
		name string
		dst  *string
	}{{"sh", &tl.sh}, {"mount", &tl.mount}, {"mkdir", &tl.mkdir}, {"setpriv", &tl.setpriv}} {
		p, err := exec.LookPath(t.name)
		if err != nil {
			return nil, fmt.Errorf("node agent: %s is needed to set up containers (util-linux): %w", t.name, err)
		}
		*t.dst = p
	}
	u, err := url.Parse(cfg.Kube.Host)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("node agent: API server address %q is not a URL", cfg.Kube.Host)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("node agent: state directory: %w", err)
	}
	kc := rest.CopyConfig(cfg.Kube)
	kc.UserAgent = "qbackup-node-agent"
	if kc.QPS == 0 {
		kc.QPS, kc.Burst = 50, 100
	}
	cs, err := kubernetes.NewForConfig(kc)
	if err != nil {
		return nil, fmt.Errorf("node agent: kubernetes client: %w", err)
	}
	a := &Agent{
		cfg: cfg, cs: cs, log: log.With("node", cfg.NodeName), node: cfg.NodeName,
		svc: serviceEnv(u.Hostname(), port), tools: tl,
		stopped: make(chan struct{}), pods: map[types.UID]*podWorker{},
	}
	if a.logs, err = startLogServer(a); err != nil {
		return nil, err
	}
	if err := a.registerNode(ctx); err != nil {
		a.logs.close()
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go a.loop(loopCtx)
	a.log.Info("node agent started", "namespaces", cfg.Namespaces, "logs", a.logs.addr)
	return a, nil
}

// NodeName is the registered Node's name.
func (a *Agent) NodeName() string { return a.node }

// Close kills every container (SIGKILL: the agent is going away, as a lost
// node's would), force-deletes the Pods bound to the Node (what the pod
// garbage collector does to a deleted node's Pods) and deletes the Node.
func (a *Agent) Close() error {
	a.cancel()
	<-a.stopped
	a.mu.Lock()
	workers := make([]*podWorker, 0, len(a.pods))
	for _, w := range a.pods {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	for _, w := range workers {
		w.kill()
	}
	for _, w := range workers {
		<-w.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	zero := int64(0)
	for _, ns := range a.namespaces() {
		pods, err := a.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + a.node})
		if err != nil {
			errs = append(errs, fmt.Errorf("list pods of node %s: %w", a.node, err))
			continue
		}
		for _, p := range pods.Items {
			err := a.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
			}
		}
	}
	if err := a.cs.CoreV1().Nodes().Delete(ctx, a.node, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete node %s: %w", a.node, err))
	}
	a.logs.close()
	a.log.Info("node agent stopped")
	return errors.Join(errs...)
}

func (a *Agent) namespaces() []string {
	if len(a.cfg.Namespaces) == 0 {
		return []string{metav1.NamespaceAll}
	}
	return a.cfg.Namespaces
}

// Logs returns what a container of a Pod run by this agent has written
// (stdout and stderr, interleaved as written).
func (a *Agent) Logs(namespace, pod, container string) (string, error) {
	c := a.container(namespace, pod, container)
	if c == nil {
		return "", fmt.Errorf("container %s of pod %s/%s was not run by node %s", container, namespace, pod, a.node)
	}
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "", fmt.Errorf("logs of container %s of pod %s/%s: %w", container, namespace, pod, err)
	}
	return string(b), nil
}

// container finds a container the agent ran (the newest Pod of that name).
func (a *Agent) container(namespace, pod, container string) *containerRun {
	a.mu.Lock()
	defer a.mu.Unlock()
	var best *podWorker
	for _, w := range a.pods {
		if w.ns == namespace && w.name == pod && (best == nil || w.created.After(best.created)) {
			best = w
		}
	}
	if best == nil {
		return nil
	}
	for _, c := range best.all() {
		if c.spec.Name == container {
			return c
		}
	}
	return nil
}

func (a *Agent) registerNode(ctx context.Context) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.node, Labels: map[string]string{
		"kubernetes.io/hostname": a.node,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     runtime.GOARCH,
		"qbackup.io/node-agent":  "true",
	}}}
	created, err := a.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = a.cs.CoreV1().Nodes().Get(ctx, a.node, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("node agent: register node %s: %w", a.node, err)
	}
	return a.heartbeat(ctx, created)
}

// heartbeat reports the Node Ready with its addresses, capacity and the
// kubelet endpoint (where the API server fetches logs).
func (a *Agent) heartbeat(ctx context.Context, node *corev1.Node) error {
	if node == nil {
		var err error
		if node, err = a.cs.CoreV1().Nodes().Get(ctx, a.node, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("node agent: get node %s: %w", a.node, err)
		}
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
		for _, old := range node.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node.Status = corev1.NodeStatus{
		Capacity: capacity, Allocatable: capacity,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "node agent is posting ready status"),
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", ""),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", ""),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", ""),
		},
		// Only the IP: the API server tries Hostname first, and the node's
		// name does not resolve.
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(a.logs.port)}},
		NodeInfo: corev1.NodeSystemInfo{
			OperatingSystem: "linux", Architecture: runtime.GOARCH,
			KubeletVersion: "qbackup-node-agent", ContainerRuntimeVersion: "process://",
		},
	}
	if _, err := a.cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node agent: update status of node %s: %w", a.node, err)
	}
	return nil
}

const heartbeatPeriod = 10 * time.Second

func (a *Agent) loop(ctx context.Context) {
	defer close(a.stopped)
	tick := time.NewTicker(a.cfg.SyncPeriod)
	defer tick.Stop()
	lastBeat := time.Now()
	for {
		a.sync(ctx)
		if time.Since(lastBeat) > heartbeatPeriod {
			if err := a.heartbeat(ctx, nil); err != nil && ctx.Err() == nil {
				a.log.Warn("heartbeat failed", "err", err)
			}
			lastBeat = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sync is one pass over the Pods: bind the Pending ones nobody has
// scheduled, start a worker for new Pods bound here, pass deletions on.
func (a *Agent) sync(ctx context.Context) {
	seen := map[types.UID]bool{}
	for _, ns := range a.namespaces() {
		pods, err := a.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("list pods failed", "namespace", ns, "err", err)
			}
			return
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			seen[p.UID] = true
			a.syncPod(ctx, p)
		}
	}
	// A Pod gone from the API (force-deleted) takes its containers along.
	a.mu.Lock()
	var gone []*podWorker
	for uid, w := range a.pods {
		if !seen[uid] {
			gone = append(gone, w)
		}
	}
	a.mu.Unlock()
	for _, w := range gone {
		w.kill()
		go func(w *podWorker) {
			<-w.done
			a.mu.Lock()
			delete(a.pods, w.uid)
			a.mu.Unlock()
		}(w)
	}
}

func (a *Agent) syncPod(ctx context.Context, p *corev1.Pod) {
	switch {
	case p.Spec.NodeName == "":
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodPending && p.Status.Phase != "" {
			return
		}
		if p.Spec.SchedulerName != "" && p.Spec.SchedulerName != corev1.DefaultSchedulerName {
			return
		}
		a.bind(ctx, p)
	case p.Spec.NodeName == a.node:
		a.mu.Lock()
		w := a.pods[p.UID]
		if w == nil {
			w = newPodWorker(a, p)
			a.pods[p.UID] = w
			go w.run()
		}
		a.mu.Unlock()
		if p.DeletionTimestamp != nil {
			grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
			if p.DeletionGracePeriodSeconds != nil {
				grace = *p.DeletionGracePeriodSeconds
			}
			w.delete(grace)
		}
	}
}

// bind assigns p to this node through the binding subresource, as the
// scheduler does (the API server sets spec.nodeName and PodScheduled).
func (a *Agent) bind(ctx context.Context, p *corev1.Pod) {
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, UID: p.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: a.node},
	}
	if err := a.cs.CoreV1().Pods(p.Namespace).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			a.log.Warn("bind failed", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
		return
	}
	a.log.Info("pod bound", "pod", p.Namespace+"/"+p.Name)
}

// image finds the program of an image reference.
func (a *Agent) image(ref string) (Image, bool) {
	img, ok := a.cfg.Images[imageName(ref)]
	return img, ok
}

// imageName is an image reference's repository name, without registry,
// tag or digest: "qdrant" for "docker.io/qdrant/qdrant:v1.19.0".
func imageName(ref string) string {
	name := ref
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		name = name[:i]
	}
	return name
}

func (a *Agent) podDir(uid types.UID) string {
	return filepath.Join(a.cfg.StateDir, "pods", string(uid))
}

// hostPort joins the node address and a port.
func hostPort(port int) string { return net.JoinHostPort(nodeIP, fmt.Sprint(port)) }
