package qdrantsim

import (
	"encoding/json"
	"hash/fnv"
	"strconv"
	"time"
)

// transfer is a shard transfer in progress.
type transfer struct {
	coll     string
	shard    uint32
	from, to uint64
	sync     bool
	method   string
	started  time.Time
	deadline time.Time
	// walCovered is whether the source's WAL covers the target's data, so
	// that a wal_delta transfer sends only the missing operations; when it
	// does not, the transfer falls back at fallbackAt.
	walCovered bool
	fallbackAt time.Time
	// bytes is what the transfer moves, counted at its end.
	bytes int64
	// resharding marks a resharding_stream_records transfer from shard
	// into toShard (resharding.go).
	resharding bool
	toShard    uint32
}

// startTransferLocked validates a move or replication as Qdrant's
// validate_transfer does (lib/collection/src/shards/transfer/helpers.rs):
// the shard exists, both peers exist, the source replica is Active, and no
// other transfer of the shard involves either peer. A target that already
// holds a replica is accepted: its data is replaced when the transfer ends.
func (c *Cluster) startTransferLocked(col *collection, r ShardTransferRequest, sync bool) error {
	s := col.shards[r.ShardID]
	if s == nil {
		// src/common/collections.rs do_update_collection_cluster
		return errf(KindBadRequest, "Shard %d of %s does not exist", r.ShardID, col.name)
	}
	for _, pid := range []uint64{r.FromPeerID, r.ToPeerID} {
		if c.peerLocked(pid) == nil {
			return errf(KindBadRequest, "Peer %d does not exist", pid)
		}
	}
	// Qdrant does not check this; a transfer to itself would have the
	// source replaced by its own copy, which the simulator refuses.
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
	if src := s.replicas[r.FromPeerID]; src == nil || (src.state != StateActive && src.state != "ReshardingScaleDown") {
		return errf(KindBadRequest, "Shard %d is not active on peer %d", r.ShardID, r.FromPeerID)
	}
	for _, t := range append([]*transfer(nil), c.transfers...) {
		if t.coll != col.name || t.shard != r.ShardID {
			continue
		}
		if t.from == r.FromPeerID && t.to == r.ToPeerID {
			// The same transfer again: a conflict once its target is
			// Partial or Recovery, a re-application otherwise.
			if dst := s.replicas[r.ToPeerID]; dst != nil && (dst.state == StatePartial || dst.state == StateRecovery) {
				return errf(KindBadRequest, "Shard %d is already involved in transfer %d -> %d", r.ShardID, t.from, t.to)
			}
			c.removeTransferLocked(t)
			continue
		}
		if t.from == r.FromPeerID || t.to == r.FromPeerID || t.from == r.ToPeerID || t.to == r.ToPeerID {
			return errf(KindBadRequest, "Shard %d is already involved in transfer %d -> %d", r.ShardID, t.from, t.to)
		}
	}
	c.beginTransferLocked(col, s, r.FromPeerID, r.ToPeerID, sync, method)
	return nil
}

// beginTransferLocked registers a transfer and puts the receiver replica
// in its transfer state (Partial for stream_records, Recovery otherwise,
// lib/collection/src/collection/shard_transfer.rs start_shard_transfer);
// the start is one consensus proposal.
func (c *Cluster) beginTransferLocked(col *collection, s *shard, from, to uint64, sync bool, method string) {
	now := time.Now()
	t := &transfer{coll: col.name, shard: s.id, from: from, to: to, sync: sync, method: method, started: now}
	src := c.peerLocked(from).data[col.name][s.id]
	dst := c.peerLocked(to).data[col.name][s.id]
	t.bytes = replicaBytes(src)
	if method == MethodWalDelta {
		if delta, ok := walDelta(col, src, dst); ok {
			t.walCovered, t.bytes = true, delta
		} else if c.opts.Realism == RealismOff {
			// Without realism a wal_delta transfer keeps its method.
			t.walCovered = true
		} else {
			// The driver notices at once that no delta resolves and
			// restarts with the fallback method
			// (lib/collection/src/shards/transfer/driver.rs).
			t.fallbackAt = now.Add(c.fallbackDelay())
		}
	}
	t.deadline = now.Add(c.transferDuration(t.bytes))
	c.transfers = append(c.transfers, t)
	s.replicas[to] = &replica{state: receiverState(method), since: now}
	if c.opts.Realism == RealismOff {
		c.peerLocked(to).localShardsLocked(col.name)[s.id] = newReplicaData(c.newUUID())
	}
	c.commitLocked(proposal{what: "start transfer", droppable: true})
}

// fallbackDelay is how long a wal_delta attempt takes to fail: about one
// Qdrant consensus tick.
func (c *Cluster) fallbackDelay() time.Duration { return qdrantTick }

