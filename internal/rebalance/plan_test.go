package rebalance

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/placement"

	"github.com/qbackup/qbackup/internal/golden"
)

// peers names n Ready peers qdrant-0.. with ids 1..n.
func peers(n int) []Peer {
	out := make([]Peer, n)
	for i := range out {
		out[i] = Peer{ID: uint64(i + 1), Pod: fmt.Sprintf("qdrant-%d", i)}
	}
	return out
}

// coll builds a collection from a placement written as shard → peers, all
// Active unless listed in states (peer → state, per shard).
func coll(name string, rf uint32, replicas [][]uint64, states map[uint32]map[uint64]string) Collection {
	c := Collection{Name: name, ReplicationFactor: rf, ShardingMethod: "auto"}
	for id, reps := range replicas {
		s := Shard{ID: uint32(id)}
		for _, p := range reps {
			st := "Active"
			if x, ok := states[uint32(id)][p]; ok {
				st = x
			}
			s.Replicas = append(s.Replicas, Replica{Peer: p, State: st})
		}
		c.Shards = append(c.Shards, s)
	}
	return c
}

func repeat(n int, reps ...uint64) [][]uint64 {
	out := make([][]uint64, n)
	for i := range out {
		out[i] = slices.Clone(reps)
	}
	return out
}

// TestPlanGolden: the plans for the usual situations, as printed, against
// testdata/<name>.golden (go test -run TestPlanGolden -update rewrites
// them); every plan also ends balanced with the replication factor met.
func TestPlanGolden(t *testing.T) {
	cases := []struct {
		name  string
		state State
		opts  Options
		empty bool
	}{
		{
			name: "one-to-four-peers",
			// A restore consolidated everything onto qdrant-0, then the
			// StatefulSet was scaled to 4.
			state: State{Cluster: "prod", Peers: peers(4), Collections: []Collection{
				coll("docs", 1, repeat(4, 1), nil),
				coll("images", 2, repeat(3, 1), nil),
			}},
		},
		{
			name: "one-to-four-peers-replication-factor-2",
			// The same after a restore that had to lower the factor to
			// 1 on one pod: --replication-factor 2 sets it back.
			state: State{Cluster: "prod", Peers: peers(4), Collections: []Collection{
				coll("docs", 1, repeat(4, 1), nil),
			}},
			opts: Options{ReplicationFactor: 2},
		},
		{
			name: "three-to-two-peers",
			// qdrant-2 (peer 3) is gone: its replicas are not on a Ready
			// peer any more.
			state: State{Cluster: "prod", Peers: peers(2), Collections: []Collection{
				coll("docs", 2, [][]uint64{{1, 2}, {2, 3}, {3, 1}}, map[uint32]map[uint64]string{1: {3: "Dead"}, 2: {3: "Dead"}}),
			}},
		},
		{
			name: "rf2-missing-replica",
			state: State{Cluster: "prod", Peers: peers(3), Collections: []Collection{
				coll("docs", 2, [][]uint64{{1, 2}, {2}, {3, 1}}, nil),
			}},
		},
		{
			name: "uneven-after-scale-up",
			state: State{Cluster: "prod", Peers: peers(6), Collections: []Collection{
				coll("docs", 2, [][]uint64{{1, 2}, {2, 3}, {3, 1}, {1, 2}, {2, 3}, {3, 1}}, nil),
			}},
		},
		{
			name: "already-balanced",
			state: State{Cluster: "prod", Peers: peers(3), Collections: []Collection{
				coll("docs", 2, [][]uint64{{1, 2}, {2, 3}, {3, 1}}, nil),
			}},
			empty: true,
		},
		{
			name: "custom-sharding",
			// Each shard key keeps its own replica count (Qdrant reports
			// no factor per key): key a has 2, key b 1, all on qdrant-0
			// and qdrant-1 before a scale-up to 3.
			state: State{Cluster: "prod", Peers: peers(3), Collections: []Collection{{
				Name: "tenants", ReplicationFactor: 1, ShardingMethod: "custom",
				Shards: []Shard{
					{ID: 0, Key: "a", Replicas: []Replica{{1, "Active"}, {2, "Active"}}},
					{ID: 1, Key: "a", Replicas: []Replica{{1, "Active"}, {2, "Active"}}},
					{ID: 2, Key: "b", Replicas: []Replica{{1, "Active"}}},
					{ID: 3, Key: "b", Replicas: []Replica{{1, "Active"}}},
				},
			}}},
		},
		{
			name: "collections-filter",
			state: State{Cluster: "prod", Peers: peers(2), Collections: []Collection{
				coll("docs", 1, repeat(2, 1), nil),
				coll("logs", 1, repeat(2, 1), nil),
			}},
			opts: Options{Collections: []string{"logs"}},
		},
		{
			name: "reshard-auto-with-qdrant-resharding",
			// A 3-shard RF 1 collection restored onto 6 pods: --shards
			// auto takes it to 6 with Qdrant's resharding; the custom
			// sharded collection keeps its keys.
			state: State{Cluster: "prod", Peers: peers(6), Resharding: ReshardSupport{Enabled: true, Known: true}, Collections: []Collection{
				coll("docs", 1, [][]uint64{{1}, {2}, {3}}, nil),
				coll("small", 2, [][]uint64{{1, 2}, {3, 4}, {5, 6}}, nil),
				{Name: "tenants", ReplicationFactor: 1, ShardingMethod: "custom", Shards: []Shard{
					{ID: 0, Key: "a", Replicas: []Replica{{1, "Active"}}},
				}},
			}},
			opts: Options{AutoShards: true},
		},
		{
			name: "reshard-down-by-point-copy",
			// No Qdrant resharding on this cluster: with --writes-paused
			// the shard count goes down by a point copy.
			state: State{Cluster: "prod", Peers: peers(2), Resharding: ReshardSupport{Enabled: false, Known: true}, Collections: []Collection{
				coll("docs", 1, [][]uint64{{1}, {2}, {1}, {2}}, nil),
			}},
			opts: Options{Shards: 2, WritesPaused: true},
		},
		{
			name: "shard-without-active-replica",
			// Nothing can be copied from a shard whose only replica is
			// Dead: the collection is left alone, with a warning.
			state: State{Cluster: "prod", Peers: peers(2), Collections: []Collection{
				coll("docs", 1, [][]uint64{{1}, {1}}, map[uint32]map[uint64]string{1: {1: "Dead"}}),
				coll("logs", 1, repeat(2, 1), nil),
			}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := MakePlan(tc.state, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := p.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tc.name+".golden"), buf.Bytes())
			if p.Empty() != tc.empty {
				t.Errorf("plan empty: %v, want %v", p.Empty(), tc.empty)
			}
			checkPlan(t, tc.state, tc.opts, p)
		})
	}
}

