//go:build integration

package scenarios

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	catalogpkg "github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/lease"
)

// TestBackupJobRetriesOnlyWhatARetryCanCure runs the installed CronJob's
// Job on the real Job controller: with S3 unreachable (exit 1, a failure a
// retry may cure) it is retried up to its backoff limit; with a malformed
// setting (exit 2) or the cluster lock held by another run (exit 3) the
// pod failure policy fails it after one pod.
func TestBackupJobRetriesOnlyWhatARetryCanCure(t *testing.T) {
	t.Parallel()
	st, cat := newS3Store(t), newCatalog(t)
	in, sm := newInstallation(t, 9, st, map[string]string{
		"QBACKUP_CATALOG_DSN": cat.dsn, "AWS_ACCESS_KEY_ID": st.env_.AccessKey, "AWS_SECRET_ACCESS_KEY": st.env_.SecretKey,
	})
	cj, err := in.cs.BatchV1().CronJobs(in.ns).Get(context.Background(), "qbackup", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	limit := *cj.Spec.JobTemplate.Spec.BackoffLimit
	if limit < 1 {
		t.Fatalf("the backup job's backoffLimit is %d: nothing to retry", limit)
	}

	// holdLock takes the cluster lock as another run would, until the
	// case ends.
	holdLock := func(t *testing.T) {
		ctx := context.Background()
		// The ConfigMap as installed but for the lock.
		in.unsetConfig(t, "QBACKUP_CONCURRENCY")
		c, err := catalogpkg.Open(ctx, cat.dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := c.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		l, err := c.AcquireLease(ctx, lease.Name(devCluster), "restore-drill@operator", 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Release(context.Background()) })
	}
	for _, tc := range []struct {
		name     string
		setting  map[string]string
		setup    func(*testing.T)
		exitCode int32
		pods     int
		reason   string
	}{
		{"s3 unreachable", map[string]string{"QBACKUP_S3_ENDPOINT": "http://127.0.0.1:1"}, nil, 1, int(limit) + 1, "BackoffLimitExceeded"},
		{"malformed setting", map[string]string{"QBACKUP_CONCURRENCY": "0"}, nil, 2, 1, "PodFailurePolicy"},
		// Exit 3: another run holds the lock (held for ten minutes; the
		// installed wait of 3m is set to none so that the Job does not
		// wait it out). The pod (restartPolicy Never) is not restarted by
		// the node agent, and the pod failure policy fails the Job at its
		// first pod.
		{"lock held", map[string]string{"QBACKUP_S3_ENDPOINT": st.env_.Endpoint, "QBACKUP_LEASE_WAIT": "0s"}, holdLock, 3, 1, "PodFailurePolicy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in.setConfig(t, tc.setting)
			if tc.setup != nil {
				tc.setup(t)
			}
			name := "qbackup-manual-" + tc.name[:2]
			job := in.startJob(t, name)
			var done *batchv1.Job
			eventually(t, 3*time.Minute, "job "+name+" to fail", func() bool {
				j, err := in.cs.BatchV1().Jobs(in.ns).Get(context.Background(), job.Name, metav1.GetOptions{})
				if err == nil && jobCondition(j, batchv1.JobFailed) {
					done = j
					return true
				}
				return false
			})
			pods, err := in.cs.CoreV1().Pods(in.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + name})
			if err != nil {
				t.Fatal(err)
			}
			if len(pods.Items) != tc.pods {
				t.Errorf("%d pods ran, want %d", len(pods.Items), tc.pods)
			}
			for _, p := range pods.Items {
				if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Terminated == nil ||
					p.Status.ContainerStatuses[0].State.Terminated.ExitCode != tc.exitCode {
					t.Errorf("pod %s: %+v, want exit %d", p.Name, p.Status.ContainerStatuses, tc.exitCode)
				}
				// restartPolicy Never: the Job's retries are new pods,
				// never a container restarted in place.
				if p.Spec.RestartPolicy != corev1.RestartPolicyNever || p.Status.ContainerStatuses[0].RestartCount != 0 {
					t.Errorf("pod %s: restartPolicy %s, restartCount %d: want Never and no restart", p.Name, p.Spec.RestartPolicy, p.Status.ContainerStatuses[0].RestartCount)
				}
			}
			var reason string
			for _, c := range done.Status.Conditions {
				if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
					reason = c.Reason
				}
			}
			if reason != tc.reason {
				t.Errorf("job failed with reason %q, want %q", reason, tc.reason)
			}
		})
	}
	if keys := st.keys(t); len(keys) != 0 {
		t.Errorf("failed runs left objects in storage: %v", keys)
	}

	// A node drain evicts the running backup's pod: the API server marks
	// it DisruptionTarget, the node agent stops it with SIGTERM (exit
	// 130), and the pod failure policy's Ignore rule keeps it from
	// counting: the Job's new pod completes the backup, no failure
	// counted.
	t.Run("evicted", func(t *testing.T) {
		in.setConfig(t, map[string]string{"QBACKUP_S3_ENDPOINT": st.env_.Endpoint, "QBACKUP_LEASE_WAIT": "3m"})
		in.unsetConfig(t, "QBACKUP_CONCURRENCY")
		for _, p := range sm.c.Peers() {
			// Slow snapshots: the run is still going when it is evicted.
			p.SetFaults(qdrantsim.Faults{SnapshotDelay: duration(10 * time.Second)})
		}
		name := "qbackup-manual-evicted"
		in.startJob(t, name)
		pod := in.runningPod(t, name)
		// Evicted once the run is under way (it logged its start, after
		// discovery and the lock, and its snapshots take 10 s), not while
		// the process is still starting. A shard object in storage is too
		// late a sign: every shard's stream is opened at once, so with
		// one delay for all they end together and the run with them.
		eventually(t, 30*time.Second, "the backup's start in its log", func() bool {
			out, _ := in.agent.Logs(in.ns, pod.Name, "qbackup")
			return strings.Contains(out, `"backup started"`)
		})
		exit := in.exitOf(t, pod)
		err := in.cs.PolicyV1().Evictions(in.ns).Evict(context.Background(), &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: in.ns},
		})
		if err != nil {
			t.Fatalf("evict %s: %v", pod.Name, err)
		}
		term := <-exit
		for _, p := range sm.c.Peers() {
			p.ClearFaults()
		}
		if term == nil || term.ExitCode != exitInterrupted {
			t.Fatalf("the evicted pod's container: %+v, want exit %d", term, exitInterrupted)
		}
		job := in.jobDone(t, name, 2*time.Minute)
		if !jobCondition(job, batchv1.JobComplete) || job.Status.Failed != 0 || job.Status.Succeeded != 1 {
			t.Fatalf("job %+v: want complete by a second pod, the evicted one not counted as failed", job.Status)
		}
	})
}

