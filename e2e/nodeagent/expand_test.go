package nodeagent

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestExpandAsTheKubelet(t *testing.T) {
	vars := map[string]string{"A": "alpha", "B": "$(A)", "EMPTY": ""}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "alpha"},
		{"x-$(A)-$(A)", "x-alpha-alpha"},
		{"$(B)", "$(A)"}, // values are not expanded again
		{"$(MISSING)", "$(MISSING)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$alpha"},
		{"$(EMPTY)x", "x"},
		{"$A", "$A"},
		{"end$", "end$"},
		{"$(A", "$(A"},
		{"$()", "$()"},
	}
	for _, tt := range tests {
		if got := expand(tt.in, lookup); got != tt.want {
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTailKeepsTheLastLinesAndBytes(t *testing.T) {
	tests := []struct {
		in           string
		lines, bytes int
		want         string
	}{
		{"a\nb\nc\n", 2, 100, "b\nc"},
		{"a\nb\nc", 5, 100, "a\nb\nc"},
		{"a\nb\nc\n", 1, 100, "c"},
		{"hello world\n", 5, 5, "world"},
		{"", 3, 10, ""},
	}
	for _, tt := range tests {
		if got := tail([]byte(tt.in), tt.lines, tt.bytes); got != tt.want {
			t.Errorf("tail(%q, %d, %d) = %q, want %q", tt.in, tt.lines, tt.bytes, got, tt.want)
		}
	}
}

func TestContainerEnvResolvesAsTheKubelet(t *testing.T) {
	yes := true
	cs := fake.NewSimpleClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}, Data: map[string]string{"K": "from-cm", "1BAD": "skipped"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "ns"}, Data: map[string][]byte{"K": []byte("from-secret"), "P": []byte("pw")}},
	)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"app": "x"}}}
	ref := func(name string) corev1.LocalObjectReference { return corev1.LocalObjectReference{Name: name} }
	tests := []struct {
		name    string
		c       corev1.Container
		want    map[string]string
		absent  []string
		wantErr string
	}{
		{
			name: "later sources override earlier ones and env overrides envFrom",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: ref("cm")}},
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: ref("sec")}, Prefix: "S_"}},
				Env: []corev1.EnvVar{{Name: "X", Value: "$(K)/$(S_P)/$(KUBERNETES_SERVICE_PORT)"},
					{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}}},
			},
			want:   map[string]string{"K": "from-cm", "S_K": "from-secret", "X": "from-cm/pw/6443", "APP": "x", "KUBERNETES_SERVICE_HOST": "127.0.0.1"},
			absent: []string{"1BAD"},
		},
		{
			name: "an optional missing secret and key set nothing",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: ref("nope"), Optional: &yes}}},
				Env:     []corev1.EnvVar{{Name: "Y", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: ref("sec"), Key: "NOPE", Optional: &yes}}}},
			},
			absent: []string{"Y"},
		},
		{
			name:    "a missing secret",
			c:       corev1.Container{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: ref("nope")}}}},
			wantErr: `secret "nope" not found`,
		},
		{
			name:    "a missing configmap key",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "Y", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: ref("cm"), Key: "NOPE"}}}}},
			wantErr: "couldn't find key NOPE in ConfigMap ns/cm",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := containerEnv(context.Background(), cs, pod, &tt.c, serviceEnv("127.0.0.1", "6443"))
			if tt.wantErr != "" {
				var ce *configError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !asConfigError(err, &ce) {
					t.Fatalf("err %v, want a configError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := env[k]; ok {
					t.Errorf("%s is set", k)
				}
			}
		})
	}
}

func asConfigError(err error, target **configError) bool {
	ce, ok := err.(*configError)
	*target = ce
	return ok
}
