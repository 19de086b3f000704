package qdrantsim

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The resharding tests follow tests/consensus_tests/test_resharding.py of
// Qdrant v1.19.0: documented calls go through the validating client,
// the steps Qdrant hides from its OpenAPI document through a plain one.

func TestReshardingIsRefusedWithoutTheGate(t *testing.T) {
	c := startCluster(t, Options{Peers: 3})
	v := newValidatedClient(t, c.Peers()[0])
	createCollection(t, v, "c", 2, 1)
	upsertN(t, v, "c", 50)
	before := replicaStates(t, v, "c")

	for _, tc := range []struct {
		name string
		op   any
		want string
	}{
		{"start up", map[string]any{"start_resharding": map[string]any{"direction": "up"}}, "Bad request: resharding is only supported in Qdrant Cloud"},
		{"start down", map[string]any{"start_resharding": map[string]any{"direction": "down"}}, "Bad request: resharding is only supported in Qdrant Cloud"},
		// Abort is not gated: with nothing running it says so.
		{"abort", map[string]any{"abort_resharding": map[string]any{}}, "Bad request: resharding is not in progress for collection c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := v.errorOf("POST", "/collections/c/cluster", tc.op, 400); msg != tc.want {
				t.Errorf("got %q, want %q", msg, tc.want)
			}
		})
	}
	var tel Telemetry
	v.ok("GET", "/telemetry", nil, &tel)
	if tel.Cluster.ReshardingEnabled == nil || *tel.Cluster.ReshardingEnabled {
		t.Errorf("telemetry cluster.resharding_enabled = %v, want false", tel.Cluster.ReshardingEnabled)
	}
	after := replicaStates(t, v, "c")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("replicas changed: %v -> %v", before, after)
	}
	if got := len(allPoints(t, v, "c")); got != 51 {
		t.Errorf("points after refusals: %d, want 51", got)
	}
}

// reshardView is what the resharding tests read of the cluster info.
type reshardView struct {
	PeerID       uint64 `json:"peer_id"`
	ShardCount   int    `json:"shard_count"`
	LocalShards  []shardReplica
	RemoteShards []shardReplica
	Transfers    []ShardTransferInfo `json:"shard_transfers"`
	Ops          []ReshardingInfo    `json:"resharding_operations"`
}

type shardReplica struct {
	ShardID uint32 `json:"shard_id"`
	PeerID  uint64 `json:"peer_id"`
	State   string `json:"state"`
}

