package restore

import "github.com/qbackup/qbackup/internal/workerset"

// ShareShard is one shard to recover as share planning sees it.
type ShareShard struct {
	Collection string
	ShardID    uint32
	// Bytes is the object's size; Peers the peers it is recovered onto.
	Bytes int64
	Peers []uint64
}

// PlanShares splits the shards of a restore between workers: it returns,
// for each worker, the indexes into shards it recovers, in shards order
// (workerset.Split).
//
// A shard weighs the bytes it sends (its object's size once per peer it
// is recovered onto, plus one so that empty shards spread too), and puts
// its size on each receiving peer, so that no worker alone feeds one peer
// (a peer unpacks what it receives onto its own disk; its limit, not the
// worker's, is then the restore's).
func PlanShares(shards []ShareShard, workers int) [][]int {
	items := make([]workerset.Item, len(shards))
	for i, s := range shards {
		size := uint64(max(s.Bytes, 0))
		items[i] = workerset.Item{Collection: s.Collection, ShardID: s.ShardID,
			Weight: size*uint64(max(len(s.Peers), 1)) + 1, Peers: s.Peers, PeerWeight: size + 1}
	}
	return workerset.Split(items, workers)
}
