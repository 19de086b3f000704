package qdrantsim

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
)

// Facets: POST /collections/{c}/facet counts, for the points matching a
// filter, how many points hold each value of a payload key. Qdrant answers
// from a map index on the key (keyword, integer with lookup, uuid or bool:
// SegmentReadView::facet_index_for, lib/segment/src/segment/read_view/
// facet.rs) and refuses a key without one (OperationError::
// MissingMapIndexForFacet). Hits are sorted by count descending, then by
// value ascending (FacetHit's Ord, lib/segment/src/data_types/facets.rs),
// and cut at limit (default 10). The simulator counts exactly; Qdrant's
// default exact=false may sample on collections with more distinct values
// than 10×limit (at least 1000).

// FacetRequest is the body of POST /collections/{c}/facet.
type FacetRequest struct {
	Key      string           `json:"key"`
	Limit    *int             `json:"limit,omitempty"`
	Filter   *Filter          `json:"filter,omitempty"`
	Exact    *bool            `json:"exact,omitempty"`
	ShardKey ShardKeySelector `json:"shard_key,omitempty"`
}

// FacetHit is one value and the number of points holding it.
type FacetHit struct {
	Value any `json:"value"`
	Count int `json:"count"`
}

// FacetResult is the facet answer.
type FacetResult struct {
	Hits []FacetHit `json:"hits"`
}

// facetValue is FacetValue: its kind orders keyword < int < uuid < bool
// (enum order), then the value.
type facetValue struct {
	kind int // 0 keyword, 1 int, 2 uuid, 3 bool
	str  string
	num  float64
	uuid PointID
	b    bool
}

func (a facetValue) less(b facetValue) bool {
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	switch a.kind {
	case 0:
		return a.str < b.str
	case 1:
		return a.num < b.num
	case 2:
		return bytes.Compare(a.uuid.UUID[:], b.uuid.UUID[:]) < 0
	}
	return !a.b && b.b
}

func (a facetValue) json() any {
	switch a.kind {
	case 0:
		return a.str
	case 1:
		return a.num
	case 2:
		return a.uuid.String()
	}
	return a.b
}

// facetValues are the values a map index of type typ holds for one point.
func facetValues(typ string, vals []any) []facetValue {
	var out []facetValue
	for _, v := range vals {
		switch typ {
		case "keyword":
			if s, ok := v.(string); ok {
				out = append(out, facetValue{kind: 0, str: s})
			}
		case "integer":
			if n, ok := asInt(v); ok {
				out = append(out, facetValue{kind: 1, num: n})
			}
		case "uuid":
			if s, ok := v.(string); ok {
				if id, err := ParseUUIDID(s); err == nil {
					out = append(out, facetValue{kind: 2, uuid: id})
				}
			}
		case "bool":
			if b, ok := v.(bool); ok {
				out = append(out, facetValue{kind: 3, b: b})
			}
		}
	}
	return out
}

// Facet answers POST /collections/{c}/facet.
func (p *Peer) Facet(ctx context.Context, coll string, req FacetRequest) (*FacetResult, error) {
	limit := 10
	if req.Limit != nil {
		if *req.Limit < 1 {
			return nil, errf(KindValidation, "[limit: value %d invalid, must be 1 or larger]", *req.Limit)
		}
		limit = *req.Limit
	}
	if err := req.Filter.validate("filter"); err != nil {
		return nil, err
	}
	if _, ok := parsePath(req.Key); !ok {
		return nil, errf(KindFormat, "key: Invalid JSON path %q", req.Key)
	}
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return nil, err
	}
	// FacetRequestInternal's strict checks: limit, filter, exact.
	if s, on := strictLocked(col); on {
		if err := checkLimitOpt(limit, s.maxQueryLimit, "limit"); err != nil {
			return nil, err
		}
		if err := checkFilterStrict(col, s, req.Filter, s.unindexedRetrieve); err != nil {
			return nil, err
		}
		if err := checkExact(req.Exact != nil && *req.Exact, s.searchAllowExact); err != nil {
			return nil, err
		}
	}
	typ := facetIndexType(col.payloadSchema[req.Key])
	if typ == "" {
		return nil, errf(KindBadRequest, "No appropriate index for faceting: `%s`. Please create one to facet on this field. Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support Match conditions", req.Key)
	}
	all, _, err := p.readShardsLocked(col, req.ShardKey, 1+filterCost(req.Filter))
	if err != nil {
		return nil, err
	}
	counts := map[facetValue]int{}
	for _, pt := range all {
		if !req.Filter.matchesIn(pt, col.payloadSchema) {
			continue
		}
		vals, _ := lookup(pt.payload, req.Key)
		seen := map[facetValue]bool{}
		for _, v := range facetValues(typ, vals) {
			if !seen[v] {
				seen[v] = true
				counts[v]++
			}
		}
	}
	values := make([]facetValue, 0, len(counts))
	for v := range counts {
		values = append(values, v)
	}
	sort.Slice(values, func(i, j int) bool {
		if counts[values[i]] != counts[values[j]] {
			return counts[values[i]] > counts[values[j]]
		}
		return values[i].less(values[j])
	})
	res := &FacetResult{Hits: []FacetHit{}}
	for i, v := range values {
		if i == limit {
			break
		}
		res.Hits = append(res.Hits, FacetHit{Value: v.json(), Count: counts[v]})
	}
	return res, nil
}

// facetIndexType is the map index a payload schema gives the key, or ""
// (integer needs lookup; text, float, geo and datetime have none).
func facetIndexType(schema json.RawMessage) string {
	if len(schema) == 0 {
		return ""
	}
	typ, err := indexType(schema)
	if err != nil {
		return ""
	}
	switch typ {
	case "keyword", "uuid", "bool":
		return typ
	case "integer":
		if schemaCapabilities(schema)[capIntMatch] {
			return typ
		}
	}
	return ""
}
