package qdrantsim

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"strings"
)

// Point updates other than upsert and delete: payload set/overwrite/
// delete/clear (lib/shard/src/operations/payload_ops.rs), vector
// update/delete (lib/collection/src/operations/vector_ops.rs) and batches
// of any of them (src/actix/api/update_api.rs update_batch). Stored points
// are immutable, so every change replaces the point with a modified copy.

// PointsTarget selects points by id or by filter (PointsSelector, and the
// points/filter fields of the payload operations).
type PointsTarget struct {
	Points   []PointID        `json:"points,omitempty"`
	Filter   *Filter          `json:"filter,omitempty"`
	ShardKey ShardKeySelector `json:"shard_key,omitempty"`
}

// check is the TryFrom of the operation's shadow struct: a selector must
// name points or a filter; serde reports it as a body format error
// (PointsSelectorValidationError in lib/shard/src/operations/payload_ops.rs).
func (t PointsTarget) check() error {
	if t.Points == nil && t.Filter == nil {
		return errf(KindFormat, "Either list of point ids or filter must be provided")
	}
	return t.Filter.validate("filter")
}

// SetPayloadRequest is POST/PUT /collections/{c}/points/payload.
type SetPayloadRequest struct {
	Payload map[string]any `json:"payload"`
	Key     *string        `json:"key,omitempty"`
	PointsTarget
}

// DeletePayloadRequest is POST /collections/{c}/points/payload/delete.
type DeletePayloadRequest struct {
	Keys []string `json:"keys"`
	PointsTarget
}

// PointVectors is one point of an UpdateVectors request.
type PointVectors struct {
	ID      PointID         `json:"id"`
	Vector  json.RawMessage `json:"vector"`
	Vectors json.RawMessage `json:"vectors"` // serde alias of vector
}

// UpdateVectorsRequest is PUT /collections/{c}/points/vectors.
type UpdateVectorsRequest struct {
	Points   []PointVectors   `json:"points"`
	ShardKey ShardKeySelector `json:"shard_key,omitempty"`
	// UpdateFilter makes the update conditional: only points matching it
	// get the new vectors (lib/shard/src/update/points/vectors.rs).
	UpdateFilter *Filter `json:"update_filter,omitempty"`
}

// DeleteVectorsRequest is POST /collections/{c}/points/vectors/delete.
type DeleteVectorsRequest struct {
	Points   []PointID        `json:"points,omitempty"`
	Filter   *Filter          `json:"filter,omitempty"`
	Vector   []string         `json:"vector"`
	Vectors  []string         `json:"vectors"` // serde alias of vector
	ShardKey ShardKeySelector `json:"shard_key,omitempty"`
}

// updateLocked runs fn on the resolved collection under the cluster lock
// and answers Qdrant's completed update result.
func (p *Peer) updateLocked(coll string, fn func(c *Cluster, col *collection) error) (UpdateResult, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return UpdateResult{}, err
	}
	if err := fn(c, col); err != nil {
		return UpdateResult{}, err
	}
	return UpdateResult{OperationID: col.opID, Status: "completed"}, nil
}

