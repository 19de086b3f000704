package qdrantsim

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Resharding, modelled from Qdrant v1.19.0:
//
//   - The gate: start_resharding is refused with "resharding is only
//     supported in Qdrant Cloud" (400) unless the node runs with
//     cluster.resharding_enabled (src/common/collections.rs
//     do_update_collection_cluster, Dispatcher::is_resharding_enabled in
//     lib/storage/src/dispatcher.rs, src/settings.rs ClusterConfig). The
//     setting is Options.ReshardingEnabled; telemetry reports it as
//     cluster.resharding_enabled from 1.17
//     (src/common/telemetry_ops/cluster_telemetry.rs).
//   - Open-source Qdrant does not drive a resharding itself: the driver is
//     commented out in Collection::start_resharding
//     (lib/collection/src/collection/resharding.rs) and the steps are
//     cluster operations hidden from the OpenAPI document (#[schemars(skip)]
//     in lib/collection/src/operations/cluster_ops.rs): the caller starts
//     resharding_stream_records transfers, finish_migrating_points,
//     commit_read_hash_ring, commit_write_hash_ring, cleans the senders
//     (POST /collections/{c}/shards/{id}/cleanup, src/actix/api/
//     local_shard_api.rs) and finish_resharding, in the order
//     tests/consensus_tests/test_resharding.py follows.
//   - State: one ReshardState per collection (uuid, direction, peer, shard,
//     shard key, stage MigratingPoints → ReadHashRingCommitted →
//     WriteHashRingCommitted, lib/collection/src/shards/resharding.rs),
//     checked by lib/collection/src/shards/shard_holder/resharding.rs.
//   - Routing: during resharding a write goes to its shard under the old
//     and the new hash ring (HashRingRouter::Resharding in
//     lib/collection/src/hash_ring.rs) until the write ring is committed.
//     Reads skip a new shard until the read ring is committed and a
//     removed shard once the write ring is (ShardHolder::select_shards,
//     lib/collection/src/shards/shard_holder/mod.rs).
//
// Approximations: reads during a resharding keep, from each shard of the
// resharded key, only the points the read ring (old before the read ring
// is committed, new after) places there, so every point is seen once;
// Qdrant may count a migrating point twice until the senders are cleaned.
// update_only_existing splitting is not modelled: writes are applied in
// full to both shards. A failed resharding transfer aborts the resharding
// at once, as setting its Resharding replica Dead does in Qdrant
// (Collection::set_shard_replica_state, lib/collection/src/collection/
// mod.rs).

// Resharding replica states and the resharding transfer method.
const (
	StateResharding          = "Resharding"
	StateReshardingScaleDown = "ReshardingScaleDown"
	MethodReshardingStream   = "resharding_stream_records"
)

// Resharding stages, ordered (ReshardingStage).
const (
	stageMigratingPoints = iota
	stageReadHashRingCommitted
	stageWriteHashRingCommitted
)

var stageNames = []string{"MigratingPoints", "ReadHashRingCommitted", "WriteHashRingCommitted"}

// reshardState is a collection's ReshardState.
type reshardState struct {
	uuid      string
	direction string // "up" or "down"
	peer      uint64
	shard     uint32
	key       *ShardKey
	stage     int
}

func (r *reshardState) clone() *reshardState {
	if r == nil {
		return nil
	}
	n := *r
	if r.key != nil {
		k := *r.key
		n.key = &k
	}
	return &n
}

// debug is ReshardState's Debug formatting, which Qdrant puts in some
// refusals.
func (r *reshardState) debug() string {
	return fmt.Sprintf("ReshardState { uuid: %s, peer_id: %d, shard_id: %d, shard_key: %s, direction: %s, stage: %s }",
		r.uuid, r.peer, r.shard, optKeyDebug(r.key), dirDebug(r.direction), stageNames[r.stage])
}

// display is ReshardKey's Display: peer/shard/key.
func (r *reshardState) display() string {
	return fmt.Sprintf("%d/%d/%s", r.peer, r.shard, optKeyDebug(r.key))
}

func optKeyDebug(k *ShardKey) string {
	if k == nil {
		return "None"
	}
	if k.IsNum {
		return fmt.Sprintf("Some(Number(%d))", k.Num)
	}
	return fmt.Sprintf("Some(Keyword(%q))", k.Str)
}

