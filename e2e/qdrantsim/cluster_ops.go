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
}

func (op *ClusterOperation) count() int {
	n := 0
	for _, set := range []bool{op.MoveShard != nil, op.ReplicateShard != nil, op.AbortTransfer != nil,
		op.DropReplica != nil, op.CreateShardingKey != nil, op.DropShardingKey != nil, op.RestartTransfer != nil,
		op.StartResharding != nil, op.AbortResharding != nil, op.ReplicatePoints != nil} {
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

// UpdateCollectionCluster applies a cluster operation. It returns once the
// operation is accepted; transfers then run in the background.
func (p *Peer) UpdateCollectionCluster(ctx context.Context, coll string, op ClusterOperation) error {
	if op.count() != 1 {
		return errf(KindFormat, "data did not match any variant of untagged enum ClusterOperations")
	}
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if op.CreateShardingKey != nil {
		// lib/storage/src/dispatcher.rs checks the 1.15 write lock before
		// proposing a shard key.
		if err := p.lockErrorLocked(); err != nil {
			return err
		}
	}
	col, err := c.resolve(coll)
	if err != nil {
		return err
	}
	switch {
	case op.MoveShard != nil:
		return c.startTransferLocked(col, *op.MoveShard, false)
	case op.ReplicateShard != nil:
		return c.startTransferLocked(col, *op.ReplicateShard, true)
	case op.AbortTransfer != nil:
		t := c.findTransfer(col.name, *op.AbortTransfer)
		if t == nil {
			return errNoTransfer(col.name, *op.AbortTransfer)
		}
		c.failTransferLocked(t)
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
		now := time.Now()
		t.method, t.started, t.deadline = *r.Method, now, now.Add(c.opts.TransferDelay)
		if rep := col.shards[t.shard].replicas[t.to]; rep != nil {
			rep.state, rep.since = receiverState(t.method), now
		}
		c.commit++
		return nil
	case op.DropReplica != nil:
		return c.dropReplicaLocked(col, *op.DropReplica)
	case op.CreateShardingKey != nil:
		return c.createShardKeyLocked(col, *op.CreateShardingKey)
	case op.DropShardingKey != nil:
		return c.dropShardKeyLocked(col, op.DropShardingKey.ShardKey)
	case op.StartResharding != nil, op.AbortResharding != nil:
		return errf(KindBadRequest, "resharding is only supported in Qdrant Cloud")
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

// startTransferLocked validates and registers a move or replication.
func (c *Cluster) startTransferLocked(col *collection, r ShardTransferRequest, sync bool) error {
	s := col.shards[r.ShardID]
	if s == nil {
		return errf(KindBadRequest, "Shard %d of %s does not exist", r.ShardID, col.name)
	}
	for _, pid := range []uint64{r.FromPeerID, r.ToPeerID} {
		if c.peerLocked(pid) == nil {
			return errf(KindBadRequest, "Peer %d does not exist", pid)
		}
	}
	if r.FromPeerID == r.ToPeerID {
		return errf(KindBadRequest, "Source and target peers must be different, got %d", r.FromPeerID)
	}
	method := c.ver.defaultTransferMethod()
	if r.Method != nil {
		if !transferMethods[*r.Method] {
			return errf(KindBadRequest, "Transfer method %s is not supported for a manual transfer", *r.Method)
		}
		method = *r.Method
	}
	if src := s.replicas[r.FromPeerID]; src == nil || !readable(src.state) {
		return errf(KindBadRequest, "Shard %d is not active on peer %d", r.ShardID, r.FromPeerID)
	}
	for _, t := range c.transfers {
		if t.coll == col.name && t.shard == r.ShardID &&
			(t.from == r.FromPeerID || t.to == r.FromPeerID || t.from == r.ToPeerID || t.to == r.ToPeerID) {
			return errf(KindBadRequest, "Shard %d is already involved in transfer %d -> %d", r.ShardID, t.from, t.to)
		}
	}
	if dst := s.replicas[r.ToPeerID]; dst != nil && dst.state != StateDead {
		return errf(KindBadRequest, "Shard %d already exists on peer %d", r.ShardID, r.ToPeerID)
	}
	c.beginTransferLocked(col, s, r.FromPeerID, r.ToPeerID, sync, method)
	return nil
}

// beginTransferLocked registers a transfer and resets the receiver replica.
func (c *Cluster) beginTransferLocked(col *collection, s *shard, from, to uint64, sync bool, method string) {
	now := time.Now()
	c.transfers = append(c.transfers, &transfer{coll: col.name, shard: s.id, from: from, to: to, sync: sync,
		method: method, started: now, deadline: now.Add(c.opts.TransferDelay)})
	s.replicas[to] = &replica{state: receiverState(method), since: now}
	q := c.peerLocked(to)
	q.localShardsLocked(col.name)[s.id] = newReplicaData(c.newUUID())
	c.commit++
}

// removeTransferLocked forgets t.
func (c *Cluster) removeTransferLocked(t *transfer) {
	for i, x := range c.transfers {
		if x == t {
			c.transfers = append(c.transfers[:i], c.transfers[i+1:]...)
			break
		}
	}
	c.commit++
}

// failTransferLocked aborts t: a move's target replica is removed, a
// replication's target is set Dead (auto recovery will retry it).
func (c *Cluster) failTransferLocked(t *transfer) {
	c.removeTransferLocked(t)
	col := c.colls[t.coll]
	if col == nil || col.shards[t.shard] == nil {
		return
	}
	s := col.shards[t.shard]
	if !t.sync {
		delete(s.replicas, t.to)
		if q := c.peerLocked(t.to); q != nil {
			delete(q.localShardsLocked(col.name), t.shard)
		}
		return
	}
	if r := s.replicas[t.to]; r != nil {
		r.state, r.since = StateDead, time.Now()
	}
}

// finishTransferLocked copies the source replica to the target, activates
// it and, for a move, drops the source.
func (c *Cluster) finishTransferLocked(t *transfer) {
	col := c.colls[t.coll]
	src, dst := c.peerLocked(t.from), c.peerLocked(t.to)
	if col == nil || col.shards[t.shard] == nil || src == nil || dst == nil {
		c.removeTransferLocked(t)
		return
	}
	s := col.shards[t.shard]
	sd := src.data[col.name][t.shard]
	if sd == nil || s.replicas[t.to] == nil {
		c.failTransferLocked(t)
		return
	}
	c.removeTransferLocked(t)
	d := sd.clone()
	d.segment = c.newUUID()
	dst.localShardsLocked(col.name)[t.shard] = d
	s.replicas[t.to] = &replica{state: StateActive, since: time.Now()}
	if !t.sync {
		delete(s.replicas, t.from)
		delete(src.localShardsLocked(col.name), t.shard)
	}
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
			c.failTransferLocked(t)
		}
	}
	delete(s.replicas, r.PeerID)
	if q := c.peerLocked(r.PeerID); q != nil {
		delete(q.localShardsLocked(col.name), r.ShardID)
	}
	c.commit++
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
	rf := int(col.config.Params.ReplicationFactor)
	state := StateActive
	if req.InitialState != nil {
		if !c.ver.atLeast(1, 16, 0) {
			return errf(KindFormat, "unknown field `initial_state`")
		}
		switch *req.InitialState {
		case StateActive:
		case StatePartial:
			state, rf = StatePartial, 1
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
	// Round-robin over a shuffled pool, as Qdrant does for shard keys.
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
			c.peerLocked(pid).localShardsLocked(col.name)[s.id] = newReplicaData(c.newUUID())
		}
		col.shards[s.id] = s
	}
	col.keys = append(col.keys, key)
	col.shardsChanged()
	c.commit++
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
	for i, k := range col.keys {
		if k == key {
			col.keys = append(col.keys[:i], col.keys[i+1:]...)
			break
		}
	}
	col.shardsChanged()
	c.commit++
	return nil
}