// checkPlan checks what every plan must give: per collection, each shard
// on as many distinct Ready peers as the factor (capped at the peers),
// replicas per peer differing by at most one, and operations that turn
// the current placement into the final one.
func checkPlan(t *testing.T, st State, opts Options, p *Plan) {
	t.Helper()
	// rfOf is the replica count a shard must end with: the collection's
	// factor, or for custom sharding without --replication-factor the
	// count the shard has now, capped at the peers.
	rfOf := func(c CollectionPlan, s ShardPlan) int {
		for _, sc := range st.Collections {
			if sc.Name == c.Name && sc.ShardingMethod == "custom" && opts.ReplicationFactor == 0 {
				return min(len(s.Current), len(st.Peers))
			}
		}
		return int(c.ReplicationFactor)
	}
	ready := map[uint64]bool{}
	for _, peer := range st.Peers {
		ready[peer.ID] = true
	}
	for _, c := range p.Collections {
		if c.Reshard != nil {
			// Its replicas are planned after the resharding.
			if len(c.Ops) != 0 {
				t.Errorf("%s is resharded but has replica operations planned before: %v", c.Name, c.Ops)
			}
			continue
		}
		load := map[uint64]int{}
		for _, s := range c.Shards {
			if len(s.Final) != rfOf(c, s) {
				t.Errorf("%s shard %d ends on %v, want %d replicas", c.Name, s.ID, s.Final, rfOf(c, s))
			}
			seen := map[uint64]bool{}
			for _, peer := range s.Final {
				if !ready[peer] || seen[peer] {
					t.Errorf("%s shard %d ends on %v: peer %d not Ready or twice", c.Name, s.ID, s.Final, peer)
				}
				seen[peer] = true
				load[peer]++
			}
		}
		lo, hi := -1, 0
		for _, peer := range st.Peers {
			n := load[peer.ID]
			if lo < 0 || n < lo {
				lo = n
			}
			hi = max(hi, n)
		}
		if hi-lo > 1 {
			t.Errorf("%s: %d to %d replicas per peer, want a spread of at most 1: %v", c.Name, lo, hi, load)
		}
		// Applying the operations to the current placement gives the
		// final one.
		got := map[uint32][]uint64{}
		for _, s := range c.Shards {
			for _, r := range s.Current {
				got[s.ID] = append(got[s.ID], r.Peer)
			}
		}
		for _, op := range c.Ops {
			reps := got[op.ShardID]
			switch op.Kind {
			case placement.Move:
				if !slices.Contains(reps, op.From) {
					t.Errorf("%s: %v moves from a peer without the replica", c.Name, op)
				}
				reps = append(slices.DeleteFunc(reps, func(p uint64) bool { return p == op.From }), op.To)
			case placement.Replicate:
				if !slices.Contains(reps, op.From) {
					t.Errorf("%s: %v replicates from a peer without the replica", c.Name, op)
				}
				reps = append(reps, op.To)
			case placement.Drop:
				reps = slices.DeleteFunc(reps, func(p uint64) bool { return p == op.From })
			}
			got[op.ShardID] = reps
		}
		for _, s := range c.Shards {
			if !slices.Equal(slices.Sorted(slices.Values(got[s.ID])), slices.Sorted(slices.Values(s.Final))) {
				t.Errorf("%s shard %d: the operations give %v, the plan says %v", c.Name, s.ID, got[s.ID], s.Final)
			}
		}
		// Drops come after every move and replication.
		lastTransfer, firstDrop := -1, len(c.Ops)
		for i, op := range c.Ops {
			if op.Kind == placement.Drop {
				firstDrop = min(firstDrop, i)
			} else {
				lastTransfer = i
			}
		}
		if lastTransfer > firstDrop {
			t.Errorf("%s: a drop is listed before a transfer: %v", c.Name, c.Ops)
		}
	}
}