func dirDebug(d string) string {
	if d == "down" {
		return "Down"
	}
	return "Up"
}

func sameKey(a, b *ShardKey) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// reshardingOf returns the collection's resharding when it concerns the
// hash ring of key k.
func (c *collection) reshardingOf(k *ShardKey) *reshardState {
	if c.resharding != nil && sameKey(c.resharding.key, k) {
		return c.resharding
	}
	return nil
}

// ringShards are the shards of key k under the old or the new ring.
func (c *collection) ringShards(k *ShardKey, newRing bool) []uint32 {
	var ids []uint32
	if k == nil {
		ids = c.shardIDs()
	} else {
		ids = c.keyShards(*k)
	}
	r := c.reshardingOf(k)
	if r == nil {
		return ids
	}
	// Up: the old ring lacks the new shard. Down: the new ring lacks the
	// removed one.
	if (r.direction == "up" && !newRing) || (r.direction == "down" && newRing) {
		ids = slices.DeleteFunc(ids, func(id uint32) bool { return id == r.shard })
	}
	return ids
}

func (c *collection) ringFor(k *ShardKey, newRing bool) *hashRing {
	name := "old:"
	if newRing {
		name = "new:"
	}
	if k != nil {
		name += "k:" + k.String()
		if k.IsNum {
			name += "#n"
		}
	}
	if r, ok := c.rings[name]; ok {
		return r
	}
	r := newHashRing(c.ringShards(k, newRing))
	if c.rings == nil {
		c.rings = map[string]*hashRing{}
	}
	c.rings[name] = r
	return r
}

// writeRings are the rings a write is routed by: old and new while the
// write ring is not committed, else the one ring.
func (c *collection) writeRings(k *ShardKey) []*hashRing {
	if r := c.reshardingOf(k); r != nil && r.stage < stageWriteHashRingCommitted {
		return []*hashRing{c.ringFor(k, false), c.ringFor(k, true)}
	}
	return []*hashRing{c.ringFor(k, true)}
}

// readFilter tells whether a read of shard s keeps point id: during a
// resharding of s's key, only the points the read ring places on s.
func (c *collection) readFilter(s uint32) func(PointID) bool {
	sh := c.shards[s]
	if sh == nil {
		return nil
	}
	r := c.reshardingOf(sh.key)
	if r == nil {
		return nil
	}
	ring := c.ringFor(sh.key, r.stage >= stageReadHashRingCommitted)
	return func(id PointID) bool {
		got, ok := ring.shardFor(id)
		return ok && got == s
	}
}

// readShards is targetShards without the shards Qdrant does not read
// during a resharding: a new shard until the read ring is committed, a
// removed one once the write ring is.
func readShards(col *collection, sel ShardKeySelector) ([]uint32, error) {
	ids, err := targetShards(col, sel)
	if err != nil || col.resharding == nil {
		return ids, err
	}
	r := col.resharding
	skip := (r.direction == "up" && r.stage < stageReadHashRingCommitted) ||
		(r.direction == "down" && r.stage >= stageWriteHashRingCommitted)
	if !skip {
		return ids, nil
	}
	return slices.DeleteFunc(ids, func(id uint32) bool { return id == r.shard }), nil
}

// StartResharding is the body of start_resharding.
type StartResharding struct {
	UUID      *string   `json:"uuid,omitempty"`
	Direction string    `json:"direction"`
	PeerID    *uint64   `json:"peer_id,omitempty"`
	ShardKey  *ShardKey `json:"shard_key,omitempty"`
}

// FinishMigratingPoints is the body of finish_migrating_points.
type FinishMigratingPoints struct {
	ShardID *uint32 `json:"shard_id,omitempty"`
	PeerID  *uint64 `json:"peer_id,omitempty"`
}

func errNotResharding(coll string) error {
	return errf(KindBadRequest, "resharding is not in progress for collection %s", coll)
}

