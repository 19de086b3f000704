package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// fakePeer answers as one Qdrant peer (or fails).
type fakePeer struct {
	version    string
	versionErr error
	status     *qdrant.ClusterStatus
	clusterErr error
}

func (f *fakePeer) Version(context.Context) (string, error) { return f.version, f.versionErr }
func (f *fakePeer) Cluster(context.Context) (*qdrant.ClusterStatus, error) {
	return f.status, f.clusterErr
}

// fakeSource is a Source with fixed candidates.
type fakeSource struct{ c Candidates }

func (s *fakeSource) Candidates(context.Context) (*Candidates, error) { c := s.c; return &c, nil }
func (s *fakeSource) Describe() string {
	return `pods in namespace "db" with selector "app.kubernetes.io/name=qdrant"`
}
func (s *fakeSource) Matched() string { return "app.kubernetes.io/name=qdrant" }
func (s *fakeSource) Hint() string {
	return "check `kubectl get pods -n db -l app.kubernetes.io/name=qdrant`"
}

var quiet = slog.New(slog.DiscardHandler)

func pod(name string, ip string) Candidate {
	return Candidate{Pod: name, Addr: qdrant.PeerAddr{REST: "http://" + ip + ":6333", GRPC: ip + ":6334"}}
}

func uri(i int) string { return fmt.Sprintf("http://qdrant-%d.qdrant-headless:6335/", i) }

// view is a working peer whose consensus holds ids (peer i has uri(i)).
func view(self uint64, ids ...uint64) *fakePeer {
	peers := map[uint64]string{}
	for i, id := range ids {
		peers[id] = uri(i)
	}
	return &fakePeer{version: "1.15.4", status: &qdrant.ClusterStatus{
		Enabled: true, PeerID: self, Peers: peers, Consensus: "working",
		Raft: qdrant.RaftInfo{Leader: &ids[0]},
	}}
}

