package discovery

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// TestSurveyPeersReportsEachAnswer: where Discover refuses, a survey
// reports: a learner with pending operations, a peer outside the others'
// consensus, a standalone peer, one that is not Qdrant, one that is down
// and one whose consensus stopped are each one answer; pods that are not
// Ready are listed as such.
func TestSurveyPeersReportsEachAnswer(t *testing.T) {
	learner := view(12, 11, 12)
	learner.status.Raft.IsVoter, learner.status.Raft.Role, learner.status.Raft.PendingOperations = false, "Follower", 3
	leader := view(11, 11, 12)
	leader.status.Raft.IsVoter, leader.status.Raft.Role, leader.status.Raft.Term, leader.status.Raft.Commit = true, "Leader", 4, 90
	stopped := view(13, 13)
	stopped.status.Consensus, stopped.status.ConsensusError = "stopped_with_err", "raft: disk full"
	peers := map[string]*fakePeer{
		"http://10.0.0.1:6333": leader,
		"http://10.0.0.2:6333": learner,
		"http://10.0.0.3:6333": stopped,
		"http://10.0.0.4:6333": {version: "1.15.4", status: &qdrant.ClusterStatus{Enabled: false}},
		"http://10.0.0.5:6333": {versionErr: fmt.Errorf("GET /: %w", qdrant.ErrNotQdrant)},
		"http://10.0.0.6:6333": {versionErr: errors.New("connect: connection refused")},
		"http://10.0.0.7:6333": {versionErr: &qdrant.APIError{Op: "read Qdrant version (GET /)", Peer: "http://10.0.0.7:6333", Status: 404, Message: "no such page"}},
	}
	var ready []Candidate
	for i := range 7 {
		ready = append(ready, pod(fmt.Sprintf("qdrant-%d", i), fmt.Sprintf("10.0.0.%d", i+1)))
	}
	src := &fakeSource{Candidates{Ready: ready, NotReady: []PodStatus{{Name: "qdrant-7", Reason: "Pending"}}}}
	dial := func(addr qdrant.PeerAddr) (ClusterReader, error) { return peers[addr.REST], nil }
	s, err := SurveyPeers(context.Background(), src, dial, 2)
	if err != nil {
		t.Fatal(err)
	}
	const eleven = uint64(11)
	want := []PodAnswer{
		{Pod: "qdrant-0", URL: "http://10.0.0.1:6333", QdrantVersion: "1.15.4", PeerID: 11, Peers: map[uint64]string{11: uri(0), 12: uri(1)},
			Leader: eleven, Role: "Leader", IsVoter: true, Term: 4, Commit: 90, Consensus: "working"},
		{Pod: "qdrant-1", URL: "http://10.0.0.2:6333", QdrantVersion: "1.15.4", PeerID: 12, Peers: map[uint64]string{11: uri(0), 12: uri(1)},
			Leader: eleven, Role: "Follower", PendingOperations: 3, Consensus: "working"},
		{Pod: "qdrant-2", URL: "http://10.0.0.3:6333", QdrantVersion: "1.15.4", PeerID: 13, Peers: map[uint64]string{13: uri(0)},
			Leader: 13, Consensus: "stopped_with_err", ConsensusError: "raft: disk full"},
		{Pod: "qdrant-3", URL: "http://10.0.0.4:6333", QdrantVersion: "1.15.4", Standalone: true},
		{Pod: "qdrant-4", URL: "http://10.0.0.5:6333", Error: "GET /: " + qdrant.ErrNotQdrant.Error()},
		{Pod: "qdrant-5", URL: "http://10.0.0.6:6333", Error: "connect: connection refused"},
		{Pod: "qdrant-6", URL: "http://10.0.0.7:6333", Error: "not a Qdrant peer: " + peers["http://10.0.0.7:6333"].versionErr.Error()},
	}
	if s.Kind != SurveyKind || s.Version != SurveyVersion || s.Source != src.Describe() {
		t.Errorf("header %q %d %q", s.Kind, s.Version, s.Source)
	}
	if !reflect.DeepEqual(s.Pods, want) {
		t.Errorf("pods\n%+v\nwant\n%+v", s.Pods, want)
	}
	if !reflect.DeepEqual(s.NotReady, []NotReadyPod{{Name: "qdrant-7", Reason: "Pending"}}) {
		t.Errorf("not ready %+v", s.NotReady)
	}
}
