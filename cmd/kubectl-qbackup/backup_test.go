package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/manifests"
)

// TestBackupWorkersRendersAnIndexedJob: --workers N makes the manual Job
// an Indexed Job of N pods; without it the Job is the CronJob's.
func TestBackupWorkersRendersAnIndexedJob(t *testing.T) {
	data, err := manifests.FS.ReadFile("cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cj batchv1.CronJob
	if err := yaml.UnmarshalStrict(data, &cj); err != nil {
		t.Fatal(err)
	}
	cj.Namespace = "qdrant"
	cs := fake.NewClientset(&cj)
	connect := func() (kubernetes.Interface, string, error) { return cs, "qdrant", nil }
	now := func() time.Time { return time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC) }

	render := func(args ...string) *batchv1.Job {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := runWith(context.Background(), append([]string{"backup", "--dry-run=client", "-o", "yaml"}, args...), &out, &errOut, connect, now); code != cli.ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		var job batchv1.Job
		if err := yaml.UnmarshalStrict(out.Bytes(), &job); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		return &job
	}
	plain := render()
	if plain.Spec.CompletionMode != nil || plain.Spec.BackoffLimit == nil {
		t.Fatalf("without --workers the Job changed: %+v", plain.Spec)
	}
	job := render("--workers=3")
	s := job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion || *s.Completions != 3 || *s.Parallelism != 3 ||
		s.BackoffLimitPerIndex == nil || *s.BackoffLimitPerIndex != kube.DefaultWorkerRetries {
		t.Fatalf("--workers=3: %+v", s)
	}
	if got := s.Template.Spec.Containers[0].Args; strings.Join(got, " ") != "backup --prune" {
		t.Errorf("args %v", got)
	}
	if job.Spec.Template.Spec.ServiceAccountName != plain.Spec.Template.Spec.ServiceAccountName {
		t.Error("the service account changed")
	}
	if jobs, _ := cs.BatchV1().Jobs("qdrant").List(context.Background(), metav1.ListOptions{}); len(jobs.Items) != 0 {
		t.Fatalf("a client dry run created %d jobs", len(jobs.Items))
	}
}
