//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/manifests"
)

var qdrantLabels = map[string]string{"app.kubernetes.io/name": "qdrant"}

// plugin runs the plugin in-process against the stack's API server as
// the cluster admin, in namespace ns.
func plugin(t *testing.T, ns string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{args[0], "--kubeconfig", os.Getenv(stacktest.EnvKubeconfig), "-n", ns}, args[1:]...)
	code = run(context.Background(), all, &out, &errOut)
	return code, out.String(), errOut.String()
}

func restoreJobs(t *testing.T, cs kubernetes.Interface, ns string) []batchv1.Job {
	t.Helper()
	list, err := cs.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=restore"})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func TestBackupCreatesJobFromCronJob(t *testing.T) {
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	data, err := manifests.FS.ReadFile("cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cj batchv1.CronJob
	if err := yaml.UnmarshalStrict(data, &cj); err != nil {
		t.Fatal(err)
	}
	// Pods of a ServiceAccount that does not exist are rejected: install
	// the one the manifests name, so the Job controller can start the run.
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(context.Background(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "qbackup"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	created, err := cs.BatchV1().CronJobs(ns).Create(context.Background(), &cj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := plugin(t, ns, "backup", "--dry-run=client", "-o", "yaml")
	if code != cli.ExitOK || !strings.Contains(out, "cronjob.kubernetes.io/instantiate: manual") || !strings.Contains(out, string(created.UID)) {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	if jobs, _ := cs.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{}); len(jobs.Items) != 0 {
		t.Fatalf("dry run created %d jobs", len(jobs.Items))
	}

	// The API server validates the Indexed Job --workers renders
	// (completion mode, per-index retries, failure policy together).
	code, out, errOut = plugin(t, ns, "backup", "--workers=3", "--dry-run=server", "-o", "yaml")
	if code != cli.ExitOK || !strings.Contains(out, "completionMode: Indexed") || !strings.Contains(out, "backoffLimitPerIndex: 2") {
		t.Fatalf("indexed server dry run: exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, errOut = plugin(t, ns, "backup")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	name, ok := strings.CutPrefix(strings.TrimSpace(out), "job.batch/")
	if !ok || !strings.HasSuffix(name, " created") {
		t.Fatalf("output %q", out)
	}
	name = strings.TrimSuffix(name, " created")
	job, err := cs.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(job.Name, "qbackup-manual-") || len(job.OwnerReferences) != 1 ||
		job.OwnerReferences[0].UID != created.UID || job.Annotations["cronjob.kubernetes.io/instantiate"] != "manual" {
		t.Fatalf("job %s: owners %+v, annotations %v", job.Name, job.OwnerReferences, job.Annotations)
	}
	if got := job.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"backup", "--prune"}) {
		t.Fatalf("args %q", got)
	}
	// The Job controller runs it: a Pod appears for the Job.
	deadline := time.Now().Add(30 * time.Second)
	for {
		pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + job.Name})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pod for job %s after 30s: is the job controller running?", job.Name)
		}
		time.Sleep(200 * time.Millisecond)
	}

	if code, _, errOut := plugin(t, ns, "backup", "--from", "cronjob/missing"); code != cli.ExitUsage {
		t.Fatalf("missing cronjob: exit %d: %s", code, errOut)
	}
}

// installOverlay creates the CronJobs and ConfigMaps of a kustomize
// overlay, as built by `kubectl apply -k`, in namespace ns (the overlay's
// own namespace aside), with settings merged into its ConfigMap as a user
// adapting the overlay would.
func installOverlay(t *testing.T, cs kubernetes.Interface, ns, overlay string, settings map[string]string) map[string]*batchv1.CronJob {
	t.Helper()
	ctx := context.Background()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../../kustomize/overlays/"+overlay)
	if err != nil {
		t.Fatalf("kustomize build overlays/%s: %v", overlay, err)
	}
	out := map[string]*batchv1.CronJob{}
	for _, r := range res.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		switch r.GetKind() {
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := yaml.UnmarshalStrict(y, &cm); err != nil {
				t.Fatal(err)
			}
			cm.Namespace = ns
			for k, v := range settings {
				cm.Data[k] = v
			}
			if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &cm, metav1.CreateOptions{}); err != nil {
				t.Fatalf("install configmap %s: %v", cm.Name, err)
			}
		case "CronJob":
			var cj batchv1.CronJob
			if err := yaml.UnmarshalStrict(y, &cj); err != nil {
				t.Fatal(err)
			}
			cj.Namespace = ns
			created, err := cs.BatchV1().CronJobs(ns).Create(ctx, &cj, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("install cronjob %s: %v", cj.Name, err)
			}
			out[created.Name] = created
		}
	}
	return out
}

