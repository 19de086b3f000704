package backup

import (
	"cmp"
	"slices"
)

// PlanShares splits the chosen shards of a set between workers: it
// returns, for each worker, the indexes into choices it snapshots, in
// choices order. It is a pure function of its arguments, so every reader
// of the plan agrees on it.
//
// Shards are weighed by their points count plus one (the bytes of a shard
// are not known before its snapshot; the points are the best estimate
// the cluster gives, and the one keeps empty shards spread too). The
// heaviest shard goes first, each to the worker with the least weight so
// far (longest-processing-time first: the heaviest share is at most 4/3
// of the optimum); between equally loaded workers the one with the least
// weight from the shard's source peer wins, so each peer's shards are
// spread over the workers and no worker alone drains one peer; then the
// lowest index.
func PlanShares(choices []Choice, workers int) [][]int {
	if workers < 1 {
		workers = 1
	}
	order := make([]int, len(choices))
	for i := range order {
		order[i] = i
	}
	weight := func(c Choice) uint64 { return c.PointsCount + 1 }
	slices.SortStableFunc(order, func(a, b int) int {
		ca, cb := choices[a], choices[b]
		return cmp.Or(
			cmp.Compare(weight(cb), weight(ca)),
			cmp.Compare(ca.Collection, cb.Collection),
			cmp.Compare(ca.ShardID, cb.ShardID),
		)
	})
	load := make([]uint64, workers)
	fromPeer := make([]map[uint64]uint64, workers)
	for w := range fromPeer {
		fromPeer[w] = map[uint64]uint64{}
	}
	shares := make([][]int, workers)
	for _, i := range order {
		c := choices[i]
		best := 0
		for w := 1; w < workers; w++ {
			if cmp.Or(cmp.Compare(load[w], load[best]), cmp.Compare(fromPeer[w][c.PeerID], fromPeer[best][c.PeerID])) < 0 {
				best = w
			}
		}
		load[best] += weight(c)
		fromPeer[best][c.PeerID] += weight(c)
		shares[best] = append(shares[best], i)
	}
	for w := range shares {
		slices.Sort(shares[w])
	}
	return shares
}