// restartTransferLocked switches a running transfer to another method
// (restart_transfer, or the driver's fallback).
func (c *Cluster) restartTransferLocked(col *collection, t *transfer, method string) {
	now := time.Now()
	t.method, t.started, t.fallbackAt, t.walCovered = method, now, time.Time{}, false
	if src := c.peerLocked(t.from); src != nil {
		t.bytes = replicaBytes(src.data[col.name][t.shard])
	}
	t.deadline = now.Add(c.transferDuration(t.bytes))
	if rep := col.shards[t.shard].replicas[t.to]; rep != nil {
		rep.state, rep.since = receiverState(t.method), now
	}
	c.commitLocked(proposal{what: "restart transfer", droppable: true})
}

// transferDuration is bytes at Options.TransferRate, or the fixed
// TransferDelay without a rate.
func (c *Cluster) transferDuration(bytes int64) time.Duration {
	if c.opts.TransferRate <= 0 {
		return c.opts.TransferDelay
	}
	return time.Duration(float64(bytes) / float64(c.opts.TransferRate) * float64(time.Second))
}

// removeTransferLocked forgets t; the caller commits the change.
func (c *Cluster) removeTransferLocked(t *transfer) {
	for i, x := range c.transfers {
		if x == t {
			c.transfers = append(c.transfers[:i], c.transfers[i+1:]...)
			break
		}
	}
}