func TestPlanRefusesWhatItCannotDo(t *testing.T) {
	st := State{Cluster: "prod", Peers: peers(2), Collections: []Collection{coll("docs", 1, repeat(2, 1), nil)}}
	if _, err := MakePlan(st, Options{Collections: []string{"nope"}}); !errors.Is(err, ErrUnknownCollection) {
		t.Errorf("unknown collection: %v, want ErrUnknownCollection", err)
	}
	if _, err := MakePlan(State{Cluster: "prod", Collections: st.Collections}, Options{}); err == nil {
		t.Error("a cluster without Ready peers was planned")
	}
}

// TestResumeKeepsTheJournaledPlan: a rerun over the same peers and filter
// continues the journaled plan without the collections done; other peers,
// another filter or a complete record plan anew.
func TestResumeKeepsTheJournaledPlan(t *testing.T) {
	st := State{Cluster: "prod", Peers: peers(2), Collections: []Collection{coll("docs", 1, repeat(2, 1), nil), coll("logs", 1, repeat(2, 1), nil)}}
	p, err := MakePlan(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{ID: "rb-1", Status: StatusRunning, Peers: []uint64{2, 1}, Plan: p, Done: []string{"docs"}}
	if !rec.resumable([]uint64{1, 2}, nil) {
		t.Fatal("an interrupted record over the same peers is not resumed")
	}
	got := resumePlan(rec, st)
	if len(got.Collections) != 1 || got.Collections[0].Name != "logs" {
		t.Errorf("resumed plan has %+v, want logs only", got.Collections)
	}
	for _, tc := range []struct {
		name   string
		rec    Record
		peers  []uint64
		filter []string
	}{
		{"other peers", *rec, []uint64{1, 2, 3}, nil},
		{"other filter", *rec, []uint64{1, 2}, []string{"docs"}},
		{"complete", Record{ID: "rb-1", Status: StatusComplete, Peers: []uint64{1, 2}, Plan: p}, []uint64{1, 2}, nil},
	} {
		if tc.rec.resumable(tc.peers, tc.filter) {
			t.Errorf("%s: resumed", tc.name)
		}
	}
}

// TestReshardRefusedWithoutQdrantReshardingOrWritesPaused: a shard count
// change that needs the point copy is refused as invalid input, naming
// the collections, why and what to do.
func TestReshardRefusedWithoutQdrantReshardingOrWritesPaused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sup   ReshardSupport
		opts  Options
		want  []string
		allow bool
	}{
		{"gate off", ReshardSupport{Known: true}, Options{Shards: 4},
			[]string{`collection "docs": 2 → 4 shards`, "cluster.resharding_enabled is off", "--writes-paused", "--shards keep", "Nothing was changed"}, false},
		{"gate unknown", ReshardSupport{}, Options{AutoShards: true},
			[]string{`collection "docs": 2 → 3 shards`, "Qdrant before 1.17", "--writes-paused"}, false},
		{"gate off, writes paused", ReshardSupport{Known: true}, Options{Shards: 4, WritesPaused: true}, nil, true},
		{"gate on", ReshardSupport{Enabled: true, Known: true}, Options{Shards: 4}, nil, true},
		{"shard count kept", ReshardSupport{Known: true}, Options{Shards: 2}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := State{Cluster: "prod", Peers: peers(3), Resharding: tc.sup, Collections: []Collection{coll("docs", 1, [][]uint64{{1}, {2}}, nil)}}
			p, err := MakePlan(st, tc.opts)
			if tc.allow {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("allowed: %+v", p.Collections[0].Reshard)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
