package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// Defaults of the Qdrant Helm chart.
const (
	DefaultSelector = "app.kubernetes.io/name=qdrant"
	DefaultRESTPort = 6333
	DefaultGRPCPort = 6334
)

// Candidate is one address that should be a Qdrant peer.
type Candidate struct {
	// Pod is the pod name; empty for static URLs.
	Pod  string
	Addr qdrant.PeerAddr
}

// Name is the pod name, or the REST URL without a pod.
func (c Candidate) Name() string {
	if c.Pod != "" {
		return c.Pod
	}
	return c.Addr.REST
}

// PodStatus is a pod that matched the selector but is not usable.
type PodStatus struct {
	Name string
	// Reason says why, e.g. "Pending", "Running, not Ready
	// (ContainersNotReady)", "Terminating", "no pod IP".
	Reason string
}

func (p PodStatus) String() string { return p.Name + " (" + p.Reason + ")" }

// Candidates is what a Source found.
type Candidates struct {
	// Ready are the addresses to probe, sorted by name.
	Ready []Candidate
	// NotReady are matching pods that are not Running and Ready.
	NotReady []PodStatus
}

// Source lists the candidate peers.
type Source interface {
	Candidates(ctx context.Context) (*Candidates, error)
	// Describe names where candidates come from, for messages
	// ("pods in namespace \"db\" with selector \"app.kubernetes.io/name=qdrant\"").
	Describe() string
	// Matched names what a candidate matched, for messages: the label
	// selector, or the URL list.
	Matched() string
	// Hint tells the operator what to look at when the count is off.
	Hint() string
}

// Kubernetes lists Qdrant pods through the Kubernetes API. It needs only
// get and list on pods in Namespace.
type Kubernetes struct {
	Client    kubernetes.Interface
	Namespace string
	// Selector is a label selector; default DefaultSelector.
	Selector string
	// RESTPort and GRPCPort default to 6333 and 6334.
	RESTPort int
	GRPCPort int
	// Scheme of the REST URL: "http" (default) or "https".
	Scheme string
}

func (k *Kubernetes) selector() string {
	if k.Selector == "" {
		return DefaultSelector
	}
	return k.Selector
}

// Describe implements Source.
func (k *Kubernetes) Describe() string {
	return fmt.Sprintf("pods in namespace %q with selector %q", k.Namespace, k.selector())
}

// Matched implements Source.
func (k *Kubernetes) Matched() string { return k.selector() }

// Hint implements Source.
func (k *Kubernetes) Hint() string {
	return fmt.Sprintf("check `kubectl get pods -n %s -l %s`", k.Namespace, k.selector())
}

// Candidates lists the pods matching the selector; Running pods whose
// Ready condition is true and that have an IP are candidates, the others
// are reported as not ready. Terminating pods count as not ready.
func (k *Kubernetes) Candidates(ctx context.Context) (*Candidates, error) {
	if k.Client == nil {
		return nil, fmt.Errorf("kubernetes discovery: no Kubernetes client")
	}
	if k.Namespace == "" {
		return nil, fmt.Errorf("kubernetes discovery: no namespace")
	}
	// Checked here, as the API server would: client-go's fake client
	// panics on a malformed selector, and a clear message beats a 400.
	if _, err := labels.Parse(k.selector()); err != nil {
		return nil, k.listError(apierrors.NewBadRequest(err.Error()))
	}
	list, err := k.Client.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: k.selector()})
	if err != nil {
		return nil, k.listError(err)
	}
	restPort, grpcPort, scheme := k.RESTPort, k.GRPCPort, k.Scheme
	if restPort == 0 {
		restPort = DefaultRESTPort
	}
	if grpcPort == 0 {
		grpcPort = DefaultGRPCPort
	}
	if scheme == "" {
		scheme = "http"
	}
	out := &Candidates{}
	for i := range list.Items {
		pod := &list.Items[i]
		if reason := notReadyReason(pod); reason != "" {
			out.NotReady = append(out.NotReady, PodStatus{Name: pod.Name, Reason: reason})
			continue
		}
		out.Ready = append(out.Ready, Candidate{
			Pod: pod.Name,
			Addr: qdrant.PeerAddr{
				REST: scheme + "://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(restPort)),
				GRPC: net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(grpcPort)),
			},
		})
	}
	slices.SortFunc(out.Ready, func(a, b Candidate) int { return comparePodNames(a.Pod, b.Pod) })
	slices.SortFunc(out.NotReady, func(a, b PodStatus) int { return comparePodNames(a.Name, b.Name) })
	return out, nil
}

// listError says what to do about a pod listing that failed: RBAC and a
// selector the API server refuses are input that no retry cures (a Job
// retried on them only fails again), anything else may be transient.
func (k *Kubernetes) listError(err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: %s: grant get and list on pods in namespace %s to the identity qbackup runs as "+
			"(in Kubernetes, the Role qbackup of manifests/role.yaml bound to the Job's ServiceAccount): %w",
			ErrForbidden, k.Describe(), k.Namespace, err)
	case apierrors.IsBadRequest(err), apierrors.IsInvalid(err):
		return fmt.Errorf("%w %q: fix --selector (QBACKUP_SELECTOR), e.g. app.kubernetes.io/name=qdrant: %w",
			ErrInvalidSelector, k.selector(), err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		host := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Host
		}
		return fmt.Errorf("list %s: %w; a retry succeeds once it does "+
			"(check it with kubectl get --raw /readyz): %w", k.Describe(), apiUnreachable{host}, err)
	}
	return fmt.Errorf("list %s: %w", k.Describe(), err)
}

