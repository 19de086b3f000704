//go:build integration

package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// jobBadCase is one bad input to the installed backup Job: the
// ConfigMap's and the Secret's values as a user got them wrong, the
// exit code and what the Job's termination message must say (the problem
// and the fix).
type jobBadCase struct {
	name string
	// config and secret edit the installed ConfigMap and Secret: a value
	// set, or removed when "-".
	config, secret map[string]string
	// noSecret runs without the Secret (it is optional in the CronJob).
	noSecret bool
	// role, when set, edits a copy of the installed Role the Job runs with.
	role func(*rbacv1.Role)
	code int32
	msgs []string
}

const unset = "-"

func jobBadCases(t *testing.T, ms *statefulMission) []jobBadCase {
	long := strings.Repeat("c", 256)
	return []jobBadCase{
		// Without the Secret the AWS default chain finds nothing: exit 1,
		// as a chain source (IMDS, web identity) may come back.
		{name: "no-secret", noSecret: true, code: 1, msgs: []string{"no usable credentials", "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"}},
		{name: "no-access-key", secret: map[string]string{"AWS_ACCESS_KEY_ID": unset}, code: 2, msgs: []string{"AWS_ACCESS_KEY_ID is missing", "Secret qbackup-secrets"}},
		{name: "wrong-access-key", secret: map[string]string{"AWS_ACCESS_KEY_ID": "nobody"}, code: 2, msgs: []string{"S3 rejected the credentials", "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"}},
		{name: "wrong-secret-key", secret: map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong-secret"}, code: 2, msgs: []string{"S3 rejected the credentials", "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"}},
		{name: "wrong-catalog-password", secret: map[string]string{"QBACKUP_CATALOG_DSN": dsnWith(t, ms.cat.dsn, func(c *mysql.Config) { c.Passwd = "wrong" })}, code: 2, msgs: []string{"refused user", "check the user and password in QBACKUP_CATALOG_DSN"}},
		{name: "malformed-catalog-dsn", secret: map[string]string{"QBACKUP_CATALOG_DSN": "not a dsn"}, code: 2, msgs: []string{"catalog DSN", "user:password@tcp(host:port)/db in QBACKUP_CATALOG_DSN"}},
		{name: "concurrency-not-a-number", config: map[string]string{"QBACKUP_CONCURRENCY": "lots"}, code: 2, msgs: []string{"QBACKUP_CONCURRENCY"}},
		{name: "concurrency-zero", config: map[string]string{"QBACKUP_CONCURRENCY": "0"}, code: 2, msgs: []string{"QBACKUP_CONCURRENCY"}},
		{name: "per-peer-negative", config: map[string]string{"QBACKUP_PER_PEER_CONCURRENCY": "-1"}, code: 2, msgs: []string{"QBACKUP_PER_PEER_CONCURRENCY"}},
		{name: "lease-ttl-no-unit", config: map[string]string{"QBACKUP_LEASE_TTL": "30"}, code: 2, msgs: []string{"QBACKUP_LEASE_TTL"}},
		{name: "lease-wait-garbage", config: map[string]string{"QBACKUP_LEASE_WAIT": "soon"}, code: 2, msgs: []string{"QBACKUP_LEASE_WAIT"}},
		{name: "stall-timeout-too-short", config: map[string]string{"QBACKUP_STALL_TIMEOUT": "10ms"}, code: 2, msgs: []string{"QBACKUP_STALL_TIMEOUT"}},
		{name: "keep-last-negative", config: map[string]string{"QBACKUP_KEEP_LAST": "-2"}, code: 2, msgs: []string{"QBACKUP_KEEP_LAST"}},
		{name: "keep-daily-not-a-number", config: map[string]string{"QBACKUP_KEEP_DAILY": "two"}, code: 2, msgs: []string{"QBACKUP_KEEP_DAILY"}},
		{name: "orphan-grace-garbage", config: map[string]string{"QBACKUP_ORPHAN_GRACE": "1 day"}, code: 2, msgs: []string{"QBACKUP_ORPHAN_GRACE"}},
		{name: "compression-unknown", config: map[string]string{"QBACKUP_COMPRESSION": "lz4"}, code: 2, msgs: []string{"QBACKUP_COMPRESSION"}},
		{name: "snapshot-method-unknown", config: map[string]string{"QBACKUP_SNAPSHOT_METHOD": "copy"}, code: 2, msgs: []string{"QBACKUP_SNAPSHOT_METHOD"}},
		{name: "discovery-unknown", config: map[string]string{"QBACKUP_DISCOVERY": "consul"}, code: 2, msgs: []string{"QBACKUP_DISCOVERY"}},
		{name: "selector-malformed", config: map[string]string{"QBACKUP_SELECTOR": "app in ("}, code: 2, msgs: []string{"invalid label selector", "fix --selector (QBACKUP_SELECTOR)"}},
		{name: "selector-matches-nothing", config: map[string]string{"QBACKUP_SELECTOR": "app.kubernetes.io/name=nothing"}, code: 4, msgs: []string{"no Qdrant peers found", "kubectl get pods -n"}},
		{name: "storage-scheme-unknown", config: map[string]string{"QBACKUP_STORAGE": "ftp://backups/qbackup"}, code: 2, msgs: []string{"QBACKUP_STORAGE"}},
		{name: "storage-empty", config: map[string]string{"QBACKUP_STORAGE": ""}, code: 2, msgs: []string{"QBACKUP_STORAGE"}},
		{name: "storage-bucket-missing", config: map[string]string{"QBACKUP_STORAGE": "s3://no-such-bucket-qbackup/x"}, code: 2, msgs: []string{`bucket "no-such-bucket-qbackup" does not exist`, "create it or fix --storage"}},
		{name: "cluster-empty", config: map[string]string{"QBACKUP_CLUSTER": ""}, code: 2, msgs: []string{"QBACKUP_CLUSTER"}},
		{name: "log-format-unknown", config: map[string]string{"QBACKUP_LOG_FORMAT": "xml"}, code: 2, msgs: []string{"QBACKUP_LOG_FORMAT"}},
		{name: "migrate-not-a-bool", config: map[string]string{"QBACKUP_MIGRATE_CATALOG": "maybe"}, code: 2, msgs: []string{"QBACKUP_MIGRATE_CATALOG"}},
		{name: "path-style-not-a-bool", config: map[string]string{"QBACKUP_S3_PATH_STYLE": "sometimes"}, code: 2, msgs: []string{"QBACKUP_S3_PATH_STYLE"}},
		{name: "sample-size-negative", config: map[string]string{"QBACKUP_SAMPLE_SIZE": "-1"}, code: 2, msgs: []string{"QBACKUP_SAMPLE_SIZE"}},
		{name: "collection-with-slash", config: map[string]string{"QBACKUP_COLLECTIONS": "docs/../images"}, code: 2, msgs: []string{`unknown collection "docs/../images"`, "the cluster has: docs, hybrid, images, tenants"}},
		{name: "collection-dot-dot", config: map[string]string{"QBACKUP_COLLECTIONS": ".."}, code: 2, msgs: []string{`unknown collection ".."`}},
		{name: "collection-unicode-unknown", config: map[string]string{"QBACKUP_COLLECTIONS": "döcs-ünïcode"}, code: 2, msgs: []string{`unknown collection "döcs-ünïcode"`}},
		{name: "collection-256-bytes", config: map[string]string{"QBACKUP_COLLECTIONS": long}, code: 2, msgs: []string{`unknown collection "` + long + `"`}},
		// A fault rather than bad input: the API server unreachable when the
		// run starts (its in-cluster address pointed at a closed port). A
		// retry may cure it: exit 1, the Job retries.
		{name: "api-server-unreachable", config: map[string]string{"KUBERNETES_SERVICE_PORT": "1"}, code: 1, msgs: []string{"the Kubernetes API server at 127.0.0.1:1 did not answer", "a retry succeeds", "connection refused"}},
		{name: "rbac-no-list-pods", role: func(r *rbacv1.Role) {
			for i := range r.Rules {
				r.Rules[i].Verbs = without(r.Rules[i].Verbs, "list")
			}
		}, code: 2, msgs: []string{`cannot list resource "pods"`, "grant get and list on pods", "manifests/role.yaml"}},
	}
}

func without(s []string, v string) []string {
	var out []string
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// k8sFingerprint is what a refused Job or plugin command must leave as it
// was: every object and open upload in storage, every catalog row, the
// Qdrant cluster's collections, aliases, replicas and points, and the
// installed CronJobs.
func (ms *statefulMission) k8sFingerprint(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, k := range ms.st.keys(t) {
		fmt.Fprintf(&b, "s3 %s %s\n", k, sha256Hex(ms.st.read(t, k)))
	}
	fmt.Fprintf(&b, "s3 uploads %v\n", ms.st.uploads(t))
	b.WriteString(ms.cat.dump(t))
	b.WriteString(ms.sm.state(t))
	cjs, err := ms.cs.BatchV1().CronJobs(ms.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cj := range cjs.Items {
		fmt.Fprintf(&b, "cronjob %s %s %v\n", cj.Name, cj.Spec.Schedule, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args)
	}
	return b.String()
}

// badPod creates the case's ConfigMap, Secret and Role (copies of the
// installed ones, edited) and a Pod of the installed CronJob's Job
// template that uses them, as the job controller would create it. The
// cases run as Pods rather than Jobs: the shared test stack's job
// controller, under load, has left Jobs of a burst of thirty unstarted
// for minutes; what the Job controller does with each exit code is
// TestBackupJobRetriesOnlyWhatARetryCanCure's.
func (ms *statefulMission) badPod(t *testing.T, c jobBadCase) string {
	t.Helper()
	ctx := context.Background()
	name := "bad-" + c.name
	cj, err := ms.cs.BatchV1().CronJobs(ms.ns).Get(ctx, "qbackup", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tpl := cj.Spec.JobTemplate.Spec.Template.DeepCopy()
	spec := &tpl.Spec
	var envFrom []corev1.EnvFromSource
	for _, src := range spec.Containers[0].EnvFrom {
		switch {
		case src.ConfigMapRef != nil:
			cm, err := ms.cs.CoreV1().ConfigMaps(ms.ns).Get(ctx, src.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			data := edited(cm.Data, c.config)
			if _, err := ms.cs.CoreV1().ConfigMaps(ms.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			src.ConfigMapRef.Name = name
		case src.SecretRef != nil:
			if c.noSecret {
				src.SecretRef.Name = name + "-absent"
				break
			}
			sec, err := ms.cs.CoreV1().Secrets(ms.ns).Get(ctx, src.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			data := map[string]string{}
			for k, v := range sec.Data {
				data[k] = string(v)
			}
			if _, err := ms.cs.CoreV1().Secrets(ms.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: edited(data, c.secret)}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			src.SecretRef.Name = name
		}
		envFrom = append(envFrom, src)
	}
	spec.Containers[0].EnvFrom = envFrom
	if c.role != nil {
		spec.ServiceAccountName = ms.serviceAccountWithRole(t, name, spec.ServiceAccountName, c.role)
	}
	pod := &corev1.Pod{ObjectMeta: tpl.ObjectMeta, Spec: *spec}
	pod.Name = name
	if _, err := ms.cs.CoreV1().Pods(ms.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

func edited(in, edits map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		out[k] = v
	}
	for k, v := range edits {
		if v == unset {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// TestBadInputOnKubernetes runs the installed backup Job's pod with one
// thing wrong in its ConfigMap, Secret or RBAC per case, all at once, and
// kubectl qbackup with bad arguments, one after the other: each exits
// with its documented code, says what is wrong and what to do, and
// changes nothing in storage, the catalog, the Qdrant cluster or the
// installation.
func TestBadInputOnKubernetes(t *testing.T) {
	t.Parallel()
	ms := newStatefulMission(t, 6)
	if job, _ := ms.runJobFromCronJob(t, "qbackup-first"); !jobCondition(job, batchv1.JobComplete) {
		t.Fatalf("the backup job failed: %+v", job.Status)
	}
	before := ms.k8sFingerprint(t)

	t.Run("backup pods", func(t *testing.T) {
		var wg sync.WaitGroup
		for _, c := range jobBadCases(t, ms) {
			name := ms.badPod(t, c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ms.checkBadPod(t, name, c)
			}()
		}
		wg.Wait()
		if after := ms.k8sFingerprint(t); after != before {
			t.Errorf("the refused jobs changed something: %s", firstDiff(before, after))
		}
	})

	// kubectl qbackup, one case after the other, each checked on its own.
	long := strings.Repeat("r", 256)
	noCreateJobs := ms.serviceAccountWithRole(t, "operator-nocreate", "qbackup-operator", func(r *rbacv1.Role) {
		for i := range r.Rules {
			if slices.Contains(r.Rules[i].Resources, "jobs") {
				r.Rules[i].Verbs = without(r.Rules[i].Verbs, "create")
			}
		}
	})
	for _, c := range []struct {
		name string
		args []string
		code int
		msgs []string
	}{
		{"restore of an unknown backup id", []string{"restore", "20990101T000000Z-dead", "--yes", "--wait"}, exitUsage, []string{"backup 20990101T000000Z-dead", "no manifest", "list backups with"}},
		{"restore without a backup id", []string{"restore", "--yes"}, exitUsage, []string{"name the backup to restore: a backup id (see kubectl qbackup list) or latest"}},
		// The Job refuses in its preflight: the plugin exits with its code.
		{"restore over live collections", []string{"restore", "latest", "--yes", "--wait"}, exitClusterNotOK, []string{"failed (BackoffLimitExceeded): exit code 4", "exists (use --overwrite to replace it, or --rename to restore beside it)"}},
		{"restore renamed onto another restored collection", []string{"restore", "latest", "--rename=docs=images", "--yes", "--wait"}, exitUsage, []string{`"docs" and "images" would both be restored as "images"`}},
		{"restore renamed with a slash", []string{"restore", "latest", "--rename=docs=a/b", "--yes", "--wait"}, exitUsage, []string{`collection name "a/b" contains '/', which Qdrant does not allow`}},
		{"restore renamed with a control character", []string{"restore", "latest", "--rename=docs=a\x1fb", "--yes", "--wait"}, exitUsage, []string{"which Qdrant does not allow"}},
		{"restore renamed to 256 bytes", []string{"restore", "latest", "--rename=docs=" + long, "--yes", "--wait"}, exitUsage, []string{"is 256 characters long; Qdrant allows at most 255"}},
		{"backup by an operator who may not create jobs", []string{"backup", "--wait", "--as=system:serviceaccount:" + ms.ns + ":" + noCreateJobs}, exitFailed, []string{`cannot create resource "jobs"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := ms.k8sFingerprint(t)
			r := ms.plugin.run(t, append(c.args, ms.kflags...)...)
			t.Logf("exit %d: %s", r.code, lastLine(r.stderr))
			expect(t, r, c.code, c.msgs...)
			if after := ms.k8sFingerprint(t); after != before {
				t.Errorf("kubectl qbackup %s changed something: %s", strings.Join(c.args, " "), firstDiff(before, after))
			}
		})
	}

	// A fault rather than bad input, the restore side of the backup
	// pods' api-server-unreachable case: the restore Job's in-cluster
	// address of the API server points at a closed port. The Job is not
	// retried (a restore never is blindly): it fails with exit 1, saying
	// the restore did not start and to run it again, before it takes the
	// lock or touches Qdrant, though --overwrite would replace every
	// collection.
	t.Run("restore job with the API server unreachable", func(t *testing.T) {
		before := ms.k8sFingerprint(t)
		ms.setConfig(t, map[string]string{"KUBERNETES_SERVICE_PORT": "1"})
		t.Cleanup(func() { ms.unsetConfig(t, "KUBERNETES_SERVICE_PORT") })
		r := ms.plugin.run(t, append([]string{"restore", "latest", "--yes", "--overwrite", "--wait"}, ms.kflags...)...)
		t.Logf("exit %d: %s", r.code, lastLine(r.stderr))
		expect(t, r, exitFailed, "failed (BackoffLimitExceeded): exit code 1", "did not start and changed nothing",
			"run it again once the API server answers", "the Kubernetes API server at 127.0.0.1:1 did not answer", "connection refused")
		m := createdJob.FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("kubectl qbackup restore did not name its Job:\n%s", r)
		}
		if job := ms.jobDone(t, m[1], 30*time.Second); job.Status.Failed != 1 || job.Status.Succeeded != 0 {
			t.Errorf("restore job %+v: want one failed pod, no retry", job.Status)
		}
		if h := ms.cat.leaseHolder(t, devCluster); h != "" {
			t.Errorf("the lock is held by %s", h)
		}
		if after := ms.k8sFingerprint(t); after != before {
			t.Errorf("the restore that could not reach the API server changed something: %s", firstDiff(before, after))
		}
	})

	// No Ready Qdrant pod: the StatefulSet scaled to 0.
	t.Run("restore with no Ready pods", func(t *testing.T) {
		restoreJobs := func() int {
			jobs, err := ms.cs.BatchV1().Jobs(ms.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=restore"})
			if err != nil {
				t.Fatal(err)
			}
			return len(jobs.Items)
		}
		jobs := restoreJobs()
		ms.scaleQdrant(t, 0)
		r := ms.plugin.run(t, append([]string{"restore", "latest", "--yes", "--overwrite"}, ms.kflags...)...)
		t.Logf("exit %d: %s", r.code, lastLine(r.stderr))
		expect(t, r, exitClusterNotOK, "no Ready pods")
		if n := restoreJobs(); n != jobs {
			t.Errorf("the refused restore created %d jobs", n-jobs)
		}
		ms.scaleQdrant(t, 3)
		// The peers come back with their data; their replicas turn Dead
		// while down and recover.
		eventually(t, 60*time.Second, "every replica Active again", func() bool {
			for c := range ms.want.points {
				for _, r := range ms.sm.replicas(t, c) {
					if r.State != "Active" {
						return false
					}
				}
			}
			return true
		})
	})
	if after := ms.k8sFingerprint(t); after != before {
		t.Errorf("the bad input changed something: %s", firstDiff(before, after))
	}
}

// checkBadPod waits for the case's pod to end and checks its exit code
// and termination message.
func (ms *statefulMission) checkBadPod(t *testing.T, name string, c jobBadCase) {
	var term *corev1.ContainerStateTerminated
	var last *corev1.Pod
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline) && term == nil; time.Sleep(250 * time.Millisecond) {
		p, err := ms.cs.CoreV1().Pods(ms.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		last = p
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			for _, cs := range p.Status.ContainerStatuses {
				term = cs.State.Terminated
			}
		}
	}
	if term == nil {
		t.Errorf("%s: the pod did not end within 90s: %+v", c.name, last)
		return
	}
	msg := messageText(term.Message)
	t.Logf("%s: exit %d: %s", c.name, term.ExitCode, msg)
	if term.ExitCode != c.code {
		t.Errorf("%s: exit %d, want %d; message:\n%s", c.name, term.ExitCode, c.code, msg)
	}
	for _, m := range c.msgs {
		if !strings.Contains(msg, m) {
			t.Errorf("%s: the termination message does not say %q:\n%s", c.name, m, msg)
		}
	}
}

// messageText is a termination message as a user reads it: the JSON log
// records (QBACKUP_LOG_FORMAT=json) as their message and error, other
// lines as they are.
func messageText(m string) string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(m), "\n") {
		var rec struct{ Msg, Error string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg != "" {
			line = strings.TrimSpace(rec.Msg + ": " + rec.Error)
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
