package workerset

import (
	"cmp"
	"slices"
)

// Item is one shard to share out between the workers of a set.
type Item struct {
	// Collection and ShardID order items of equal weight, so that the
	// split is the same for every reader of the plan.
	Collection string
	ShardID    uint32
	// Weight is the work the shard is: more than zero, so that empty
	// shards spread too.
	Weight uint64
	// Peers are the peers the shard's work falls on; PeerWeight is what it
	// adds to each of them.
	Peers      []uint64
	PeerWeight uint64
}

// Split shares items out between workers: it returns, for each worker,
// the indexes into items it takes, in items order. It is a pure function
// of its arguments, so every worker that reads the plan agrees on it.
//
// The heaviest item goes first, each to the worker with the least weight
// so far (longest-processing-time first: the heaviest share is at most
// 4/3 of the optimum); between equally loaded workers the one with the
// least weight on the item's peers wins, so each peer's shards are spread
// over the workers and no worker alone drains or feeds one peer; then the
// lowest index.
func Split(items []Item, workers int) [][]int {
	workers = max(workers, 1)
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ia, ib := items[a], items[b]
		return cmp.Or(
			cmp.Compare(ib.Weight, ia.Weight),
			cmp.Compare(ia.Collection, ib.Collection),
			cmp.Compare(ia.ShardID, ib.ShardID),
		)
	})
	load := make([]uint64, workers)
	onPeer := make([]map[uint64]uint64, workers)
	for w := range onPeer {
		onPeer[w] = map[uint64]uint64{}
	}
	peerLoad := func(w int, it Item) uint64 {
		var n uint64
		for _, p := range it.Peers {
			n += onPeer[w][p]
		}
		return n
	}
	shares := make([][]int, workers)
	for _, i := range order {
		it := items[i]
		best := 0
		for w := 1; w < workers; w++ {
			if cmp.Or(cmp.Compare(load[w], load[best]), cmp.Compare(peerLoad(w, it), peerLoad(best, it))) < 0 {
				best = w
			}
		}
		load[best] += it.Weight
		for _, p := range it.Peers {
			onPeer[best][p] += it.PeerWeight
		}
		shares[best] = append(shares[best], i)
	}
	for w := range shares {
		slices.Sort(shares[w])
	}
	return shares
}