// startReshardingLocked follows do_update_collection_cluster's
// StartResharding arm, then check_start_resharding and
// Collection::start_resharding.
func (c *Cluster) startReshardingLocked(col *collection, raw json.RawMessage) error {
	var req StartResharding
	if err := json.Unmarshal(raw, &req); err != nil || (req.Direction != "up" && req.Direction != "down") {
		return errf(KindFormat, "data did not match any variant of untagged enum ClusterOperations")
	}
	if !c.opts.ReshardingEnabled {
		return errf(KindBadRequest, "resharding is only supported in Qdrant Cloud")
	}
	if req.ShardKey != nil && !col.hasKey(*req.ShardKey) {
		return errf(KindBadRequest, "sharding key %s does not exist for collection %s", req.ShardKey, col.name)
	}
	var shardID uint32
	switch {
	case req.Direction == "up":
		shardID = slices.Max(col.shardIDs()) + 1
	case req.ShardKey == nil:
		shardID = slices.Max(col.shardIDs())
	default:
		shardID = slices.Max(col.keyShards(*req.ShardKey))
	}
	var peer uint64
	switch {
	case req.PeerID != nil:
		if c.peerLocked(*req.PeerID) == nil {
			return errf(KindBadRequest, "Peer %d does not exist", *req.PeerID)
		}
		peer = *req.PeerID
	case req.Direction == "up":
		// The peer with the fewest replicas of the collection.
		load := map[uint64]int{}
		for _, pid := range c.sortedPeerIDs() {
			load[pid] = 0
		}
		for _, s := range col.shards {
			for pid := range s.replicas {
				load[pid]++
			}
		}
		best := -1
		for _, pid := range c.sortedPeerIDs() {
			if best < 0 || load[pid] < best {
				best, peer = load[pid], pid
			}
		}
	default:
		// A random peer holding the removed shard.
		ids := col.shards[shardID].peerIDs()
		peer = ids[c.rng.IntN(len(ids))]
	}
	if col.resharding != nil {
		return errf(KindBadRequest, "resharding %s is already in progress for collection %s", col.resharding.debug(), col.name)
	}
	// check_start_resharding (shard_holder/resharding.rs).
	switch {
	case !col.custom() && req.ShardKey != nil:
		return errf(KindBadRequest, "cannot specify shard key %s on collection with auto sharding", req.ShardKey)
	case col.custom() && req.ShardKey == nil:
		return errf(KindBadRequest, "must specify shard key on collection with custom sharding")
	}
	if req.Direction == "down" && len(col.ringShards(req.ShardKey, true)) <= 1 {
		return errf(KindBadRequest, "cannot remove shard %d by resharding down, it is the last shard", shardID)
	}
	uuid := c.newUUID()
	if req.UUID != nil {
		uuid = *req.UUID
	}
	st := &reshardState{uuid: uuid, direction: req.Direction, peer: peer, shard: shardID, stage: stageMigratingPoints}
	if req.ShardKey != nil {
		k := *req.ShardKey
		st.key = &k
	}
	if req.Direction == "up" {
		// The new shard: one replica on peer, in state Resharding, and
		// shard_number is its id + 1 for auto sharding.
		now := time.Now()
		s := &shard{id: shardID, key: st.key, replicas: map[uint64]*replica{peer: {state: StateResharding, since: now}}}
		d := newReplicaData(c.newUUID())
		d.lineage = lineageOf(col.uuid, shardID)
		c.peerLocked(peer).localShardsLocked(col.name)[shardID] = d
		col.shards[shardID] = s
		if !col.custom() {
			col.config.Params.ShardNumber = shardID + 1
		}
	}
	col.resharding = st
	col.shardsChanged()
	c.commitLocked(proposal{what: "start resharding", droppable: true})
	c.log.Info("resharding started", "collection", col.name, "direction", st.direction, "shard", shardID, "peer", peer)
	return nil
}

