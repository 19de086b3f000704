//go:build integration

package scenarios

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

var qdrantLabels = map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "prod"}

// podSim starts simulator peers on the fixed Qdrant ports of their own
// loopback addresses, like pod IPs.
func podSim(t *testing.T, slot, peers int) *sim {
	t.Helper()
	opts := fastSim(peers)
	opts.BindBase, opts.HTTPPort, opts.GRPCPort = podAddressBase(slot), 6333, 6334
	return startSim(t, opts)
}

func TestBackupWithKubernetesDiscoveryAndALeastPrivilegeServiceAccount(t *testing.T) {
	t.Parallel()
	admin := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, admin)
	sm := podSim(t, 0, 3)
	sm.loadMixed(t)
	for i, p := range sm.c.Peers() {
		stacktest.RunPod(t, admin, ns, fmt.Sprintf("qdrant-%d", i), qdrantLabels, p.Addr(), true)
	}
	// Another release's pod, which the instance label leaves out.
	stacktest.RunPod(t, admin, ns, "other-0", map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "staging"}, "127.0.0.250", true)
	kubeconfig := stacktest.Kubeconfig(t, stacktest.PodReader(t, admin, ns), ns)

	sc := newScenario(t, sm, newS3Store(t), newCatalog(t))
	r := sc.qb.run(t, append(sc.args("backup", "-o", "json"), "--discovery=kubernetes", "--namespace="+ns,
		"--selector=app.kubernetes.io/name=qdrant,app.kubernetes.io/instance=prod", "--kubeconfig="+kubeconfig)...)
	ok(t, r)
	m := sc.manifest(t, decode[backupReport](t, "backup -o json", r.stdout).BackupID)
	if len(m.Peers) != 3 || m.shardCount() != 8 {
		t.Fatalf("manifest has %d peers and %d shards, want 3 and 8", len(m.Peers), m.shardCount())
	}
	pods := map[string]bool{}
	for _, p := range m.Peers {
		pods[p.Pod] = true
	}
	if !pods["qdrant-0"] || !pods["qdrant-1"] || !pods["qdrant-2"] {
		t.Errorf("manifest peers are not mapped to their pods: %+v", m.Peers)
	}
	rows := sc.cat.backups(t, sc.cluster)
	if len(rows) != 1 || rows[0].Status != "complete" {
		t.Fatalf("catalog rows %+v", rows)
	}
}

// serveHTTP serves a plain web page on addr until the test ends.
func serveHTTP(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintln(w, "<html><body>hello</body></html>")
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

func TestKubernetesDiscoveryRefusesWhatIsNotAQdrantCluster(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, cs kubernetes.Interface, ns string)
		code  int
		msgs  []string
	}{
		{
			name:  "a selector that matches no pod finds zero peers",
			setup: func(t *testing.T, cs kubernetes.Interface, ns string) {},
			code:  exitClusterNotOK, msgs: []string{"no Qdrant peers found", "app.kubernetes.io/name=qdrant"},
		},
		{
			name: "a pod that serves plain HTTP is not a Qdrant peer",
			setup: func(t *testing.T, cs kubernetes.Interface, ns string) {
				ip := podAddressBase(1)
				serveHTTP(t, net.JoinHostPort(ip, "6333"))
				stacktest.RunPod(t, cs, ns, "web-0", qdrantLabels, ip, true)
			},
			code: exitClusterNotOK, msgs: []string{"pod web-0", "is not a Qdrant peer"},
		},
		{
			name: "a pod with nothing listening does not answer as a Qdrant peer",
			setup: func(t *testing.T, cs kubernetes.Interface, ns string) {
				stacktest.RunPod(t, cs, ns, "empty-0", qdrantLabels, podAddressBase(2), true)
			},
			code: exitClusterNotOK, msgs: []string{"pod empty-0", "did not answer as a Qdrant peer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			admin := stacktest.KubeClient(t)
			ns := stacktest.Namespace(t, admin)
			tt.setup(t, admin, ns)
			st := newFileStore(t)
			qb := newCLI(t)
			r := qb.run(t, append([]string{"backup", "--cluster=prod", "--discovery=kubernetes", "--namespace=" + ns,
				"--kubeconfig=" + os.Getenv(stacktest.EnvKubeconfig)}, st.flags()...)...)
			expect(t, r, tt.code, tt.msgs...)
			if keys := st.keys(t); len(keys) != 0 {
				t.Errorf("storage holds %v", keys)
			}
		})
	}
}
