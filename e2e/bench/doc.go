// Package bench holds benchmarks that cross package boundaries: a whole
// backup and restore through the real engine and Qdrant client against an
// in-process simulated cluster, compared with what plain HTTP gets out of
// (and into) the same peers. It has no code of its own; see bench_test.go.
//
// Sizes come from the environment, so `make bench` stays short and bigger
// runs need no code change:
//
//	QBACKUP_BENCH_SHARD_MIB    shard sizes to compare, default "64,128"
//	QBACKUP_BENCH_SHARDS       shards per peer, default 2 (3 peers)
//	QBACKUP_BENCH_DIR          where the file store lives, default a
//	                           temporary directory under /dev/shm if present
package bench
