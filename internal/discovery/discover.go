package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// ClusterReader is what discovery needs from a peer; *qdrant.Client
// implements it.
type ClusterReader interface {
	// Version is GET /: it tells a Qdrant peer from anything else.
	Version(ctx context.Context) (string, error)
	// Cluster is GET /cluster.
	Cluster(ctx context.Context) (*qdrant.ClusterStatus, error)
}

// Dialer opens a ClusterReader for one address. Discovery does not close
// it; a Dialer that caches clients (so backup reuses them) owns them.
type Dialer func(qdrant.PeerAddr) (ClusterReader, error)

// Sentinel errors for the ways discovery fails besides the node count.
var (
	// ErrNoPods: the source found no candidate at all.
	ErrNoPods = errors.New("no Qdrant peers found")
	// ErrNotQdrant: a candidate answered, but not as a Qdrant peer.
	ErrNotQdrant = qdrant.ErrNotQdrant
	// ErrConsensus: a peer's consensus thread is not working.
	ErrConsensus = errors.New("consensus is not working")
	// ErrPeerSetDisagree: peers disagree on who is in the cluster, or a
	// candidate belongs to another cluster.
	ErrPeerSetDisagree = errors.New("peers disagree on the peer set")
	// ErrSchemeMismatch: a peer speaks HTTPS where the URL says http, or
	// the other way round. No override can excuse it: the URL is wrong.
	ErrSchemeMismatch = errors.New("http/https mismatch")
	// ErrForbidden: the Kubernetes API refused to list the pods to the
	// identity qbackup runs as (RBAC). No retry cures it.
	ErrForbidden = errors.New("not allowed to list the Qdrant pods")
	// ErrInvalidSelector: the Kubernetes API refused the label selector.
	ErrInvalidSelector = errors.New("invalid label selector")
	// ErrAPIServerUnreachable: the Kubernetes API server did not answer
	// the pod listing (refused, timed out, unresolvable). A retry may
	// cure it; nothing was read from Qdrant yet.
	ErrAPIServerUnreachable = errors.New("the Kubernetes API server did not answer")
)

// schemeMismatch recognises the errors of a request in the wrong scheme
// and returns the scheme that would work, or "".
func schemeMismatch(err error) string {
	msg := err.Error()
	switch {
	// https:// to a plain HTTP server (net/http's own words).
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"),
		strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "http"
	// http:// to a TLS server: a Go server answers with this text; rustls
	// (Qdrant) answers with a TLS alert record (0x15 0x03), which net/http
	// reports as a malformed response.
	case strings.Contains(msg, "Client sent an HTTP request to an HTTPS server"),
		strings.Contains(msg, `malformed HTTP response "\x15\x03`):
		return "https"
	}
	return ""
}

// Options tune Discover.
type Options struct {
	// AllowNodeMismatch turns a node-count mismatch into a warning: the
	// topology then holds the reachable peers only, and Mismatch says what
	// is off.
	AllowNodeMismatch bool
	// Concurrency bounds the parallel probes; default 16.
	Concurrency int
	Logger      *slog.Logger
}

// Peer is one Qdrant peer as discovered.
type Peer struct {
	ID uint64
	// Pod is the pod name; empty with static discovery.
	Pod  string
	Addr qdrant.PeerAddr
	// URI is the peer's P2P URI from GET /cluster (port 6335, often a DNS
	// name), not an address this tool talks to.
	URI     string
	Version string
}

// Name is the pod name, or the REST URL without a pod.
func (p Peer) Name() string {
	if p.Pod != "" {
		return p.Pod
	}
	return p.Addr.REST
}

// Topology is the discovered cluster.
type Topology struct {
	// Peers are the reachable peers, sorted by pod name then peer id.
	Peers []Peer
	// Version is the Qdrant version; with mixed versions (a rolling
	// upgrade) the oldest one.
	Version string
	// Consensus maps every peer id in consensus to its P2P URI.
	Consensus map[uint64]string
	// Leader is the raft leader's peer id, 0 if unknown.
	Leader uint64
	// Standalone is true for a single peer running without cluster mode;
	// its Peer has ID 0 (read the id from collection cluster info).
	Standalone bool
	// NotReady lists matching pods that are not Running and Ready.
	NotReady []PodStatus
	// Mismatch is set when Options.AllowNodeMismatch let a node-count
	// mismatch through.
	Mismatch *NodeCountError
}

