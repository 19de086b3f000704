package qdrantsim

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Strict mode's filter checks (lib/collection/src/operations/verification/
// mod.rs check_request_filter): with unindexed_filtering_retrieve (reads)
// or unindexed_filtering_update (filtered writes) false, every payload key
// a filter tests must have an index able to answer the condition
// (lib/collection/src/problems/unindexed_field.rs Extractor); then
// filter_max_conditions and condition_max_size bound the filter
// (check_filter_limits).

// Index capabilities, unindexed_field.rs FieldIndexType.
const (
	capIntMatch = iota
	capIntRange
	capKeywordMatch
	capKeywordPrefix
	capFloatRange
	capText
	capTextPhrase
	capBoolMatch
	capUUIDMatch
	capUUIDRange
	capDatetimeRange
	capGeo
	capCount
)

// capSchemaName is From<FieldIndexType> for PayloadFieldSchema printed
// with its Display (lib/segment/src/types.rs).
var capSchemaName = [capCount]string{
	capIntMatch: "integer", capIntRange: "integer", capKeywordMatch: "keyword",
	capKeywordPrefix: "keyword (with prefix: true)", capFloatRange: "float", capText: "text",
	capTextPhrase: "text (with phrase_matching: true)", capBoolMatch: "bool", capUUIDMatch: "uuid",
	capUUIDRange: "uuid", capDatetimeRange: "datetime", capGeo: "geo",
}

func allCaps() []int {
	out := make([]int, capCount)
	for i := range out {
		out[i] = i
	}
	return out
}

// schemaCapabilities is schema_capabilities: what an index of this schema
// answers.
func schemaCapabilities(schema json.RawMessage) map[int]bool {
	typ, err := indexType(schema)
	if err != nil {
		return nil
	}
	var params struct {
		Prefix         *bool `json:"prefix"`
		Lookup         *bool `json:"lookup"`
		Range          *bool `json:"range"`
		PhraseMatching *bool `json:"phrase_matching"`
	}
	_ = json.Unmarshal(schema, &params)
	set := func(caps ...int) map[int]bool {
		m := map[int]bool{}
		for _, c := range caps {
			m[c] = true
		}
		return m
	}
	switch typ {
	case "keyword":
		if params.Prefix != nil && *params.Prefix {
			return set(capKeywordMatch, capKeywordPrefix)
		}
		return set(capKeywordMatch)
	case "integer":
		m := map[int]bool{}
		if params.Lookup == nil || *params.Lookup {
			m[capIntMatch] = true
		}
		if params.Range == nil || *params.Range {
			m[capIntRange] = true
		}
		return m
	case "uuid":
		return set(capUUIDMatch, capUUIDRange)
	case "bool":
		return set(capBoolMatch)
	case "float":
		return set(capFloatRange)
	case "geo":
		return set(capGeo)
	case "text":
		if params.PhraseMatching != nil && *params.PhraseMatching {
			return set(capText, capTextPhrase)
		}
		return set(capText)
	case "datetime":
		return set(capDatetimeRange)
	}
	return nil
}

func isUUIDString(s string) bool {
	_, err := ParseUUIDID(s)
	return err == nil
}

// requiredCaps is infer_index_from_field_condition: the capabilities any
// one of which answers the condition; none for a no-op (empty any or
// except list).
func (c *Condition) requiredCaps() []int {
	var req []int
	strs := func(ss []any) []int {
		all := true
		for _, s := range ss {
			if str, ok := s.(string); !ok || !isUUIDString(str) {
				all = false
			}
		}
		if all {
			return []int{capUUIDMatch, capKeywordMatch}
		}
		return []int{capKeywordMatch}
	}
	variants := func(list []any) []int {
		switch {
		case len(list) == 0:
			return nil
		case variantIsStrings(list):
			return strs(list)
		}
		return []int{capIntMatch}
	}
	if m := c.Match; m != nil {
		switch {
		case m.Value != nil:
			switch v := m.Value.(type) {
			case string:
				req = append(req, strs([]any{v})...)
			case bool:
				req = append(req, capBoolMatch)
			default:
				req = append(req, capIntMatch)
			}
		case m.Text != nil, m.TextAny != nil:
			req = append(req, capText)
		case m.Phrase != nil:
			req = append(req, capTextPhrase)
		case m.Prefix != nil:
			req = append(req, capKeywordPrefix)
		case m.Any != nil:
			req = append(req, variants(m.Any)...)
		case m.Except != nil:
			req = append(req, variants(m.Except)...)
		}
	}
	if c.Range != nil {
		if c.Range.Datetime {
			req = append(req, capDatetimeRange)
		} else {
			req = append(req, capFloatRange, capIntRange)
		}
	}
	if c.GeoBoundingBox != nil || c.GeoRadius != nil || c.GeoPolygon != nil {
		req = append(req, capGeo)
	}
	if c.ValuesCount != nil || c.IsEmptyFlag != nil || c.IsNullFlag != nil {
		req = append(req, allCaps()...)
	}
	return req
}

