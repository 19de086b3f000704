// Package placement decides where the replicas of a collection's shards
// should live: given the current placement, the peers to spread over and
// each shard's replication factor, it computes a balanced placement that
// moves as few replicas as it can, and the cluster operations (move,
// replicate, drop) that turn one placement into the other.
//
// It is pure computation: the restore plans its redistribution with it,
// and qbackup rebalance plans the redistribution of a live cluster with
// the same rules, so both end on the same placement for the same input.
package placement
