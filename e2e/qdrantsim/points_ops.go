package qdrantsim

import (
	"container/heap"
	"context"
	"slices"
	"time"
)

// idHeap is a max-heap of points by id.
type idHeap []*point

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return h[j].id.Less(h[i].id) }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.(*point)) }
func (h *idHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// targetShards resolves which shards a read touches; c.mu must be held.
func targetShards(col *collection, sel ShardKeySelector) ([]uint32, error) {
	if len(sel) == 0 {
		return col.shardIDs(), nil
	}
	if !col.custom() {
		return nil, errf(KindBadRequest, "Shard key specified for collection without custom sharding")
	}
	var ids []uint32
	for _, k := range sel {
		if !col.hasKey(k) {
			return nil, errf(KindBadInput, "Shard key %s not found", k)
		}
		ids = append(ids, col.keyShards(k)...)
	}
	return ids, nil
}

// routeWrite picks the shard of id for a write; c.mu must be held.
func routeWrite(col *collection, sel ShardKeySelector, id PointID) ([]uint32, error) {
	if !col.custom() {
		if len(sel) > 0 {
			return nil, errf(KindBadRequest, "Shard key specified for collection without custom sharding")
		}
		out, ok := shardsFor(col.writeRings(nil), id)
		if !ok {
			return nil, errf(KindServiceError, "collection %s has no shards", col.name)
		}
		return out, nil
	}
	if len(sel) == 0 {
		return nil, errf(KindBadInput, "Shard key not specified")
	}
	var out []uint32
	for _, k := range sel {
		if !col.hasKey(k) {
			return nil, errf(KindBadInput, "Shard key %s not found", k)
		}
		ids, ok := shardsFor(col.writeRings(&k), id)
		if !ok {
			return nil, errf(KindServiceError, "shard key %s has no shards", k)
		}
		out = append(out, ids...)
	}
	return out, nil
}

// shardsFor is the shard of id under each ring, without repeats.
func shardsFor(rings []*hashRing, id PointID) ([]uint32, bool) {
	var out []uint32
	for _, r := range rings {
		s, ok := r.shardFor(id)
		if !ok {
			return nil, false
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, true
}

// update describes a point update for the replica set.
type update struct {
	// isWrite is is_write_operation(): refused by a peer holding the 1.15
	// write lock (locks.go).
	isWrite bool
	// wait is the client's wait flag: replicas then answer Completed,
	// which makes update_impl deactivate non-transient failures too.
	wait bool
	// cost is the write rate limiter cost on each Active replica
	// (strict.go).
	cost int
}

// replicaFailure is one replica's refusal of an update.
type replicaFailure struct {
	peer      uint64
	err       error
	transient bool
}

// applyWriteLocked applies fn to every replica of shard that receives
// updates (§ writes: Active, Partial, Recovery, Initializing, ...). A
// replica whose peer is down misses the write and is marked Dead, as the
// failed forward would do in Qdrant. A replica may refuse the update: its
// peer holds the 1.15 write lock (a transient PreConditionFailed for the
// leader, locks.go) or, when Active, its write rate limiter is empty
// (ShardReplicaSet::update_local, a non-transient RateLimitExceeded,
// strict.go). The leader then proceeds as
// lib/collection/src/shards/replica_set/update.rs update_impl does
// (handleFailedReplicasLocked). At least one Active replica must take the
// write.
func (c *Cluster) applyWriteLocked(col *collection, id uint32, u update, fn func(d *replicaData)) error {
	s := col.shards[id]
	if s == nil {
		return errShardNotFound(id)
	}
	active, applied := 0, 0
	var failed []replicaFailure
	for _, pid := range s.peerIDs() {
		r := s.replicas[pid]
		if !writable(r.state) {
			continue
		}
		q := c.peerLocked(pid)
		if q == nil || !q.running {
			r.state, r.since = StateDead, time.Now()
			c.commitLocked(proposal{what: "set replica Dead: write failed", droppable: true})
			continue
		}
		if u.isWrite {
			if err := q.lockErrorLocked(); err != nil {
				failed = append(failed, replicaFailure{peer: pid, err: forwardedLockError(err), transient: true})
				continue
			}
		}
		d := q.localShardsLocked(col.name)[id]
		if d == nil {
			d = newReplicaData(c.newUUID())
			q.localShardsLocked(col.name)[id] = d
		}
		if r.state == StateActive {
			if err := checkWriteRateLocked(col, d, u.cost); err != nil {
				failed = append(failed, replicaFailure{peer: pid, err: err})
				continue
			}
		}
		fn(d)
		applied++
		d.ops++
		// A new shard's Resharding replica takes writes routed by the
		// new ring before it is readable.
		if readable(r.state) || r.state == StateResharding {
			active++
		}
	}
	if len(failed) > 0 {
		if err := c.handleFailedReplicasLocked(col, s, failed, applied, u.wait); err != nil {
			return err
		}
	}
	if active == 0 {
		return errf(KindServiceError, "The replica set for shard %d has no active replica", id)
	}
	return nil
}

// handleFailedReplicasLocked follows update_impl and handle_failed_replicas
// (replica_set/update.rs): with fewer successes than
// min(write_consistency_factor, replicas) the first failure is the
// answer. Otherwise failed replicas are deactivated (marked Dead): the
// transient ones always, the others only when some replica completed the
// update (wait=true) — with wait=false a replica refusing for a
// non-transient reason just misses the update. Dead and Listener replicas
// are ignored, and Partial or Recovery ones refusing with
// PreConditionFailed are left to their transfer.
func (c *Cluster) handleFailedReplicasLocked(col *collection, s *shard, failed []replicaFailure, applied int, wait bool) error {
	need := min(max(int(col.config.Params.WriteConsistencyFactor), 1), len(s.replicas))
	if applied < need {
		return failed[0].err
	}
	now := time.Now()
	for _, f := range failed {
		if !f.transient && !wait {
			continue
		}
		r := s.replicas[f.peer]
		switch r.state {
		case StateDead, StateListener:
			continue
		case StatePartial, StateRecovery:
			if f.transient {
				continue
			}
		}
		r.state, r.since = StateDead, now
		c.commitLocked(proposal{what: "set replica Dead: update failed", droppable: true})
		c.log.Info("replica deactivated after a failed update", "collection", col.name, "shard", s.id, "peer", f.peer, "err", f.err)
	}
	return nil
}

// Upsert stores points in every writable replica of their shards.
func (p *Peer) Upsert(ctx context.Context, coll string, req UpsertRequest) (UpdateResult, error) {
	// Validation comes before any state (actix's Valid extractor).
	if err := req.UpdateFilter.validate("update_filter"); err != nil {
		return UpdateResult{}, err
	}
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return UpdateResult{}, err
	}
	pts, err := req.points(schemaOf(col.config.Params, c.ver))
	if err != nil {
		return UpdateResult{}, err
	}
	mode := "upsert"
	if req.UpdateMode != nil && c.ver.atLeast(1, 17, 0) {
		switch mode = *req.UpdateMode; mode {
		case "upsert", "insert_only", "update_only":
		default:
			return UpdateResult{}, errf(KindFormat, "update_mode: unknown variant `%s`, expected one of `upsert`, `insert_only`, `update_only`", mode)
		}
	}
	// Strict mode is verified before the update reaches the
	// TableOfContent (src/common/update.rs), which checks the lock.
	if err := checkUpsertStrictLocked(col, len(pts)); err != nil {
		return UpdateResult{}, err
	}
	if err := p.checkInsertLimitsLocked(col, pts); err != nil {
		return UpdateResult{}, err
	}
	if err := p.lockErrorLocked(); err != nil {
		return UpdateResult{}, err
	}
	byShard := map[uint32][]*point{}
	for _, pt := range pts {
		ids, err := routeWrite(col, req.ShardKey, pt.id)
		if err != nil {
			return UpdateResult{}, err
		}
		for _, s := range ids {
			byShard[s] = append(byShard[s], pt)
		}
	}
	for s, list := range byShard {
		u := update{isWrite: true, wait: waitFrom(ctx), cost: len(list)}
		err := c.applyWriteLocked(col, s, u, c.updateApplier(ctx, atOp(col, func(d *replicaData) {
			for _, pt := range list {
				// insert_only keeps existing points, update_only creates
				// none (the segment's upsert per UpdateMode).
				old, exists := d.points[pt.id]
				if mode == "insert_only" && exists || mode == "update_only" && !exists {
					continue
				}
				// A conditional upsert replaces an existing point only if
				// it matches update_filter.
				if exists && req.UpdateFilter != nil && !req.UpdateFilter.matchesIn(old, col.payloadSchema) {
					continue
				}
				d.upsertPoint(pt)
			}
		})))
		if err != nil {
			return UpdateResult{}, err
		}
	}
	col.opID++
	return UpdateResult{OperationID: col.opID, Status: "completed"}, nil
}

// DeletePoints removes points by id or by filter.
func (p *Peer) DeletePoints(ctx context.Context, coll string, req DeleteRequest) (UpdateResult, error) {
	// Validation comes before any state (actix's Valid extractor).
	if err := req.Filter.validate("filter"); err != nil {
		return UpdateResult{}, err
	}
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	// Deleting points is not a write operation for the 1.15 lock
	// (PointOperations::is_write_operation, operations/point_ops.rs).
	col, err := c.resolve(coll)
	if err != nil {
		return UpdateResult{}, err
	}
	if req.Points == nil && req.Filter == nil {
		return UpdateResult{}, errf(KindFormat, "data did not match any variant of untagged enum PointsSelector")
	}
	if err := checkWriteFilterStrictLocked(col, req.Filter); err != nil {
		return UpdateResult{}, err
	}
	shards, err := targetShards(col, req.ShardKey)
	if err != nil {
		return UpdateResult{}, err
	}
	for _, s := range shards {
		if len(col.shards[s].replicas) == 0 {
			continue
		}
		// Deleting is not a write operation for the lock; the rate cost is
		// the number of ids, or the filter's estimated cardinality.
		u := update{wait: waitFrom(ctx), cost: len(req.Points)}
		if req.Filter != nil {
			u.cost = filterWriteCostLocked(c, col, s, req.Filter)
		}
		err := c.applyWriteLocked(col, s, u, c.updateApplier(ctx, atOp(col, func(d *replicaData) {
			if req.Filter == nil {
				for _, id := range req.Points {
					d.removePoint(id)
				}
				return
			}
			for id, pt := range d.points {
				if req.Filter.matchesIn(pt, col.payloadSchema) {
					d.removePoint(id)
				}
			}
		})))
		if err != nil {
			return UpdateResult{}, err
		}
	}
	col.opID++
	return UpdateResult{OperationID: col.opID, Status: "completed"}, nil
}

// readShardsLocked collects, per shard, the points of one readable replica.
// cost is the read rate limiter cost on each serving replica (strict.go).
func (p *Peer) readShardsLocked(col *collection, sel ShardKeySelector, cost int) ([]*point, map[PointID]*ShardKey, error) {
	shards, err := readShards(col, sel)
	if err != nil {
		return nil, nil, err
	}
	var out []*point
	keys := map[PointID]*ShardKey{}
	for _, s := range shards {
		d := p.readReplicaLocked(col, s)
		if d == nil {
			return nil, nil, errf(KindServiceError, "No active replica found for shard %d of collection %s", s, col.name)
		}
		if err := checkReadRateLocked(col, d, cost); err != nil {
			return nil, nil, err
		}
		if d.synthetic != nil {
			continue
		}
		keep := col.readFilter(s)
		for _, pt := range d.points {
			if keep != nil && !keep(pt.id) {
				continue
			}
			out = append(out, pt)
			if k := col.shards[s].key; k != nil {
				keys[pt.id] = k
			}
		}
	}
	return out, keys, nil
}

// GetPoints retrieves points by id, in request order, skipping missing ones.
func (p *Peer) GetPoints(ctx context.Context, coll string, req GetPointsRequest) ([]Record, error) {
	sel, err := parseSelector(req.WithPayload, firstSet(req.WithVector, req.WithVectors))
	if err != nil {
		return nil, err
	}
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return nil, err
	}
	if err := sel.checkVectorNames(schemaOf(col.config.Params, c.ver)); err != nil {
		return nil, err
	}
	// LocalShard::retrieve costs one token per requested id.
	all, keys, err := p.readShardsLocked(col, req.ShardKey, len(req.IDs))
	if err != nil {
		return nil, err
	}
	byID := make(map[PointID]*point, len(all))
	for _, pt := range all {
		byID[pt.id] = pt
	}
	out := []Record{}
	seen := map[PointID]bool{}
	for _, id := range req.IDs {
		pt, ok := byID[id]
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, sel.record(pt, keys[id]))
	}
	return out, nil
}