// Peer returns the peer with the given id.
func (t *Topology) Peer(id uint64) (Peer, bool) {
	for _, p := range t.Peers {
		if p.ID == id {
			return p, true
		}
	}
	return Peer{}, false
}

// PeerRef names a peer in consensus.
type PeerRef struct {
	ID  uint64
	URI string
}

func (p PeerRef) String() string { return fmt.Sprintf("peer %d (uri %s)", p.ID, p.URI) }

// ProbeFailure is a Ready candidate that could not be asked.
type ProbeFailure struct {
	Name string
	Addr qdrant.PeerAddr
	Err  error
}

// NodeCountError says that Ready pods, peers in consensus and reachable
// peers do not agree.
type NodeCountError struct {
	// Source, Matched (the selector) and Hint come from the Source.
	Source, Matched, Hint string
	ReadyPods             int
	Consensus             int
	Reachable             int
	// Missing are peers in consensus that no Ready candidate answered for.
	Missing []PeerRef
	// Unreachable are Ready candidates that did not answer.
	Unreachable []ProbeFailure
	// NotReady are matching pods that are not Running and Ready.
	NotReady []PodStatus
}

func (e *NodeCountError) Error() string {
	var b strings.Builder
	switch {
	case e.Reachable == 0:
		fmt.Fprintf(&b, "none of %d Ready pods answered as a Qdrant peer", e.ReadyPods)
	case e.Reachable != e.ReadyPods:
		fmt.Fprintf(&b, "%d Qdrant peers in consensus but %d Ready pods of which %d answered", e.Consensus, e.ReadyPods, e.Reachable)
	default:
		fmt.Fprintf(&b, "%d Qdrant peers in consensus but %d Ready pods", e.Consensus, e.ReadyPods)
	}
	var parts []string
	for _, m := range e.Missing {
		what := "has no Ready pod"
		if len(e.Unreachable) > 0 {
			what = "has no Ready pod that answers"
		}
		parts = append(parts, m.String()+" "+what)
	}
	for _, u := range e.Unreachable {
		name := u.Name
		if name != u.Addr.REST {
			name = "pod " + name + " (" + u.Addr.REST + ")"
		}
		parts = append(parts, fmt.Sprintf("%s matched %s but did not answer as a Qdrant peer (down, or not Qdrant): %v", name, e.Matched, u.Err))
	}
	if len(e.NotReady) > 0 {
		names := make([]string, len(e.NotReady))
		for i, p := range e.NotReady {
			names[i] = p.String()
		}
		parts = append(parts, "not Ready: "+strings.Join(names, ", "))
	}
	if len(parts) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(parts, "; "))
	}
	b.WriteString("; ")
	if e.Hint != "" {
		b.WriteString(e.Hint)
		b.WriteString(" or ")
	}
	b.WriteString("pass --allow-node-mismatch")
	return b.String()
}

// NotQdrantError lists candidates that answered, but not as Qdrant: the
// selector (or URL list) is wrong. It unwraps to ErrNotQdrant.
type NotQdrantError struct {
	// Problems has one sentence per candidate.
	Problems []string
}

func (e *NotQdrantError) Error() string { return strings.Join(e.Problems, "; ") }

// Unwrap makes errors.Is(err, ErrNotQdrant) hold.
func (e *NotQdrantError) Unwrap() error { return ErrNotQdrant }

// probe is what one candidate answered.
type probe struct {
	cand    Candidate
	version string
	status  *qdrant.ClusterStatus
	err     error
	// notQdrant: GET / answered, but not as Qdrant does.
	notQdrant bool
}