// finishMigratingPointsLocked sets a migrated replica Active
// (SetShardReplicaState with from_state Resharding/ReshardingScaleDown).
func (c *Cluster) finishMigratingPointsLocked(col *collection, raw json.RawMessage) error {
	var req FinishMigratingPoints
	if err := json.Unmarshal(raw, &req); err != nil {
		return errf(KindFormat, "data did not match any variant of untagged enum ClusterOperations")
	}
	r := col.resharding
	if r == nil {
		return errNotResharding(col.name)
	}
	shardID, peer := r.shard, r.peer
	if req.ShardID != nil {
		shardID = *req.ShardID
	} else if r.direction == "down" {
		return errf(KindBadRequest, "shard ID must be specified when resharding down")
	}
	if req.PeerID != nil {
		peer = *req.PeerID
	} else if r.direction == "down" {
		return errf(KindBadRequest, "peer ID must be specified when resharding down")
	}
	from := StateResharding
	if r.direction == "down" {
		from = StateReshardingScaleDown
	}
	s := col.shards[shardID]
	if s == nil {
		return errf(KindBadRequest, "Shard %d of %s does not exist", shardID, col.name)
	}
	rep := s.replicas[peer]
	if rep == nil || rep.state != from {
		cur := "None"
		if rep != nil {
			cur = "Some(" + rep.state + ")"
		}
		return errf(KindBadRequest, "Replica %d of shard %d has state %s, but expected Some(%s)", peer, shardID, cur, from)
	}
	rep.state, rep.since = StateActive, time.Now()
	c.commitLocked(proposal{what: "finish migrating points", droppable: true})
	return nil
}

// commitHashRingLocked moves the stage on: the read ring (from
// MigratingPoints) or the write ring (from ReadHashRingCommitted). Both
// are idempotent once the stage is reached.
func (c *Cluster) commitHashRingLocked(col *collection, to int) error {
	r := col.resharding
	if r == nil {
		return errNotResharding(col.name)
	}
	if r.stage >= to {
		return nil
	}
	if r.stage != to-1 {
		return errf(KindBadRequest, "expected resharding stage %s, but resharding is at stage %s", stageNames[to-1], stageNames[r.stage])
	}
	r.stage = to
	col.shardsChanged()
	c.commitLocked(proposal{what: "commit " + stageNames[to], droppable: true})
	return nil
}

// finishReshardingLocked ends a resharding whose write ring is
// committed; resharding down drops the removed shard and sets
// shard_number to its id (Collection::finish_resharding).
func (c *Cluster) finishReshardingLocked(col *collection) error {
	r := col.resharding
	if r == nil {
		return errNotResharding(col.name)
	}
	if r.stage != stageWriteHashRingCommitted {
		return errf(KindBadRequest, "expected resharding stage %s, but resharding is at stage %s", stageNames[stageWriteHashRingCommitted], stageNames[r.stage])
	}
	if r.direction == "down" {
		if !col.custom() {
			col.config.Params.ShardNumber = r.shard
		}
		c.dropShardLocked(col, r.shard)
	}
	col.resharding = nil
	col.shardsChanged()
	c.commitLocked(proposal{what: "finish resharding", droppable: true})
	c.log.Info("resharding finished", "collection", col.name, "direction", r.direction, "shard", r.shard)
	return nil
}

// abortReshardingLocked ends a resharding whose read ring is not
// committed: up drops the new shard, down sets the receivers Active again
// and removes from them the points migrated in
// (Collection::abort_resharding, ShardHolder::abort_resharding).
func (c *Cluster) abortReshardingLocked(col *collection) error {
	r := col.resharding
	if r == nil {
		return errNotResharding(col.name)
	}
	if r.stage >= stageReadHashRingCommitted {
		return errf(KindBadRequest, "can't abort resharding %s, because read hash ring has been committed already, resharding must be completed", r.display())
	}
	for _, t := range append([]*transfer(nil), c.transfers...) {
		if t.coll == col.name && t.resharding {
			c.removeTransferLocked(t)
		}
	}
	if r.direction == "up" {
		if !col.custom() {
			col.config.Params.ShardNumber = r.shard
		}
		c.dropShardLocked(col, r.shard)
	} else {
		old := col.ringFor(r.key, false)
		for _, id := range col.ringShards(r.key, true) {
			s := col.shards[id]
			for pid, rep := range s.replicas {
				if rep.state == StateReshardingScaleDown {
					rep.state, rep.since = StateActive, time.Now()
				}
				d := c.peerLocked(pid).localShardsLocked(col.name)[id]
				if d == nil {
					continue
				}
				for pid2 := range d.points {
					if got, ok := old.shardFor(pid2); ok && got != id {
						d.removePoint(pid2)
					}
				}
			}
		}
	}
	col.resharding = nil
	col.shardsChanged()
	c.commitLocked(proposal{what: "abort resharding", droppable: true})
	c.log.Info("resharding aborted", "collection", col.name, "direction", r.direction, "shard", r.shard)
	return nil
}