// modifyPoints applies mod to the selected points in every writable
// replica of their shards. Listed ids must exist: Qdrant's segments answer
// PointIdError, a 404 "No point with id X found", before anything changes
// (the simulator checks one Active replica per shard). isWrite says
// whether the 1.15 write lock refuses the operation.
func (p *Peer) modifyPoints(ctx context.Context, col *collection, t PointsTarget, isWrite bool, mod func(pt *point) *point) error {
	c := p.c
	if err := checkWriteFilterStrictLocked(col, t.Filter); err != nil {
		return err
	}
	if isWrite {
		if err := p.lockErrorLocked(); err != nil {
			return err
		}
	}
	byShard := map[uint32][]PointID{}
	var shards []uint32
	if t.Filter == nil {
		for _, id := range t.Points {
			ids, err := routeWrite(col, t.ShardKey, id)
			if err != nil {
				return err
			}
			for _, s := range ids {
				if _, seen := byShard[s]; !seen {
					shards = append(shards, s)
				}
				byShard[s] = append(byShard[s], id)
			}
		}
		for _, s := range shards {
			d := c.activeDataLocked(col, s)
			for _, id := range byShard[s] {
				if d == nil || d.points[id] == nil {
					return errf(KindNotFound, "No point with id %s found", id)
				}
			}
		}
	} else {
		var err error
		if shards, err = targetShards(col, t.ShardKey); err != nil {
			return err
		}
	}
	for _, s := range shards {
		if len(col.shards[s].replicas) == 0 {
			continue
		}
		ids := byShard[s]
		cost := len(ids)
		if t.Filter != nil {
			cost = filterWriteCostLocked(c, col, s, t.Filter)
		}
		u := update{isWrite: isWrite, wait: waitFrom(ctx), cost: cost}
		err := c.applyWriteLocked(col, s, u, c.updateApplier(ctx, atOp(col, func(d *replicaData) {
			if t.Filter == nil {
				for _, id := range ids {
					if pt := d.points[id]; pt != nil {
						d.replacePoint(mod(pt))
					}
				}
				return
			}
			for _, pt := range d.points {
				if t.Filter.matchesIn(pt, col.payloadSchema) {
					d.replacePoint(mod(pt))
				}
			}
		})))
		if err != nil {
			return err
		}
	}
	col.opID++
	return nil
}

// activeDataLocked returns the data of an Active replica of shard s.
func (c *Cluster) activeDataLocked(col *collection, s uint32) *replicaData {
	sh := col.shards[s]
	if sh == nil {
		return nil
	}
	for _, pid := range sh.peerIDs() {
		if sh.replicas[pid].state != StateActive {
			continue
		}
		if q := c.peerLocked(pid); q != nil {
			if d := q.localShardsLocked(col.name)[s]; d != nil {
				return d
			}
		}
	}
	return nil
}

// withPayload returns a copy of pt with payload pl.
func (pt *point) withPayload(pl map[string]any) *point {
	return &point{id: pt.id, vectors: pt.vectors, payload: pl}
}

// setPayloadAt is Payload::merge_by_key (JsonPath::value_set in
// lib/segment/src/json_path): the new keys are written into the object at
// key, created where missing; "name[i]" descends into one array element,
// "name[]" into every element. Missing array elements are not created.
func setPayloadAt(base map[string]any, key string, src map[string]any) map[string]any {
	out := deepCopyMap(base)
	setPath(out, strings.Split(key, "."), src)
	return out
}

func setPath(obj map[string]any, parts []string, src map[string]any) {
	if len(parts) == 0 {
		maps.Copy(obj, deepCopyMap(src))
		return
	}
	name, index, hasIndex := strings.Cut(parts[0], "[")
	if !hasIndex {
		next, ok := obj[name].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[name] = next
		}
		setPath(next, parts[1:], src)
		return
	}
	arr, _ := obj[name].([]any)
	index = strings.TrimSuffix(index, "]")
	for i, el := range arr {
		if index != "" && index != itoa(int64(i)) {
			continue
		}
		m, ok := el.(map[string]any)
		if !ok {
			continue
		}
		setPath(m, parts[1:], src)
	}
}

// deletePayloadKey is Payload::remove for one JsonPath (dotted object
// paths only).
func deletePayloadKey(pl map[string]any, key string) {
	parts := strings.Split(key, ".")
	cur := pl
	for _, part := range parts[:len(parts)-1] {
		next, ok := cur[part].(map[string]any)
		if !ok {
			return
		}
		cur = next
	}
	delete(cur, parts[len(parts)-1])
}

func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// SetPayload merges the payload into the selected points (POST), or
// replaces their payload whole (overwrite, PUT). Merging follows
// Payload::merge (merge_map: a null removes the key), applied by the
// payload storages of lib/segment/src/payload_storage.
func (p *Peer) SetPayload(ctx context.Context, coll string, req SetPayloadRequest, overwrite bool) (UpdateResult, error) {
	if err := req.check(); err != nil {
		return UpdateResult{}, err
	}
	if req.Payload == nil {
		return UpdateResult{}, errf(KindFormat, "missing field `payload`")
	}
	return p.updateLocked(coll, func(c *Cluster, col *collection) error {
		return p.modifyPoints(ctx, col, req.PointsTarget, true, func(pt *point) *point {
			switch {
			case overwrite:
				return pt.withPayload(deepCopyMap(req.Payload))
			case req.Key != nil:
				return pt.withPayload(setPayloadAt(pt.payload, *req.Key, req.Payload))
			}
			return pt.withPayload(mergeMetadata(deepCopyMap(pt.payload), req.Payload))
		})
	})
}

