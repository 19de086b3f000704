package qdrantsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// point is one stored point. Points are immutable once stored, so replicas
// and snapshots may share them.
type point struct {
	id      PointID
	vectors map[string]vector // "" is the unnamed vector
	payload map[string]any
}

// Record is a point as the REST API returns it.
type Record struct {
	ID       PointID         `json:"id"`
	Payload  map[string]any  `json:"payload"`
	Vector   json.RawMessage `json:"vector"`
	ShardKey *ShardKey       `json:"shard_key,omitempty"`
	// OrderValue is the value an order_by scroll ordered the record by.
	OrderValue any `json:"order_value,omitempty"`
}

// PointStruct is one point of an upsert in list form.
type PointStruct struct {
	ID      PointID         `json:"id"`
	Vector  json.RawMessage `json:"vector"`
	Payload map[string]any  `json:"payload,omitempty"`
}

// Batch is the column form of an upsert.
type Batch struct {
	IDs      []PointID        `json:"ids"`
	Vectors  json.RawMessage  `json:"vectors"`
	Payloads []map[string]any `json:"payloads,omitempty"`
}

// ShardKeySelector is one shard key or a list of them.
type ShardKeySelector []ShardKey

// UnmarshalJSON accepts a key or an array of keys.
func (s *ShardKeySelector) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var ks []ShardKey
		if err := json.Unmarshal(b, &ks); err != nil {
			return err
		}
		*s = ks
		return nil
	}
	var k ShardKey
	if err := json.Unmarshal(b, &k); err != nil {
		return err
	}
	*s = ShardKeySelector{k}
	return nil
}

// UpsertRequest is PUT /collections/{c}/points in either form.
type UpsertRequest struct {
	Points   []PointStruct    `json:"points,omitempty"`
	Batch    *Batch           `json:"batch,omitempty"`
	ShardKey ShardKeySelector `json:"shard_key,omitempty"`
	// UpdateMode is upsert (default), insert_only or update_only, from
	// 1.17 (UpdateMode in lib/api/src/rest/schema.rs).
	UpdateMode *string `json:"update_mode,omitempty"`
	// UpdateFilter makes the upsert conditional: an existing point is
	// replaced only if it matches (retain_conditional_upsert_points,
	// lib/shard/src/update/points/upsert.rs).
	UpdateFilter *Filter `json:"update_filter,omitempty"`
}

// DeleteRequest is POST /collections/{c}/points/delete: ids or a filter.
type DeleteRequest struct {
	Points   []PointID        `json:"points,omitempty"`
	Filter   *Filter          `json:"filter,omitempty"`
	ShardKey ShardKeySelector `json:"shard_key,omitempty"`
}

// GetPointsRequest is POST /collections/{c}/points.
type GetPointsRequest struct {
	IDs         []PointID        `json:"ids"`
	ShardKey    ShardKeySelector `json:"shard_key,omitempty"`
	WithPayload json.RawMessage  `json:"with_payload,omitempty"`
	WithVector  json.RawMessage  `json:"with_vector,omitempty"`
	// WithVectors is serde's alias of with_vector (lib/api/src/rest/
	// schema.rs).
	WithVectors json.RawMessage `json:"with_vectors,omitempty"`
}

// ScrollRequest is POST /collections/{c}/points/scroll. Limit nil means 10.
type ScrollRequest struct {
	Offset      *PointID         `json:"offset,omitempty"`
	Limit       *int             `json:"limit,omitempty"`
	Filter      *Filter          `json:"filter,omitempty"`
	ShardKey    ShardKeySelector `json:"shard_key,omitempty"`
	WithPayload json.RawMessage  `json:"with_payload,omitempty"`
	WithVector  json.RawMessage  `json:"with_vector,omitempty"`
	// WithVectors is serde's alias of with_vector (lib/api/src/rest/
	// schema.rs).
	WithVectors json.RawMessage `json:"with_vectors,omitempty"`
	// OrderBy is a key or {key, direction, start_from} (orderby.go).
	OrderBy json.RawMessage `json:"order_by,omitempty"`
}

// ScrollResult is the scroll answer.
type ScrollResult struct {
	Points         []Record `json:"points"`
	NextPageOffset *PointID `json:"next_page_offset"`
}

// CountRequest is POST /collections/{c}/points/count. Counts are always
// exact in the simulator.
type CountRequest struct {
	Filter   *Filter          `json:"filter,omitempty"`
	Exact    *bool            `json:"exact,omitempty"`
	ShardKey ShardKeySelector `json:"shard_key,omitempty"`
}

// UpdateResult is the answer of point writes.
type UpdateResult struct {
	OperationID uint64 `json:"operation_id"`
	Status      string `json:"status"`
}