// oneUnindexedKey is one_unindexed_key: the first key (in must, must_not,
// should, min_should order) whose condition no index of the collection
// answers, with the schemas that would.
func oneUnindexedKey(schema map[string]json.RawMessage, f *Filter, prefix string) (string, []int, bool) {
	if f == nil {
		return "", nil, false
	}
	lists := [][]Condition{f.Must, f.MustNot, f.Should}
	if f.MinShould != nil {
		lists = append(lists, f.MinShould.Conditions)
	}
	for _, list := range lists {
		for i := range list {
			c := &list[i]
			var key string
			var req []int
			switch {
			case c.Key != "":
				key, req = c.Key, c.requiredCaps()
			case c.IsNul != nil:
				key, req = c.IsNul.Key, allCaps()
			case c.Empty != nil:
				key, req = c.Empty.Key, allCaps()
			case c.Nested != nil:
				nested := c.Nested.Key
				if !strings.HasSuffix(nested, "[]") {
					nested += "[]"
				}
				if k, r, ok := oneUnindexedKey(schema, &c.Nested.Filter, joinPath(prefix, nested)); ok {
					return k, r, true
				}
				continue
			case c.HasID != nil, c.HasVector != nil, c.Slice != nil:
				continue
			default:
				if k, r, ok := oneUnindexedKey(schema, &c.Filter, prefix); ok {
					return k, r, true
				}
				continue
			}
			if len(req) == 0 {
				continue
			}
			full := joinPath(prefix, key)
			have := schemaCapabilities(schema[full])
			answered := false
			for _, r := range req {
				answered = answered || have[r]
			}
			if !answered {
				return full, req, true
			}
		}
	}
	return "", nil, false
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// maxConditionInputSize is Filter::max_condition_input_size: the longest
// any/except list (or has_id list) of the filter.
func maxConditionInputSize(f *Filter) int {
	n := 0
	lists := [][]Condition{f.Must, f.MustNot, f.Should}
	if f.MinShould != nil {
		lists = append(lists, f.MinShould.Conditions)
	}
	for _, list := range lists {
		for i := range list {
			c := &list[i]
			switch {
			case c.Key != "" && c.Match != nil:
				n = max(n, len(c.Match.Any), len(c.Match.Except))
			case c.HasID != nil:
				n = max(n, len(c.HasID))
			case c.Nested != nil:
				n = max(n, maxConditionInputSize(&c.Nested.Filter))
			case c.Key == "" && c.IsNul == nil && c.Empty == nil && c.HasVector == nil && c.Slice == nil:
				n = max(n, maxConditionInputSize(&c.Filter))
			}
		}
	}
	return n
}

// checkFilterStrict is check_filter in check_request_filter; allow is the
// unindexed_filtering_retrieve or _update setting.
func checkFilterStrict(col *collection, s strictMode, f *Filter, allow *bool) error {
	if f == nil {
		return nil
	}
	if allow != nil && !*allow {
		if key, caps, ok := oneUnindexedKey(col.payloadSchema, f, ""); ok {
			seen := map[string]bool{}
			var names []string
			for _, c := range caps {
				if n := capSchemaName[c]; !seen[n] {
					seen[n] = true
					names = append(names, n)
				}
			}
			sort.Strings(names)
			return strictError(fmt.Sprintf("Index required but not found for \"%s\" of one of the following types: [%s]", key, strings.Join(names, ", ")),
				"Create an index for this key or use a different filter.")
		}
	}
	if s.filterMaxConditions != nil {
		if n := filterCost(f); n > *s.filterMaxConditions {
			return strictError(fmt.Sprintf("Filter condition limit reached (%d > %d)", n, *s.filterMaxConditions),
				"Reduce the amount of conditions of your filter.")
		}
	}
	if s.conditionMaxSize != nil {
		if n := maxConditionInputSize(f); n > *s.conditionMaxSize {
			return strictError(fmt.Sprintf("Condition size limit reached (%d > %d)", n, *s.conditionMaxSize),
				"Reduce the size of your condition.")
		}
	}
	return nil
}

// checkWriteFilterStrictLocked applies the update-side filter checks (a
// filtered delete or payload change) when strict mode is on.
func checkWriteFilterStrictLocked(col *collection, f *Filter) error {
	s, on := strictLocked(col)
	if !on {
		return nil
	}
	return checkFilterStrict(col, s, f, s.unindexedUpdate)
}