// DeletePayload removes keys from the selected points' payload.
func (p *Peer) DeletePayload(ctx context.Context, coll string, req DeletePayloadRequest) (UpdateResult, error) {
	if err := req.check(); err != nil {
		return UpdateResult{}, err
	}
	return p.updateLocked(coll, func(c *Cluster, col *collection) error {
		return p.modifyPoints(ctx, col, req.PointsTarget, false, func(pt *point) *point {
			pl := deepCopyMap(pt.payload)
			for _, k := range req.Keys {
				deletePayloadKey(pl, k)
			}
			return pt.withPayload(pl)
		})
	})
}

// ClearPayload empties the selected points' payload.
func (p *Peer) ClearPayload(ctx context.Context, coll string, req PointsTarget) (UpdateResult, error) {
	if err := req.check(); err != nil {
		return UpdateResult{}, err
	}
	return p.updateLocked(coll, func(c *Cluster, col *collection) error {
		return p.modifyPoints(ctx, col, req, false, func(pt *point) *point { return pt.withPayload(nil) })
	})
}

// UpdateVectors replaces the given vectors of existing points and keeps
// their other vectors (UpdateVectors in lib/api/src/rest/schema.rs: at
// least one point, each with at least one vector; names and dimensions
// checked against the config like an upsert's).
func (p *Peer) UpdateVectors(ctx context.Context, coll string, req UpdateVectorsRequest) (UpdateResult, error) {
	if len(req.Points) == 0 {
		return UpdateResult{}, &Error{Kind: KindValidation, Msg: "[points: must specify points to update]"}
	}
	if err := req.UpdateFilter.validate("update_filter"); err != nil {
		return UpdateResult{}, err
	}
	return p.updateLocked(coll, func(c *Cluster, col *collection) error {
		// StrictModeVerification for UpdateVectors (lib/collection/src/
		// operations/verification/update.rs): upsert_max_batchsize caps the
		// points, named "update limit".
		if s, on := strictLocked(col); on {
			if err := checkLimitOpt(len(req.Points), s.upsertMaxBatchsize, "update limit"); err != nil {
				return err
			}
		}
		schema := schemaOf(col.config.Params, c.ver)
		updates := map[PointID]map[string]vector{}
		target := PointsTarget{ShardKey: req.ShardKey, Points: []PointID{}}
		for i, pv := range req.Points {
			raw := pv.Vector
			if isNull(raw) {
				raw = pv.Vectors
			}
			if isNull(raw) || bytes.Equal(bytes.TrimSpace(raw), []byte("{}")) {
				return &Error{Kind: KindValidation, Msg: "[points[" + itoa(int64(i)) + "].vector: must specify vectors to update for point]"}
			}
			vs, err := parseVector(raw, schema, "points["+itoa(int64(i))+"].vector")
			if err != nil {
				return err
			}
			if updates[pv.ID] == nil {
				target.Points = append(target.Points, pv.ID)
				updates[pv.ID] = map[string]vector{}
			}
			maps.Copy(updates[pv.ID], vs)
		}
		// The collection size limits and the sparse / multivector limits
		// (check_custom of UpdateVectors).
		var pts []*point
		for _, id := range target.Points {
			pts = append(pts, &point{id: id, vectors: updates[id]})
		}
		if err := p.checkInsertLimitsLocked(col, pts); err != nil {
			return err
		}
		return p.modifyPoints(ctx, col, target, true, func(pt *point) *point {
			if !req.UpdateFilter.matchesIn(pt, col.payloadSchema) {
				return pt
			}
			vs := maps.Clone(pt.vectors)
			if vs == nil {
				vs = map[string]vector{}
			}
			maps.Copy(vs, updates[pt.id])
			return &point{id: pt.id, vectors: vs, payload: pt.payload}
		})
	})
}

