package kube

import (
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// The downward API fields an indexed backup worker reads.
const (
	// JobUIDLabel is on every pod of a Job: the Job's uid, the set id all
	// its workers share.
	JobUIDLabel = "batch.kubernetes.io/controller-uid"
	// IndexFailureCountAnnotation is on every pod of a Job with
	// backoffLimitPerIndex: how often its index failed before.
	IndexFailureCountAnnotation = "batch.kubernetes.io/job-index-failure-count"
)

// DefaultWorkerRetries is the backoffLimitPerIndex of an indexed backup:
// the retries a single backup Job gets.
const DefaultWorkerRetries = 2

// MakeIndexedBackup turns a backup Job into an Indexed Job of workers
// pods, one backup worker each (qbackup backup --workers): indexes
// 0..workers-1, all running at once, each retried on its own up to
// retries times; one index failing for good fails the Job, whose other
// pods are then stopped. The workers share the Job's uid as their set id.
// A Job already indexed (the indexed-backup component) gets the new
// counts.
func MakeIndexedBackup(job *batchv1.Job, workers, retries int) error {
	if workers < 1 {
		return fmt.Errorf("indexed backup job: %d workers: want at least 1", workers)
	}
	if retries < 0 {
		return fmt.Errorf("indexed backup job: %d retries: want 0 or more", retries)
	}
	i, err := qbackupContainer(job.Spec.Template.Spec.Containers)
	if err != nil {
		return fmt.Errorf("job %s: %w", job.Name, err)
	}
	n, r, none := int32(workers), int32(retries), int32(0)
	mode := batchv1.IndexedCompletion
	s := &job.Spec
	s.CompletionMode = &mode
	s.Completions, s.Parallelism = &n, &n
	// Per index, not overall (the API refuses neither, but the overall
	// limit would count every index's failures together).
	s.BackoffLimit = nil
	s.BackoffLimitPerIndex = &r
	s.MaxFailedIndexes = &none
	c := &job.Spec.Template.Spec.Containers[i]
	setEnv(c, corev1.EnvVar{Name: "QBACKUP_WORKERS", Value: strconv.Itoa(workers)})
	setEnv(c, corev1.EnvVar{Name: "QBACKUP_WORKER_RETRIES", Value: strconv.Itoa(retries)})
	setEnv(c, corev1.EnvVar{Name: "QBACKUP_SET_ID", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['" + JobUIDLabel + "']"}}})
	setEnv(c, corev1.EnvVar{Name: "QBACKUP_WORKER_FAILURES", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['" + IndexFailureCountAnnotation + "']"}}})
	return nil
}

// setEnv sets one variable of c, replacing one of the same name.
func setEnv(c *corev1.Container, v corev1.EnvVar) {
	for k := range c.Env {
		if c.Env[k].Name == v.Name {
			c.Env[k] = v
			return
		}
	}
	c.Env = append(c.Env, v)
}