func TestRestoreRefusesWithoutAnInstalledTemplate(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	store := fileBackup(t)
	stacktest.RunPod(t, cs, ns, "qdrant-0", qdrantLabels, "10.0.0.1", true)
	stacktest.RunPod(t, cs, ns, "qdrant-1", qdrantLabels, "10.0.0.2", true)

	code, out, errOut := plugin(t, ns, "restore", "latest", "--storage", store)
	if code != cli.ExitUsage || !strings.Contains(errOut, `cronjob "qbackup-restore" not found in namespace "`+ns+`"`) ||
		!strings.Contains(errOut, "kubectl apply -k") {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, cli.ExitUsage, out, errOut)
	}
	if jobs := restoreJobs(t, cs, ns); len(jobs) != 0 {
		t.Fatalf("refused restore created %d jobs", len(jobs))
	}
}

func TestRestoreCreatesJob(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	store := fileBackup(t)
	// The staging overlay: its image, resources and labels must reach the
	// restore Job, not the base's.
	installed := installOverlay(t, cs, ns, "staging", nil)
	tpl := installed["qbackup-restore"].Spec.JobTemplate.Spec.Template
	stacktest.RunPod(t, cs, ns, "qdrant-0", qdrantLabels, "10.0.0.1", true)
	stacktest.RunPod(t, cs, ns, "qdrant-1", qdrantLabels, "10.0.0.2", true)

	code, out, errOut := plugin(t, ns, "restore", "latest", "--storage", store, "--rename=_drill", "--dry-run=client", "-o", "yaml", "--skip-peers-query")
	if code != cli.ExitOK {
		t.Fatalf("dry run: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "pods in backup: 2, Ready pods now: 2 → direct") {
		t.Errorf("plan not shown: %s", errOut)
	}
	var printed batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(out), &printed); err != nil {
		t.Fatalf("printed job: %v\n%s", err, out)
	}
	if got := printed.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"restore", backupID, "--cluster=default", "--rename=_drill"}) {
		t.Errorf("printed args %q", got)
	}
	if jobs := restoreJobs(t, cs, ns); len(jobs) != 0 {
		t.Fatalf("dry run created %d jobs", len(jobs))
	}

	code, out, errOut = plugin(t, ns, "restore", backupID, "--storage", store, "--target-node=qdrant-1", "--overwrite", "--skip-peers-query")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "→ consolidate") || !strings.Contains(out, "job.batch/qbackup-restore-3f9c-") {
		t.Errorf("output %q", out)
	}
	jobs := restoreJobs(t, cs, ns)
	if len(jobs) != 1 {
		t.Fatalf("%d restore jobs", len(jobs))
	}
	spec := jobs[0].Spec.Template.Spec
	want := []string{"restore", backupID, "--cluster=default", "--target-node=qdrant-1", "--overwrite"}
	if got := spec.Containers[0].Args; !slices.Equal(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}
	if spec.ServiceAccountName != "qbackup" || len(spec.Containers[0].EnvFrom) != 2 {
		t.Errorf("template settings lost: %+v", spec)
	}
	c, want0 := spec.Containers[0], tpl.Spec.Containers[0]
	if c.Image != want0.Image || !strings.HasPrefix(c.Image, "ghcr.io/") ||
		c.Resources.Limits.Memory().Cmp(*want0.Resources.Limits.Memory()) != 0 {
		t.Errorf("the job runs %s with %v, the installed template %s with %v", c.Image, c.Resources, want0.Image, want0.Resources)
	}
	if got := jobs[0].Spec.Template.Labels["qbackup.io/environment"]; got != "staging" {
		t.Errorf("pod labels %v: the overlay's labels are lost", jobs[0].Spec.Template.Labels)
	}
	if got := jobs[0].Annotations["qbackup.io/previewed-plan"]; !strings.HasPrefix(got, "consolidate") {
		t.Errorf("previewed plan annotation %q", got)
	}
	if len(jobs[0].OwnerReferences) != 0 {
		t.Errorf("the restore job is owned by %+v", jobs[0].OwnerReferences)
	}
}

