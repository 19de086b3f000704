package qdrantsim

import (
	"container/heap"
	"context"
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
		s, ok := col.ring(nil).shardFor(id)
		if !ok {
			return nil, errf(KindServiceError, "collection %s has no shards", col.name)
		}
		return []uint32{s}, nil
	}
	if len(sel) == 0 {
		return nil, errf(KindBadInput, "Shard key not specified")
	}
	var out []uint32
	for _, k := range sel {
		if !col.hasKey(k) {
			return nil, errf(KindBadInput, "Shard key %s not found", k)
		}
		s, ok := col.ring(&k).shardFor(id)
		if !ok {
			return nil, errf(KindServiceError, "shard key %s has no shards", k)
		}
		out = append(out, s)
	}
	return out, nil
}

// applyWriteLocked applies fn to every replica of shard that receives
// updates (§ writes: Active, Partial, Recovery, Initializing, ...). A
// replica whose peer is down misses the write and is marked Dead, as the
// failed forward would do in Qdrant. At least one Active replica must take
// the write.
func (c *Cluster) applyWriteLocked(col *collection, id uint32, fn func(d *replicaData)) error {
	s := col.shards[id]
	if s == nil {
		return errShardNotFound(id)
	}
	active := 0
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
		d := q.localShardsLocked(col.name)[id]
		if d == nil {
			d = newReplicaData(c.newUUID())
			q.localShardsLocked(col.name)[id] = d
		}
		fn(d)
		d.ops++
		if readable(r.state) {
			active++
		}
	}
	if active == 0 {
		return errf(KindServiceError, "The replica set for shard %d has no active replica", id)
	}
	return nil
}

// Upsert stores points in every writable replica of their shards.
func (p *Peer) Upsert(ctx context.Context, coll string, req UpsertRequest) (UpdateResult, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkWriteLockLocked(); err != nil {
		return UpdateResult{}, err
	}
	col, err := c.resolve(coll)
	if err != nil {
		return UpdateResult{}, err
	}
	specs, _ := vectorSpecs(col.config.Params.Vectors)
	pts, err := req.points(specs)
	if err != nil {
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
		err := c.applyWriteLocked(col, s, func(d *replicaData) {
			for _, pt := range list {
				d.points[pt.id] = pt
			}
		})
		if err != nil {
			return UpdateResult{}, err
		}
	}
	col.opID++
	return UpdateResult{OperationID: col.opID, Status: "completed"}, nil
}

// DeletePoints removes points by id or by filter.
func (p *Peer) DeletePoints(ctx context.Context, coll string, req DeleteRequest) (UpdateResult, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkWriteLockLocked(); err != nil {
		return UpdateResult{}, err
	}
	col, err := c.resolve(coll)
	if err != nil {
		return UpdateResult{}, err
	}
	if req.Points == nil && req.Filter == nil {
		return UpdateResult{}, errf(KindFormat, "data did not match any variant of untagged enum PointsSelector")
	}
	shards, err := targetShards(col, req.ShardKey)
	if err != nil {
		return UpdateResult{}, err
	}
	for _, s := range shards {
		if len(col.shards[s].replicas) == 0 {
			continue
		}
		err := c.applyWriteLocked(col, s, func(d *replicaData) {
			if req.Filter == nil {
				for _, id := range req.Points {
					delete(d.points, id)
				}
				return
			}
			for id, pt := range d.points {
				if req.Filter.matches(pt) {
					delete(d.points, id)
				}
			}
		})
		if err != nil {
			return UpdateResult{}, err
		}
	}
	col.opID++
	return UpdateResult{OperationID: col.opID, Status: "completed"}, nil
}

// readShardsLocked collects, per shard, the points of one readable replica.
func (p *Peer) readShardsLocked(col *collection, sel ShardKeySelector) ([]*point, map[PointID]*ShardKey, error) {
	shards, err := targetShards(col, sel)
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
		if d.synthetic != nil {
			continue
		}
		for _, pt := range d.points {
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
	sel, err := parseSelector(req.WithPayload, req.WithVector)
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
	all, keys, err := p.readShardsLocked(col, req.ShardKey)
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
	sel, err := parseSelector(req.WithPayload, req.WithVector)
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
	all, keys, err := p.readShardsLocked(col, req.ShardKey)
	if err != nil {
		return nil, err
	}
	// Keep only the limit+1 smallest matching ids: paging through a large
	// collection stays O(n log limit) per page.
	h := &idHeap{}
	for _, pt := range all {
		if req.Offset != nil && pt.id.Less(*req.Offset) {
			continue
		}
		if !req.Filter.matches(pt) {
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
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return 0, err
	}
	shards, err := targetShards(col, req.ShardKey)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, s := range shards {
		d := p.readReplicaLocked(col, s)
		if d == nil {
			return 0, errf(KindServiceError, "No active replica found for shard %d of collection %s", s, col.name)
		}
		if req.Filter == nil {
			n += uint64(d.count())
			continue
		}
		for _, pt := range d.points {
			if req.Filter.matches(pt) {
				n++
			}
		}
	}
	return n, nil
}
