//go:build integration

package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/qbackup/qbackup/e2e/nodeagent"
	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/kube"
)

// installation is the dev overlay installed in a test namespace, with the
// node agent running its Pods.
type installation struct {
	cs    kubernetes.Interface
	ns    string
	agent *nodeagent.Agent
}

// installDev renders kustomize/overlays/dev under a kustomization of the
// test's own, as a user adapts an overlay to their cluster: the test
// namespace, and the ConfigMap pointed at MinIO (endpoint, path style,
// the store's prefix). Everything else is the overlay as shipped.
func installDev(t *testing.T, cs kubernetes.Interface, ns string, st *s3Store) {
	t.Helper()
	overlay, err := filepath.Abs("../../kustomize/overlays/dev")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, overlay)
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: %s
resources:
  - %s
configMapGenerator:
  - name: qbackup-config
    behavior: merge
    literals:
      - QBACKUP_STORAGE=%s
      - QBACKUP_S3_ENDPOINT=%s
      - QBACKUP_S3_REGION=%s
      - QBACKUP_S3_PATH_STYLE=true
`, ns, rel, st.url(), st.env_.Endpoint, st.env_.Region)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build of the dev overlay: %v", err)
	}
	ctx := context.Background()
	for _, r := range res.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(y, nil, nil)
		if err != nil {
			t.Fatalf("decode %s/%s: %v", r.GetKind(), r.GetName(), err)
		}
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.ConfigMap:
			_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = cs.RbacV1().Roles(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, o, metav1.CreateOptions{})
		case *batchv1.CronJob:
			_, err = cs.BatchV1().CronJobs(ns).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("the dev overlay has a %s the test does not install", r.GetKind())
		}
		if err != nil {
			t.Fatalf("create %s %s: %v", r.GetKind(), r.GetName(), err)
		}
	}
}

// newInstallation installs the dev overlay against a 3-peer simulator
// whose peers are Pods (Kubernetes discovery, in-cluster configuration),
// with the Secret holding secrets (which may leave keys out), and starts
// the node agent on the namespace.
func newInstallation(t *testing.T, slot int, st *s3Store, secrets map[string]string) (*installation, *sim) {
	t.Helper()
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	sm := podSim(t, slot, 3)
	sm.loadMixed(t)
	for i, p := range sm.c.Peers() {
		stacktest.RunPod(t, cs, ns, fmt.Sprintf("qdrant-%d", i), qdrantLabels, p.Addr(), true)
	}
	installDev(t, cs, ns, st)
	in := &installation{cs: cs, ns: ns}
	in.createSecret(t, secrets)
	in.startAgent(t, nodeagent.QdrantConfig{})
	return in, sm
}

// createSecret creates the Secret qbackup-secrets holding secrets.
func (in *installation) createSecret(t *testing.T, secrets map[string]string) {
	t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "qbackup-secrets"}, StringData: secrets}
	if _, err := in.cs.CoreV1().Secrets(in.ns).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// startAgent starts the node agent on the namespace: qbackup images run
// the built binary, Qdrant images become simulator peers as qdrant says.
func (in *installation) startAgent(t *testing.T, qdrant nodeagent.QdrantConfig) {
	t.Helper()
	a, err := nodeagent.Start(context.Background(), nodeagent.Config{
		Kube: stacktest.Kube(t), Namespaces: []string{in.ns}, StateDir: t.TempDir(),
		Images: map[string]nodeagent.Image{"qbackup": {Binary: qbackupBin, Entrypoint: "/usr/local/bin/qbackup", User: 65532, Group: 65532}},
		Qdrant: qdrant,
	})
	if err != nil {
		t.Fatalf("start node agent: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("stop node agent: %v", err)
		}
	})
	in.agent = a
}

// runJobFromCronJob creates a Job from the CronJob as `kubectl create job
// --from=cronjob/qbackup` does and waits for it to finish. It returns the
// Job and its Pod.
func (in *installation) runJobFromCronJob(t *testing.T, name string) (*batchv1.Job, *corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	cj, err := in.cs.BatchV1().CronJobs(in.ns).Get(ctx, "qbackup", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the dev overlay's CronJob: %v", err)
	}
	if _, err := in.cs.BatchV1().Jobs(in.ns).Create(ctx, kube.JobFromCronJob(cj, name), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return in.waitJob(t, name)
}

// waitJob waits for a Job to complete or fail and returns it and its Pod.
func (in *installation) waitJob(t *testing.T, name string) (*batchv1.Job, *corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	var done *batchv1.Job
	eventually(t, 90*time.Second, "job "+name+" to finish", func() bool {
		j, err := in.cs.BatchV1().Jobs(in.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range j.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				done = j
				return true
			}
		}
		return false
	})
	pods, err := in.cs.CoreV1().Pods(in.ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods of job %s: %d (err %v), want 1", name, len(pods.Items), err)
	}
	if out, err := in.agent.Logs(in.ns, pods.Items[0].Name, "qbackup"); err == nil {
		logMetrics(t, out)
	}
	return done, &pods.Items[0]
}

