package main

import (
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
)

// kubeFlags are kubectl's own connection flags, with kubectl's meaning:
// they become client-go's loading rules and overrides — what kubectl's
// flags (cli-runtime's ConfigFlags) are built on — so KUBECONFIG=a:b
// merging, contexts, impersonation and timeouts behave as in kubectl,
// without cli-runtime's command-line dependencies in the binary.
type kubeFlags struct {
	Kubeconfig            string        `name:"kubeconfig" help:"Path to the kubeconfig file (default: $KUBECONFIG, merged when it lists several, or ~/.kube/config)." group:"Kubernetes connection (as kubectl)"`
	Context               string        `name:"context" help:"The kubeconfig context to use." group:"Kubernetes connection (as kubectl)"`
	Cluster               string        `name:"cluster" help:"The kubeconfig cluster to use (the Kubernetes cluster; the backups' logical cluster is --qdrant-cluster)." group:"Kubernetes connection (as kubectl)"`
	User                  string        `name:"user" help:"The kubeconfig user to use." group:"Kubernetes connection (as kubectl)"`
	Namespace             string        `name:"namespace" short:"n" help:"Namespace of qbackup and Qdrant (default: the context's)." group:"Kubernetes connection (as kubectl)"`
	As                    string        `name:"as" help:"Username to impersonate." group:"Kubernetes connection (as kubectl)"`
	AsGroup               []string      `name:"as-group" help:"Group to impersonate (repeatable)." group:"Kubernetes connection (as kubectl)"`
	AsUID                 string        `name:"as-uid" help:"UID to impersonate." group:"Kubernetes connection (as kubectl)"`
	Token                 string        `name:"token" help:"Bearer token for the API server." group:"Kubernetes connection (as kubectl)"`
	Server                string        `name:"server" short:"s" help:"Address of the Kubernetes API server." group:"Kubernetes connection (as kubectl)"`
	CertificateAuthority  string        `name:"certificate-authority" help:"Path to a CA file for the API server." group:"Kubernetes connection (as kubectl)"`
	ClientCertificate     string        `name:"client-certificate" help:"Path to a client certificate file." group:"Kubernetes connection (as kubectl)"`
	ClientKey             string        `name:"client-key" help:"Path to a client key file." group:"Kubernetes connection (as kubectl)"`
	TLSServerName         string        `name:"tls-server-name" help:"Server name for the API server's certificate." group:"Kubernetes connection (as kubectl)"`
	InsecureSkipTLSVerify bool          `name:"insecure-skip-tls-verify" help:"Do not check the API server's certificate (insecure)." group:"Kubernetes connection (as kubectl)"`
	RequestTimeout        time.Duration `name:"request-timeout" default:"0s" help:"Timeout of one API request (0: none), e.g. 30s." group:"Kubernetes connection (as kubectl)"`

	// connect, when set, stands in for the API server the flags name
	// (tests put a fake cluster behind it).
	connect clientFunc `kong:"-"`
}

// clientConfig is the kubeconfig as kubectl would load it with these
// flags; unset flags leave the kubeconfig's values alone.
func (k kubeFlags) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.Kubeconfig
	o := &clientcmd.ConfigOverrides{
		CurrentContext: k.Context,
		Context:        clientcmdapi.Context{Cluster: k.Cluster, AuthInfo: k.User, Namespace: k.Namespace},
		AuthInfo: clientcmdapi.AuthInfo{
			Token: k.Token, ClientCertificate: k.ClientCertificate, ClientKey: k.ClientKey,
			Impersonate: k.As, ImpersonateUID: k.AsUID, ImpersonateGroups: k.AsGroup,
		},
		ClusterInfo: clientcmdapi.Cluster{
			Server: k.Server, CertificateAuthority: k.CertificateAuthority,
			TLSServerName: k.TLSServerName, InsecureSkipTLSVerify: k.InsecureSkipTLSVerify,
		},
	}
	if k.RequestTimeout > 0 {
		o.Timeout = k.RequestTimeout.String()
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, o)
}

// Validate runs before anything is contacted.
func (k kubeFlags) Validate() error {
	if k.RequestTimeout < 0 {
		return config.Invalidf("--request-timeout %s is negative: give a duration such as 30s, or 0 for none", k.RequestTimeout)
	}
	return nil
}

// client connects to the API server as kubectl would and resolves the
// namespace (-n, else the context's, else "default").
func (k kubeFlags) client() (kubernetes.Interface, string, error) {
	if k.connect != nil {
		return k.connect()
	}
	cc := k.clientConfig()
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", fmt.Errorf("no Kubernetes configuration: no kubeconfig found: name one with --kubeconfig (KUBECONFIG) or log in to the cluster as for kubectl: %w", discovery.ErrNoKubeConfig)
		}
		return nil, "", fmt.Errorf("kubernetes client configuration (check --kubeconfig, --context and KUBECONFIG): %w: %w", discovery.ErrNoKubeConfig, err)
	}
	cfg.UserAgent = "kubectl-qbackup"
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes namespace: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, ns, nil
}