// parseVector reads one VectorStruct, validates it as the request
// validation does (path locates it in the body) and checks it against the
// collection's vector config (vectors.go).
func parseVector(raw json.RawMessage, schema vectorSchema, path string) (map[string]vector, error) {
	vs, err := parseVectorStruct(raw)
	if err != nil {
		return nil, err
	}
	if err := validateVectors(vs, path, schema.emptyDense); err != nil {
		return nil, err
	}
	return schema.conform(vs)
}

// points builds the points of an upsert request.
func (r *UpsertRequest) points(schema vectorSchema) ([]*point, error) {
	var out []*point
	switch {
	case r.Batch != nil:
		b := r.Batch
		var cols []json.RawMessage
		var named map[string][]json.RawMessage
		vb := bytes.TrimSpace(b.Vectors)
		if len(vb) > 0 && vb[0] == '[' {
			if err := json.Unmarshal(vb, &cols); err != nil {
				return nil, errf(KindFormat, "batch.vectors: %v", err)
			}
			if len(cols) != len(b.IDs) {
				return nil, errf(KindBadInput, "number of ids and vectors must be equal")
			}
		} else if err := json.Unmarshal(vb, &named); err != nil {
			return nil, errf(KindFormat, "batch.vectors: %v", err)
		}
		if b.Payloads != nil && len(b.Payloads) != len(b.IDs) {
			return nil, errf(KindBadInput, "number of ids and payloads must be equal")
		}
		for i, id := range b.IDs {
			var raw json.RawMessage
			if cols != nil {
				raw = cols[i]
			} else {
				m := map[string]json.RawMessage{}
				for name, vs := range named {
					if len(vs) != len(b.IDs) {
						return nil, errf(KindBadInput, "number of ids and vectors must be equal")
					}
					m[name] = vs[i]
				}
				raw, _ = json.Marshal(m)
			}
			// Approximate: Qdrant labels batch validation errors by the
			// batch's columns, the simulator by the point's index.
			vec, err := parseVector(raw, schema, fmt.Sprintf("batch.vectors[%d]", i))
			if err != nil {
				return nil, err
			}
			var pl map[string]any
			if b.Payloads != nil {
				pl = b.Payloads[i]
			}
			out = append(out, &point{id: id, vectors: vec, payload: pl})
		}
	case r.Points != nil:
		for i, ps := range r.Points {
			vec, err := parseVector(ps.Vector, schema, fmt.Sprintf("points[%d].vector", i))
			if err != nil {
				return nil, err
			}
			out = append(out, &point{id: ps.ID, vectors: vec, payload: ps.Payload})
		}
	default:
		return nil, errf(KindFormat, "data did not match any variant of untagged enum PointInsertOperations")
	}
	return out, nil
}

// selector decides which payload fields and vectors a read returns.
type selector struct {
	allPayload bool
	fields     []string
	exclude    []string
	allVectors bool
	vectors    []string
}

func parseSelector(withPayload, withVector json.RawMessage) (selector, error) {
	s := selector{allPayload: true}
	if wp := bytes.TrimSpace(withPayload); len(wp) > 0 && string(wp) != "null" {
		var b bool
		var list []string
		var inc struct {
			Include []string `json:"include"`
			Exclude []string `json:"exclude"`
		}
		switch {
		case json.Unmarshal(wp, &b) == nil:
			s.allPayload = b
		case json.Unmarshal(wp, &list) == nil:
			s.allPayload, s.fields = false, list
		case json.Unmarshal(wp, &inc) == nil:
			s.allPayload, s.fields, s.exclude = inc.Include == nil, inc.Include, inc.Exclude
		default:
			return s, errf(KindFormat, "with_payload: data did not match any variant of untagged enum WithPayloadInterface")
		}
	}
	if wv := bytes.TrimSpace(withVector); len(wv) > 0 && string(wv) != "null" {
		var b bool
		var list []string
		switch {
		case json.Unmarshal(wv, &b) == nil:
			s.allVectors = b
		case json.Unmarshal(wv, &list) == nil:
			s.vectors = list
		default:
			return s, errf(KindFormat, "with_vector: data did not match any variant of untagged enum WithVector")
		}
	}
	return s, nil
}

func (s selector) record(p *point, key *ShardKey) Record {
	r := Record{ID: p.id, ShardKey: key, Vector: json.RawMessage("null")}
	switch {
	case s.allPayload && len(s.exclude) == 0:
		r.Payload = p.payload
		if r.Payload == nil {
			r.Payload = map[string]any{}
		}
	case s.allPayload:
		// PayloadSelectorExclude: the payload without the paths.
		r.Payload = deepCopyMap(p.payload)
		for _, f := range s.exclude {
			removePath(r.Payload, parseJSONPath(f))
		}
	case len(s.fields) > 0:
		// PayloadSelectorInclude: only the paths, in their nesting.
		r.Payload = map[string]any{}
		for _, f := range s.fields {
			if v, ok := projectPath(map[string]any(p.payload), parseJSONPath(f)); ok {
				r.Payload = mergeJSON(r.Payload, v).(map[string]any)
			}
		}
	}
	if s.allVectors || len(s.vectors) > 0 {
		r.Vector = vectorsOutput(p.vectors, s.allVectors, s.vectors)
	}
	return r
}