// Discover lists the candidates of src, asks each one GET / and GET
// /cluster through dial, and checks the cluster (see the package doc).
func Discover(ctx context.Context, src Source, dial Dialer, opts Options) (*Topology, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cands, err := src.Candidates(ctx)
	if err != nil {
		return nil, err
	}
	if len(cands.Ready) == 0 {
		if len(cands.NotReady) > 0 {
			return nil, fmt.Errorf("%w: none of the %s is Running and Ready: %s; %s",
				ErrNoPods, src.Describe(), joinStatuses(cands.NotReady), src.Hint())
		}
		return nil, fmt.Errorf("%w: no %s; %s", ErrNoPods, src.Describe(), src.Hint())
	}

	probes := probeAll(ctx, cands.Ready, dial, opts.Concurrency)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("discover Qdrant peers: %w", err)
	}

	// Errors that no override can excuse: a wrong key, a candidate that is
	// not Qdrant.
	var answered []probe
	var unreachable []ProbeFailure
	var notQdrant []string
	for _, p := range probes {
		switch {
		case p.err == nil:
			answered = append(answered, p)
		case schemeMismatch(p.err) != "":
			want := schemeMismatch(p.err)
			return nil, fmt.Errorf("discover Qdrant peers: %s (%s) speaks %s: use %s:// (with --discovery=static in --qdrant-url; in Kubernetes, Qdrant's TLS setting must match): %w: %v",
				kindName(p.cand), p.cand.Addr.REST, strings.ToUpper(want), want, ErrSchemeMismatch, p.err)
		case errors.Is(p.err, qdrant.ErrUnauthorized), errors.Is(p.err, qdrant.ErrForbidden), errors.Is(p.err, qdrant.ErrTLS):
			return nil, fmt.Errorf("discover Qdrant peers: %s: %w", kindName(p.cand), p.err)
		case p.notQdrant:
			notQdrant = append(notQdrant, fmt.Sprintf("%s (%s) matched %s but is not a Qdrant peer: %v",
				kindName(p.cand), p.cand.Addr.REST, src.Matched(), p.err))
		default:
			unreachable = append(unreachable, ProbeFailure{Name: p.cand.Name(), Addr: p.cand.Addr, Err: p.err})
		}
	}
	if len(notQdrant) > 0 {
		return nil, &NotQdrantError{Problems: notQdrant}
	}
	if len(answered) == 0 {
		return nil, &NodeCountError{Source: src.Describe(), Matched: src.Matched(), Hint: src.Hint(),
			ReadyPods: len(cands.Ready), Unreachable: unreachable, NotReady: cands.NotReady}
	}

	topo, err := checkCluster(src, answered)
	if err != nil {
		return nil, err
	}
	topo.NotReady = cands.NotReady
	topo.Version = oldestVersion(answered)
	if mixed := versionsOf(answered); len(mixed) > 1 {
		log.Warn("Qdrant peers run different versions", "versions", strings.Join(mixed, ", "), "using", topo.Version)
	}

	// Node count: Ready pods = peers in consensus = reachable peers.
	if topo.Standalone {
		return topo, nil
	}
	var missing []PeerRef
	for id, uri := range topo.Consensus {
		if _, ok := topo.Peer(id); !ok {
			missing = append(missing, PeerRef{ID: id, URI: uri})
		}
	}
	slices.SortFunc(missing, func(a, b PeerRef) int { return cmp.Compare(a.ID, b.ID) })
	if len(cands.Ready) != len(topo.Consensus) || len(topo.Peers) != len(topo.Consensus) || len(missing) > 0 || len(unreachable) > 0 {
		nce := &NodeCountError{
			Source: src.Describe(), Matched: src.Matched(), Hint: src.Hint(),
			ReadyPods: len(cands.Ready), Consensus: len(topo.Consensus), Reachable: len(topo.Peers),
			Missing: missing, Unreachable: unreachable, NotReady: cands.NotReady,
		}
		if !opts.AllowNodeMismatch {
			return nil, nce
		}
		log.Warn("node count mismatch allowed", "error", nce.Error())
		topo.Mismatch = nce
	}
	return topo, nil
}

func probeAll(ctx context.Context, cands []Candidate, dial Dialer, limit int) []probe {
	if limit <= 0 {
		limit = 16
	}
	out := make([]probe, len(cands))
	var g errgroup.Group
	g.SetLimit(limit)
	for i, c := range cands {
		g.Go(func() error {
			out[i] = probeOne(ctx, c, dial) // each goroutine owns its element
			return nil
		})
	}
	_ = g.Wait() // probes report through out, never through the group
	return out
}

func probeOne(ctx context.Context, c Candidate, dial Dialer) probe {
	p := probe{cand: c}
	r, err := dial(c.Addr)
	if err != nil {
		p.err = fmt.Errorf("connect: %w", err)
		return p
	}
	if p.version, err = r.Version(ctx); err != nil {
		// Something answered HTTP, but not Qdrant's GET /.
		p.notQdrant = errors.Is(err, qdrant.ErrNotQdrant) || isAPIError(err)
		p.err = err
		return p
	}
	p.status, p.err = r.Cluster(ctx)
	return p
}