// Scroll pages through points in id order: numeric ids first, then UUIDs.
// The offset is inclusive; next_page_offset is the first id of the next
// page.
func (p *Peer) Scroll(ctx context.Context, coll string, req ScrollRequest) (*ScrollResult, error) {
	limit, err := checkLimit(req.Limit)
	if err != nil {
		return nil, err
	}
	if err := req.Filter.validate("filter"); err != nil {
		return nil, err
	}
	ob, err := parseOrderBy(req.OrderBy)
	if err != nil {
		return nil, err
	}
	sel, err := parseSelector(req.WithPayload, firstSet(req.WithVector, req.WithVectors))
	if err != nil {
		return nil, err
	}
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return nil, err
	}
	if err := checkScrollStrictLocked(col, req); err != nil {
		return nil, err
	}
	if err := sel.checkVectorNames(schemaOf(col.config.Params, c.ver)); err != nil {
		return nil, err
	}
	// LocalShard::scroll_by costs 1 plus the filter's conditions.
	all, keys, err := p.readShardsLocked(col, req.ShardKey, 1+filterCost(req.Filter))
	if err != nil {
		return nil, err
	}
	if ob != nil {
		if req.Offset != nil {
			return nil, &Error{Kind: KindBadInput, Msg: errOffsetWithOrderBy.Error()}
		}
		entries, kind, err := orderedPage(col, ob, req.Filter, all, limit)
		if err != nil {
			return nil, err
		}
		res := &ScrollResult{Points: []Record{}}
		for _, e := range entries {
			r := sel.record(e.pt, keys[e.pt.id])
			r.OrderValue = e.value
			if kind != "float" {
				r.OrderValue = int64(e.value)
			}
			res.Points = append(res.Points, r)
		}
		return res, nil
	}
	// Keep only the limit+1 smallest matching ids: paging through a large
	// collection stays O(n log limit) per page.
	h := &idHeap{}
	for _, pt := range all {
		if req.Offset != nil && pt.id.Less(*req.Offset) {
			continue
		}
		if !req.Filter.matchesIn(pt, col.payloadSchema) {
			continue
		}
		if h.Len() <= limit {
			heap.Push(h, pt)
		} else if pt.id.Less((*h)[0].id) {
			(*h)[0] = pt
			heap.Fix(h, 0)
		}
	}
	match := []*point(*h)
	sortPoints(match)
	res := &ScrollResult{Points: []Record{}}
	for i, pt := range match {
		if i == limit {
			next := pt.id
			res.NextPageOffset = &next
			break
		}
		res.Points = append(res.Points, sel.record(pt, keys[pt.id]))
	}
	return res, nil
}

