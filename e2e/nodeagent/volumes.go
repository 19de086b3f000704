package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// mountError is a volume the kubelet could not set up: the container stays
// Waiting in ContainerCreating (the kubelet records a FailedMount event)
// and the setup is retried.
type mountError struct{ msg string }

func (e *mountError) Error() string { return e.msg }

// writeVolumes writes the content of every volume of pod into dir/<name>
// (files 0644, as the kubelet's default mode), one directory per volume.
func writeVolumes(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, dir string) error {
	for _, v := range pod.Spec.Volumes {
		vdir := filepath.Join(dir, v.Name)
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		files, err := volumeFiles(ctx, cs, pod, v)
		if err != nil {
			var me *mountError
			if asMountError(err, &me) {
				return &mountError{msg: fmt.Sprintf("MountVolume.SetUp failed for volume %q : %s", v.Name, me.msg)}
			}
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		for name, content := range files {
			p := filepath.Join(vdir, filepath.Clean("/"+name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
			if err := os.WriteFile(p, content, 0o644); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
	}
	return nil
}

func asMountError(err error, target **mountError) bool {
	me, ok := err.(*mountError)
	if ok {
		*target = me
	}
	return ok
}

func mountErrorf(format string, args ...any) error {
	return &mountError{msg: fmt.Sprintf(format, args...)}
}

// volumeFiles is what one volume holds: file path (relative) to content.
func volumeFiles(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, v corev1.Volume) (map[string][]byte, error) {
	switch {
	case v.EmptyDir != nil:
		return nil, nil
	case v.ConfigMap != nil:
		return configMapFiles(ctx, cs, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional)
	case v.Secret != nil:
		return secretFiles(ctx, cs, pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional)
	case v.Projected != nil:
		out := map[string][]byte{}
		for _, src := range v.Projected.Sources {
			var files map[string][]byte
			var err error
			switch {
			case src.ServiceAccountToken != nil:
				files, err = tokenFile(ctx, cs, pod, src.ServiceAccountToken)
			case src.ConfigMap != nil:
				files, err = configMapFiles(ctx, cs, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
			case src.Secret != nil:
				files, err = secretFiles(ctx, cs, pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional)
			case src.DownwardAPI != nil:
				files, err = downwardFiles(pod, src.DownwardAPI.Items)
			default:
				err = mountErrorf("projected source not supported by the test node agent")
			}
			if err != nil {
				return nil, err
			}
			for k, b := range files {
				out[k] = b
			}
		}
		return out, nil
	case v.DownwardAPI != nil:
		return downwardFiles(pod, v.DownwardAPI.Items)
	}
	return nil, mountErrorf("volume type not supported by the test node agent")
}

// tokenFile asks the TokenRequest API for a token bound to the pod, as
// the kubelet does for the kube-api-access projected volume.
func tokenFile(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (map[string][]byte, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tok, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, mountErrorf("failed to fetch token: serviceaccounts %q not found", sa)
		}
		return nil, fmt.Errorf("token request for service account %s/%s: %w", pod.Namespace, sa, err)
	}
	return map[string][]byte{src.Path: []byte(tok.Status.Token)}, nil
}

func configMapFiles(ctx context.Context, cs kubernetes.Interface, ns, name string, items []corev1.KeyToPath, opt *bool) (map[string][]byte, error) {
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			if optional(opt) {
				return nil, nil
			}
			return nil, mountErrorf("configmap %q not found", name)
		}
		return nil, fmt.Errorf("get configmap %s/%s: %w", ns, name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return pick(data, items, opt, "configmap")
}

func secretFiles(ctx context.Context, cs kubernetes.Interface, ns, name string, items []corev1.KeyToPath, opt *bool) (map[string][]byte, error) {
	s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			if optional(opt) {
				return nil, nil
			}
			return nil, mountErrorf("secret %q not found", name)
		}
		return nil, fmt.Errorf("get secret %s/%s: %w", ns, name, err)
	}
	return pick(s.Data, items, opt, "secret")
}

// pick maps keys to files: every key by its name, or only items.
func pick(data map[string][]byte, items []corev1.KeyToPath, opt *bool, kind string) (map[string][]byte, error) {
	out := map[string][]byte{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = v
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional(opt) {
				continue
			}
			// The kubelet's words for a configMap and a secret volume.
			if kind == "secret" {
				return nil, mountErrorf("references non-existent secret key: %s", it.Key)
			}
			return nil, mountErrorf("configmap references non-existent config key: %s", it.Key)
		}
		out[it.Path] = v
	}
	return out, nil
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, mountErrorf("downward API item %s: only fieldRef is supported by the test node agent", it.Path)
		}
		v, err := fieldValue(pod, it.FieldRef.FieldPath)
		if err != nil {
			return nil, mountErrorf("downward API item %s: %v", it.Path, err)
		}
		out[it.Path] = []byte(v)
	}
	return out, nil
}

// mountTarget checks that a volume mount path lies under /run (or
// /var/run, its link on the hosts the stack runs on): the container's
// private tmpfs there is the only place the agent can create mount points
// without changing the host's file system.
func mountTarget(path string) (string, error) {
	p := filepath.Clean(path)
	if rest, ok := strings.CutPrefix(p, "/var/run/"); ok {
		p = "/run/" + rest
	}
	if !strings.HasPrefix(p, "/run/") {
		return "", &configError{msg: fmt.Sprintf("volume mount path %s: the test node agent mounts volumes only under /run or /var/run", path)}
	}
	return p, nil
}