func jobCondition(j *batchv1.Job, typ batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func TestDevOverlayFirstBackupJobOnAFreshInstall(t *testing.T) {
	t.Parallel()
	st, cat := newS3Store(t), newCatalog(t)
	// A fresh catalog database: nothing migrated it.
	in, _ := newInstallation(t, 3, st, map[string]string{
		"QBACKUP_CATALOG_DSN": cat.dsn, "AWS_ACCESS_KEY_ID": st.env_.AccessKey, "AWS_SECRET_ACCESS_KEY": st.env_.SecretKey,
	})
	start := time.Now()
	job, pod := in.runJobFromCronJob(t, "qbackup-manual-1")
	out, _ := in.agent.Logs(in.ns, pod.Name, "qbackup")
	t.Logf("backup job finished in %s", time.Since(start).Round(time.Millisecond))
	if !jobCondition(job, batchv1.JobComplete) {
		t.Fatalf("job did not complete: %+v\npod status: %+v\noutput:\n%s", job.Status, pod.Status, out)
	}
	term := pod.Status.ContainerStatuses[0].State.Terminated
	if pod.Status.Phase != corev1.PodSucceeded || term == nil || term.ExitCode != 0 {
		t.Fatalf("pod phase %s, state %+v", pod.Status.Phase, pod.Status.ContainerStatuses[0].State)
	}
	if !strings.Contains(out, "catalog migration applied") {
		t.Errorf("the first backup did not migrate the fresh catalog:\n%s", out)
	}
	// `kubectl logs` of the Job's pod, through the API server.
	logs, err := in.cs.CoreV1().Pods(in.ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(context.Background())
	if err != nil || string(logs) != out {
		t.Errorf("pods/log: err %v, %d bytes; the container wrote %d", err, len(logs), len(out))
	}

	rows := cat.backups(t, "qdrant-dev")
	if len(rows) != 1 || rows[0].Status != "complete" {
		t.Fatalf("catalog rows %+v, want one complete backup", rows)
	}
	// The pod's termination message is the run's one-line summary,
	// written to the manifests' terminationMessagePath.
	wantMsg := regexp.MustCompile(`^backup ` + regexp.QuoteMeta(rows[0].ID) + ` of cluster "qdrant-dev": [1-9][0-9]* collections, 8 shards, [1-9][0-9]* bytes$`)
	if !wantMsg.MatchString(term.Message) {
		t.Errorf("termination message %q, want the summary of backup %s", term.Message, rows[0].ID)
	}
	sc := &scenario{st: st, cluster: "qdrant-dev"}
	m := sc.manifest(t, rows[0].ID)
	if m.shardCount() != 8 || m.shardCount() != rows[0].Shards || len(sc.setObjects(t)) != 8 {
		t.Fatalf("manifest %d shards, catalog %d, storage %d objects; want 8", m.shardCount(), rows[0].Shards, len(sc.setObjects(t)))
	}
	for _, c := range m.Collections {
		for _, sh := range c.Shards {
			if b := st.read(t, sh.Object); int64(len(b)) != sh.Size || sha256Hex(b) != sh.SHA256 {
				t.Errorf("%s shard %d: object differs from the manifest", c.Name, sh.ID)
			}
		}
	}
	// Kubernetes discovery from inside the pod: the service-account token
	// and the pod's namespace, no kubeconfig.
	pods := map[string]bool{}
	for _, p := range m.Peers {
		pods[p.Pod] = true
	}
	if len(pods) != 3 || !pods["qdrant-0"] || !pods["qdrant-1"] || !pods["qdrant-2"] {
		t.Errorf("manifest peers are not the Qdrant pods: %+v", m.Peers)
	}
}

func TestDevOverlayBackupJobWithASecretKeyMissingFailsNamingIt(t *testing.T) {
	t.Parallel()
	st, cat := newS3Store(t), newCatalog(t)
	in, _ := newInstallation(t, 4, st, map[string]string{
		"QBACKUP_CATALOG_DSN": cat.dsn, "AWS_ACCESS_KEY_ID": st.env_.AccessKey,
	})
	job, pod := in.runJobFromCronJob(t, "qbackup-manual-1")
	out, _ := in.agent.Logs(in.ns, pod.Name, "qbackup")
	if !jobCondition(job, batchv1.JobFailed) {
		t.Fatalf("job did not fail: %+v\noutput:\n%s", job.Status, out)
	}
	term := pod.Status.ContainerStatuses[0].State.Terminated
	// Exit 2, a configuration problem: the pod failure policy fails the
	// Job at once instead of retrying (runJobFromCronJob saw one pod).
	if pod.Status.Phase != corev1.PodFailed || term == nil || term.ExitCode != 2 {
		t.Fatalf("pod phase %s, state %+v", pod.Status.Phase, pod.Status.ContainerStatuses[0].State)
	}
	t.Logf("exit %d, termination message: %s", term.ExitCode, term.Message)
	if !strings.Contains(term.Message, "AWS_SECRET_ACCESS_KEY is missing") {
		t.Errorf("the termination message does not name the missing key AWS_SECRET_ACCESS_KEY:\n%s", term.Message)
	}
	// qbackup's own message, not the log's tail: one line with the exit
	// code, no JSON record.
	if !strings.HasPrefix(term.Message, "exit 2: ") || strings.ContainsAny(term.Message, "\n{") {
		t.Errorf("termination message %q, want one line \"exit 2: <error>\"", term.Message)
	}
	if keys := st.keys(t); len(keys) != 0 {
		t.Errorf("storage holds %v", keys)
	}
	// The run stops before the catalog is opened: nothing recorded,
	// not even the schema.
	var tables int
	if err := cat.db.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("the failed run left %d tables in the catalog", tables)
	}
}