// dropShardLocked removes a shard with its replicas and their data; the
// caller commits.
func (c *Cluster) dropShardLocked(col *collection, id uint32) {
	s := col.shards[id]
	if s == nil {
		return
	}
	for _, t := range append([]*transfer(nil), c.transfers...) {
		if t.coll == col.name && (t.shard == id || (t.resharding && t.toShard == id)) {
			c.removeTransferLocked(t)
		}
	}
	for pid := range s.replicas {
		if q := c.peerLocked(pid); q != nil {
			delete(q.localShardsLocked(col.name), id)
		}
	}
	delete(col.shards, id)
}

// startReshardTransferLocked is replicate_shard with method
// resharding_stream_records: validate_transfer's checks
// (lib/collection/src/shards/transfer/helpers.rs), then
// start_shard_transfer puts the receiving replica in Resharding (up) or
// ReshardingScaleDown (down) (lib/collection/src/collection/
// shard_transfer.rs).
func (c *Cluster) startReshardTransferLocked(col *collection, r ShardTransferRequest) error {
	s := col.shards[r.ShardID]
	if s == nil {
		return errf(KindBadRequest, "Shard %d does not exist", r.ShardID)
	}
	for _, pid := range []uint64{r.FromPeerID, r.ToPeerID} {
		if c.peerLocked(pid) == nil {
			return errf(KindBadRequest, "Peer %d does not exist", pid)
		}
	}
	if src := s.replicas[r.FromPeerID]; src == nil || (src.state != StateActive && src.state != StateReshardingScaleDown) {
		return errf(KindBadRequest, "Shard %d is not active on peer %d", r.ShardID, r.FromPeerID)
	}
	for _, t := range c.transfers {
		if t.coll == col.name && (t.shard == r.ShardID || (t.resharding && t.toShard == r.ShardID)) &&
			(t.from == r.FromPeerID || t.to == r.FromPeerID || t.from == r.ToPeerID || t.to == r.ToPeerID) {
			return errf(KindBadRequest, "Shard %d is already involved in transfer %d -> %d", r.ShardID, t.from, t.to)
		}
	}
	if r.ToShardID == nil {
		return errf(KindBadRequest, "Target shard is not set for resharding transfer")
	}
	to := col.shards[*r.ToShardID]
	if to == nil {
		// Qdrant names the source shard here.
		return errf(KindBadRequest, "Destination shard %d does not exist", r.ShardID)
	}
	if *r.ToShardID == r.ShardID {
		return errf(KindBadRequest, "Source and target shard must be different for resharding transfer, both are %d", r.ShardID)
	}
	if dst := to.replicas[r.ToPeerID]; dst != nil && dst.state == StateDead {
		return errf(KindBadRequest, "Resharding shard transfer can't be started, because destination shard %d/%d is dead", r.ToPeerID, *r.ToShardID)
	}
	if !sameKey(s.key, to.key) {
		return errf(KindBadRequest, "Source shard %d and target shard %d must share the same shard key", r.ShardID, *r.ToShardID)
	}
	rs := col.resharding
	if rs == nil {
		return errf(KindBadInput, "can't start resharding transfer, because resharding is not in progress")
	}
	state := StateResharding
	if rs.direction == "down" {
		state = StateReshardingScaleDown
	}
	now := time.Now()
	t := &transfer{coll: col.name, shard: r.ShardID, toShard: *r.ToShardID, resharding: true,
		from: r.FromPeerID, to: r.ToPeerID, sync: true, method: MethodReshardingStream, started: now, walCovered: true}
	t.bytes = replicaBytes(c.peerLocked(r.FromPeerID).data[col.name][r.ShardID]) / int64(max(len(col.ringShards(rs.key, true)), 1))
	t.deadline = now.Add(c.transferDuration(t.bytes))
	c.transfers = append(c.transfers, t)
	to.replicas[r.ToPeerID] = &replica{state: state, since: now}
	if q := c.peerLocked(r.ToPeerID); q.localShardsLocked(col.name)[to.id] == nil {
		d := newReplicaData(c.newUUID())
		d.lineage = lineageOf(col.uuid, to.id)
		q.localShardsLocked(col.name)[to.id] = d
	}
	c.commitLocked(proposal{what: "start resharding transfer", droppable: true})
	return nil
}

