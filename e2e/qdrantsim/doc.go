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
// Known approximations: point writes are applied at once even with
// wait=false and write_consistency_factor is not enforced; counts are always
// exact; dense, sparse and multi vectors are stored as given (no cosine
// normalisation, no inference objects); filters cover must/must_not/should with match, range, has_id, is_null,
// is_empty; payload numbers are float64; no search/query endpoints; payload
// indexes are recorded, not built; the segment format inside snapshots is
// the simulator's own (points.jsonl, synthetic.bin); creation_time is the
// file's modification time.
//
// The simulator shares no code with the product: if both used the same
// hand-written view of Qdrant, a misreading would pass every test.
package qdrantsim