// apiUnreachable is ErrAPIServerUnreachable naming the server's address.
type apiUnreachable struct{ host string }

func (e apiUnreachable) Error() string {
	return "the Kubernetes API server at " + e.host + " did not answer"
}

func (e apiUnreachable) Is(target error) bool { return target == ErrAPIServerUnreachable }

// notReadyReason is "" for a usable pod, else why it is not.
func notReadyReason(pod *corev1.Pod) string {
	if pod.DeletionTimestamp != nil {
		return "Terminating"
	}
	if pod.Status.Phase != corev1.PodRunning {
		phase := string(pod.Status.Phase)
		if phase == "" {
			phase = "no phase yet"
		}
		return phase
	}
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.PodReady {
			continue
		}
		if c.Status != corev1.ConditionTrue {
			if c.Reason != "" {
				return "Running, not Ready (" + c.Reason + ")"
			}
			return "Running, not Ready"
		}
		if pod.Status.PodIP == "" {
			return "Ready but no pod IP"
		}
		return ""
	}
	return "Running, no Ready condition"
}

// Static is a fixed list of peers, for clusters outside Kubernetes, demos
// and tests. Each URL is a peer's REST base URL, e.g. "http://10.0.0.1:6333"
// (port 6333 when omitted). Its gRPC address is the same host on GRPCPort
// (default 6334), unless the URL carries a "grpc" query parameter with a
// port ("http://h:6333?grpc=7334") or a host:port ("?grpc=h2:7334").
type Static struct {
	URLs     []string
	GRPCPort int
}

// Describe implements Source.
func (s *Static) Describe() string { return fmt.Sprintf("%d static Qdrant URL(s)", len(s.URLs)) }

// Matched implements Source.
func (s *Static) Matched() string { return "the --qdrant-url list" }

// Hint implements Source.
func (s *Static) Hint() string { return "check the --qdrant-url list" }

// Candidates implements Source.
func (s *Static) Candidates(context.Context) (*Candidates, error) {
	if len(s.URLs) == 0 {
		return nil, fmt.Errorf("%w: static discovery needs at least one --qdrant-url", ErrNoPods)
	}
	out := &Candidates{}
	seen := map[string]bool{}
	for _, raw := range s.URLs {
		addr, err := ParseStaticURL(raw, s.GRPCPort)
		if err != nil {
			return nil, err
		}
		if seen[addr.REST] {
			return nil, fmt.Errorf("static Qdrant URL %q given twice", addr.REST)
		}
		seen[addr.REST] = true
		out.Ready = append(out.Ready, Candidate{Addr: addr})
	}
	slices.SortFunc(out.Ready, func(a, b Candidate) int { return strings.Compare(a.Addr.REST, b.Addr.REST) })
	return out, nil
}

// ParseStaticURL turns one static URL (see Static) into a peer address.
// grpcPort 0 means DefaultGRPCPort.
func ParseStaticURL(raw string, grpcPort int) (qdrant.PeerAddr, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return qdrant.PeerAddr{}, fmt.Errorf("static Qdrant URL %q: want http(s)://host[:port][?grpc=port|host:port]", raw)
	}
	if u.User != nil {
		return qdrant.PeerAddr{}, fmt.Errorf("static Qdrant URL %q: credentials do not belong in the URL: set QBACKUP_QDRANT_API_KEY", u.Redacted())
	}
	host := u.Hostname()
	restPort := u.Port()
	if restPort == "" {
		restPort = strconv.Itoa(DefaultRESTPort)
	}
	if grpcPort == 0 {
		grpcPort = DefaultGRPCPort
	}
	grpcAddr := net.JoinHostPort(host, strconv.Itoa(grpcPort))
	if g := u.Query().Get("grpc"); g != "" {
		if p, err := strconv.Atoi(g); err == nil && p > 0 && p < 65536 {
			grpcAddr = net.JoinHostPort(host, g)
		} else if h, p, err := net.SplitHostPort(g); err == nil && h != "" && p != "" {
			grpcAddr = g
		} else {
			return qdrant.PeerAddr{}, fmt.Errorf("static Qdrant URL %q: grpc=%q is neither a port nor host:port", raw, g)
		}
	}
	base := url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(host, restPort), Path: strings.TrimRight(u.Path, "/")}
	return qdrant.PeerAddr{REST: base.String(), GRPC: grpcAddr}, nil
}

// comparePodNames orders StatefulSet pods by ordinal: qdrant-2 before
// qdrant-10. Other names compare as text.
func comparePodNames(a, b string) int {
	ap, an, aok := splitOrdinal(a)
	bp, bn, bok := splitOrdinal(b)
	if aok && bok && ap == bp {
		return cmp.Compare(an, bn)
	}
	return strings.Compare(a, b)
}

func splitOrdinal(name string) (string, int, bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, 0, false
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 0 {
		return name, 0, false
	}
	return name[:i], n, true
}
