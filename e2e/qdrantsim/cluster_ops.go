package qdrantsim

import (
	"context"
	"encoding/json"
	"time"
)

// ShardTransferRequest is the body of move_shard, replicate_shard,
// abort_transfer and restart_transfer.
type ShardTransferRequest struct {
	ShardID    uint32  `json:"shard_id"`
	FromPeerID uint64  `json:"from_peer_id"`
	ToPeerID   uint64  `json:"to_peer_id"`
	Method     *string `json:"method,omitempty"`
	ToShardID  *uint32 `json:"to_shard_id,omitempty"`
}

// ReplicaRef names one replica (drop_replica).
type ReplicaRef struct {
	ShardID uint32 `json:"shard_id"`
	PeerID  uint64 `json:"peer_id"`
}

// CreateShardingKey is the body of create_sharding_key and PUT .../shards.
type CreateShardingKey struct {
	ShardKey          ShardKey `json:"shard_key"`
	ShardsNumber      *uint32  `json:"shards_number,omitempty"`
	ReplicationFactor *uint32  `json:"replication_factor,omitempty"`
	Placement         []uint64 `json:"placement,omitempty"`
	InitialState      *string  `json:"initial_state,omitempty"`
}

// DropShardingKey is the body of drop_sharding_key and POST .../shards/delete.
type DropShardingKey struct {
	ShardKey ShardKey `json:"shard_key"`
}

// ClusterOperation is POST /collections/{c}/cluster: exactly one field set.
type ClusterOperation struct {
	MoveShard         *ShardTransferRequest `json:"move_shard,omitempty"`
	ReplicateShard    *ShardTransferRequest `json:"replicate_shard,omitempty"`
	AbortTransfer     *ShardTransferRequest `json:"abort_transfer,omitempty"`
	DropReplica       *ReplicaRef           `json:"drop_replica,omitempty"`
	CreateShardingKey *CreateShardingKey    `json:"create_sharding_key,omitempty"`
	DropShardingKey   *DropShardingKey      `json:"drop_sharding_key,omitempty"`
	RestartTransfer   *ShardTransferRequest `json:"restart_transfer,omitempty"`
	StartResharding   json.RawMessage       `json:"start_resharding,omitempty"`
	AbortResharding   json.RawMessage       `json:"abort_resharding,omitempty"`
	ReplicatePoints   json.RawMessage       `json:"replicate_points,omitempty"`
	// The resharding steps hidden from the OpenAPI document
	// (#[schemars(skip)] in lib/collection/src/operations/cluster_ops.rs).
	FinishMigratingPoints json.RawMessage `json:"finish_migrating_points,omitempty"`
	CommitReadHashRing    json.RawMessage `json:"commit_read_hash_ring,omitempty"`
	CommitWriteHashRing   json.RawMessage `json:"commit_write_hash_ring,omitempty"`
	FinishResharding      json.RawMessage `json:"finish_resharding,omitempty"`
}

func (op *ClusterOperation) count() int {
	n := 0
	for _, set := range []bool{op.MoveShard != nil, op.ReplicateShard != nil, op.AbortTransfer != nil,
		op.DropReplica != nil, op.CreateShardingKey != nil, op.DropShardingKey != nil, op.RestartTransfer != nil,
		op.StartResharding != nil, op.AbortResharding != nil, op.ReplicatePoints != nil,
		op.FinishMigratingPoints != nil, op.CommitReadHashRing != nil, op.CommitWriteHashRing != nil, op.FinishResharding != nil} {
		if set {
			n++
		}
	}
	return n
}

var transferMethods = map[string]bool{MethodStreamRecords: true, MethodSnapshot: true, MethodWalDelta: true}

// receiverState is the state of a transfer's target replica.
func receiverState(method string) string {
	if method == MethodStreamRecords {
		return StatePartial
	}
	return StateRecovery
}

// UpdateCollectionCluster applies a cluster operation. It returns once
// the receiving peer has applied the proposal (shard key creation: every
// peer, lib/storage/src/dispatcher.rs); transfers then run in the
// background.
func (p *Peer) UpdateCollectionCluster(ctx context.Context, coll string, op ClusterOperation) error {
	if op.count() != 1 {
		return errf(KindFormat, "data did not match any variant of untagged enum ClusterOperations")
	}
	mode := waitSelf
	if op.CreateShardingKey != nil {
		mode = waitAll
	}
	return p.consensusOp(ctx, mode, func() error {
		if op.CreateShardingKey != nil {
			// lib/storage/src/dispatcher.rs checks the 1.15 write lock before
			// proposing a shard key.
			if err := p.lockErrorLocked(); err != nil {
				return err
			}
		}
		return p.c.clusterOpLocked(coll, op)
	})
}

