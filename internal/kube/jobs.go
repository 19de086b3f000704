package kube

import (
	"context"
	"fmt"
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// JobSelector selects every Job of an installation: scheduled and manual
// backups and restores carry it through their templates.
const JobSelector = "app.kubernetes.io/name=qbackup"

// ComponentLabel says whether a Job backs up or restores.
const ComponentLabel = "app.kubernetes.io/component"

// JobSummary is one of an installation's Jobs, as status lists them.
type JobSummary struct {
	JobState
	Component string      `json:"component"`
	Created   metav1.Time `json:"created"`
}

// ListJobs returns the installation's Jobs, newest first, with their
// state.
func ListJobs(ctx context.Context, cs kubernetes.Interface, ns string) ([]JobSummary, error) {
	jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: JobSelector})
	if err != nil {
		return nil, fmt.Errorf("list qbackup jobs in namespace %s: %w", ns, err)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: JobSelector})
	if err != nil {
		return nil, fmt.Errorf("list qbackup pods in namespace %s: %w", ns, err)
	}
	byJob := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		byJob[p.Labels["job-name"]] = append(byJob[p.Labels["job-name"]], p)
	}
	out := make([]JobSummary, 0, len(jobs.Items))
	for i := range jobs.Items {
		j := &jobs.Items[i]
		out = append(out, JobSummary{JobState: jobState(j, byJob[j.Name]), Component: j.Labels[ComponentLabel], Created: j.CreationTimestamp})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[j].Created.Before(&out[i].Created) })
	return out, nil
}

// LatestJob is the name of the installation's newest Job.
func LatestJob(ctx context.Context, cs kubernetes.Interface, ns string) (string, error) {
	jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: JobSelector})
	if err != nil {
		return "", fmt.Errorf("list qbackup jobs in namespace %s: %w", ns, err)
	}
	var newest *batchv1.Job
	for i := range jobs.Items {
		if j := &jobs.Items[i]; newest == nil || newest.CreationTimestamp.Before(&j.CreationTimestamp) {
			newest = j
		}
	}
	if newest == nil {
		return "", fmt.Errorf("no qbackup job in namespace %s: start one with kubectl qbackup backup, or name the namespace with -n", ns)
	}
	return newest.Name, nil
}