// pathSeg is one segment of a JsonPath (lib/segment/src/json_path):
// a key, optionally followed by [] (every element) or [i].
type pathSeg struct {
	key   string
	index int // -2 no index, -1 every element, else the element
}

func parseJSONPath(path string) []pathSeg {
	var out []pathSeg
	for _, part := range strings.Split(path, ".") {
		name, idx, has := strings.Cut(part, "[")
		seg := pathSeg{key: name, index: -2}
		if has {
			idx = strings.TrimSuffix(idx, "]")
			seg.index = -1
			if n, err := strconv.Atoi(idx); err == nil {
				seg.index = n
			}
		}
		out = append(out, seg)
	}
	return out
}

// projectPath keeps only what path reaches in v, in the same nesting.
func projectPath(v any, path []pathSeg) (any, bool) {
	if len(path) == 0 {
		return v, true
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	child, ok := m[path[0].key]
	if !ok {
		return nil, false
	}
	var sub any
	switch idx := path[0].index; {
	case idx == -2:
		if sub, ok = projectPath(child, path[1:]); !ok {
			return nil, false
		}
	default:
		arr, isArr := child.([]any)
		if !isArr {
			return nil, false
		}
		var kept []any
		for i, el := range arr {
			if idx >= 0 && i != idx {
				continue
			}
			if pv, ok := projectPath(el, path[1:]); ok {
				kept = append(kept, pv)
			}
		}
		if kept == nil {
			return nil, false
		}
		sub = kept
	}
	return map[string]any{path[0].key: sub}, true
}

// removePath deletes what path reaches in v.
func removePath(v any, path []pathSeg) {
	m, ok := v.(map[string]any)
	if !ok || len(path) == 0 {
		return
	}
	seg := path[0]
	if seg.index == -2 {
		if len(path) == 1 {
			delete(m, seg.key)
			return
		}
		removePath(m[seg.key], path[1:])
		return
	}
	arr, ok := m[seg.key].([]any)
	if !ok {
		return
	}
	if len(path) == 1 {
		if seg.index == -1 {
			delete(m, seg.key)
		} else if seg.index < len(arr) {
			m[seg.key] = append(arr[:seg.index:seg.index], arr[seg.index+1:]...)
		}
		return
	}
	for i, el := range arr {
		if seg.index < 0 || i == seg.index {
			removePath(el, path[1:])
		}
	}
}

// mergeJSON merges two projections of the same payload.
func mergeJSON(a, b any) any {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		for k, v := range bm {
			if cur, ok := am[k]; ok {
				am[k] = mergeJSON(cur, v)
			} else {
				am[k] = v
			}
		}
		return am
	}
	aa, aok := a.([]any)
	ba, bok := b.([]any)
	if aok && bok && len(aa) == len(ba) {
		for i := range aa {
			aa[i] = mergeJSON(aa[i], ba[i])
		}
		return aa
	}
	return b
}

func sortPoints(ps []*point) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].id.Less(ps[j].id) })
}

// pointJSON is the serialisation of a point inside snapshot segments.
type pointJSON struct {
	ID      PointID           `json:"id"`
	Vectors map[string]vector `json:"vectors,omitempty"`
	Payload map[string]any    `json:"payload,omitempty"`
}

func (p *point) toJSON() pointJSON {
	return pointJSON{ID: p.id, Vectors: p.vectors, Payload: p.payload}
}

func (j pointJSON) toPoint() *point { return &point{id: j.ID, vectors: j.Vectors, payload: j.Payload} }

func checkLimit(limit *int) (int, error) {
	if limit == nil {
		return 10, nil
	}
	if *limit == 0 {
		return 0, errf(KindBadRequest, "Limit cannot be 0")
	}
	if *limit < 0 {
		return 0, errf(KindFormat, "invalid value: integer `%d`, expected usize", *limit)
	}
	return *limit, nil
}

// firstSet returns a unless it is absent or null, else b.
func firstSet(a, b json.RawMessage) json.RawMessage {
	if isNull(a) {
		return b
	}
	return a
}

// checkVectorNames refuses a with_vector list naming a vector the
// collection does not have (check_vector_name, a 400 "Not existing vector
// name error", as test_basic_retrieve_multivec_api.py
// test_retrieve_invalid_vector states).
func (s selector) checkVectorNames(schema vectorSchema) error {
	for _, n := range s.vectors {
		_, dense := schema.dense[n]
		_, sparse := schema.sparse[n]
		if !dense && !sparse {
			return errf(KindBadInput, "Not existing vector name error: %s", n)
		}
	}
	return nil
}
