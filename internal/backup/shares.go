package backup

import "github.com/qbackup/qbackup/internal/workerset"

// PlanShares splits the chosen shards of a set between workers: it
// returns, for each worker, the indexes into choices it snapshots, in
// choices order (workerset.Split).
//
// Shards are weighed by their points count plus one (the bytes of a shard
// are not known before its snapshot; the points are the best estimate
// the cluster gives, and the one keeps empty shards spread too); the
// weight falls on the shard's source peer, so that no worker alone
// drains one peer.
func PlanShares(choices []Choice, workers int) [][]int {
	items := make([]workerset.Item, len(choices))
	for i, c := range choices {
		w := c.PointsCount + 1
		items[i] = workerset.Item{Collection: c.Collection, ShardID: c.ShardID, Weight: w, Peers: []uint64{c.PeerID}, PeerWeight: w}
	}
	return workerset.Split(items, workers)
}
