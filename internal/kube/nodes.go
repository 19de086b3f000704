package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// ErrNodeCount marks a node-count check that failed: the restore would
// land on a cluster that is not the size it should be.
var ErrNodeCount = errors.New("node count check failed")

// NodeCount is what the plugin sees of the Qdrant pods before a restore.
type NodeCount struct {
	Namespace, Selector string
	// Ready are the Running and Ready pods, by name.
	Ready []string
	// NotReady are the other matching pods, with why.
	NotReady []string
	// StatefulSet is the StatefulSet whose pod selector the selector
	// matches, if any, and Replicas its desired replicas.
	StatefulSet string
	Replicas    int32
}

// Expected is the pod count the cluster should have: the StatefulSet's
// replicas when one matches, else every pod the selector matched.
func (n NodeCount) Expected() int {
	if n.StatefulSet != "" {
		return int(n.Replicas)
	}
	return len(n.Ready) + len(n.NotReady)
}

// Check refuses a restore onto a cluster whose Ready pods are not all the
// pods it should have: a restore plans shard placement from the pods, so
// a pod that is down or still starting would be left out of it.
func (n NodeCount) Check() error {
	where := fmt.Sprintf("pods in namespace %q with selector %q", n.Namespace, n.Selector)
	if len(n.Ready) == 0 {
		return fmt.Errorf("no Ready %s%s: %w", where, notReadySuffix(n.NotReady), ErrNodeCount)
	}
	if len(n.Ready) == n.Expected() && len(n.NotReady) == 0 {
		return nil
	}
	want := fmt.Sprintf("%d matching pods", n.Expected())
	if n.StatefulSet != "" {
		want = fmt.Sprintf("StatefulSet %s wants %d replicas", n.StatefulSet, n.Replicas)
	}
	return fmt.Errorf("%d Ready %s, but %s%s; wait until every pod is Ready (kubectl get pods -n %s -l %s), or pass --allow-node-mismatch: %w",
		len(n.Ready), where, want, notReadySuffix(n.NotReady), n.Namespace, n.Selector, ErrNodeCount)
}

func notReadySuffix(notReady []string) string {
	if len(notReady) == 0 {
		return ""
	}
	return "; not Ready: " + strings.Join(notReady, ", ")
}

// CountNodes lists the pods matching selector in namespace and the
// StatefulSet that owns them, if one's pod selector is matched by it.
func CountNodes(ctx context.Context, cs kubernetes.Interface, namespace, selector string) (NodeCount, error) {
	n := NodeCount{Namespace: namespace, Selector: selector}
	sel, err := labels.Parse(selector)
	if err != nil {
		return n, fmt.Errorf("--selector %q: %w", selector, err)
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return n, fmt.Errorf("list pods in namespace %q with selector %q: %w", namespace, selector, err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if reason := notReady(p); reason != "" {
			n.NotReady = append(n.NotReady, p.Name+" ("+reason+")")
			continue
		}
		n.Ready = append(n.Ready, p.Name)
	}
	slices.Sort(n.Ready)
	slices.Sort(n.NotReady)
	sets, err := cs.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return n, fmt.Errorf("list statefulsets in namespace %q: %w", namespace, err)
	}
	for i := range sets.Items {
		if matches(sel, &sets.Items[i]) {
			n.StatefulSet = sets.Items[i].Name
			n.Replicas = 1
			if r := sets.Items[i].Spec.Replicas; r != nil {
				n.Replicas = *r
			}
			break
		}
	}
	return n, nil
}

// matches reports whether the StatefulSet's pods carry the labels the
// selector asks for.
func matches(sel labels.Selector, set *appsv1.StatefulSet) bool {
	return !sel.Empty() && sel.Matches(labels.Set(set.Spec.Template.Labels))
}

// notReady is "" for a Running, Ready pod that is not terminating.
func notReady(p *corev1.Pod) string {
	switch {
	case p.DeletionTimestamp != nil:
		return "Terminating"
	case p.Status.Phase != corev1.PodRunning:
		if p.Status.Phase == "" {
			return "no phase yet"
		}
		return string(p.Status.Phase)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			if c.Status == corev1.ConditionTrue {
				return ""
			}
			return "Running, not Ready"
		}
	}
	return "Running, no Ready condition"
}
