package qdrantsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
)

// Scrolling ordered by a payload key (order_by): Qdrant walks a range
// index of the key (integer with range, float or datetime) and refuses a
// key without one (OperationError::MissingRangeIndexForOrderBy,
// lib/segment/src/common/operation_error.rs). Every value of a point is an
// entry, so a point with several values appears once per value; entries
// are ordered by (value, id) ascending or descending, start_from bounds
// the values (>= ascending, <= descending), an id offset is refused and
// next_page_offset is always null (lib/collection/src/collection/
// point_ops.rs scroll_by, shards/local_shard/shard_ops.rs). Datetime
// values order as their timestamp in microseconds.

// orderBy is a parsed OrderByInterface.
type orderBy struct {
	key       string
	desc      bool
	startFrom json.RawMessage
}

func parseOrderBy(raw json.RawMessage) (*orderBy, error) {
	if isNull(raw) {
		return nil, nil
	}
	var key string
	if json.Unmarshal(raw, &key) == nil {
		return &orderBy{key: key}, nil
	}
	var ob struct {
		Key       string          `json:"key"`
		Direction *string         `json:"direction"`
		StartFrom json.RawMessage `json:"start_from"`
	}
	if err := json.Unmarshal(raw, &ob); err != nil || ob.Key == "" {
		return nil, errf(KindFormat, "order_by: data did not match any variant of untagged enum OrderByInterface")
	}
	out := &orderBy{key: ob.Key, startFrom: ob.StartFrom}
	if ob.Direction != nil {
		switch *ob.Direction {
		case "asc":
		case "desc":
			out.desc = true
		default:
			return nil, errf(KindFormat, "order_by.direction: unknown variant `%s`, expected `asc` or `desc`", *ob.Direction)
		}
	}
	return out, nil
}

// orderKind is the range index of the key: "integer", "float" or
// "datetime", or "" without one.
func orderKind(schema json.RawMessage) string {
	caps := schemaCapabilities(schema)
	switch {
	case caps[capIntRange]:
		return "integer"
	case caps[capFloatRange]:
		return "float"
	case caps[capDatetimeRange]:
		return "datetime"
	}
	return ""
}

// orderValue converts a payload value for the index kind.
func orderValue(kind string, v any) (float64, bool) {
	switch kind {
	case "integer":
		return asInt(v)
	case "float":
		f, ok := v.(float64)
		return f, ok
	case "datetime":
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		t, ok := parseDatetime(s)
		return float64(t.UnixMicro()), ok
	}
	return 0, false
}

// startValue is StartFrom: a number, or a datetime for a datetime key.
func startValue(kind string, raw json.RawMessage) (*float64, error) {
	if isNull(raw) {
		return nil, nil
	}
	raw = bytes.TrimSpace(raw)
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		t, ok := parseDatetime(s)
		if !ok {
			return nil, errf(KindFormat, "order_by.start_from: '%s' is not in a supported date/time format, please use RFC 3339", s)
		}
		f := float64(t.UnixMicro())
		return &f, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, errf(KindFormat, "order_by.start_from: data did not match any variant of untagged enum StartFrom")
	}
	return &f, nil
}

type orderEntry struct {
	value float64
	pt    *point
}

// orderedPage is the order_by half of Scroll; c.mu is held.
func orderedPage(col *collection, ob *orderBy, f *Filter, all []*point, limit int) ([]orderEntry, string, error) {
	kind := orderKind(col.payloadSchema[ob.key])
	if kind == "" {
		return nil, "", errf(KindBadRequest, "No range index for `order_by` key: `%s`. Please create one to use `order_by`. Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload schemas support Range conditions", ob.key)
	}
	start, err := startValue(kind, ob.startFrom)
	if err != nil {
		return nil, "", err
	}
	var entries []orderEntry
	for _, pt := range all {
		if !f.matchesIn(pt, col.payloadSchema) {
			continue
		}
		vals, _ := lookup(pt.payload, ob.key)
		seen := map[float64]bool{}
		for _, v := range vals {
			x, ok := orderValue(kind, v)
			if !ok || seen[x] {
				continue
			}
			if start != nil && (!ob.desc && x < *start || ob.desc && x > *start) {
				continue
			}
			seen[x] = true
			entries = append(entries, orderEntry{value: x, pt: pt})
		}
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.value != b.value {
			return (a.value < b.value) != ob.desc
		}
		return a.pt.id.Less(b.pt.id) != ob.desc
	})
	if len(entries) > limit {
		entries = entries[:limit]
	}
	return entries, kind, nil
}

//lint:ignore ST1005 the text is Qdrant's.
var errOffsetWithOrderBy = errors.New("Cannot use an `offset` when using `order_by`. The alternative for paging is to use `order_by.start_from` and a filter to exclude the IDs that you've already seen for the `order_by.start_from` value")
