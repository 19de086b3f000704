package kube

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMakeIndexedBackup(t *testing.T) {
	two := int32(2)
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "qbackup-manual-1"}, Spec: batchv1.JobSpec{
		BackoffLimit: &two,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "qbackup",
			Env: []corev1.EnvVar{{Name: "QBACKUP_TERMINATION_LOG", Value: "/run/qbackup/termination-log"}, {Name: "QBACKUP_WORKERS", Value: "3"}}}}}},
	}}
	if err := MakeIndexedBackup(job, 4, 1); err != nil {
		t.Fatal(err)
	}
	s := job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion || *s.Completions != 4 || *s.Parallelism != 4 {
		t.Fatalf("mode %v completions %v parallelism %v, want Indexed 4 4", s.CompletionMode, s.Completions, s.Parallelism)
	}
	if s.BackoffLimit != nil || *s.BackoffLimitPerIndex != 1 || *s.MaxFailedIndexes != 0 {
		t.Fatalf("backoffLimit %v perIndex %v maxFailedIndexes %v", s.BackoffLimit, *s.BackoffLimitPerIndex, *s.MaxFailedIndexes)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range s.Template.Spec.Containers[0].Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s set twice", e.Name)
		}
		env[e.Name] = e
	}
	if env["QBACKUP_WORKERS"].Value != "4" || env["QBACKUP_WORKER_RETRIES"].Value != "1" || env["QBACKUP_TERMINATION_LOG"].Value == "" {
		t.Errorf("env %v", env)
	}
	if f := env["QBACKUP_SET_ID"].ValueFrom; f == nil || f.FieldRef.FieldPath != "metadata.labels['batch.kubernetes.io/controller-uid']" {
		t.Errorf("QBACKUP_SET_ID from %v", f)
	}
	if f := env["QBACKUP_WORKER_FAILURES"].ValueFrom; f == nil || f.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-index-failure-count']" {
		t.Errorf("QBACKUP_WORKER_FAILURES from %v", f)
	}
	for _, bad := range [][2]int{{0, 1}, {2, -1}} {
		if err := MakeIndexedBackup(job.DeepCopy(), bad[0], bad[1]); err == nil {
			t.Errorf("workers %d retries %d accepted", bad[0], bad[1])
		}
	}
}
