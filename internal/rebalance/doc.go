// Package rebalance reshapes a live cluster without a backup: it spreads
// the replicas of its collections over its Ready peers, restores each
// collection's replication factor and, with --shards, reshards them;
// typically after a restore consolidated the shards onto a few pods and
// the StatefulSet was scaled back up.
//
// The plan is made with internal/placement, the rules the restore uses for
// its own redistribution, and carried out by the restore's converge loop
// (restore.LiveConverge): replicas are moved or replicated first and
// dropped only once the shard's wanted replicas are Active, the last
// Active replica of a shard is never dropped, each peer takes part in at
// most one incoming and one outgoing transfer at a time, and a collection
// is done once every peer sees the same placement through consensus.
//
// The plan is journaled before the first change: a rerun after a kill
// goes on towards the same placement instead of planning anew from a
// half-moved cluster (where a moving shard's target replica is not Active
// yet and a fresh plan would drop it).
package rebalance
