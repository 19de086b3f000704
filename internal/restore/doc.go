// Package restore turns a backup set back into collections on a Qdrant
// cluster whose pods may differ from the ones the backup was taken on.
//
// A restore runs in three steps that callers may stop between:
//
//   - Plan, a pure function of the manifest, the target topology and the
//     options, decides per collection and shard where each snapshot goes
//     (direct, consolidate, redistribute or reshard) and why. The plan is a
//     JSON value: `--dry-run -o json` prints exactly it.
//   - Preflight checks everything that can be checked before the cluster is
//     touched: object sizes and checksums, peer health, version, existing
//     collections, running transfers.
//   - Execute walks the plan phase by phase, records per-shard progress in a
//     Journal so that a rerun skips finished shards, and verifies the result.
//
// Run chains them for the command line and the Job (reading the target,
// showing the plan, taking the cluster lease through a hook). Execute
// first gives each freshly created, empty collection the planned replica
// placement, then recovers every shard on each planned replica with
// priority no_sync, so that no replica is marked Dead and a direct or
// consolidating restore moves no shard data between peers. Qdrant applies
// replica changes through consensus, asynchronously and per peer: a shard
// is journaled as recovered only once every peer shows its planned
// replicas Active and no transfer of it. The recorded strict mode is
// applied last, after verification.
//
// Shard counts are kept for every strategy except reshard, because Qdrant
// routes a point to a shard by hashing its id over the shard count: a
// snapshot restored into a collection with a different count would leave
// points in shards the router never asks.
package restore
