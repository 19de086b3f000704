package discovery

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrNoKubeConfig: there is no usable Kubernetes client configuration (no
// pod environment and no kubeconfig, or the named kubeconfig is unusable):
// the user must say where the cluster is.
var ErrNoKubeConfig = errors.New("no kubernetes configuration")

// KubeConfig returns a client configuration: from the kubeconfig file at
// path when given; else in-cluster (the pod's service-account token) when
// running in a pod; else the usual kubeconfig lookup ($KUBECONFIG,
// ~/.kube/config). It also returns the namespace that configuration
// implies (the pod's own namespace in-cluster, the context's namespace, or
// "default").
func KubeConfig(path string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	// Deferred loading falls back to the in-cluster configuration when no
	// kubeconfig is found and the pod environment is present.
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := cc.ClientConfig()
	if err != nil {
		if path != "" {
			return nil, "", fmt.Errorf("kubernetes client configuration from %s (check --kubeconfig or KUBECONFIG): %w: %w", path, ErrNoKubeConfig, err)
		}
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", fmt.Errorf("no Kubernetes configuration: not in a pod and no kubeconfig found: run in the cluster, name one with --kubeconfig (KUBECONFIG), or use --discovery=static with --qdrant-url: %w", ErrNoKubeConfig)
		}
		return nil, "", fmt.Errorf("kubernetes client configuration (in-cluster or kubeconfig): %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes namespace: %w", err)
	}
	return cfg, ns, nil
}

// KubeRequestTimeout bounds each Kubernetes API request of a run.
const KubeRequestTimeout = 30 * time.Second

// NewKubeClient builds a clientset from KubeConfig(path).
func NewKubeClient(path string) (kubernetes.Interface, string, error) {
	cfg, ns, err := KubeConfig(path)
	if err != nil {
		return nil, "", err
	}
	cfg.UserAgent = "qbackup"
	// Every call is a short get or list: an API server that stops
	// answering fails the run within the timeout instead of hanging it.
	if cfg.Timeout == 0 {
		cfg.Timeout = KubeRequestTimeout
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, ns, nil
}
