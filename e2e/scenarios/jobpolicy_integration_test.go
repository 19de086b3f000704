//go:build integration

package scenarios

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qbackup/qbackup/internal/kube"
)

// TestBackupJobRetriesOnlyWhatARetryCanCure runs the installed CronJob's
// Job twice on the real Job controller: with S3 unreachable (exit 1, a
// failure a retry may cure) it is retried up to its backoff limit; with a
// malformed setting (exit 2) the pod failure policy fails it after one pod.
func TestBackupJobRetriesOnlyWhatARetryCanCure(t *testing.T) {
	t.Parallel()
	st, cat := newS3Store(t), newCatalog(t)
	in, _ := newInstallation(t, 9, st, map[string]string{
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

	for _, tc := range []struct {
		name     string
		setting  map[string]string
		exitCode int32
		pods     int
		reason   string
	}{
		{"s3 unreachable", map[string]string{"QBACKUP_S3_ENDPOINT": "http://127.0.0.1:1"}, 1, int(limit) + 1, "BackoffLimitExceeded"},
		{"malformed setting", map[string]string{"QBACKUP_CONCURRENCY": "0"}, 2, 1, "PodFailurePolicy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in.setConfig(t, tc.setting)
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
}

// setConfig merges values into the installed ConfigMap, as an operator
// editing it would.
func (in *installation) setConfig(t *testing.T, values map[string]string) {
	t.Helper()
	ctx := context.Background()
	cms, err := in.cs.CoreV1().ConfigMaps(in.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		if cm.Data["QBACKUP_STORAGE"] == "" {
			continue
		}
		for k, v := range values {
			cm.Data[k] = v
		}
		if _, err := in.cs.CoreV1().ConfigMaps(in.ns).Update(ctx, &cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("no qbackup ConfigMap installed")
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
