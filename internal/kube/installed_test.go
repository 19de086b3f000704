package kube

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestReadInstalled(t *testing.T) {
	optional := true
	cm := func(name string, data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "qdrant"}, Data: data}
	}
	withEnv := func(c corev1.Container) *batchv1.CronJob {
		cj := installedCronJob(t)
		cj.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{c}
		return cj
	}
	for _, tc := range []struct {
		name    string
		objects []any
		want    map[string]string
		wantErr string
	}{
		{
			name:    "nothing installed",
			wantErr: `qbackup is not installed in namespace "qdrant" (no cronjob/qbackup)`,
		},
		{
			name:    "the installed cronjob and its configmap",
			objects: []any{installedCronJob(t), cm("qbackup-config", map[string]string{"QBACKUP_STORAGE": "s3://b/p", "QBACKUP_CLUSTER": "prod"})},
			// The manifest's one literal env value comes along.
			want: map[string]string{"QBACKUP_STORAGE": "s3://b/p", "QBACKUP_CLUSTER": "prod", "QBACKUP_TERMINATION_LOG": "/run/qbackup/termination-log"},
		},
		{
			name: "later sources win, prefixes apply, literal env last, optional missing skipped, secrets unread",
			objects: []any{withEnv(corev1.Container{Name: "qbackup",
				EnvFrom: []corev1.EnvFromSource{
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "a"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "b"}}},
					{Prefix: "X_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "a"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: &optional}},
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "qbackup-secrets"}}},
				},
				Env: []corev1.EnvVar{{Name: "QBACKUP_CLUSTER", Value: "literal"}, {Name: "FROM_FIELD", ValueFrom: &corev1.EnvVarSource{}}},
			}), cm("a", map[string]string{"QBACKUP_STORAGE": "s3://a/a", "QBACKUP_CLUSTER": "a"}), cm("b", map[string]string{"QBACKUP_STORAGE": "s3://b/b"})},
			want: map[string]string{"QBACKUP_STORAGE": "s3://b/b", "QBACKUP_CLUSTER": "literal", "X_QBACKUP_STORAGE": "s3://a/a", "X_QBACKUP_CLUSTER": "a"},
		},
		{
			name:    "a required configmap missing",
			objects: []any{installedCronJob(t)},
			wantErr: `read configmap/qbackup-config (configuration of cronjob/qbackup in namespace qdrant)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			for _, o := range tc.objects {
				var err error
				switch o := o.(type) {
				case *batchv1.CronJob:
					_, err = cs.BatchV1().CronJobs("qdrant").Create(context.Background(), o, metav1.CreateOptions{})
				case *corev1.ConfigMap:
					_, err = cs.CoreV1().ConfigMaps("qdrant").Create(context.Background(), o, metav1.CreateOptions{})
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			in, err := ReadInstalled(context.Background(), cs, "qdrant")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if tc.name == "nothing installed" && !errors.Is(err, ErrNotInstalled) {
					t.Errorf("err %v does not match ErrNotInstalled", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(in.Values, tc.want) {
				t.Errorf("values %v, want %v", in.Values, tc.want)
			}
		})
	}
}
