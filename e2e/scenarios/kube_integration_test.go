//go:build integration

package scenarios

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

var qdrantLabels = map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "prod"}

// runPod creates a Pod and reports it Running and Ready at ip through the
// status subresource, as a kubelet would (the stack has none).
func runPod(t *testing.T, cs kubernetes.Interface, ns, name string, labels map[string]string, ip string) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "qdrant", Image: "qdrant/qdrant:v1.19.0"}}},
	}
	created, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	now := metav1.Now()
	created.Status = corev1.PodStatus{
		Phase:  corev1.PodRunning,
		PodIP:  ip,
		PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status of pod %s: %v", name, err)
	}
}

// leastPrivilegeKubeconfig creates a ServiceAccount whose Role grants only
// get and list on pods, requests a token for it and writes a kubeconfig
// that uses it against the stack's API server — what the backup Job's pod
// runs with.
func leastPrivilegeKubeconfig(t *testing.T, admin kubernetes.Interface, ns string) string {
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

	adminPath := os.Getenv(stacktest.EnvKubeconfig)
	adminCfg, err := clientcmd.LoadFromFile(adminPath)
	if err != nil {
		t.Fatalf("load %s: %v", adminPath, err)
	}
	kctx := adminCfg.Contexts[adminCfg.CurrentContext]
	if kctx == nil {
		t.Fatalf("%s has no current context", adminPath)
	}
	cluster := adminCfg.Clusters[kctx.Cluster].DeepCopy()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["stack"] = cluster
	cfg.AuthInfos["qbackup"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["qbackup"] = &clientcmdapi.Context{Cluster: "stack", AuthInfo: "qbackup", Namespace: ns}
	cfg.CurrentContext = "qbackup"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}

	// RBAC takes a moment to see the new binding: wait until the token can
	// list pods, and check that it can do nothing more.
	restCfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(restCfg)
	eventually(t, 30*time.Second, "the service account to list pods", func() bool {
		_, err := sa.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil
	})
	if _, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the service account may list secrets (err %v): the test would not prove least privilege", err)
	}
	if _, err := sa.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the service account may create pods (err %v)", err)
	}
	return path
}

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
		runPod(t, admin, ns, fmt.Sprintf("qdrant-%d", i), qdrantLabels, p.Addr())
	}
	// Another release's pod, which the instance label leaves out.
	runPod(t, admin, ns, "other-0", map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "staging"}, "127.0.0.250")
	kubeconfig := leastPrivilegeKubeconfig(t, admin, ns)

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
		t.Fatalf("catalogue rows %+v", rows)
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
				runPod(t, cs, ns, "web-0", qdrantLabels, ip)
			},
			code: exitClusterNotOK, msgs: []string{"pod web-0", "is not a Qdrant peer"},
		},
		{
			name: "a pod with nothing listening does not answer as a Qdrant peer",
			setup: func(t *testing.T, cs kubernetes.Interface, ns string) {
				runPod(t, cs, ns, "empty-0", qdrantLabels, podAddressBase(2))
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
