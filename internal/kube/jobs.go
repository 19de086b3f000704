package kube

import (
	"context"
	"fmt"
	"sort"
	"time"

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
	// deadline is the Job's activeDeadlineSeconds (0: none).
	deadline time.Duration
}

// IsQuery says that the Job is a preview's query (the peers query of the
// restore and rebalance previews): read-only, read and deleted by the
// plugin that made it within its deadline. It is no backup, restore or
// rebalance, so status does not list it as one and logs latest never
// picks it.
func (j JobSummary) IsQuery() bool { return IsQueryComponent(j.Component) }

// IsQueryComponent says that a Job of this component label is a query.
func IsQueryComponent(component string) bool { return component == PeersComponent }

// queryGrace is how long past its deadline a query Job may exist before
// it counts as left over: the plugin deletes it at once when it stops
// waiting (within 10 s), so anything later is a plugin that died or a
// Role without delete on jobs.
const queryGrace = 30 * time.Second

// Leftover says that a query Job has outlived the preview that made it:
// the preview waits at most the Job's deadline and then deletes it, so
// nobody will read it. Its ttl removes it 5 minutes after it ended (if
// the ttl controller runs); deleting it is safe.
func (j JobSummary) Leftover(now time.Time) bool {
	return j.IsQuery() && now.Sub(j.Created.Time) > j.deadline+queryGrace
}

// SplitQueries separates the operations (backup, restore, verify,
// rebalance Jobs) from the query Jobs left over at now; query Jobs a
// preview may still be reading are in neither.
func SplitQueries(jobs []JobSummary, now time.Time) (ops, leftovers []JobSummary) {
	ops = make([]JobSummary, 0, len(jobs)) // a JSON array even when empty
	for _, j := range jobs {
		switch {
		case !j.IsQuery():
			ops = append(ops, j)
		case j.Leftover(now):
			leftovers = append(leftovers, j)
		}
	}
	return ops, leftovers
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
		sum := JobSummary{JobState: jobState(j, byJob[j.Name]), Component: j.Labels[ComponentLabel], Created: j.CreationTimestamp}
		if d := j.Spec.ActiveDeadlineSeconds; d != nil {
			sum.deadline = time.Duration(*d) * time.Second
		}
		out = append(out, sum)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[j].Created.Before(&out[i].Created) })
	return out, nil
}

// LatestJob is the name of the installation's newest backup, restore,
// verify or rebalance Job: never a preview's query Job, which a preview
// may have created a moment ago. Of Jobs created in the same second the
// one whose name sorts last wins, so the answer does not depend on the
// order the API server lists them in.
func LatestJob(ctx context.Context, cs kubernetes.Interface, ns string) (string, error) {
	jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: JobSelector})
	if err != nil {
		return "", fmt.Errorf("list qbackup jobs in namespace %s: %w", ns, err)
	}
	var newest *batchv1.Job
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if IsQueryComponent(j.Labels[ComponentLabel]) {
			continue
		}
		if newest == nil || newest.CreationTimestamp.Before(&j.CreationTimestamp) ||
			(newest.CreationTimestamp.Equal(&j.CreationTimestamp) && j.Name > newest.Name) {
			newest = j
		}
	}
	if newest == nil {
		return "", fmt.Errorf("no backup, restore, verify or rebalance job in namespace %s: start one with kubectl qbackup backup, or name the namespace with -n", ns)
	}
	return newest.Name, nil
}