// DeleteVectors removes named vectors from the selected points; every
// name must be configured (check_vector_name, a 400 "Not existing vector
// name error").
func (p *Peer) DeleteVectors(ctx context.Context, coll string, req DeleteVectorsRequest) (UpdateResult, error) {
	names := req.Vector
	if names == nil {
		names = req.Vectors
	}
	if len(names) == 0 {
		return UpdateResult{}, &Error{Kind: KindValidation, Msg: "[vector: must specify vector names to delete]"}
	}
	return p.updateLocked(coll, func(c *Cluster, col *collection) error {
		schema := schemaOf(col.config.Params, c.ver)
		for _, n := range names {
			_, dense := schema.dense[n]
			_, sparse := schema.sparse[n]
			if !dense && !sparse {
				return errf(KindBadInput, "Not existing vector name error: %s", n)
			}
		}
		t := PointsTarget{Points: req.Points, Filter: req.Filter, ShardKey: req.ShardKey}
		if t.Points == nil && t.Filter == nil {
			t.Points = []PointID{}
		}
		return p.modifyPoints(ctx, col, t, false, func(pt *point) *point {
			vs := maps.Clone(pt.vectors)
			for _, n := range names {
				delete(vs, n)
			}
			return &point{id: pt.id, vectors: vs, payload: pt.payload}
		})
	})
}

// UpdateBatch runs the operations of POST /collections/{c}/points/batch in
// order and answers one result per operation; the first failure ends the
// batch, the operations before it stay applied (update_batch in
// src/common/update.rs).
func (p *Peer) UpdateBatch(ctx context.Context, coll string, ops []map[string]json.RawMessage) ([]UpdateResult, error) {
	var out []UpdateResult
	for _, op := range ops {
		if len(op) != 1 {
			return out, errf(KindFormat, "operations: data did not match any variant of untagged enum UpdateOperation")
		}
		var res UpdateResult
		var err error
		for kind, body := range op {
			res, err = p.batchOp(ctx, coll, kind, body)
		}
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

func (p *Peer) batchOp(ctx context.Context, coll, kind string, body json.RawMessage) (UpdateResult, error) {
	decode := func(v any) error {
		if err := json.Unmarshal(body, v); err != nil {
			return errf(KindFormat, "operations: %v", err)
		}
		return nil
	}
	switch kind {
	case "upsert":
		var req UpsertRequest
		if err := decode(&req); err != nil {
			return UpdateResult{}, err
		}
		return p.Upsert(ctx, coll, req)
	case "delete":
		var req DeleteRequest
		if err := decode(&req); err != nil {
			return UpdateResult{}, err
		}
		return p.DeletePoints(ctx, coll, req)
	case "set_payload", "overwrite_payload":
		var req SetPayloadRequest
		if err := decode(&req); err != nil {
			return UpdateResult{}, err
		}
		return p.SetPayload(ctx, coll, req, kind == "overwrite_payload")
	case "delete_payload":
		var req DeletePayloadRequest
		if err := decode(&req); err != nil {
			return UpdateResult{}, err
		}
		return p.DeletePayload(ctx, coll, req)
	case "clear_payload":
		var req PointsTarget
		if err := decode(&req); err != nil {
			return UpdateResult{}, err
		}
		return p.ClearPayload(ctx, coll, req)
	case "update_vectors":
		var req UpdateVectorsRequest
		if err := decode(&req); err != nil {
			return UpdateResult{}, err
		}
		return p.UpdateVectors(ctx, coll, req)
	case "delete_vectors":
		var req DeleteVectorsRequest
		if err := decode(&req); err != nil {
			return UpdateResult{}, err
		}
		return p.DeleteVectors(ctx, coll, req)
	}
	return UpdateResult{}, errf(KindFormat, "operations: unknown variant `%s`, expected one of `upsert`, `delete`, `set_payload`, `overwrite_payload`, `delete_payload`, `clear_payload`, `update_vectors`, `delete_vectors`", kind)
}