func (v *reshardView) UnmarshalJSON(b []byte) error {
	var raw struct {
		PeerID       uint64              `json:"peer_id"`
		ShardCount   int                 `json:"shard_count"`
		LocalShards  []shardReplica      `json:"local_shards"`
		RemoteShards []shardReplica      `json:"remote_shards"`
		Transfers    []ShardTransferInfo `json:"shard_transfers"`
		Ops          []ReshardingInfo    `json:"resharding_operations"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*v = reshardView{PeerID: raw.PeerID, ShardCount: raw.ShardCount, LocalShards: raw.LocalShards, RemoteShards: raw.RemoteShards, Transfers: raw.Transfers, Ops: raw.Ops}
	for i := range v.LocalShards {
		v.LocalShards[i].PeerID = raw.PeerID
	}
	return nil
}

func (v reshardView) replicas(shard uint32) map[uint64]string {
	out := map[uint64]string{}
	for _, r := range append(append([]shardReplica(nil), v.LocalShards...), v.RemoteShards...) {
		if r.ShardID == shard {
			out[r.PeerID] = r.State
		}
	}
	return out
}

func clusterView(t *testing.T, v client, coll string) reshardView {
	t.Helper()
	var out reshardView
	v.ok("GET", "/collections/"+coll+"/cluster", nil, &out)
	return out
}

func waitNoTransfer(t *testing.T, v client, coll string) {
	t.Helper()
	waitFor(t, "transfers to end", func() bool { return len(clusterView(t, v, coll).Transfers) == 0 })
}

// pointIDs scrolls the collection and returns its point ids, failing on
// a point seen twice.
func pointIDs(t *testing.T, v client, coll string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, raw := range allPoints(t, v, coll) {
		var p struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if out[string(p.ID)] {
			t.Errorf("point %s read twice", p.ID)
		}
		out[string(p.ID)] = true
	}
	return out
}

// upsertRange writes points from..to-1.
func upsertRange(t *testing.T, v client, coll string, from, to int) {
	t.Helper()
	var pts []map[string]any
	for i := from; i < to; i++ {
		pts = append(pts, map[string]any{"id": i, "vector": []float32{float32(i), 1, 2, 3}})
	}
	v.ok("PUT", "/collections/"+coll+"/points?wait=true", map[string]any{"points": pts}, nil)
}

// localCounts sums, per shard, the points of one replica that belong to
// the shard by the collection's ring, and the points that do not.
func localCounts(c *Cluster, coll string) (belong, stray int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	col := c.colls[coll]
	ring := col.ringFor(nil, true)
	for _, id := range col.shardIDs() {
		pid := col.shards[id].peerIDs()[0]
		for pt := range c.peerLocked(pid).data[coll][id].points {
			if s, _ := ring.shardFor(pt); s == id {
				belong++
			} else {
				stray++
			}
		}
	}
	return belong, stray
}

func TestReshardingUpAndDown(t *testing.T) {
	c := startCluster(t, Options{Peers: 3, ReshardingEnabled: true})
	v := newValidatedClient(t, c.Peers()[0])
	raw := newClient(t, c.Peers()[0])
	createCollection(t, v, "c", 2, 2)
	upsertRange(t, v, "c", 1, 301)
	cluster := "/collections/c/cluster"

	var tel Telemetry
	v.ok("GET", "/telemetry", nil, &tel)
	if tel.Cluster.ReshardingEnabled == nil || !*tel.Cluster.ReshardingEnabled {
		t.Fatalf("telemetry cluster.resharding_enabled = %v, want true", tel.Cluster.ReshardingEnabled)
	}

	// Up: 2 → 3 shards.
	v.ok("POST", cluster, map[string]any{"start_resharding": map[string]any{"direction": "up"}}, nil)
	info := clusterView(t, v, "c")
	if len(info.Ops) != 1 || info.Ops[0].Direction != "up" || info.Ops[0].ShardID != 2 || info.ShardCount != 3 {
		t.Fatalf("after start: resharding_operations %+v, shard_count %d", info.Ops, info.ShardCount)
	}
	target := info.Ops[0].PeerID
	if got := info.replicas(2); len(got) != 1 || got[target] != StateResharding {
		t.Fatalf("new shard replicas %v, want one Resharding on %d", got, target)
	}
	// The new shard cannot be dropped (test_resharding_try_remove_target_shard).
	v.errorOf("POST", cluster, map[string]any{"drop_replica": map[string]any{"shard_id": 2, "peer_id": target}}, 400)
	// Concurrent operations are refused as Qdrant refuses them.
	if msg := v.errorOf("POST", cluster, map[string]any{"start_resharding": map[string]any{"direction": "up"}}, 400); !strings.Contains(msg, "is already in progress for collection c") {
		t.Errorf("second start: %q", msg)
	}
	if msg := raw.errorOf("POST", cluster, map[string]any{"commit_write_hash_ring": map[string]any{}}, 400); !strings.Contains(msg, "expected resharding stage ReadHashRingCommitted, but resharding is at stage MigratingPoints") {
		t.Errorf("commit write first: %q", msg)
	}
	if msg := raw.errorOf("POST", cluster, map[string]any{"finish_resharding": map[string]any{}}, 400); !strings.Contains(msg, "expected resharding stage WriteHashRingCommitted") {
		t.Errorf("finish first: %q", msg)
	}
	// A resharding transfer without a target shard.
	src := info.replicas(0)
	var from uint64
	for pid := range src {
		from = pid
	}
	if msg := v.errorOf("POST", cluster, map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": from, "to_peer_id": target, "method": MethodReshardingStream}}, 400); !strings.Contains(msg, "Target shard is not set for resharding transfer") {
		t.Errorf("no target shard: %q", msg)
	}

	// Writes during the migration reach the new shard through the new ring.
	upsertRange(t, v, "c", 301, 351)
	for _, s := range []uint32{0, 1} {
		var from uint64
		for pid := range info.replicas(s) {
			if pid != target || from == 0 {
				from = pid
			}
		}
		if from == target {
			t.Fatalf("shard %d has no replica outside the target peer %d", s, target)
		}
		raw.ok("POST", cluster, map[string]any{"replicate_shard": map[string]any{"shard_id": s, "to_shard_id": 2, "from_peer_id": from, "to_peer_id": target, "method": MethodReshardingStream}}, nil)
		if tr := clusterView(t, v, "c").Transfers; len(tr) != 1 || tr[0].ToShardID == nil || *tr[0].ToShardID != 2 {
			t.Fatalf("resharding transfer listed as %+v", tr)
		}
		upsertRange(t, v, "c", 351+int(s)*10, 361+int(s)*10)
		waitNoTransfer(t, v, "c")
		if st := clusterView(t, v, "c").replicas(2)[target]; st != StateResharding {
			t.Fatalf("after migrating shard %d the target is %s, want Resharding", s, st)
		}
	}
	// Before the read ring is committed the new shard is not read.
	if got := len(pointIDs(t, v, "c")); got != 370 {
		t.Errorf("points while migrating: %d, want 370", got)
	}
	raw.ok("POST", cluster, map[string]any{"finish_migrating_points": map[string]any{}}, nil)
	if st := clusterView(t, v, "c").replicas(2)[target]; st != StateActive {
		t.Fatalf("after finish_migrating_points: %s", st)
	}
	// The new shard gets its replication factor.
	other := c.Peers()[0].ID()
	if other == target {
		other = c.Peers()[1].ID()
	}
	v.ok("POST", cluster, map[string]any{"replicate_shard": map[string]any{"shard_id": 2, "from_peer_id": target, "to_peer_id": other, "method": "stream_records"}}, nil)
	waitNoTransfer(t, v, "c")
	raw.ok("POST", cluster, map[string]any{"commit_read_hash_ring": map[string]any{}}, nil)
	if msg := v.errorOf("POST", cluster, map[string]any{"abort_resharding": map[string]any{}}, 400); !strings.Contains(msg, "because read hash ring has been committed already") {
		t.Errorf("abort after read commit: %q", msg)
	}
	upsertRange(t, v, "c", 400, 420)
	if got := len(pointIDs(t, v, "c")); got != 390 {
		t.Errorf("points after the read ring: %d, want 390", got)
	}
	raw.ok("POST", cluster, map[string]any{"commit_write_hash_ring": map[string]any{}}, nil)
	// The senders still hold the migrated points until they are cleaned.
	if _, stray := localCounts(c, "c"); stray == 0 {
		t.Errorf("no migrated point left on the senders before cleanup")
	}
	for _, s := range []uint32{0, 1} {
		for pid := range clusterView(t, v, "c").replicas(s) {
			newClient(t, c.Peer(pid)).ok("POST", fmt.Sprintf("/collections/c/shards/%d/cleanup?wait=true", s), nil, nil)
		}
	}
	raw.ok("POST", cluster, map[string]any{"finish_resharding": map[string]any{}}, nil)
	info = clusterView(t, v, "c")
	if info.Ops != nil || info.ShardCount != 3 {
		t.Fatalf("after finish: resharding_operations %+v, shard_count %d", info.Ops, info.ShardCount)
	}
	var coll struct {
		Config struct {
			Params struct {
				ShardNumber int `json:"shard_number"`
			} `json:"params"`
		} `json:"config"`
	}
	v.ok("GET", "/collections/c", nil, &coll)
	if coll.Config.Params.ShardNumber != 3 {
		t.Errorf("shard_number %d, want 3", coll.Config.Params.ShardNumber)
	}
	if belong, stray := localCounts(c, "c"); belong != 390 || stray != 0 {
		t.Errorf("after resharding up: %d points in place, %d stray; want 390, 0", belong, stray)
	}
	if got := len(pointIDs(t, v, "c")); got != 390 {
		t.Errorf("points after resharding up: %d, want 390", got)
	}

	// Down: 3 → 2 shards; every replica of the remaining shards receives
	// the removed shard's points.
	v.ok("POST", cluster, map[string]any{"start_resharding": map[string]any{"direction": "down"}}, nil)
	info = clusterView(t, v, "c")
	if len(info.Ops) != 1 || info.Ops[0].Direction != "down" || info.Ops[0].ShardID != 2 {
		t.Fatalf("after start down: %+v", info.Ops)
	}
	if msg := raw.errorOf("POST", cluster, map[string]any{"finish_migrating_points": map[string]any{}}, 400); msg != "Bad request: shard ID must be specified when resharding down" {
		t.Errorf("finish_migrating_points without shard: %q", msg)
	}
	removed := info.replicas(2)
	for _, s := range []uint32{0, 1} {
		for pid := range info.replicas(s) {
			var from uint64
			for r := range removed {
				if r != pid {
					from = r
				}
			}
			if from == 0 {
				t.Fatalf("no source for shard %d on %d", s, pid)
			}
			raw.ok("POST", cluster, map[string]any{"replicate_shard": map[string]any{"shard_id": 2, "to_shard_id": s, "from_peer_id": from, "to_peer_id": pid, "method": MethodReshardingStream}}, nil)
			waitNoTransfer(t, v, "c")
			if st := clusterView(t, v, "c").replicas(s)[pid]; st != StateReshardingScaleDown {
				t.Fatalf("receiver %d/%d is %s, want ReshardingScaleDown", s, pid, st)
			}
			raw.ok("POST", cluster, map[string]any{"finish_migrating_points": map[string]any{"shard_id": s, "peer_id": pid}}, nil)
		}
	}
	upsertRange(t, v, "c", 500, 510)
	raw.ok("POST", cluster, map[string]any{"commit_read_hash_ring": map[string]any{}}, nil)
	raw.ok("POST", cluster, map[string]any{"commit_write_hash_ring": map[string]any{}}, nil)
	upsertRange(t, v, "c", 510, 520)
	raw.ok("POST", cluster, map[string]any{"finish_resharding": map[string]any{}}, nil)
	info = clusterView(t, v, "c")
	if info.Ops != nil || info.ShardCount != 2 || len(info.replicas(2)) != 0 {
		t.Fatalf("after finish down: ops %+v, shard_count %d, shard 2 %v", info.Ops, info.ShardCount, info.replicas(2))
	}
	for _, s := range []uint32{0, 1} {
		for pid, st := range info.replicas(s) {
			if st != StateActive {
				t.Errorf("replica %d/%d is %s after resharding down", s, pid, st)
			}
		}
	}
	if belong, stray := localCounts(c, "c"); belong != 410 || stray != 0 {
		t.Errorf("after resharding down: %d points in place, %d stray; want 410, 0", belong, stray)
	}
	if got := len(pointIDs(t, v, "c")); got != 410 {
		t.Errorf("points after resharding down: %d, want 410", got)
	}
}

func TestReshardingAbortAndAsynchronousStart(t *testing.T) {
	c := startCluster(t, Options{Peers: 3, ReshardingEnabled: true, ConsensusDelayMin: 100 * time.Millisecond, ConsensusDelayMax: 200 * time.Millisecond})
	p0, p2 := c.Peers()[0], c.Peers()[2]
	v := newValidatedClient(t, p0)
	createCollection(t, v, "c", 1, 1)
	upsertRange(t, v, "c", 1, 101)
	v.ok("POST", "/collections/c/cluster", map[string]any{"start_resharding": map[string]any{"direction": "up", "peer_id": p2.ID()}}, nil)
	// The receiving peer has applied the start; another may not have yet.
	if ops := clusterView(t, v, "c").Ops; len(ops) != 1 || ops[0].PeerID != p2.ID() {
		t.Fatalf("receiving peer: %+v", ops)
	}
	waitFor(t, "every peer to list the resharding", func() bool {
		for _, p := range c.Peers() {
			if len(clusterView(t, newClient(t, p), "c").Ops) != 1 {
				return false
			}
		}
		return true
	})
	if msg := v.errorOf("POST", "/collections/c/cluster", map[string]any{"start_resharding": map[string]any{"direction": "down"}}, 400); !strings.Contains(msg, "already in progress") {
		t.Errorf("down while up runs: %q", msg)
	}
	v.ok("POST", "/collections/c/cluster", map[string]any{"abort_resharding": map[string]any{}}, nil)
	info := clusterView(t, v, "c")
	if info.Ops != nil || info.ShardCount != 1 {
		t.Fatalf("after abort: %+v, shard_count %d", info.Ops, info.ShardCount)
	}
	if got := len(pointIDs(t, v, "c")); got != 100 {
		t.Errorf("points after abort: %d", got)
	}
	// The last shard cannot be removed.
	if msg := v.errorOf("POST", "/collections/c/cluster", map[string]any{"start_resharding": map[string]any{"direction": "down"}}, 400); msg != "Bad request: cannot remove shard 0 by resharding down, it is the last shard" {
		t.Errorf("down from one shard: %q", msg)
	}
}

// TestReshardingDownAbortAndFailedTransfer: aborting a resharding down sets
// the receivers Active again without the points migrated into them; a
// resharding transfer that fails (its source stops) aborts the
// resharding; removing the resharding's peer aborts it too.
func TestReshardingDownAbortAndFailedTransfer(t *testing.T) {
	c := startCluster(t, Options{Peers: 3, ReshardingEnabled: true, TransferDelay: 300 * time.Millisecond})
	v := newValidatedClient(t, c.Peers()[0])
	raw := newClient(t, c.Peers()[0])
	createCollection(t, v, "c", 2, 1)
	upsertRange(t, v, "c", 1, 201)
	cluster := "/collections/c/cluster"

	v.ok("POST", cluster, map[string]any{"start_resharding": map[string]any{"direction": "down"}}, nil)
	info := clusterView(t, v, "c")
	var from, to uint64
	for pid := range info.replicas(1) {
		from = pid
	}
	for pid := range info.replicas(0) {
		to = pid
	}
	raw.ok("POST", cluster, map[string]any{"replicate_shard": map[string]any{"shard_id": 1, "to_shard_id": 0, "from_peer_id": from, "to_peer_id": to, "method": MethodReshardingStream}}, nil)
	waitNoTransfer(t, v, "c")
	if belong, stray := localCounts(c, "c"); stray == 0 || belong+stray <= 200 {
		t.Fatalf("no point migrated into shard 0: %d in place, %d stray", belong, stray)
	}
	v.ok("POST", cluster, map[string]any{"abort_resharding": map[string]any{}}, nil)
	info = clusterView(t, v, "c")
	if info.Ops != nil || info.ShardCount != 2 || info.replicas(0)[to] != StateActive {
		t.Fatalf("after abort down: ops %+v, shard_count %d, receiver %s", info.Ops, info.ShardCount, info.replicas(0)[to])
	}
	if belong, stray := localCounts(c, "c"); belong != 200 || stray != 0 {
		t.Errorf("after abort down: %d points in place, %d stray; want 200, 0", belong, stray)
	}

	// A failed resharding transfer aborts the resharding.
	v.ok("POST", cluster, map[string]any{"start_resharding": map[string]any{"direction": "up", "peer_id": to}}, nil)
	src := c.Peer(from)
	raw.ok("POST", cluster, map[string]any{"replicate_shard": map[string]any{"shard_id": 1, "to_shard_id": 2, "from_peer_id": from, "to_peer_id": to, "method": MethodReshardingStream}}, nil)
	src.Stop()
	waitFor(t, "the resharding to be aborted", func() bool {
		info := clusterView(t, v, "c")
		return info.Ops == nil && info.ShardCount == 2
	})
	if err := src.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every replica Active again", func() bool {
		for _, st := range replicaStates(t, v, "c") {
			if st != StateActive {
				return false
			}
		}
		return true
	})

	// Removing the resharding's peer aborts it.
	v.ok("POST", cluster, map[string]any{"start_resharding": map[string]any{"direction": "up", "peer_id": to}}, nil)
	for _, p := range c.Peers() {
		if p.ID() != to {
			v = newValidatedClient(t, p)
		}
	}
	if err := c.RemovePeer(to); err != nil {
		t.Fatal(err)
	}
	if info := clusterView(t, v, "c"); info.Ops != nil || info.ShardCount != 2 {
		t.Errorf("after removing the resharding's peer: ops %+v, shard_count %d", info.Ops, info.ShardCount)
	}
}
