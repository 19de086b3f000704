package placement

import (
	"fmt"
	"slices"
	"testing"
)

// TestBalanceSpreadsAndMeetsTheFactor: for placements from a single peer,
// skewed ones and ones on peers that left, every shard ends with its
// factor on distinct peers of the set, the replicas per peer differ by at
// most one, and replicas already well placed stay.
func TestBalanceSpreadsAndMeetsTheFactor(t *testing.T) {
	tests := []struct {
		name string
		cur  Placement
		set  []uint64
		rf   int
		// kept are shard → peer pairs that must not move.
		kept map[uint32]uint64
	}{
		{"one peer to four, factor 1", Placement{0: {1}, 1: {1}, 2: {1}, 3: {1}}, []uint64{1, 2, 3, 4}, 1, map[uint32]uint64{0: 1}},
		{"one peer to four, factor 2", Placement{0: {1}, 1: {1}, 2: {1}, 3: {1}}, []uint64{1, 2, 3, 4}, 2, nil},
		{"a peer gone", Placement{0: {1, 2}, 1: {2, 3}, 2: {3, 1}}, []uint64{1, 2}, 2, nil},
		{"skewed after a scale-up", Placement{0: {1, 2}, 1: {2, 3}, 2: {3, 1}, 3: {1, 2}, 4: {2, 3}, 5: {3, 1}}, []uint64{1, 2, 3, 4, 5, 6}, 2, nil},
		{"balanced stays", Placement{0: {1, 2}, 1: {2, 3}, 2: {3, 1}}, []uint64{1, 2, 3}, 2, map[uint32]uint64{0: 1, 1: 2, 2: 3}},
		{"a factor above the peers", Placement{0: {1}, 1: {1}}, []uint64{1, 2}, 3, nil},
		{"a factor lowered", Placement{0: {1, 2, 3}, 1: {1, 2, 3}}, []uint64{1, 2, 3}, 1, map[uint32]uint64{0: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ids []uint32
			rf := map[uint32]int{}
			for id := range tc.cur {
				ids = append(ids, id)
				rf[id] = tc.rf
			}
			slices.Sort(ids)
			got := Balance(tc.cur, Goal{IDs: ids, RF: rf, Set: tc.set, Order: OrderOf(tc.set), Others: Load{}})
			want := min(tc.rf, len(tc.set))
			load := Load{}
			for _, id := range ids {
				reps := got[id]
				if len(reps) != want || len(slices.Compact(slices.Sorted(slices.Values(reps)))) != want {
					t.Errorf("shard %d on %v, want %d distinct peers", id, reps, want)
				}
				for _, p := range reps {
					if !slices.Contains(tc.set, p) {
						t.Errorf("shard %d on peer %d, outside %v", id, p, tc.set)
					}
					load[p]++
				}
			}
			lo, hi := load[tc.set[0]], load[tc.set[0]]
			for _, p := range tc.set {
				lo, hi = min(lo, load[p]), max(hi, load[p])
			}
			if hi-lo > 1 {
				t.Errorf("replicas per peer %v", load)
			}
			for id, p := range tc.kept {
				if !slices.Contains(got[id], p) {
					t.Errorf("shard %d left peer %d: %v", id, p, got[id])
				}
			}
		})
	}
}

// TestReconcileWith: a replica that cannot be copied from is dropped and
// replaced by a replication from a serving one; with none kept, the
// replication copies from where a move put the shard.
func TestReconcileWith(t *testing.T) {
	tests := []struct {
		name    string
		cur     Placement
		want    Placement
		serving func(uint32, uint64) bool
		ops     []Op
	}{
		{"a move and a replication from its target",
			Placement{0: {1}}, Placement{0: {2, 3}}, nil,
			[]Op{{Move, 0, 1, 2}, {Replicate, 0, 2, 3}}},
		{"a replication from a kept replica and a drop",
			Placement{0: {1, 2}}, Placement{0: {1}}, nil,
			[]Op{{Drop, 0, 2, 0}}},
		{"a replica on a stopped peer is dropped, not moved",
			Placement{0: {3, 1}}, Placement{0: {1, 2}}, func(_ uint32, p uint64) bool { return p != 3 },
			[]Op{{Replicate, 0, 1, 2}, {Drop, 0, 3, 0}}},
		{"nothing to do", Placement{0: {1, 2}}, Placement{0: {2, 1}}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ReconcileWith(tc.cur, tc.want, []uint32{0}, tc.serving)
			if fmt.Sprint(got) != fmt.Sprint(tc.ops) {
				t.Errorf("ops %v, want %v", got, tc.ops)
			}
		})
	}
}
