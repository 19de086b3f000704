package backup

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestPlanShares(t *testing.T) {
	ch := func(coll string, id uint32, peer, points uint64) Choice {
		return Choice{Collection: coll, ShardID: id, PeerID: peer, PointsCount: points}
	}
	cases := []struct {
		name    string
		choices []Choice
		workers int
		want    [][]int
	}{
		{"one worker takes everything", []Choice{ch("a", 0, 1, 5), ch("a", 1, 2, 9)}, 1, [][]int{{0, 1}}},
		{
			// Equal loads: the second wave goes to the worker that has
			// none of the shard's peer yet, so every worker reads two peers.
			"balanced, each peer spread over the workers",
			[]Choice{ch("a", 0, 1, 100), ch("a", 1, 2, 100), ch("a", 2, 3, 100), ch("b", 0, 1, 50), ch("b", 1, 2, 50), ch("b", 2, 3, 50)},
			3, [][]int{{0, 4}, {1, 3}, {2, 5}},
		},
		{
			// The heaviest shard alone; the light ones fill the other worker.
			"by weight, heaviest first",
			[]Choice{ch("a", 0, 1, 1000), ch("a", 1, 1, 300), ch("a", 2, 2, 300), ch("a", 3, 3, 300)},
			2, [][]int{{0}, {1, 2, 3}},
		},
		{
			"more workers than shards leaves shares empty",
			[]Choice{ch("a", 0, 1, 10), ch("a", 1, 2, 10)},
			3, [][]int{{0}, {1}, nil},
		},
		{
			// Empty shards weigh one each, so they are spread too.
			"empty shards are spread",
			[]Choice{ch("a", 0, 1, 0), ch("a", 1, 1, 0), ch("a", 2, 2, 0), ch("a", 3, 2, 0)},
			2, [][]int{{0, 2}, {1, 3}},
		},
		{"no shards", nil, 2, [][]int{nil, nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanShares(tc.choices, tc.workers)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("PlanShares = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPlanSharesProperties: every shard in exactly one share, the result
// a function of the input only, and the heaviest share within the
// longest-processing-time bound (4/3 of the optimum, itself at least the
// mean and at least the heaviest shard).
func TestPlanSharesProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		n, workers := rng.IntN(40), 1+rng.IntN(6)
		choices := make([]Choice, n)
		var total, heaviest uint64
		for i := range choices {
			choices[i] = Choice{Collection: fmt.Sprintf("c%d", rng.IntN(3)), ShardID: uint32(i), PeerID: uint64(1 + rng.IntN(4)), PointsCount: uint64(rng.IntN(10000))}
			total += choices[i].PointsCount + 1
			heaviest = max(heaviest, choices[i].PointsCount+1)
		}
		shares := PlanShares(choices, workers)
		if again := PlanShares(choices, workers); !reflect.DeepEqual(shares, again) {
			t.Fatalf("round %d: not deterministic: %v then %v", round, shares, again)
		}
		if len(shares) != workers {
			t.Fatalf("round %d: %d shares for %d workers", round, len(shares), workers)
		}
		seen := make([]int, n)
		var worst uint64
		for _, s := range shares {
			var load uint64
			for _, i := range s {
				seen[i]++
				load += choices[i].PointsCount + 1
			}
			worst = max(worst, load)
		}
		for i, k := range seen {
			if k != 1 {
				t.Fatalf("round %d: shard %d in %d shares", round, i, k)
			}
		}
		lower := max(heaviest, (total+uint64(workers)-1)/uint64(workers))
		if worst*3 > lower*4+3 {
			t.Fatalf("round %d: heaviest share %d, more than 4/3 of the lower bound %d", round, worst, lower)
		}
	}
}
