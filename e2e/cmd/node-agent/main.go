// Command node-agent runs the test stack's node agent by hand: it
// registers a Node, schedules the Pending Pods of the given namespaces on
// it and runs their containers as local processes (see e2e/nodeagent).
//
//	source "$(e2e/stack/stack.sh env-file)"
//	go build -o bin/qbackup ./cmd/qbackup
//	sudo -E go run ./e2e/cmd/node-agent -namespace qdrant-dev -qbackup bin/qbackup
//
// The Pods of StatefulSets running qdrant/qdrant images become peers of
// simulated Qdrant clusters (e2e/qdrantsim), one cluster per StatefulSet,
// on Qdrant's ports of loopback addresses from -qdrant-bind-base on (16
// addresses per StatefulSet), so `kubectl scale statefulset` adds or stops
// peers and qbackup finds them by their pod IPs.
//
// It stops on SIGINT or SIGTERM, killing its containers and removing its
// Pods and Node.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/qbackup/qbackup/e2e/nodeagent"
	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig with admin rights (default $KUBECONFIG)")
	namespaces := flag.String("namespace", "", "comma-separated namespaces to run Pods of (default all)")
	qbackup := flag.String("qbackup", "bin/qbackup", "the built qbackup binary, run for qbackup:* images")
	node := flag.String("node", "", "Node name (default qbackup-node-<random>)")
	state := flag.String("state-dir", "", "directory for volumes and logs (default a new temporary directory)")
	bindBase := flag.String("qdrant-bind-base", "127.0.20.2", "loopback address of the first simulated Qdrant peer")
	backOff := flag.Duration("restart-backoff", 10*time.Second, "first container restart back-off, doubled per restart (the kubelet's 10s)")
	maxBackOff := flag.Duration("max-restart-backoff", 5*time.Minute, "ceiling of the container restart back-off (the kubelet's 5m)")
	flag.Parse()
	if err := run(*kubeconfig, *namespaces, *qbackup, *node, *state, *bindBase, *backOff, *maxBackOff); err != nil {
		fmt.Fprintln(os.Stderr, "node-agent:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, namespaces, qbackup, node, state, bindBase string, backOff, maxBackOff time.Duration) error {
	if kubeconfig == "" {
		return fmt.Errorf("no kubeconfig: pass -kubeconfig or source the stack's env file")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load %s: %w", kubeconfig, err)
	}
	bin, err := filepath.Abs(qbackup)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("qbackup binary: %w (build it with: go build -o bin/qbackup ./cmd/qbackup)", err)
	}
	if state == "" {
		if state, err = os.MkdirTemp("", "node-agent-"); err != nil {
			return err
		}
		defer os.RemoveAll(state)
	}
	var nss []string
	if namespaces != "" {
		nss = strings.Split(namespaces, ",")
	}
	base, err := netip.ParseAddr(bindBase)
	if err != nil || !base.Is4() {
		return fmt.Errorf("-qdrant-bind-base %q: want an IPv4 loopback address such as 127.0.20.2", bindBase)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sims := &simulators{next: base, log: log}
	defer sims.close()
	a, err := nodeagent.Start(ctx, nodeagent.Config{
		Kube: cfg, NodeName: node, Namespaces: nss, StateDir: state,
		Images:         map[string]nodeagent.Image{"qbackup": {Binary: bin, Entrypoint: "/usr/local/bin/qbackup", User: 65532, Group: 65532}},
		Qdrant:         nodeagent.QdrantConfig{Cluster: sims.start},
		RestartBackOff: backOff, MaxRestartBackOff: maxBackOff,
		Log: log,
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return a.Close()
}

// simulators starts one simulated Qdrant cluster per StatefulSet, each on
// its own block of 16 loopback addresses.
type simulators struct {
	mu       sync.Mutex
	next     netip.Addr
	clusters []*qdrantsim.Cluster
	log      *slog.Logger
}

func (s *simulators) start(ctx context.Context, ns, sts string) (*qdrantsim.Cluster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	base := s.next
	for range 16 {
		s.next = s.next.Next()
	}
	c, err := qdrantsim.Start(ctx, qdrantsim.Options{
		Peers: 1, BindBase: base.String(), HTTPPort: 6333, GRPCPort: 6334,
		Logger: s.log.With("statefulset", ns+"/"+sts),
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("simulated Qdrant cluster started", "statefulset", ns+"/"+sts, "first-peer", base)
	s.clusters = append(s.clusters, c)
	return c, nil
}

func (s *simulators) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clusters {
		_ = c.Close()
	}
}
