// Package qdrantsim is a multi-peer Qdrant simulator for tests, demos and
// benchmarks of qbackup.
//
// A Cluster holds one shared consensus state (peers, collections, shard
// placement, replica states, transfers, aliases, shard keys) and one Peer per
// simulated node. Each Peer owns its local replica data (points) and its
// stored snapshots, and serves Qdrant's REST API on its own loopback address
// (127.0.0.2, 127.0.0.3, ... like pod IPs), plus gRPC on a second port.
//
// The behaviour lives in methods on *Peer (CreateCollection, Upsert, Count,
// Scroll, CollectionClusterInfo, UpdateCollectionCluster, CreateShardSnapshot,
// RecoverShardSnapshot, ...). They return *Error values carrying Qdrant's
// error kind and message; the REST handlers (rest_*.go) and the gRPC server
// (grpc_*.go) only translate requests and responses. Every method acts as if
// the call had been received by that peer: snapshot operations are local to
// it, reads prefer its local replicas, cluster info is from its point of view.
//
// Addresses: peer i listens on BindBase+i (default 127.0.0.2). Linux routes
// all of 127.0.0.0/8 to the loopback interface, so no setup is needed. With
// port 0 every peer gets its own free port, so many simulators can run at
// once on the same addresses; with fixed ports (6333/6334) give each
// simulator a distinct BindBase (for example 127.0.10.2, 127.0.20.2).
//
// Stored snapshots live under Options.StateDir (a temporary directory by
// default), per peer, like Qdrant's snapshots_path; everything else is in
// memory. Faults and cluster changes are driven by Go methods (Peer.Stop,
// Peer.Start, Cluster.AddPeer, Cluster.RemovePeer, Peer.SetFaults,
// Cluster.SetSyntheticShard) or the same operations over HTTP
// (Cluster.AdminHandler, Cluster.ServeAdmin).
//
// Behaviours modelled from Qdrant's source, each in its own file: the
// 1.15 write lock per peer (locks.go), strict mode checks and rate limits
// (strict.go), the REST body limit and unlimited gRPC message sizes
// (limits.go), disk accounting with spooled uploads (disk.go),
// version-gated recovery behaviours (versionswitch.go), the update
// worker's lag and count estimates (counts.go), live writes
// (writeload.go), partial shard snapshots with their segment manifests
// (partial_snapshots.go, segment_versions.go) and resharding behind
// cluster.resharding_enabled (Options.ReshardingEnabled, resharding.go:
// refused by default as open-source Qdrant refuses it).
//
// Realism (Options.Realism, $QDRANTSIM_REALISM, qdrant-sim --realism):
// "off" applies cluster changes at once and finishes every transfer after
// Options.TransferDelay, as earlier versions did. "default" and "harsh"
// play Qdrant's consensus: every metadata change (replica state, replica
// added or removed, transfer start/restart/finish/abort, shard keys,
// collection create/delete/update, aliases, payload indexes) is a proposal
// committed in order; each peer applies committed entries after its own
// random delay (20-250 ms, harsh up to 1.5 s), never out of commit order
// except that harsh applies 5% of shard-recovery state proposals before the
// previous one of the same recovery. What Qdrant answers from consensus
// state (GET /cluster commit, collection list/existence/config, aliases,
// shard keys, GET /collections/{c}/cluster) comes from the receiving
// peer's applied view. Collection and shard key creation and alias
// create/rename return once every peer applied them, other cluster
// operations once the receiving peer did; shard snapshot recovery and
// upload return before their state proposals are applied, and until then
// the receiving peer lists its recovered replica as Dead and the others do
// not list it. Cluster.DropProposals (admin POST /consensus/drop) loses
// proposals as a leader change does: never applied, only logged; a caller
// waiting on one fails after Options.ConsensusTimeout. Transfers last the
// shard's bytes at Options.TransferRate (200 MiB/s, harsh 20 MiB/s), are
// accepted into a peer that already holds a replica, and replace the
// target's data with the source's at their end; automatic recovery of Dead
// replicas waits about three Qdrant ticks, keeps one transfer per peer and
// collection, and tries wal_delta before the version's default method.
// Options.Seed drives every random choice (Cluster.Seed reports a picked
// one; Cluster.LogSeedOnFailure prints it in failing tests).
//
// Options.PeerRate (qdrant-sim --peer-rate) caps the snapshot bytes each
// peer streams, serves and receives per second, all its requests together
// (peerrate.go). Qdrant has no such setting: it stands for one machine's
// disk and network, so that benchmarks on one host, where every peer
// shares the same cores, see parallelism across peers as across machines.
//
// Known approximations: without Options.ApproximateCounts point writes
// are applied at once even with wait=false and non-exact counts are exact;
// with it, each replica is one segment (Qdrant sums per-segment estimates)
// and an indexed condition is estimated by its exact match count.
// write_consistency_factor only decides whether a write refused by a
// locked or rate-limited replica fails; a down peer's replica is marked Dead without
// counting as a failure. A forwarded write refused by a locked peer embeds
// tonic's status text with empty details and metadata. Strict mode
// enforces search_allow_exact, max_query_limit (scroll, facet),
// upsert_max_batchsize, the read/write rate limits, unindexed filtering
// (retrieve and update), filter_max_conditions, condition_max_size, the
// collection vector/payload/points limits, sparse and multivector limits
// and max_payload_index_count (strict_filter.go, strict_size.go); the
// collection limits read each peer's cached statistics, refreshed by every
// 32nd checked write as Qdrant's are, and the payload size is gridstore
// blocks that rewrites fill until the next flush (segment_versions.go;
// the payload JSON is counted uncompressed where Qdrant stores it LZ4
// compressed). A filtered update costs its
// estimated cardinality in write tokens. Disk usage of replicas is estimated (replicaBytes: the synthetic
// size, or per point 16 bytes, 4 a vector dimension and the payload's JSON); the wording of a spool that
// runs out of disk (actix-multipart's TempFile error) and of a failed
// unpacking is approximate. Point reads and writes route by the committed replica states, not the receiving peer's
// view; peer membership (GET /cluster peers) is not delayed; a lost
// proposal is rolled back in the committed state but local data an
// operation already changed (a reset transfer target) stays; the WAL is a
// lineage plus an operation counter (one batch is one operation) and
// wal_capacity_mb of operations at the shard's average point size;
// transfer bytes are estimated (16 bytes a point, 4 a dimension, the
// payload's JSON); a transfer's end copies the source's data at that
// instant; with realism "off" wal_delta transfers never fall back;
// dense, sparse and multi vectors are stored as given (no cosine
// normalisation, no inference objects, float16 and turbo4 kept as float32;
// uint8 storage casts to bytes);
// filters are Qdrant's filter language evaluated without an index
// (filter.go: match value/any/except/text/text_any/phrase/prefix, float and
// datetime ranges, geo, values_count, is_empty, is_null, has_id,
// has_vector, nested, min_should, slice), so a full-text index's
// tokenizer, lowercasing and stop words are not applied (text matches are
// substrings); payload numbers are float64, so 1.0 matches the integer 1;
// facets and order_by count exactly; no search/query endpoints; payload
// indexes are recorded, not built; the segment format inside snapshots is
// the simulator's own (points.jsonl, synthetic.bin; partial snapshots
// split a segment into id_tracker, vector_storage[-name] and
// payload_storage JSON lines, versioned per file as Qdrant's segment
// manifest does, partial_snapshots.go); a full snapshot does not carry
// segment versions, so a replica recovered from one starts at version 0
// under a new segment id; partial snapshots of synthetic shards are
// refused; creation_time is the
// file's modification time. Checked against Qdrant's own REST suite
// (UPSTREAM_TESTS.md): /readyz always answers ready; named vector
// create/delete (1.19) is one consensus entry rather than a shard update;
// payload JSON paths model objects, [] and [i] only; update modes are
// refused over gRPC; the 1.19 memory placements are accepted on every emulated version.
//
// The simulator shares no code with the product: if both used the same
// hand-written view of Qdrant, a misreading would pass every test.
package qdrantsim
