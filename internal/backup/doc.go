// Package backup is the backup engine: it takes one logical, cluster-wide
// backup set of a Qdrant cluster. Looking after the sets once taken is
// other packages' job: verify re-reads them, prune applies retention,
// catalogsync rebuilds the catalog from storage.
//
// Run reads the cluster (collections, configs, aliases, shard keys and
// every peer's view of every collection's shards), chooses one Active
// replica per shard spread over the peers, snapshots all shards in
// parallel (bounded globally and per peer) straight into storage, and
// writes the manifest last: a set without a manifest is not a backup. On
// any failure or cancellation the objects written so far are deleted, the
// catalog row is marked failed and the lock is released.
//
// # Memory budget
//
// Nothing is staged on disk and memory does not grow with data size. Each
// shard in flight holds:
//
//   - the storage backend's upload buffers: part size × (one more than
//     the parts in flight) for S3 multipart uploads; the file backend
//     streams through a 32 KiB buffer;
//   - with zstd, one single-threaded encoder: about 2 × window
//     (ZstdWindow, 8 MiB) plus its match tables: about 20 MiB measured;
//   - three 32 KiB copy buffers (peer body, pipe, upload).
//
// Total ≈ Concurrency × (part size × (upload concurrency + 1) + 20 MiB +
// 96 KiB), plus the manifest (kilobytes per shard) built at the end. With
// 4 shards in flight, 16 MiB parts and 4 parts in flight per upload:
// 4 × (80 + 20) MiB ≈ 400 MiB; with the smallest S3 parts (5 MiB) and 2
// in flight: 4 × (15 + 20) MiB ≈ 140 MiB. Lower Concurrency, the part
// size or the upload concurrency to fit a smaller pod; without zstd the
// 20 MiB term goes away.
//
// The package consumes small interfaces (Peer, Store, Catalog) satisfied
// by the Qdrant client, the storage backends and the catalog, so that it
// is tested with fakes and wired by the command.
package backup
