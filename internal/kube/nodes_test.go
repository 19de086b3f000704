package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

var qdrantLabels = map[string]string{"app.kubernetes.io/name": "qdrant"}

func qdrantPod(name string, ready bool) *corev1.Pod {
	status := corev1.ConditionTrue
	if !ready {
		status = corev1.ConditionFalse
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "qdrant", Labels: qdrantLabels},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func statefulSet(replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "qdrant", Namespace: "qdrant"},
		Spec: appsv1.StatefulSetSpec{Replicas: &replicas,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: qdrantLabels}}},
	}
}

func TestNodeCountCheck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		objects   []runtime.Object
		wantReady int
		wantErr   string
	}{
		{name: "all ready, statefulset agrees", objects: []runtime.Object{qdrantPod("qdrant-0", true), qdrantPod("qdrant-1", true), statefulSet(2)}, wantReady: 2},
		{name: "all ready, no statefulset", objects: []runtime.Object{qdrantPod("qdrant-0", true)}, wantReady: 1},
		{name: "one not ready", objects: []runtime.Object{qdrantPod("qdrant-0", true), qdrantPod("qdrant-1", false), statefulSet(2)}, wantReady: 1,
			wantErr: "qdrant-1 (Running, not Ready)"},
		{name: "statefulset wants more", objects: []runtime.Object{qdrantPod("qdrant-0", true), statefulSet(3)}, wantReady: 1,
			wantErr: "StatefulSet qdrant wants 3 replicas"},
		{name: "no pods", wantErr: "no Ready pods"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(tc.objects...)
			n, err := CountNodes(context.Background(), cs, "qdrant", "app.kubernetes.io/name=qdrant")
			if err != nil {
				t.Fatal(err)
			}
			if len(n.Ready) != tc.wantReady {
				t.Errorf("ready %v, want %d", n.Ready, tc.wantReady)
			}
			err = n.Check()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNodeCount) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("check: %v, want ErrNodeCount mentioning %q", err, tc.wantErr)
			}
		})
	}
}