func TestDiscover(t *testing.T) {
	refused := fmt.Errorf("read Qdrant version (GET /) on http://10.0.0.3:6333: dial tcp 10.0.0.3:6333: %w", syscall.ECONNREFUSED)
	three := []Candidate{pod("qdrant-0", "10.0.0.1"), pod("qdrant-1", "10.0.0.2"), pod("qdrant-2", "10.0.0.3")}
	for _, tc := range []struct {
		name      string
		cands     Candidates
		peers     map[string]*fakePeer // by REST URL
		allow     bool
		wantPeers []string // "pod=id"
		wantErr   error
		wantType  bool // a *NodeCountError
		wantText  []string
	}{
		{
			name:  "an agreeing cluster of three maps each pod to the id it reports",
			cands: Candidates{Ready: three},
			peers: map[string]*fakePeer{
				"http://10.0.0.1:6333": view(11, 11, 17, 4411),
				"http://10.0.0.2:6333": view(17, 11, 17, 4411),
				"http://10.0.0.3:6333": view(4411, 11, 17, 4411),
			},
			wantPeers: []string{"qdrant-0=11", "qdrant-1=17", "qdrant-2=4411"},
		},
		{
			name:  "a peer in consensus without a Ready pod is a node-count error naming it",
			cands: Candidates{Ready: three[:2], NotReady: []PodStatus{{Name: "qdrant-2", Reason: "Pending"}}},
			peers: map[string]*fakePeer{
				"http://10.0.0.1:6333": view(11, 11, 17, 4411),
				"http://10.0.0.2:6333": view(17, 11, 17, 4411),
			},
			wantType: true,
			wantText: []string{"3 Qdrant peers in consensus but 2 Ready pods", "peer 4411 (uri http://qdrant-2.qdrant-headless:6335/) has no Ready pod",
				"not Ready: qdrant-2 (Pending)", "kubectl get pods -n db -l app.kubernetes.io/name=qdrant", "--allow-node-mismatch"},
		},
		{
			name:  "a mismatch can be allowed and is then reported on the topology",
			cands: Candidates{Ready: three[:2]},
			peers: map[string]*fakePeer{
				"http://10.0.0.1:6333": view(11, 11, 17, 4411),
				"http://10.0.0.2:6333": view(17, 11, 17, 4411),
			},
			allow:     true,
			wantPeers: []string{"qdrant-0=11", "qdrant-1=17"},
		},
		{
			name:  "a Ready pod whose peer is down is a node-count error naming pod and peer",
			cands: Candidates{Ready: three},
			peers: map[string]*fakePeer{
				"http://10.0.0.1:6333": view(11, 11, 17, 4411),
				"http://10.0.0.2:6333": view(17, 11, 17, 4411),
				"http://10.0.0.3:6333": {versionErr: refused},
			},
			wantType: true,
			wantText: []string{"3 Qdrant peers in consensus but 3 Ready pods of which 2 answered", "peer 4411 (uri http://qdrant-2.qdrant-headless:6335/) has no Ready pod that answers",
				"pod qdrant-2 (http://10.0.0.3:6333) matched app.kubernetes.io/name=qdrant but did not answer", "connection refused"},
		},
		{
			name:  "an extra Ready pod that refuses connections is a node-count error",
			cands: Candidates{Ready: append(three[:2:2], pod("qdrant-backup-x", "10.0.0.9"))},
			peers: map[string]*fakePeer{
				"http://10.0.0.1:6333": view(11, 11, 17),
				"http://10.0.0.2:6333": view(17, 11, 17),
				"http://10.0.0.9:6333": {versionErr: refused},
			},
			wantType: true,
			wantText: []string{"2 Qdrant peers in consensus but 3 Ready pods of which 2 answered", "pod qdrant-backup-x"},
		},
		{
			name:  "peers that disagree on the peer set are refused with each view",
			cands: Candidates{Ready: three},
			peers: map[string]*fakePeer{
				"http://10.0.0.1:6333": view(11, 11, 17, 4411),
				"http://10.0.0.2:6333": view(17, 11, 17, 4411),
				"http://10.0.0.3:6333": view(4411, 4411),
			},
			wantErr:  ErrPeerSetDisagree,
			wantText: []string{"pod qdrant-0 (peer 11) sees [11 17 4411]", "pod qdrant-2 (peer 4411) sees [4411]"},
		},
		{
			name:  "two pods answering as the same peer are refused",
			cands: Candidates{Ready: three[:2]},
			peers: map[string]*fakePeer{
				"http://10.0.0.1:6333": view(11, 11, 17),
				"http://10.0.0.2:6333": view(11, 11, 17),
			},
			wantErr:  ErrPeerSetDisagree,
			wantText: []string{"pod qdrant-0 and pod qdrant-1 both answer as peer 11"},
		},
		{
			name:  "a stopped consensus is refused naming the peer and the error",
			cands: Candidates{Ready: three[:2]},
			peers: map[string]*fakePeer{
				"http://10.0.0.1:6333": view(11, 11, 17),
				"http://10.0.0.2:6333": func() *fakePeer {
					p := view(17, 11, 17)
					p.status.Consensus, p.status.ConsensusError = "stopped_with_err", "raft storage corrupted"
					return p
				}(),
			},
			wantErr:  ErrConsensus,
			wantText: []string{"peer 17 (pod qdrant-1): consensus thread stopped_with_err: raft storage corrupted"},
		},
		{
			name:     "no pods at all names the namespace and selector",
			cands:    Candidates{},
			wantErr:  ErrNoPods,
			wantText: []string{`namespace "db"`, `selector "app.kubernetes.io/name=qdrant"`},
		},
		{
			name:     "only pods that are not Ready says so",
			cands:    Candidates{NotReady: []PodStatus{{Name: "qdrant-0", Reason: "Running, not Ready (ContainersNotReady)"}}},
			wantErr:  ErrNoPods,
			wantText: []string{"qdrant-0 (Running, not Ready (ContainersNotReady))"},
		},
		{
			name:  "a pod answering GET / as something else is not a Qdrant peer",
			cands: Candidates{Ready: append(three[:2:2], pod("grafana-0", "10.0.0.7"))},
			peers: map[string]*fakePeer{
				"http://10.0.0.1:6333": view(11, 11, 17),
				"http://10.0.0.2:6333": view(17, 11, 17),
				"http://10.0.0.7:6333": {versionErr: fmt.Errorf("read Qdrant version (GET /) on http://10.0.0.7:6333: %w: answer \"<html>\"", qdrant.ErrNotQdrant)},
			},
			wantErr:  ErrNotQdrant,
			wantText: []string{"pod grafana-0 (http://10.0.0.7:6333) matched app.kubernetes.io/name=qdrant but is not a Qdrant peer"},
		},
		{
			name:  "a wrong API key stops discovery with the 401 message",
			cands: Candidates{Ready: three[:1]},
			peers: map[string]*fakePeer{
				"http://10.0.0.1:6333": {version: "1.19.0", clusterErr: &qdrant.APIError{Op: "read cluster status", Peer: "http://10.0.0.1:6333", Status: 401, Message: "Invalid API key or JWT"}},
			},
			wantErr:  qdrant.ErrUnauthorized,
			wantText: []string{"pod qdrant-0", "QBACKUP_QDRANT_API_KEY"},
		},
		{
			name:      "a single standalone peer is a one-peer topology",
			cands:     Candidates{Ready: three[:1]},
			peers:     map[string]*fakePeer{"http://10.0.0.1:6333": {version: "1.19.0", status: &qdrant.ClusterStatus{}}},
			wantPeers: []string{"qdrant-0=0"},
		},
		{
			name:  "several standalone peers are separate databases",
			cands: Candidates{Ready: three[:2]},
			peers: map[string]*fakePeer{
				"http://10.0.0.1:6333": {version: "1.19.0", status: &qdrant.ClusterStatus{}},
				"http://10.0.0.2:6333": {version: "1.19.0", status: &qdrant.ClusterStatus{}},
			},
			wantErr:  ErrPeerSetDisagree,
			wantText: []string{"without cluster mode"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dial := func(a qdrant.PeerAddr) (ClusterReader, error) {
				p, ok := tc.peers[a.REST]
				if !ok {
					return nil, fmt.Errorf("no fake for %s", a.REST)
				}
				return p, nil
			}
			topo, err := Discover(context.Background(), &fakeSource{tc.cands}, dial, Options{AllowNodeMismatch: tc.allow, Logger: quiet})
			if tc.wantErr != nil || tc.wantType {
				if err == nil {
					t.Fatalf("no error, topology %+v", topo)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				var nce *NodeCountError
				if tc.wantType && !errors.As(err, &nce) {
					t.Fatalf("error %v (%T), want *NodeCountError", err, err)
				}
				for _, w := range tc.wantText {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%s", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range topo.Peers {
				got = append(got, fmt.Sprintf("%s=%d", p.Pod, p.ID))
			}
			if strings.Join(got, " ") != strings.Join(tc.wantPeers, " ") {
				t.Fatalf("peers %v, want %v", got, tc.wantPeers)
			}
			if tc.allow && topo.Mismatch == nil {
				t.Fatal("allowed mismatch not reported")
			}
			if !tc.allow && topo.Mismatch != nil {
				t.Fatalf("unexpected mismatch %v", topo.Mismatch)
			}
			if topo.Version == "" {
				t.Error("no version")
			}
		})
	}
}

func TestDiscoverFillsURIsLeaderAndOldestVersion(t *testing.T) {
	a, b := view(11, 11, 17), view(17, 11, 17)
	b.version = "1.9.2"
	peers := map[string]*fakePeer{"http://10.0.0.1:6333": a, "http://10.0.0.2:6333": b}
	dial := func(addr qdrant.PeerAddr) (ClusterReader, error) { return peers[addr.REST], nil }
	topo, err := Discover(context.Background(), &fakeSource{Candidates{Ready: []Candidate{pod("qdrant-1", "10.0.0.2"), pod("qdrant-0", "10.0.0.1")}}}, dial, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if topo.Version != "1.9.2" {
		t.Errorf("version %q, want the oldest", topo.Version)
	}
	if topo.Leader != 11 || topo.Peers[0].Pod != "qdrant-0" || topo.Peers[0].URI != uri(0) || topo.Peers[1].Addr.GRPC != "10.0.0.2:6334" {
		t.Fatalf("%+v", topo)
	}
	if p, ok := topo.Peer(17); !ok || p.Pod != "qdrant-1" {
		t.Fatalf("peer 17: %+v", p)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"1.9.0", "1.15.2", -1}, {"1.15.2", "1.15.2", 0}, {"1.19.0", "1.17.1", 1}, {"1.15", "1.15.0", -1}} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