// checkCluster maps candidates to peer ids and checks consensus and the
// peer set. It returns the topology of the answering peers.
func checkCluster(src Source, answered []probe) (*Topology, error) {
	var standalone []string
	for _, p := range answered {
		if !p.status.Enabled {
			standalone = append(standalone, kindName(p.cand))
		}
	}
	if len(standalone) > 0 {
		if len(answered) == 1 {
			p := answered[0]
			return &Topology{
				Standalone: true,
				Peers:      []Peer{{Pod: p.cand.Pod, Addr: p.cand.Addr, Version: p.version}},
			}, nil
		}
		return nil, fmt.Errorf("%w: %s run(s) Qdrant without cluster mode among %d peers: these are separate databases, not one cluster",
			ErrPeerSetDisagree, strings.Join(standalone, ", "), len(answered))
	}

	var stopped []string
	for _, p := range answered {
		if !p.status.ConsensusWorking() {
			s := fmt.Sprintf("peer %d (%s): consensus thread %s", p.status.PeerID, kindName(p.cand), orUnknown(p.status.Consensus))
			if p.status.ConsensusError != "" {
				s += ": " + p.status.ConsensusError
			}
			stopped = append(stopped, s)
		}
	}
	if len(stopped) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrConsensus, strings.Join(stopped, "; "))
	}

	// Each pod reports its own peer id; two pods with one id means the
	// same peer was listed twice (or two Services point at one pod).
	byID := map[uint64]probe{}
	for _, p := range answered {
		if prev, ok := byID[p.status.PeerID]; ok {
			return nil, fmt.Errorf("%w: %s and %s both answer as peer %d", ErrPeerSetDisagree,
				kindName(prev.cand), kindName(p.cand), p.status.PeerID)
		}
		byID[p.status.PeerID] = p
	}

	// Every peer must see the same set, and include itself.
	ref := answered[0]
	for _, p := range answered {
		if _, ok := p.status.Peers[p.status.PeerID]; !ok {
			return nil, fmt.Errorf("%w: peer %d (%s) is not in its own peer set %s",
				ErrPeerSetDisagree, p.status.PeerID, kindName(p.cand), formatIDs(p.status.Peers))
		}
		if !sameIDs(p.status.Peers, ref.status.Peers) {
			var views []string
			for _, q := range answered {
				views = append(views, fmt.Sprintf("%s (peer %d) sees %s", kindName(q.cand), q.status.PeerID, formatIDs(q.status.Peers)))
			}
			return nil, fmt.Errorf("%w: %s; is %s matching pods of more than one Qdrant cluster, or is a peer being added or removed?",
				ErrPeerSetDisagree, strings.Join(views, "; "), src.Describe())
		}
	}

	topo := &Topology{Consensus: map[uint64]string{}}
	for id, uri := range ref.status.Peers {
		topo.Consensus[id] = uri
	}
	for _, p := range answered {
		topo.Peers = append(topo.Peers, Peer{
			ID: p.status.PeerID, Pod: p.cand.Pod, Addr: p.cand.Addr,
			URI: topo.Consensus[p.status.PeerID], Version: p.version,
		})
		if l := p.status.Raft.Leader; l != nil && topo.Leader == 0 {
			topo.Leader = *l
		}
	}
	slices.SortFunc(topo.Peers, func(a, b Peer) int {
		if c := comparePodNames(a.Pod, b.Pod); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return topo, nil
}

func isAPIError(err error) bool {
	var ae *qdrant.APIError
	return errors.As(err, &ae)
}

func kindName(c Candidate) string {
	if c.Pod != "" {
		return "pod " + c.Pod
	}
	return c.Addr.REST
}

func orUnknown(s string) string {
	if s == "" {
		return "in an unknown state"
	}
	return s
}

func joinStatuses(ps []PodStatus) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func sameIDs(a, b map[uint64]string) bool {
	if len(a) != len(b) {
		return false
	}
	for id := range a {
		if _, ok := b[id]; !ok {
			return false
		}
	}
	return true
}

func formatIDs(m map[uint64]string) string {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(id, 10)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func versionsOf(ps []probe) []string {
	var vs []string
	for _, p := range ps {
		if !slices.Contains(vs, p.version) {
			vs = append(vs, p.version)
		}
	}
	slices.SortFunc(vs, compareVersions)
	return vs
}

func oldestVersion(ps []probe) string {
	vs := versionsOf(ps)
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// compareVersions orders "1.9.0" before "1.15.2" (numeric parts; any
// suffix such as "-rc1" compares as text).
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		an, aerr := strconv.Atoi(as[i])
		bn, berr := strconv.Atoi(bs[i])
		if aerr == nil && berr == nil {
			if c := cmp.Compare(an, bn); c != 0 {
				return c
			}
			continue
		}
		if c := strings.Compare(as[i], bs[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}