// finishReshardTransferLocked copies into the target replica the source's
// points that the new ring places on the target shard, as they are now
// (writes during the transfer reach both shards through the resharding
// ring); the target keeps its resharding state until
// finish_migrating_points.
func (c *Cluster) finishReshardTransferLocked(t *transfer) {
	c.removeTransferLocked(t)
	col := c.colls[t.coll]
	src, dst := c.peerLocked(t.from), c.peerLocked(t.to)
	if col == nil || col.resharding == nil || src == nil || dst == nil || col.shards[t.toShard] == nil {
		c.commitLocked(proposal{what: "forget transfer", droppable: true})
		return
	}
	sd, dd := src.data[col.name][t.shard], dst.localShardsLocked(col.name)[t.toShard]
	if sd == nil || dd == nil {
		c.failReshardTransferLocked(t, "abort transfer: transmission failed")
		return
	}
	sd.flushPending()
	ring := col.ringFor(col.resharding.key, true)
	n := 0
	for id, pt := range sd.points {
		if got, ok := ring.shardFor(id); ok && got == t.toShard {
			dd.upsertPoint(pt)
			n++
		}
	}
	dd.ops++
	c.transferred += t.bytes
	c.commitLocked(proposal{what: "finish resharding transfer", droppable: true})
	c.log.Info("resharding transfer finished", "collection", col.name, "from_shard", t.shard, "to_shard", t.toShard, "points", n)
}

// failReshardTransferLocked aborts a resharding transfer, which aborts the
// resharding (its receiving replica would be set Dead).
func (c *Cluster) failReshardTransferLocked(t *transfer, why string) {
	c.removeTransferLocked(t)
	col := c.colls[t.coll]
	c.log.Warn("resharding transfer failed", "collection", t.coll, "why", why)
	if col != nil && col.resharding != nil && col.resharding.stage < stageReadHashRingCommitted {
		if err := c.abortReshardingLocked(col); err == nil {
			return
		}
	}
	c.commitLocked(proposal{what: why, droppable: true})
}

// CleanupShard is POST /collections/{c}/shards/{shard}/cleanup on p: it
// deletes from p's replica of the shard the points the hash ring no longer
// places there (ShardHolder::hash_ring_filter, the ring with more shards
// during a resharding). Without wait it still completes before answering.
func (p *Peer) CleanupShard(coll string, id uint32) (UpdateResult, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return UpdateResult{}, err
	}
	s := col.shards[id]
	if s == nil {
		return UpdateResult{}, errShardNotFound(id)
	}
	d := p.data[col.name][id]
	if d == nil {
		return UpdateResult{}, errf(KindBadRequest, "Shard %d is not local on peer %d", id, p.id)
	}
	ring := col.ringFor(s.key, true)
	if r := col.reshardingOf(s.key); r != nil && r.direction == "down" {
		ring = col.ringFor(s.key, false)
	}
	d.flushPending()
	removed := 0
	for pid := range d.points {
		if got, ok := ring.shardFor(pid); ok && got != id {
			d.removePoint(pid)
			removed++
		}
	}
	if removed > 0 {
		d.ops++
	}
	col.opID++
	return UpdateResult{OperationID: col.opID, Status: "completed"}, nil
}

// ReshardingInfo is one entry of resharding_operations in
// GET /collections/{c}/cluster (lib/collection/src/operations/types.rs:
// uuid is serialized though not documented, stage is not serialized).
type ReshardingInfo struct {
	UUID      string    `json:"uuid"`
	Direction string    `json:"direction"`
	ShardID   uint32    `json:"shard_id"`
	PeerID    uint64    `json:"peer_id"`
	ShardKey  *ShardKey `json:"shard_key"`
}

func reshardingInfo(col *collection) []ReshardingInfo {
	r := col.resharding
	if r == nil {
		return nil
	}
	return []ReshardingInfo{{UUID: r.uuid, Direction: r.direction, ShardID: r.shard, PeerID: r.peer, ShardKey: r.key}}
}