func (c *Cluster) clusterOpLocked(coll string, op ClusterOperation) error {
	col, err := c.resolve(coll)
	if err != nil {
		return err
	}
	switch {
	case op.MoveShard != nil:
		return c.startTransferLocked(col, *op.MoveShard, false)
	case op.ReplicateShard != nil && op.ReplicateShard.Method != nil && *op.ReplicateShard.Method == MethodReshardingStream:
		return c.startReshardTransferLocked(col, *op.ReplicateShard)
	case op.ReplicateShard != nil:
		return c.startTransferLocked(col, *op.ReplicateShard, true)
	case op.AbortTransfer != nil:
		t := c.findTransfer(col.name, *op.AbortTransfer)
		if t == nil {
			return errNoTransfer(col.name, *op.AbortTransfer)
		}
		if t.resharding {
			c.failReshardTransferLocked(t, "abort transfer")
			return nil
		}
		c.failTransferLocked(t, "abort transfer")
		return nil
	case op.RestartTransfer != nil:
		r := *op.RestartTransfer
		t := c.findTransfer(col.name, r)
		if t == nil {
			return errNoTransfer(col.name, r)
		}
		if r.Method == nil || !transferMethods[*r.Method] {
			return errf(KindFormat, "restart_transfer.method: unknown variant")
		}
		if *r.Method == t.method {
			return errf(KindBadRequest, "Cannot restart transfer with the same method %s", t.method)
		}
		c.restartTransferLocked(col, t, *r.Method)
		return nil
	case op.DropReplica != nil:
		return c.dropReplicaLocked(col, *op.DropReplica)
	case op.CreateShardingKey != nil:
		return c.createShardKeyLocked(col, *op.CreateShardingKey)
	case op.DropShardingKey != nil:
		return c.dropShardKeyLocked(col, op.DropShardingKey.ShardKey)
	case op.StartResharding != nil:
		return c.startReshardingLocked(col, op.StartResharding)
	case op.AbortResharding != nil:
		return c.abortReshardingLocked(col)
	case op.FinishMigratingPoints != nil:
		return c.finishMigratingPointsLocked(col, op.FinishMigratingPoints)
	case op.CommitReadHashRing != nil:
		return c.commitHashRingLocked(col, stageReadHashRingCommitted)
	case op.CommitWriteHashRing != nil:
		return c.commitHashRingLocked(col, stageWriteHashRingCommitted)
	case op.FinishResharding != nil:
		return c.finishReshardingLocked(col)
	default:
		if !c.ver.atLeast(1, 16, 0) {
			return errf(KindFormat, "data did not match any variant of untagged enum ClusterOperations")
		}
		return errf(KindBadRequest, "replicate_points is not emulated by the simulator")
	}
}

func errNoTransfer(coll string, r ShardTransferRequest) error {
	return errf(KindNotFound, "Shard transfer %d -> %d for collection %s:%d does not exist", r.FromPeerID, r.ToPeerID, coll, r.ShardID)
}

func (c *Cluster) findTransfer(coll string, r ShardTransferRequest) *transfer {
	for _, t := range c.transfers {
		if t.coll == coll && t.shard == r.ShardID && t.from == r.FromPeerID && t.to == r.ToPeerID {
			return t
		}
	}
	return nil
}

func (c *Cluster) dropReplicaLocked(col *collection, r ReplicaRef) error {
	s := col.shards[r.ShardID]
	if s == nil {
		return errf(KindBadRequest, "Shard %d of %s does not exist", r.ShardID, col.name)
	}
	if s.replicas[r.PeerID] == nil {
		return errf(KindBadRequest, "Peer %d has no replica of shard %d", r.PeerID, r.ShardID)
	}
	activeLeft := 0
	for pid, rep := range s.replicas {
		if pid != r.PeerID && readable(rep.state) {
			activeLeft++
		}
	}
	if len(s.replicas) == 1 || activeLeft == 0 {
		return errf(KindBadRequest, "Shard %d must have at least one active replica after removing %d", r.ShardID, r.PeerID)
	}
	for _, t := range append([]*transfer(nil), c.transfers...) {
		if t.coll == col.name && t.shard == r.ShardID && (t.from == r.PeerID || t.to == r.PeerID) {
			c.failTransferLocked(t, "abort transfer: replica dropped")
		}
	}
	delete(s.replicas, r.PeerID)
	if q := c.peerLocked(r.PeerID); q != nil {
		delete(q.localShardsLocked(col.name), r.ShardID)
	}
	c.commitLocked(proposal{what: "drop replica", droppable: true})
	return nil
}

// CreateShardKey is PUT /collections/{c}/shards.
func (p *Peer) CreateShardKey(ctx context.Context, coll string, req CreateShardingKey) error {
	return p.UpdateCollectionCluster(ctx, coll, ClusterOperation{CreateShardingKey: &req})
}

