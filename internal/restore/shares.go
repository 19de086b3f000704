package restore

import (
	"cmp"
	"slices"
)

// ShareShard is one shard to recover as share planning sees it.
type ShareShard struct {
	Collection string
	ShardID    uint32
	// Bytes is the object's size; Peers the peers it is recovered onto.
	Bytes int64
	Peers []uint64
}

// PlanShares splits the shards of a restore between workers: it returns,
// for each worker, the indexes into shards it recovers, in shards order.
// It is a pure function of its arguments.
//
// A shard weighs the bytes it sends (its object's size once per peer it
// is recovered onto, plus one so that empty shards spread too). The
// heaviest shard goes first, each to the worker with the least weight so
// far (longest-processing-time first: the heaviest share is at most 4/3
// of the optimum); between equally loaded workers the one sending the
// least to the shard's peers wins, so that each receiving peer's shards
// are spread over the workers and no worker alone feeds one peer (a
// peer unpacks what it receives onto its own disk; its limit, not the
// worker's, is then the restore's); then the lowest index.
func PlanShares(shards []ShareShard, workers int) [][]int {
	if workers < 1 {
		workers = 1
	}
	weight := func(s ShareShard) uint64 { return uint64(max(s.Bytes, 0))*uint64(max(len(s.Peers), 1)) + 1 }
	order := make([]int, len(shards))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		sa, sb := shards[a], shards[b]
		return cmp.Or(
			cmp.Compare(weight(sb), weight(sa)),
			cmp.Compare(sa.Collection, sb.Collection),
			cmp.Compare(sa.ShardID, sb.ShardID),
		)
	})
	load := make([]uint64, workers)
	toPeer := make([]map[uint64]uint64, workers)
	for w := range toPeer {
		toPeer[w] = map[uint64]uint64{}
	}
	peerLoad := func(w int, s ShareShard) uint64 {
		var n uint64
		for _, p := range s.Peers {
			n += toPeer[w][p]
		}
		return n
	}
	shares := make([][]int, workers)
	for _, i := range order {
		s := shards[i]
		best := 0
		for w := 1; w < workers; w++ {
			if cmp.Or(cmp.Compare(load[w], load[best]), cmp.Compare(peerLoad(w, s), peerLoad(best, s))) < 0 {
				best = w
			}
		}
		load[best] += weight(s)
		for _, p := range s.Peers {
			toPeer[best][p] += uint64(max(s.Bytes, 0)) + 1
		}
		shares[best] = append(shares[best], i)
	}
	for w := range shares {
		slices.Sort(shares[w])
	}
	return shares
}