func TestRestoreRefusesWhenAPodIsNotReady(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	store := fileBackup(t)
	installOverlay(t, cs, ns, "dev", nil)
	stacktest.RunPod(t, cs, ns, "qdrant-0", qdrantLabels, "10.0.0.1", true)
	stacktest.RunPod(t, cs, ns, "qdrant-1", qdrantLabels, "10.0.0.2", false)

	code, _, errOut := plugin(t, ns, "restore", "latest", "--storage", store)
	if code != cli.ExitClusterNotOK || !strings.Contains(errOut, "qdrant-1") || !strings.Contains(errOut, "--allow-node-mismatch") {
		t.Fatalf("exit %d, want %d; stderr %s", code, cli.ExitClusterNotOK, errOut)
	}
	if jobs := restoreJobs(t, cs, ns); len(jobs) != 0 {
		t.Fatalf("refused restore created %d jobs", len(jobs))
	}

	code, out, errOut := plugin(t, ns, "restore", "latest", "--storage", store, "--allow-node-mismatch", "--skip-peers-query")
	if code != cli.ExitOK || !strings.Contains(errOut, "warning:") || !strings.Contains(out, "Ready pods now: 1 → consolidate") {
		t.Fatalf("override: exit %d\n%s\n%s", code, out, errOut)
	}
	jobs := restoreJobs(t, cs, ns)
	if len(jobs) != 1 || !slices.Contains(jobs[0].Spec.Template.Spec.Containers[0].Args, "--allow-node-mismatch") {
		t.Fatalf("jobs %+v", jobs)
	}
}

// listIDs returns a function that takes the result of a `list -o json`
// run and returns its backup ids, failing the test if the run failed.
func listIDs(t *testing.T) func(code int, out, errOut string) []string {
	return func(code int, out, errOut string) []string {
		t.Helper()
		return parseList(t, code, out, errOut)
	}
}