// DropShardKey is POST /collections/{c}/shards/delete.
func (p *Peer) DropShardKey(ctx context.Context, coll string, key ShardKey) error {
	return p.UpdateCollectionCluster(ctx, coll, ClusterOperation{DropShardingKey: &DropShardingKey{ShardKey: key}})
}

func (c *Cluster) createShardKeyLocked(col *collection, req CreateShardingKey) error {
	if !col.custom() {
		return errf(KindBadRequest, "Shard key %s cannot be created: collection %s does not use custom sharding", req.ShardKey, col.name)
	}
	if col.hasKey(req.ShardKey) {
		return errf(KindBadRequest, "Shard key %s already exists", req.ShardKey)
	}
	n := col.config.Params.ShardNumber
	if req.ShardsNumber != nil {
		n = *req.ShardsNumber
	}
	// The key's replication factor is the request's, else the
	// collection's, else 1 when an initial state is given (data must be
	// transferred in before it is replicated): src/common/collections.rs,
	// ClusterOperations::CreateShardingKey in
	// do_update_collection_cluster. Qdrant keeps no per-key factor: it only
	// turns the factor into the number of peers of each shard's placement
	// (generate_even_placement there; lib/collection/src/collection/
	// sharding_keys.rs create_shard_key stores just the placement), so
	// the cluster info shows it only as the replica count of the key's
	// shards. The simulator stores none either.
	rf := int(col.config.Params.ReplicationFactor)
	state := StateActive
	if req.InitialState != nil {
		if !c.ver.atLeast(1, 16, 0) {
			return errf(KindFormat, "unknown field `initial_state`")
		}
		rf = 1
		switch *req.InitialState {
		case StateActive:
		case StatePartial:
			state = StatePartial
		default:
			return errf(KindBadRequest, "Initial state %s is not allowed, use Active or Partial", *req.InitialState)
		}
	}
	if req.ReplicationFactor != nil {
		rf = int(*req.ReplicationFactor)
	}
	pool := c.sortedPeerIDs()
	if req.Placement != nil {
		if len(req.Placement) == 0 {
			return errf(KindBadRequest, "Placement must not be empty")
		}
		for _, pid := range req.Placement {
			if c.peerLocked(pid) == nil {
				return errf(KindBadRequest, "Peer %d does not exist", pid)
			}
		}
		pool = append([]uint64(nil), req.Placement...)
	}
	// Round-robin over a shuffled pool, capped at the pool size, as
	// generate_even_placement (src/common/collections.rs) does.
	c.rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	rf = min(rf, len(pool))
	next := uint32(0)
	for id := range col.shards {
		next = max(next, id+1)
	}
	key := req.ShardKey
	now := time.Now()
	cursor := 0
	for i := uint32(0); i < n; i++ {
		s := &shard{id: next + i, key: &key, replicas: map[uint64]*replica{}}
		for j := 0; j < rf; j++ {
			pid := pool[cursor%len(pool)]
			cursor++
			s.replicas[pid] = &replica{state: state, since: now}
			d := newReplicaData(c.newUUID())
			d.lineage = lineageOf(col.uuid, s.id)
			c.peerLocked(pid).localShardsLocked(col.name)[s.id] = d
		}
		col.shards[s.id] = s
	}
	col.keys = append(col.keys, key)
	col.shardsChanged()
	c.commitLocked(proposal{what: "create shard key", droppable: true})
	return nil
}

func (c *Cluster) dropShardKeyLocked(col *collection, key ShardKey) error {
	if !col.custom() {
		return errf(KindBadRequest, "Shard key %s cannot be dropped: collection %s does not use custom sharding", key, col.name)
	}
	if !col.hasKey(key) {
		return errf(KindBadRequest, "Shard key %s does not exist", key)
	}
	for _, id := range col.keyShards(key) {
		for _, t := range append([]*transfer(nil), c.transfers...) {
			if t.coll == col.name && t.shard == id {
				c.removeTransferLocked(t)
			}
		}
		for pid := range col.shards[id].replicas {
			if q := c.peerLocked(pid); q != nil {
				delete(q.localShardsLocked(col.name), id)
			}
		}
		delete(col.shards, id)
	}
	if r := col.resharding; r != nil && r.key != nil && *r.key == key {
		// Dropping the key aborts its resharding
		// (test_resharding_abort_on_delete_shard_key).
		col.resharding = nil
	}
	for i, k := range col.keys {
		if k == key {
			col.keys = append(col.keys[:i], col.keys[i+1:]...)
			break
		}
	}
	col.shardsChanged()
	c.commitLocked(proposal{what: "drop shard key", droppable: true})
	return nil
}
