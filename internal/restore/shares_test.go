package restore

import (
	"slices"
	"testing"
)

func TestPlanShares(t *testing.T) {
	tests := []struct {
		name    string
		shards  []ShareShard
		workers int
		want    [][]int
	}{
		{"no shards", nil, 3, [][]int{nil, nil, nil}},
		{"one worker takes everything", []ShareShard{{"a", 0, 10, []uint64{1}}, {"a", 1, 5, []uint64{2}}}, 1, [][]int{{0, 1}}},
		{"fewer workers than asked is no error", []ShareShard{{"a", 0, 10, []uint64{1}}}, 0, [][]int{{0}}},
		{"heaviest first, each to the least loaded",
			[]ShareShard{{"a", 0, 10, []uint64{1}}, {"a", 1, 30, []uint64{2}}, {"a", 2, 20, []uint64{3}}, {"a", 3, 5, []uint64{1}}},
			2, [][]int{{1, 3}, {0, 2}}},
		{"bytes count once per receiving peer",
			[]ShareShard{{"a", 0, 10, []uint64{1, 2, 3}}, {"a", 1, 25, []uint64{1}}, {"a", 2, 4, []uint64{2}}},
			2, [][]int{{0}, {1, 2}}},
		{"equal loads: the worker sending least to the shard's peers",
			[]ShareShard{{"a", 0, 10, []uint64{1}}, {"a", 1, 10, []uint64{2}}, {"a", 2, 10, []uint64{1}}, {"a", 3, 10, []uint64{2}}},
			2, [][]int{{0, 3}, {1, 2}}},
		{"empty shards spread too",
			[]ShareShard{{"a", 0, 0, []uint64{1}}, {"a", 1, 0, []uint64{1}}, {"a", 2, 0, []uint64{1}}},
			3, [][]int{{0}, {1}, {2}}},
		{"more workers than shards",
			[]ShareShard{{"a", 0, 7, []uint64{1}}},
			3, [][]int{{0}, nil, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PlanShares(tt.shards, tt.workers)
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Fatalf("PlanShares = %v, want %v", got, tt.want)
			}
			again := PlanShares(slices.Clone(tt.shards), tt.workers)
			if !slices.EqualFunc(got, again, slices.Equal) {
				t.Fatalf("not deterministic: %v then %v", got, again)
			}
		})
	}
}

// TestPlanSharesSpreadsEachPeer: 12 equal shards, 4 on each of 3 peers,
// over 2 workers: each worker feeds every peer 2 shards, not one worker
// a whole peer.
func TestPlanSharesSpreadsEachPeer(t *testing.T) {
	var shards []ShareShard
	for i := range 12 {
		shards = append(shards, ShareShard{Collection: "a", ShardID: uint32(i), Bytes: 100, Peers: []uint64{uint64(i%3 + 1)}})
	}
	for w, share := range PlanShares(shards, 2) {
		per := map[uint64]int{}
		for _, i := range share {
			per[shards[i].Peers[0]]++
		}
		for p := uint64(1); p <= 3; p++ {
			if per[p] != 2 {
				t.Errorf("worker %d sends %d shards to peer %d, want 2 (%v)", w, per[p], p, per)
			}
		}
	}
}