func parseList(t *testing.T, code int, out, errOut string) []string {
	t.Helper()
	if code != cli.ExitOK {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	var rows []struct {
		BackupID string `json:"backup_id"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.BackupID)
	}
	return ids
}

func TestListReadsTheInstallation(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	store := fileBackup(t)

	// Nothing installed: said, exit 2, and the old local default is
	// neither read nor created.
	const oldDefault = "/var/lib/qbackup"
	_, statErr := os.Stat(oldDefault)
	code, out, errOut := plugin(t, ns, "list")
	if code != cli.ExitUsage || !strings.Contains(errOut, `qbackup is not installed in namespace "`+ns+`"`) || !strings.Contains(errOut, "--storage") {
		t.Fatalf("nothing installed: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(oldDefault); os.IsNotExist(statErr) && err == nil {
		t.Errorf("list with nothing installed created %s", oldDefault)
	}

	installOverlay(t, cs, ns, "dev", map[string]string{"QBACKUP_STORAGE": store, "QBACKUP_CLUSTER": "default"})
	if ids := listIDs(t)(plugin(t, ns, "list", "-o", "json")); !slices.Equal(ids, []string{backupID}) {
		t.Errorf("installed store lists %v, want [%s]", ids, backupID)
	}
	// Flags override the installation.
	if ids := listIDs(t)(plugin(t, ns, "list", "-o", "json", "--qdrant-cluster=other")); len(ids) != 0 {
		t.Errorf("--qdrant-cluster=other lists %v", ids)
	}
	if ids := listIDs(t)(plugin(t, ns, "list", "-o", "json", "--storage", "file://"+t.TempDir())); len(ids) != 0 {
		t.Errorf("--storage of an empty store lists %v", ids)
	}
	code, out, errOut = plugin(t, ns, "version")
	if code != cli.ExitOK || !strings.Contains(out, "Plugin: kubectl-qbackup ") ||
		!strings.Contains(out, "Installed in "+ns+": ghcr.io/qbackup/qbackup:") {
		t.Errorf("version: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestKubectlConnectionFlags checks the flags kubectl users rely on
// against the real API server: KUBECONFIG=a:b merging, --context, the
// context's namespace, impersonation and --request-timeout.
func TestKubectlConnectionFlags(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	installOverlay(t, cs, ns, "dev", map[string]string{"QBACKUP_STORAGE": fileBackup(t), "QBACKUP_CLUSTER": "default"})

	// a holds the clusters and users of the stack's kubeconfig; b the
	// contexts: "good" (the stack, namespace ns) and the current one,
	// "bogus", pointing at nothing.
	admin, err := clientcmd.LoadFromFile(os.Getenv(stacktest.EnvKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	var stackCluster, stackUser string
	for _, c := range admin.Contexts {
		stackCluster, stackUser = c.Cluster, c.AuthInfo
	}
	a := clientcmdapi.NewConfig()
	a.Clusters, a.AuthInfos = admin.Clusters, admin.AuthInfos
	a.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	b := clientcmdapi.NewConfig()
	b.Contexts["good"] = &clientcmdapi.Context{Cluster: stackCluster, AuthInfo: stackUser, Namespace: ns}
	b.Contexts["bogus"] = &clientcmdapi.Context{Cluster: "nowhere", AuthInfo: stackUser}
	b.CurrentContext = "bogus"
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := clientcmd.WriteToFile(*a, pa); err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*b, pb); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", pa+string(os.PathListSeparator)+pb)

	kubectl := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, _, errOut := kubectl("list"); code == cli.ExitOK || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("current context bogus: exit %d, %s", code, errOut)
	}
	if ids := listIDs(t)(kubectl("list", "--context", "good", "-o", "json")); !slices.Equal(ids, []string{backupID}) {
		t.Errorf("--context good (namespace from the context): %v", ids)
	}
	code, _, errOut := kubectl("list", "--context", "good", "--as", "system:serviceaccount:"+ns+":nobody")
	if code == cli.ExitOK || !strings.Contains(errOut, `cannot get resource "cronjobs"`) {
		t.Errorf("impersonating a user without access: exit %d, %s", code, errOut)
	}
	if code, _, errOut := kubectl("list", "--context", "good", "--request-timeout=-1s"); code != cli.ExitUsage {
		t.Errorf("negative --request-timeout: exit %d, %s", code, errOut)
	}
}

// operatorWithout creates a ServiceAccount bound to the shipped
// qbackup-operator Role less verb on resource (the whole Role with verb
// ""), and returns the --as flag that impersonates it.
func operatorWithout(t *testing.T, cs kubernetes.Interface, ns, verb, resource string) string {
	t.Helper()
	ctx := context.Background()
	data, err := manifests.FS.ReadFile("operator-role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.Role
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatal(err)
	}
	for i, r := range role.Rules {
		if slices.Contains(r.Resources, resource) {
			role.Rules[i].Verbs = slices.DeleteFunc(slices.Clone(r.Verbs), func(v string) bool { return v == verb })
		}
	}
	name := "operator"
	if verb != "" {
		name += "-no-" + verb
	}
	role.Name = name
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return "--as=system:serviceaccount:" + ns + ":" + name
}

// TestDryRunServer sends backup and restore Jobs to the API server with
// dryRun=All: it answers with the Job as it would create it (its
// selector generated), admission and RBAC apply, and nothing is stored.
func TestDryRunServer(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	store := fileBackup(t)
	installOverlay(t, cs, ns, "dev", map[string]string{"QBACKUP_STORAGE": store, "QBACKUP_CLUSTER": "default"})
	stacktest.RunPod(t, cs, ns, "qdrant-0", qdrantLabels, "10.0.0.1", true)
	stacktest.RunPod(t, cs, ns, "qdrant-1", qdrantLabels, "10.0.0.2", true)
	noJobs := func(what string) {
		t.Helper()
		jobs, err := cs.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs.Items) != 0 {
			t.Fatalf("%s stored %d jobs", what, len(jobs.Items))
		}
	}

	code, out, errOut := plugin(t, ns, "backup", "--dry-run=server")
	if code != cli.ExitOK || !strings.HasPrefix(out, "job.batch/qbackup-manual-") || !strings.HasSuffix(out, " created (server dry run)\n") {
		t.Fatalf("backup --dry-run=server: exit %d\n%s\n%s", code, out, errOut)
	}
	noJobs("backup --dry-run=server")

	for _, args := range [][]string{
		{"backup", "--dry-run=server", "-o", "yaml"},
		{"restore", "latest", "--dry-run=server", "-o", "yaml", "--rename=_drill", "--skip-peers-query"},
	} {
		code, out, errOut = plugin(t, ns, args...)
		if code != cli.ExitOK {
			t.Fatalf("%q: exit %d: %s", args, code, errOut)
		}
		var job batchv1.Job
		if err := yaml.UnmarshalStrict([]byte(out), &job); err != nil {
			t.Fatalf("%q printed: %v\n%s", args, err, out)
		}
		// The selector and UID come from the API server, not the plugin:
		// the create went through.
		if job.Spec.Selector == nil || job.UID == "" {
			t.Errorf("%q: the printed Job is not the API server's answer (selector %v, uid %q)", args, job.Spec.Selector, job.UID)
		}
		noJobs(fmt.Sprint(args))
	}

	// The client mode renders the Job itself: no selector, no UID.
	code, out, errOut = plugin(t, ns, "backup", "--dry-run=client", "-o", "yaml")
	var rendered batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(out), &rendered); err != nil || code != cli.ExitOK {
		t.Fatalf("backup --dry-run=client: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if rendered.Spec.Selector != nil || rendered.UID != "" {
		t.Errorf("--dry-run=client printed a Job with selector %v and uid %q: did it reach the API server?", rendered.Spec.Selector, rendered.UID)
	}

	// RBAC applies to a server dry run: an operator who may not create
	// Jobs is refused, and told what is missing; the client mode needs
	// no create permission.
	as := operatorWithout(t, cs, ns, "create", "jobs")
	code, out, errOut = plugin(t, ns, "backup", "--dry-run=server", as)
	if code == cli.ExitOK || !strings.Contains(errOut, `cannot create resource "jobs"`) || !strings.Contains(errOut, "(server dry run)") {
		t.Errorf("server dry run without create on jobs: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := plugin(t, ns, "backup", "--dry-run=client", as); code != cli.ExitOK {
		t.Errorf("client dry run without create on jobs: exit %d\n%s\n%s", code, out, errOut)
	}
	noJobs("refused dry runs")
}

// TestOutputFormatsAndCompletionAgainstTheCluster covers -o wide and -o
// name of list and status, and completion reading the installation:
// backup ids from its listing, Job names and Qdrant pod names.
func TestOutputFormatsAndCompletionAgainstTheCluster(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	installOverlay(t, cs, ns, "dev", map[string]string{"QBACKUP_STORAGE": fileBackup(t), "QBACKUP_CLUSTER": "default"})
	stacktest.RunPod(t, cs, ns, "qdrant-0", qdrantLabels, "10.0.0.1", true)
	stacktest.RunPod(t, cs, ns, "qdrant-1", qdrantLabels, "10.0.0.2", true)
	stacktest.RunPod(t, cs, ns, "qdrant-2", qdrantLabels, "10.0.0.3", false)
	code, out, errOut := plugin(t, ns, "backup")
	if code != cli.ExitOK {
		t.Fatalf("backup: exit %d: %s", code, errOut)
	}
	job := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(out), "job.batch/"), " created")

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"list", "-o", "name"}, []string{"backup/" + backupID + "\n"}},
		{[]string{"list", "-o", "wide"}, []string{"POINTS", "QDRANT", "STARTED", "FINISHED", backupID, "2026-11-25T13:31:00Z"}},
		{[]string{"list"}, []string{"SIZE", "DURATION", backupID, "10 B", "1m0s"}},
		{[]string{"status", "-o", "name"}, []string{"job.batch/" + job + "\n"}},
		{[]string{"status", "-o", "wide"}, []string{"POD", "ATTEMPTS", "STARTED", job}},
	} {
		code, out, errOut := plugin(t, ns, tc.args...)
		if code != cli.ExitOK {
			t.Fatalf("%q: exit %d: %s", tc.args, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
	if code, out, _ := plugin(t, ns, "list", "-o", "name"); code != cli.ExitOK || out != "backup/"+backupID+"\n" {
		t.Errorf("list -o name: %q", out)
	}
	if code, out, _ := plugin(t, ns, "list"); code != cli.ExitOK || strings.Contains(out, "POINTS") {
		t.Errorf("list (table) shows the wide columns:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"restore", ""}, []string{"latest", backupID}},
		{[]string{"logs", ""}, []string{"latest", job}},
		{[]string{"restore", "latest", "--target-node", ""}, []string{"qdrant-0", "qdrant-1"}},
	} {
		code, out, errOut := plugin(t, ns, append([]string{completeCommand}, tc.args...)...)
		if code != cli.ExitOK {
			t.Fatalf("__complete %q: exit %d: %s", tc.args, code, errOut)
		}
		if got, _ := parseProtocol(t, out); !slices.Equal(got, tc.want) {
			t.Errorf("__complete -n %s %q: %q, want %q", ns, tc.args, got, tc.want)
		}
	}
}

// TestScheduleSuspendResume patches the backup CronJob's spec.suspend as
// an operator holding the shipped Role, and refuses the restore template.
func TestScheduleSuspendResume(t *testing.T) {
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	installOverlay(t, cs, ns, "dev", nil)
	operator := operatorWithout(t, cs, ns, "", "")
	suspended := func(name string) bool {
		t.Helper()
		cj, err := cs.BatchV1().CronJobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cj.Spec.Suspend != nil && *cj.Spec.Suspend
	}
	if suspended("qbackup") {
		t.Fatal("the installed schedule starts suspended")
	}
	for _, tc := range []struct {
		args          []string
		wantOut       string
		wantSuspended bool
	}{
		{[]string{"schedule", "suspend", operator}, "cronjob.batch/qbackup suspended\n", true},
		{[]string{"schedule", "suspend", operator}, "cronjob.batch/qbackup suspended (no change)\n", true},
		{[]string{"status", operator}, "SUSPENDED", true},
		{[]string{"schedule", "resume", operator}, "cronjob.batch/qbackup resumed\n", false},
		{[]string{"schedule", "resume", operator}, "cronjob.batch/qbackup resumed (no change)\n", false},
	} {
		code, out, errOut := plugin(t, ns, tc.args...)
		if code != cli.ExitOK || !strings.Contains(out, tc.wantOut) {
			t.Fatalf("%q: exit %d, want %q\n%s\n%s", tc.args, code, tc.wantOut, out, errOut)
		}
		if got := suspended("qbackup"); got != tc.wantSuspended {
			t.Fatalf("after %q: suspended %v, want %v", tc.args, got, tc.wantSuspended)
		}
	}

	// The restore template stays suspended: refused before any request.
	code, _, errOut := plugin(t, ns, "schedule", "resume", "--from=cronjob/qbackup-restore")
	if code != cli.ExitUsage || !strings.Contains(errOut, "restore template") || !suspended("qbackup-restore") {
		t.Errorf("resume of the restore template: exit %d, suspended %v: %s", code, suspended("qbackup-restore"), errOut)
	}
	// Nothing installed under that name: exit 2, saying so.
	if code, _, errOut := plugin(t, ns, "schedule", "suspend", "--from=cronjob/nightly"); code != cli.ExitUsage || !strings.Contains(errOut, `cronjob "nightly" not found`) {
		t.Errorf("missing cronjob: exit %d: %s", code, errOut)
	}
	// Without patch on cronjobs the operator is told which verb is missing.
	noPatch := operatorWithout(t, cs, ns, "patch", "cronjobs")
	if code, _, errOut := plugin(t, ns, "schedule", "suspend", noPatch); code != cli.ExitFailure || !strings.Contains(errOut, `cannot patch resource "cronjobs"`) {
		t.Errorf("without patch: exit %d: %s", code, errOut)
	}
	if suspended("qbackup") {
		t.Error("a refused suspend suspended the schedule")
	}
}

// TestVerifyCreatesJob: verify makes a Job from the backup CronJob that
// runs `qbackup verify ID` in the cluster; status lists it as a verify
// Job, not as a backup.
func TestVerifyCreatesJob(t *testing.T) {
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	installed := installOverlay(t, cs, ns, "staging", nil)

	code, out, errOut := plugin(t, ns, "verify", backupID, "--dry-run=server", "-o", "yaml")
	var printed batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(out), &printed); err != nil || code != cli.ExitOK {
		t.Fatalf("verify --dry-run=server: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if printed.UID == "" {
		t.Error("the server dry run printed no UID: not the API server's answer")
	}
	if jobs, _ := cs.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{}); len(jobs.Items) != 0 {
		t.Fatalf("dry run stored %d jobs", len(jobs.Items))
	}

	code, out, errOut = plugin(t, ns, "verify", "latest")
	if code != cli.ExitOK || !strings.HasPrefix(out, "job.batch/qbackup-verify-latest-") {
		t.Fatalf("verify latest: exit %d\n%s\n%s", code, out, errOut)
	}
	name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(out), "job.batch/"), " created")
	job, err := cs.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, want := job.Spec.Template.Spec.Containers[0], installed["qbackup"].Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"verify", "latest"}) || c.Image != want.Image || len(c.EnvFrom) != len(want.EnvFrom) {
		t.Errorf("verify job runs %s %q with %d envFrom; the cronjob %s with %d", c.Image, c.Args, len(c.EnvFrom), want.Image, len(want.EnvFrom))
	}
	if job.Labels["app.kubernetes.io/component"] != "verify" || len(job.OwnerReferences) != 1 || job.OwnerReferences[0].Name != "qbackup" {
		t.Errorf("labels %v, owners %+v", job.Labels, job.OwnerReferences)
	}
	code, out, errOut = plugin(t, ns, "status", "-o", "json")
	if code != cli.ExitOK || !strings.Contains(out, `"component": "verify"`) || strings.Contains(out, "lastCompleteBackup") {
		t.Errorf("status: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestRebalanceCreatesJob: the rebalance Job is the installed restore
// template running qbackup rebalance with the flags given, labelled as a
// rebalance; --dry-run=client prints it and creates nothing; a pod that
// is not Ready refuses it (exit 4) unless --allow-node-mismatch.
func TestRebalanceCreatesJob(t *testing.T) {
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	installed := installOverlay(t, cs, ns, "staging", nil)
	tpl := installed["qbackup-restore"].Spec.JobTemplate.Spec.Template
	stacktest.RunPod(t, cs, ns, "qdrant-0", qdrantLabels, "10.0.0.1", true)
	stacktest.RunPod(t, cs, ns, "qdrant-1", qdrantLabels, "10.0.0.2", true)
	rebalanceJobs := func() []batchv1.Job {
		t.Helper()
		list, err := cs.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=rebalance"})
		if err != nil {
			t.Fatal(err)
		}
		return list.Items
	}

	// No node runs the peers query here: the preview says so within
	// --peers-timeout, goes on with the pod counts and deletes the Job.
	code, out, errOut := plugin(t, ns, "rebalance", "--replication-factor=2", "--dry-run=client", "-o", "yaml", "--peers-timeout=1s")
	if code != cli.ExitOK {
		t.Fatalf("dry run: exit %d: %s", code, errOut)
	}
	if !regexp.MustCompile(`Rebalance over the 2 Ready pods of namespace \S+\n  Qdrant's peers not read: job qbackup-peers-[0-9]{14} did not finish within --peers-timeout=1s \(job.batch/qbackup-peers-[0-9]{14}: pending\): is there a node to run it\?; the preview counts Kubernetes pods only\n`).MatchString(errOut) {
		t.Errorf("summary not shown: %s", errOut)
	}
	queries, err := cs.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=peers"})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range queries.Items {
		if j.DeletionTimestamp == nil {
			t.Errorf("the peers query Job %s was not deleted", j.Name)
		}
	}
	var printed batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(out), &printed); err != nil {
		t.Fatalf("printed job: %v\n%s", err, out)
	}
	if got := printed.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"rebalance", "--replication-factor=2"}) {
		t.Errorf("printed args %q", got)
	}
	if got := printed.Annotations["qbackup.io/previewed-plan"]; got != "rebalance (Ready pods: 2, Qdrant peers: unknown)" {
		t.Errorf("printed plan annotation %q", got)
	}
	if jobs := rebalanceJobs(); len(jobs) != 0 {
		t.Fatalf("dry run created %d jobs", len(jobs))
	}
	// --shards and --writes-paused reach the Job.
	code, out, errOut = plugin(t, ns, "rebalance", "--shards=auto", "--writes-paused", "--dry-run=client", "-o", "yaml", "--skip-peers-query")
	if code != cli.ExitOK {
		t.Fatalf("dry run with --shards: exit %d: %s", code, errOut)
	}
	printed = batchv1.Job{}
	if err := yaml.UnmarshalStrict([]byte(out), &printed); err != nil {
		t.Fatalf("printed job: %v\n%s", err, out)
	}
	if got := printed.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"rebalance", "--shards=auto", "--writes-paused"}) {
		t.Errorf("printed args with --shards %q", got)
	}

	code, out, errOut = plugin(t, ns, "rebalance", "--collections=docs", "--yes", "--skip-peers-query")
	if code != cli.ExitOK || !strings.Contains(out, "job.batch/qbackup-rebalance-") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	jobs := rebalanceJobs()
	if len(jobs) != 1 {
		t.Fatalf("%d rebalance jobs", len(jobs))
	}
	spec := jobs[0].Spec.Template.Spec
	if got := spec.Containers[0].Args; !slices.Equal(got, []string{"rebalance", "--collections=docs"}) {
		t.Errorf("args %q", got)
	}
	if spec.ServiceAccountName != "qbackup" || spec.Containers[0].Image != tpl.Spec.Containers[0].Image {
		t.Errorf("template settings lost: %+v", spec)
	}

	stacktest.RunPod(t, cs, ns, "qdrant-2", qdrantLabels, "10.0.0.3", false)
	code, _, errOut = plugin(t, ns, "rebalance", "--yes", "--skip-peers-query")
	if code != cli.ExitClusterNotOK || !strings.Contains(errOut, "qdrant-2") {
		t.Fatalf("a pod not Ready: exit %d, want %d; stderr %s", code, cli.ExitClusterNotOK, errOut)
	}
	if jobs := rebalanceJobs(); len(jobs) != 1 {
		t.Fatalf("the refused rebalance created a job: %d jobs", len(jobs))
	}
}
