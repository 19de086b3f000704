package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ReportingController names qbackup as the author of its Events.
const ReportingController = "qbackup.io/qbackup"

// maxNote is the API server's limit on an Event's note.
const maxNote = 1024

// JobEvents records Events about the Job a run's pod belongs to, so
// `kubectl describe job` and `kubectl get events` show when a backup or
// restore started and how it ended, beside the Job controller's own.
type JobEvents struct {
	cs        kubernetes.Interface
	ns        string
	regarding corev1.ObjectReference
	related   *corev1.ObjectReference
	instance  string
}

// NewJobEvents finds the Job that owns pod in namespace ns; a pod that no
// Job owns (run by hand) gets the Events itself.
func NewJobEvents(ctx context.Context, cs kubernetes.Interface, ns, pod string) (*JobEvents, error) {
	p, err := cs.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("find the pod %s of this run in namespace %s: %w", pod, ns, err)
	}
	podRef := corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: p.Name, UID: p.UID}
	e := &JobEvents{cs: cs, ns: ns, regarding: podRef, instance: pod}
	for _, o := range p.OwnerReferences {
		if o.Kind == "Job" {
			e.regarding = corev1.ObjectReference{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: ns, Name: o.Name, UID: o.UID}
			e.related = &podRef
		}
	}
	return e, nil
}

// Regarding is the object the Events are about.
func (e *JobEvents) Regarding() corev1.ObjectReference { return e.regarding }

// Emit records one Event. warning marks a failure; action is what the run
// does (Backup, Restore).
func (e *JobEvents) Emit(ctx context.Context, warning bool, reason, action, note string) error {
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	if len(note) > maxNote {
		note = note[:maxNote-3] + "..."
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%s", e.regarding.Name, hex.EncodeToString(suffix)), Namespace: e.ns},
		EventTime:           metav1.NewMicroTime(time.Now()),
		ReportingController: ReportingController,
		ReportingInstance:   e.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           e.regarding,
		Related:             e.related,
		Note:                note,
		Type:                typ,
	}
	if _, err := e.cs.EventsV1().Events(e.ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("record event %s on %s/%s: %w", reason, e.regarding.Kind, e.regarding.Name, err)
	}
	return nil
}
