package restore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// Once a shard has a replica holding restored data, the placement is
// completed from that replica only: a transfer copies its source's data
// over the target's, so a copy from a replica still empty would spread
// the empty state instead of the restored data.
func TestConvergeCopiesOnlyFromReplicasHoldingRestoredData(t *testing.T) {
	peers := peerIDs(3)
	a, b, c := peers[0], peers[1], peers[2]
	f := newFakeCluster(peers, "1.19.0")
	p := &fakePeer{f: f, id: a}
	if err := p.CreateCollection(context.Background(), "docs", []byte(`{"vectors":{"size":2,"distance":"Dot"},"shard_number":1,"replication_factor":2}`)); err != nil {
		t.Fatal(err)
	}
	restored := []qdrant.Point{{ID: qdrant.PointID{Num: 7}, Vectors: map[string]qdrant.Vector{"": {Dense: []float32{1, 2}}}}}
	s := f.colls["docs"].shards[0]
	// a holds the restored data; b is an empty, Active replica the plan
	// does not want; c is wanted and has no replica yet.
	s.replicas = map[uint64]string{a: qdrant.StateActive, b: qdrant.StateActive}
	s.data = map[uint64][]qdrant.Point{a: restored}

	plan := &RestorePlan{}
	for _, id := range peers {
		plan.Peers = append(plan.Peers, TargetPeer{ID: id})
	}
	e := &executor{plan: plan, deps: Deps{Peers: f.clients()}, opts: fastOptions().withDefaults(), coord: p, coordID: a,
		restored: restoredSet{}, log: quietLogger(), rep: &Report{}}
	e.markRestored("docs", 0, a)
	want := map[uint32][]uint64{0: {a, c}}
	if err := e.converge(context.Background(), "docs", func(placement) map[uint32][]uint64 { return want }, e.opts.WaitTimeout); err != nil {
		t.Fatalf("converge: %v", err)
	}
	for _, m := range f.mutations {
		if strings.HasPrefix(m, "transfer") && strings.Contains(m, fmt.Sprintf(" %d->", b)) {
			t.Errorf("copied from the replica without restored data: %s", m)
		}
	}
	if len(s.data[c]) != 1 || s.replicas[c] != qdrant.StateActive || len(s.replicas) != 2 {
		t.Errorf("shard after converge: replicas %v, peer %d holds %d points", s.replicas, c, len(s.data[c]))
	}
}

func TestBackoffPollDoublesWhileNothingChangesAndResetsOnChange(t *testing.T) {
	p := newBackoffPoll(500 * time.Millisecond)
	var got []time.Duration
	for _, state := range []string{"a", "a", "a", "a", "a", "a", "b", "b", "c"} {
		p.observe(state)
		got = append(got, p.next())
	}
	ms := time.Millisecond
	want := []time.Duration{25 * ms, 50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms, 25 * ms, 50 * ms, 25 * ms}
	if !slices.Equal(got, want) {
		t.Fatalf("intervals %v, want %v", got, want)
	}
	// A configured poll shorter than the minimum is used as it is.
	short := newBackoffPoll(time.Millisecond)
	short.observe("x")
	short.observe("x")
	if short.next() != time.Millisecond {
		t.Fatalf("interval %v with a 1ms poll", short.next())
	}
}

func TestStateOfIgnoresTransferProgress(t *testing.T) {
	to := uint32(3)
	a := []qdrant.ShardTransfer{{ShardID: 1, From: 1, To: 2, Sync: true, Comment: "Transferring records (10/100)"}}
	b := []qdrant.ShardTransfer{{ShardID: 1, From: 1, To: 2, Sync: true, Comment: "Transferring records (90/100)"}}
	c := []qdrant.ShardTransfer{{ShardID: 1, From: 1, To: 2, Sync: true, ToShardID: &to}}
	if stateOf(nil, a) != stateOf(nil, b) {
		t.Fatal("a transfer's progress counted as a change")
	}
	if stateOf(nil, a) == stateOf(nil, c) || stateOf([]string{"shard 1"}, a) == stateOf(nil, a) {
		t.Fatal("a different transfer or pending shard not counted as a change")
	}
}
