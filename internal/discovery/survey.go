package discovery

import (
	"context"
	"errors"
	"fmt"
)

// SurveyKind and SurveyVersion identify a Survey document, so a reader
// of a log that also holds log records finds it and knows its shape.
const (
	SurveyKind    = "QdrantPeers"
	SurveyVersion = 1
)

// Survey is what each Ready pod (or URL) says of the cluster, checked
// against nothing: where Discover refuses a cluster whose pods and peers
// disagree, a survey reports them as they are, for a reader (the restore
// preview of kubectl qbackup) to compare with what Kubernetes shows. It is
// the JSON document `qbackup peers -o json` prints.
type Survey struct {
	Kind    string `json:"kind"`
	Version int    `json:"version"`
	// Source names where the candidates came from ("pods in namespace
	// \"db\" with selector \"app.kubernetes.io/name=qdrant\"").
	Source string `json:"source"`
	// Pods are the Ready candidates, sorted by name, each with its answer.
	Pods []PodAnswer `json:"pods"`
	// NotReady are matching pods that are not Running and Ready.
	NotReady []NotReadyPod `json:"notReady,omitempty"`
}

// NotReadyPod is a PodStatus in a Survey.
type NotReadyPod struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// PodAnswer is one candidate's GET / and GET /cluster.
type PodAnswer struct {
	// Pod is the pod name; empty with static discovery.
	Pod string `json:"pod,omitempty"`
	URL string `json:"url"`
	// Error is why the candidate gave no answer (down, refused the key,
	// not Qdrant); the fields below are then empty.
	Error         string `json:"error,omitempty"`
	QdrantVersion string `json:"qdrantVersion,omitempty"`
	// Standalone: the peer runs without cluster mode.
	Standalone bool `json:"standalone,omitempty"`
	// PeerID is the peer's own id; Peers every peer in consensus as it
	// sees them (id to P2P URI).
	PeerID uint64            `json:"peerId,omitempty"`
	Peers  map[uint64]string `json:"peers,omitempty"`
	// Leader is the raft leader as the peer knows it (0: none), Role its
	// own raft role, IsVoter false for a learner: a peer that joined but
	// is not yet a voting member.
	Leader  uint64 `json:"leader,omitempty"`
	Role    string `json:"role,omitempty"`
	IsVoter bool   `json:"isVoter"`
	Term    uint64 `json:"term,omitempty"`
	Commit  uint64 `json:"commit,omitempty"`
	// PendingOperations are consensus operations proposed but not yet
	// applied.
	PendingOperations uint64 `json:"pendingOperations,omitempty"`
	// Consensus is the consensus thread's status ("working",
	// "stopped", "stopped_with_err"), ConsensusError its error.
	Consensus      string `json:"consensus,omitempty"`
	ConsensusError string `json:"consensusError,omitempty"`
}

// Name is the pod name, or the URL without a pod.
func (a PodAnswer) Name() string {
	if a.Pod != "" {
		return a.Pod
	}
	return a.URL
}

// SurveyPeers lists the candidates of src and asks each Ready one GET /
// and GET /cluster through dial, concurrency at a time (default 16). Only
// a failed listing is an error: what a candidate answered, or why it did
// not, is in its PodAnswer.
func SurveyPeers(ctx context.Context, src Source, dial Dialer, concurrency int) (*Survey, error) {
	cands, err := src.Candidates(ctx)
	if err != nil {
		return nil, err
	}
	s := &Survey{Kind: SurveyKind, Version: SurveyVersion, Source: src.Describe(), Pods: []PodAnswer{}}
	for _, p := range cands.NotReady {
		s.NotReady = append(s.NotReady, NotReadyPod(p))
	}
	probes := probeAll(ctx, cands.Ready, dial, concurrency)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("survey Qdrant peers: %w", err)
	}
	for _, p := range probes {
		s.Pods = append(s.Pods, answerOf(p))
	}
	return s, nil
}

func answerOf(p probe) PodAnswer {
	a := PodAnswer{Pod: p.cand.Pod, URL: p.cand.Addr.REST, QdrantVersion: p.version}
	switch {
	case p.err != nil:
		a.Error = p.err.Error()
		// Something answered GET / with an API error: say what it is
		// not (ErrNotQdrant says so itself).
		if p.notQdrant && !errors.Is(p.err, ErrNotQdrant) {
			a.Error = "not a Qdrant peer: " + a.Error
		}
		return a
	case !p.status.Enabled:
		a.Standalone = true
		return a
	}
	st := p.status
	a.PeerID, a.Peers = st.PeerID, st.Peers
	if st.Raft.Leader != nil {
		a.Leader = *st.Raft.Leader
	}
	a.Role, a.IsVoter, a.Term, a.Commit = st.Raft.Role, st.Raft.IsVoter, st.Raft.Term, st.Raft.Commit
	a.PendingOperations = st.Raft.PendingOperations
	a.Consensus, a.ConsensusError = st.Consensus, st.ConsensusError
	return a
}