// Count counts matching points exactly, one replica per shard.
func (p *Peer) Count(ctx context.Context, coll string, req CountRequest) (uint64, error) {
	if err := req.Filter.validate("filter"); err != nil {
		return 0, err
	}
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return 0, err
	}
	if err := checkCountStrictLocked(col, req); err != nil {
		return 0, err
	}
	shards, err := readShards(col, req.ShardKey)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, s := range shards {
		d := p.readReplicaLocked(col, s)
		if d == nil {
			return 0, errf(KindServiceError, "No active replica found for shard %d of collection %s", s, col.name)
		}
		// LocalShard::count costs 1 plus the filter's conditions.
		if err := checkReadRateLocked(col, d, 1+filterCost(req.Filter)); err != nil {
			return 0, err
		}
		if keep := col.readFilter(s); keep != nil && d.synthetic == nil {
			// During a resharding: the points the read ring places here.
			for _, pt := range d.points {
				if keep(pt.id) && (req.Filter == nil || req.Filter.matchesIn(pt, col.payloadSchema)) {
					n++
				}
			}
			continue
		}
		if c.opts.ApproximateCounts && req.Exact != nil && !*req.Exact {
			n += estimateCountLocked(col, d, req.Filter)
			continue
		}
		if req.Filter == nil {
			n += uint64(d.count())
			continue
		}
		for _, pt := range d.points {
			if req.Filter.matchesIn(pt, col.payloadSchema) {
				n++
			}
		}
	}
	return n, nil
}