// failTransferLocked aborts t as one proposal: a move's target replica is
// removed, a replication's target is set Dead (auto recovery will retry
// it).
func (c *Cluster) failTransferLocked(t *transfer, why string) {
	if t.resharding {
		c.failReshardTransferLocked(t, why)
		return
	}
	c.removeTransferLocked(t)
	defer c.commitLocked(proposal{what: why, droppable: true})
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

// finishTransferLocked ends t: the target's data becomes a copy of the
// source's as it is now (whatever the target held before), the target
// turns Active and, for a move, the source is dropped. The end is one
// proposal (finish_transfer, lib/storage/src/content_manager/toc/
// collection_meta_ops.rs handle_transfer on_finish).
func (c *Cluster) finishTransferLocked(t *transfer) {
	if t.resharding {
		c.finishReshardTransferLocked(t)
		return
	}
	col := c.colls[t.coll]
	src, dst := c.peerLocked(t.from), c.peerLocked(t.to)
	if col == nil || col.shards[t.shard] == nil || src == nil || dst == nil {
		c.removeTransferLocked(t)
		c.commitLocked(proposal{what: "forget transfer", droppable: true})
		return
	}
	s := col.shards[t.shard]
	sd := src.data[col.name][t.shard]
	if sd == nil || s.replicas[t.to] == nil {
		c.failTransferLocked(t, "abort transfer: transmission failed")
		return
	}
	c.removeTransferLocked(t)
	if t.walCovered {
		c.transferred += t.bytes
	} else {
		c.transferred += replicaBytes(sd)
	}
	d := sd.clone()
	d.segment = c.newUUID()
	dst.localShardsLocked(col.name)[t.shard] = d
	s.replicas[t.to] = &replica{state: StateActive, since: time.Now()}
	if !t.sync {
		delete(s.replicas, t.from)
		delete(src.localShardsLocked(col.name), t.shard)
	}
	c.commitLocked(proposal{what: "finish transfer", droppable: true})
}

// stepTransfersLocked advances every transfer: transfers touching a down
// peer fail, wal_delta transfers the WAL cannot cover fall back, due ones
// finish.
func (c *Cluster) stepTransfersLocked(now time.Time, down map[uint64]bool) {
	for _, t := range append([]*transfer(nil), c.transfers...) {
		from, to := c.peerLocked(t.from), c.peerLocked(t.to)
		switch {
		case from == nil || to == nil || down[t.from] || down[t.to]:
			c.failTransferLocked(t, "abort transfer: peer down")
		case t.method == MethodWalDelta && !t.walCovered && !now.Before(t.fallbackAt):
			// lib/collection/src/collection/shard_transfer.rs: the fallback
			// is the default method, never wal_delta itself.
			fb := c.ver.defaultTransferMethod()
			if fb == MethodWalDelta {
				fb = MethodSnapshot
			}
			c.log.Info("wal delta cannot cover, falling back", "collection", t.coll, "shard", t.shard,
				"from", t.from, "to", t.to, "method", fb)
			c.restartTransferLocked(c.colls[t.coll], t, fb)
		case !now.Before(t.deadline) && from.running && to.running:
			c.finishTransferLocked(t)
		}
	}
}

// autoRecoverLocked starts a sync transfer to each Dead replica on a
// running peer from an Active one, as the Dead peer's sync_local_state
// does (lib/collection/src/collection/mod.rs): wal_delta first, at most
// one incoming and one outgoing automatic transfer per peer and
// collection (incoming/outgoing_shard_transfers_limit: 1 in
// config/config.yaml, check_auto_shard_transfer_limit in
// lib/collection/src/collection/shard_transfer.rs), and no source or
// target already in another transfer of the collection
// (check_transfer_conflicts_strict, transfer/helpers.rs). A Dead replica
// without any Active peer to copy from is the last copy: it is
// re-activated with its data, as Qdrant does when the only replica comes
// back.
func (c *Cluster) autoRecoverLocked(col *collection, s *shard, down map[uint64]bool, now time.Time) {
	for _, pid := range s.peerIDs() {
		r := s.replicas[pid]
		if r == nil {
			continue
		}
		q := c.peerLocked(pid)
		if r.state != StateDead || q == nil || !q.running || now.Sub(r.since) < c.opts.AutoRecoveryDelay {
			continue
		}
		// The Dead peer acts on its own view of the replica.
		if vc := c.viewLocked(q).colls[col.name]; vc == nil || vc.shards[s.id] == nil ||
			vc.shards[s.id].replicas[pid] == nil || vc.shards[s.id].replicas[pid].state != StateDead {
			continue
		}
		if c.involvedLocked(col.name, pid) {
			continue
		}
		var source uint64
		for _, other := range s.peerIDs() {
			o := c.peerLocked(other)
			if other == pid || o == nil || !o.running || down[other] || s.replicas[other].state != StateActive {
				continue
			}
			if c.involvedLocked(col.name, other) {
				continue
			}
			source = other
			break
		}
		if source != 0 {
			c.beginTransferLocked(col, s, source, pid, true, MethodWalDelta)
			continue
		}
		if q.data[col.name][s.id] != nil && !anyReadable(s) {
			r.state, r.since = StateActive, now
			c.commitLocked(proposal{what: "activate last replica", droppable: true})
		}
	}
}

// involvedLocked reports whether peer is source or target of any
// transfer of the collection.
func (c *Cluster) involvedLocked(coll string, peer uint64) bool {
	for _, t := range c.transfers {
		if t.coll == coll && (t.from == peer || t.to == peer) {
			return true
		}
	}
	return false
}

func anyReadable(s *shard) bool {
	for _, r := range s.replicas {
		if readable(r.state) {
			return true
		}
	}
	return false
}

// WAL model. Qdrant resolves a WAL delta from the target's recovery point
// (its clock map) against the source's WAL (lib/collection/src/
// wal_delta.rs resolve_wal_delta): it fails when the recovery point is
// empty, has clocks the source does not know (data of another history,
// such as a recovered snapshot), is ahead of the source, or is older than
// what the source's WAL still holds. The simulator reduces the clock map
// to a lineage (the history the replica's data descends from) and an
// operation counter, and the WAL to wal_capacity_mb of operations.

// lineageOf is the lineage of a shard's data created empty with the
// collection: every replica of the shard shares it.
func lineageOf(uuid string, shard uint32) uint64 {
	h := fnv.New64a()
	h.Write([]byte(uuid + "/" + strconv.FormatUint(uint64(shard), 10)))
	return h.Sum64() | 1
}

// freshLineage is the lineage of data that came from outside the
// cluster's history (a recovered snapshot).
func freshLineage(segment string) uint64 {
	h := fnv.New64a()
	h.Write([]byte("snapshot/" + segment))
	return h.Sum64() | 1
}

// walDelta returns the bytes a wal_delta transfer from src to dst sends,
// and whether the source's WAL covers dst at all.
func walDelta(col *collection, src, dst *replicaData) (int64, bool) {
	if src == nil || dst == nil || dst.lineage == 0 || dst.lineage != src.lineage || dst.ops == 0 || dst.ops > src.ops {
		return 0, false
	}
	behind := int64(src.ops - dst.ops)
	per := avgPointBytes(src)
	capMB := 32.0
	if v, ok := col.config.WAL["wal_capacity_mb"].(float64); ok {
		capMB = v
	} else if v, ok := col.config.WAL["wal_capacity_mb"].(int); ok {
		capMB = float64(v)
	}
	if float64(behind*per) > capMB*MiB {
		return 0, false
	}
	return behind * per, true
}

// replicaBytes estimates the bytes of a replica on the wire: its synthetic
// size, or per point its id, vectors (4 bytes a dimension) and payload.
func replicaBytes(d *replicaData) int64 {
	if d == nil {
		return 0
	}
	if d.synthetic != nil {
		return d.synthetic.Bytes
	}
	var n int64
	for _, p := range d.points {
		n += pointBytes(p)
	}
	return n
}

func pointBytes(p *point) int64 {
	n := int64(16)
	for _, v := range p.vectors {
		n += 4 * int64(v.floats())
	}
	if len(p.payload) > 0 {
		b, _ := json.Marshal(p.payload)
		n += int64(len(b))
	}
	return n
}

func avgPointBytes(d *replicaData) int64 {
	if n := d.count(); n > 0 {
		if b := replicaBytes(d) / int64(n); b > 0 {
			return b
		}
	}
	return 64
}