// setConfig merges values into the installed ConfigMap, as an operator
// editing it would.
func (in *installation) setConfig(t *testing.T, values map[string]string) {
	t.Helper()
	in.editConfig(t, func(data map[string]string) {
		for k, v := range values {
			data[k] = v
		}
	})
}

// unsetConfig removes keys from the installed ConfigMap.
func (in *installation) unsetConfig(t *testing.T, keys ...string) {
	t.Helper()
	in.editConfig(t, func(data map[string]string) {
		for _, k := range keys {
			delete(data, k)
		}
	})
}

// editConfig edits the ConfigMap the installed CronJob's Jobs read (its
// name has kustomize's hash suffix; a test's copies of it may sit beside
// it).
func (in *installation) editConfig(t *testing.T, edit func(map[string]string)) {
	t.Helper()
	ctx := context.Background()
	cj, err := in.cs.BatchV1().CronJobs(in.ns).Get(ctx, "qbackup", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the installed CronJob: %v", err)
	}
	for _, src := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].EnvFrom {
		if src.ConfigMapRef == nil {
			continue
		}
		cm, err := in.cs.CoreV1().ConfigMaps(in.ns).Get(ctx, src.ConfigMapRef.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		edit(cm.Data)
		if _, err := in.cs.CoreV1().ConfigMaps(in.ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("the installed CronJob reads no ConfigMap")
}

// startJob creates a Job from the CronJob as `kubectl create job
// --from=cronjob/qbackup` does.
func (in *installation) startJob(t *testing.T, name string) *batchv1.Job {
	t.Helper()
	ctx := context.Background()
	cj, err := in.cs.BatchV1().CronJobs(in.ns).Get(ctx, "qbackup", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the installed CronJob: %v", err)
	}
	job, err := in.cs.BatchV1().Jobs(in.ns).Create(ctx, kube.JobFromCronJob(cj, name), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return job
}
