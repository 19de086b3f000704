package nodeagent

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// configError is a container configuration the kubelet cannot start
// from: the container stays Waiting with reason CreateContainerConfigError
// and this message, and the start is retried.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// serviceEnv are the variables of the "kubernetes" Service every container
// gets (kubelet getServiceEnvVarMap), pointing at the stack's API server.
func serviceEnv(host, port string) map[string]string {
	hp := net.JoinHostPort(host, port)
	return map[string]string{
		"KUBERNETES_SERVICE_HOST":                host,
		"KUBERNETES_SERVICE_PORT":                port,
		"KUBERNETES_SERVICE_PORT_HTTPS":          port,
		"KUBERNETES_PORT":                        "tcp://" + hp,
		"KUBERNETES_PORT_" + port + "_TCP":       "tcp://" + hp,
		"KUBERNETES_PORT_" + port + "_TCP_PROTO": "tcp",
		"KUBERNETES_PORT_" + port + "_TCP_PORT":  port,
		"KUBERNETES_PORT_" + port + "_TCP_ADDR":  host,
	}
}

// containerEnv resolves a container's environment as the kubelet does
// (kubelet_pods.go makeEnvironmentVariables): envFrom in order, then env
// in order with $(VAR) expansion over what is defined so far and the
// service variables, then the service variables that nothing overrode.
// A missing non-optional ConfigMap, Secret or key is a *configError with
// the kubelet's message.
func containerEnv(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, c *corev1.Container, svc map[string]string) (map[string]string, error) {
	ns := pod.Namespace
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) {
					if optional(from.ConfigMapRef.Optional) {
						continue
					}
					return nil, configErrorf("configmap %q not found", from.ConfigMapRef.Name)
				}
				return nil, fmt.Errorf("get configmap %s/%s: %w", ns, from.ConfigMapRef.Name, err)
			}
			data = cm.Data
		case from.SecretRef != nil:
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) {
					if optional(from.SecretRef.Optional) {
						continue
					}
					return nil, configErrorf("secret %q not found", from.SecretRef.Name)
				}
				return nil, fmt.Errorf("get secret %s/%s: %w", ns, from.SecretRef.Name, err)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
			for k, v := range s.StringData {
				data[k] = v
			}
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := from.Prefix + k
			// The kubelet skips keys that are not valid variable names
			// (and records an event saying so).
			if len(validation.IsEnvVarName(name)) != 0 {
				continue
			}
			env[name] = data[k]
		}
	}
	lookup := func(name string) (string, bool) {
		if v, ok := env[name]; ok {
			return v, true
		}
		v, ok := svc[name]
		return v, ok
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = expand(e.Value, lookup)
			continue
		}
		v, ok, err := valueFrom(ctx, cs, pod, e.ValueFrom)
		if err != nil {
			return nil, err
		}
		if ok {
			env[e.Name] = v
		}
	}
	for k, v := range svc {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	return env, nil
}

func optional(b *bool) bool { return b != nil && *b }

// valueFrom resolves one env var source; ok is false for an optional
// reference that is missing (the variable is then not set).
func valueFrom(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, src *corev1.EnvVarSource) (string, bool, error) {
	ns := pod.Namespace
	switch {
	case src.FieldRef != nil:
		v, err := fieldValue(pod, src.FieldRef.FieldPath)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				if optional(ref.Optional) {
					return "", false, nil
				}
				return "", false, configErrorf("configmap %q not found", ref.Name)
			}
			return "", false, fmt.Errorf("get configmap %s/%s: %w", ns, ref.Name, err)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional(ref.Optional) {
			return "", false, nil
		}
		return "", false, configErrorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, ns, ref.Name)
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				if optional(ref.Optional) {
					return "", false, nil
				}
				return "", false, configErrorf("secret %q not found", ref.Name)
			}
			return "", false, fmt.Errorf("get secret %s/%s: %w", ns, ref.Name, err)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional(ref.Optional) {
			return "", false, nil
		}
		return "", false, configErrorf("couldn't find key %s in Secret %s/%s", ref.Key, ns, ref.Name)
	case src.ResourceFieldRef != nil:
		return "", false, configErrorf("resourceFieldRef %s is not supported by the test node agent", src.ResourceFieldRef.Resource)
	}
	return "", false, configErrorf("env var source with no reference")
}

// fieldValue is the downward API value of path (kubelet
// podFieldSelectorRuntimeValue and fieldpath.ExtractFieldPathAsString).
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs":
		// Pods share the node's address: their processes run on it.
		return nodeIP, nil
	}
	for _, p := range []struct {
		prefix string
		m      map[string]string
	}{{"metadata.labels", pod.Labels}, {"metadata.annotations", pod.Annotations}} {
		if path == p.prefix {
			return formatMap(p.m), nil
		}
		if rest, ok := strings.CutPrefix(path, p.prefix+"['"); ok && strings.HasSuffix(rest, "']") {
			return p.m[strings.TrimSuffix(rest, "']")], nil
		}
	}
	return "", configErrorf("unsupported fieldPath %q", path)
}

// formatMap renders labels or annotations as the downward API volume
// does: key="value" lines, sorted.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return strings.TrimSuffix(b.String(), "\n")
}
