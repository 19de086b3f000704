package restore

import (
	"fmt"
	"strconv"
)

// MaxShards caps a requested shard count. Qdrant itself sets no ceiling
// (shard_number is `range(min = 1)` in Qdrant v1.19.0
// lib/storage/src/content_manager/collection_meta_ops.rs), but every shard
// is a directory with its own WAL, segments and optimizer on each replica,
// and Qdrant advises a few shards per node: a count past this is a typo
// (100000 would create 100,000 shards).
const MaxShards = 1000

// ParseShards reads a shard choice as both binaries take it: a count from
// 1 to MaxShards, auto (PlanOptions.AutoShards), or keep (also empty): the
// recorded count. The error says what is allowed, for the caller to
// prefix with the flag's name.
func ParseShards(v string) (count uint32, auto bool, err error) {
	switch v {
	case "", "keep":
		return 0, false, nil
	case "auto":
		return 0, true, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("not a shard count: give a count from 1 to %d, auto, or keep (the recorded shard count)", MaxShards)
	}
	if n < 1 || n > MaxShards {
		return 0, false, fmt.Errorf("must be 1 to %d, auto, or keep; leave it out to keep the recorded shard count", MaxShards)
	}
	return uint32(n), false, nil
}
