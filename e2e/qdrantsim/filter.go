package qdrantsim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Qdrant's filter language as scroll, count, delete and the payload
// updates evaluate it without an index: the types and their deserialisation
// are lib/segment/src/types.rs (Filter, Condition, FieldCondition, Match,
// RangeInterface, ValuesCount, geo conditions, Slice), the evaluation is
// lib/segment/src/payload_storage/query_checker.rs (check_filter,
// check_field_condition) with the per-value checks of
// lib/segment/src/payload_storage/condition_checker.rs, and payload paths
// are lib/segment/src/json_path (value_get).

// Filter is must / must_not / should / min_should over conditions.
type Filter struct {
	Should    []Condition
	MinShould *MinShould
	Must      []Condition
	MustNot   []Condition
}

// MinShould requires at least MinCount of Conditions.
type MinShould struct {
	Conditions []Condition `json:"conditions"`
	MinCount   int         `json:"min_count"`
}

// Condition is one filter clause; exactly one of its groups is set. A
// field condition has Key (and any of Match … IsNullFlag); a condition
// with no group set is a nested Filter.
type Condition struct {
	Key            string
	Match          *Match
	Range          *Range
	GeoBoundingBox *GeoBoundingBox
	GeoRadius      *GeoRadius
	GeoPolygon     *GeoPolygon
	ValuesCount    *ValuesCount
	// IsEmptyFlag and IsNullFlag are the field-condition forms
	// {"key": k, "is_empty": true}.
	IsEmptyFlag *bool
	IsNullFlag  *bool

	HasID     []PointID
	HasVector *string
	Slice     *Slice
	Nested    *Nested
	IsNul     *fieldOnly
	Empty     *fieldOnly
	Filter
}

type fieldOnly struct {
	Key string `json:"key"`
}

// Nested applies Filter to every object of the array at Key.
type Nested struct {
	Key    string `json:"key"`
	Filter Filter `json:"filter"`
}

// Slice is one of Total disjoint slices of the id space (types.rs Slice).
type Slice struct {
	Total uint32 `json:"total"`
	Index uint32 `json:"index"`
}

// Match is one of Qdrant's match variants. Value is a string, a bool or
// an integer kept as float64; Any and Except hold strings or integers (as
// float64), an empty list being the strings variant as serde deserialises
// it.
type Match struct {
	Value   any
	Text    *string
	TextAny *string
	Phrase  *string
	Prefix  *string
	Any     []any
	Except  []any
}

// Range bounds a number, or a datetime when Datetime is set.
type Range struct {
	Gt, Gte, Lt, Lte *float64
	// Datetime marks a range whose bounds were RFC 3339 strings; the
	// bounds are then Unix nanoseconds.
	Datetime bool
}

// ValuesCount bounds the number of values of a field.
type ValuesCount struct {
	Lt  *int `json:"lt,omitempty"`
	Gt  *int `json:"gt,omitempty"`
	Gte *int `json:"gte,omitempty"`
	Lte *int `json:"lte,omitempty"`
}

// GeoPoint is a payload or query coordinate.
type GeoPoint struct {
	Lon float64 `json:"lon"`
	Lat float64 `json:"lat"`
}

// GeoBoundingBox is a rectangle.
type GeoBoundingBox struct {
	TopLeft     GeoPoint `json:"top_left"`
	BottomRight GeoPoint `json:"bottom_right"`
}

// GeoRadius is a circle of Radius metres.
type GeoRadius struct {
	Center GeoPoint `json:"center"`
	Radius float64  `json:"radius"`
}

// GeoPolygon is an exterior ring minus interior rings.
type GeoPolygon struct {
	Exterior  geoLine   `json:"exterior"`
	Interiors []geoLine `json:"interiors,omitempty"`
}

type geoLine struct {
	Points []GeoPoint `json:"points"`
}

// UnmarshalJSON is Filter's serde: deny_unknown_fields, and should, must
// and must_not take one condition or a list (MaybeOneOrMany).
func (f *Filter) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return errors.New("invalid type: expected struct Filter")
	}
	for k, v := range raw {
		var err error
		switch k {
		case "should":
			f.Should, err = oneOrMany(v)
		case "must":
			f.Must, err = oneOrMany(v)
		case "must_not":
			f.MustNot, err = oneOrMany(v)
		case "min_should":
			if !isNull(v) {
				f.MinShould = &MinShould{}
				err = json.Unmarshal(v, f.MinShould)
			}
		default:
			return fmt.Errorf("unknown field `%s`, expected one of `should`, `min_should`, `must`, `must_not`", k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func oneOrMany(b json.RawMessage) ([]Condition, error) {
	b = bytes.TrimSpace(b)
	if isNull(b) {
		return nil, nil
	}
	if len(b) > 0 && b[0] == '[' {
		var cs []Condition
		err := json.Unmarshal(b, &cs)
		if cs == nil && err == nil {
			cs = []Condition{}
		}
		return cs, err
	}
	var c Condition
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return []Condition{c}, nil
}

const conditionExpecting = `Expected some form of condition, which can be a field condition (like {"key": ..., "match": ... }), or some other mentioned in the documentation: https://qdrant.tech/documentation/concepts/filtering/#filtering-conditions`

// UnmarshalJSON is Condition's deserialiser (types.rs): an object with
// "key" is a field condition, anything else the first untagged variant
// that fits.
func (c *Condition) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return errors.New("data did not match any variant of untagged enum Condition: " + conditionExpecting)
	}
	if k, ok := raw["key"]; ok {
		if err := json.Unmarshal(k, &c.Key); err != nil {
			return errors.New("Filter condition 'key' must be a string")
		}
		return c.fieldFromJSON(raw)
	}
	// The untagged variants are tried in order; serde ignores fields a
	// variant does not know, so the first variant's field decides.
	switch {
	case raw["is_empty"] != nil:
		c.Empty = &fieldOnly{}
		return json.Unmarshal(raw["is_empty"], c.Empty)
	case raw["is_null"] != nil:
		c.IsNul = &fieldOnly{}
		return json.Unmarshal(raw["is_null"], c.IsNul)
	case raw["has_id"] != nil:
		// has_id is a set: null is no set, and no other variant fits.
		if err := json.Unmarshal(raw["has_id"], &c.HasID); err != nil || c.HasID == nil {
			return errors.New("data did not match any variant of untagged enum Condition: " + conditionExpecting)
		}
		return nil
	case raw["has_vector"] != nil:
		c.HasVector = new(string)
		return json.Unmarshal(raw["has_vector"], c.HasVector)
	case raw["slice"] != nil:
		c.Slice = &Slice{}
		if err := json.Unmarshal(raw["slice"], c.Slice); err != nil {
			return err
		}
		if c.Slice.Total == 0 {
			// Slice.total is a NonZeroU32.
			return errors.New("slice.total: invalid value: integer `0`, expected a nonzero u32")
		}
		return nil
	case raw["nested"] != nil:
		c.Nested = &Nested{}
		return json.Unmarshal(raw["nested"], c.Nested)
	}
	return json.Unmarshal(b, &c.Filter)
}

func (c *Condition) fieldFromJSON(raw map[string]json.RawMessage) error {
	for k, v := range raw {
		if isNull(v) {
			continue
		}
		var err error
		switch k {
		case "key":
		case "match":
			c.Match = &Match{}
			err = json.Unmarshal(v, c.Match)
		case "range":
			c.Range = &Range{}
			err = json.Unmarshal(v, c.Range)
		case "geo_bounding_box":
			c.GeoBoundingBox = &GeoBoundingBox{}
			err = json.Unmarshal(v, c.GeoBoundingBox)
		case "geo_radius":
			c.GeoRadius = &GeoRadius{}
			err = json.Unmarshal(v, c.GeoRadius)
		case "geo_polygon":
			c.GeoPolygon = &GeoPolygon{}
			err = json.Unmarshal(v, c.GeoPolygon)
		case "values_count":
			c.ValuesCount = &ValuesCount{}
			err = json.Unmarshal(v, c.ValuesCount)
		case "is_empty":
			c.IsEmptyFlag = new(bool)
			err = json.Unmarshal(v, c.IsEmptyFlag)
		case "is_null":
			c.IsNullFlag = new(bool)
			err = json.Unmarshal(v, c.IsNullFlag)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	if _, ok := parsePath(c.Key); !ok {
		//lint:ignore ST1005 the text is Qdrant's.
		return fmt.Errorf("Invalid JSON path %q", c.Key)
	}
	return nil
}

// UnmarshalJSON is the untagged Match (MatchInterface): value (string,
// integer or bool), text, text_any, phrase, prefix, any, except.
func (m *Match) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || len(raw) != 1 {
		return errors.New("data did not match any variant of untagged enum MatchInterface")
	}
	str := func(v json.RawMessage) (*string, error) {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, errors.New("data did not match any variant of untagged enum MatchInterface")
		}
		return &s, nil
	}
	var err error
	for k, v := range raw {
		switch k {
		case "value":
			m.Value, err = valueVariant(v)
		case "text":
			m.Text, err = str(v)
		case "text_any":
			m.TextAny, err = str(v)
		case "phrase":
			m.Phrase, err = str(v)
		case "prefix":
			m.Prefix, err = str(v)
		case "any":
			m.Any, err = anyVariants(v)
		case "except":
			m.Except, err = anyVariants(v)
		default:
			err = errors.New("data did not match any variant of untagged enum MatchInterface")
		}
	}
	return err
}

// valueVariant is ValueVariants: a string, an i64 or a bool.
func valueVariant(v json.RawMessage) (any, error) {
	var x any
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	switch t := x.(type) {
	case string, bool:
		return t, nil
	case json.Number:
		if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return float64(n), nil
		}
	}
	return nil, errors.New("data did not match any variant of untagged enum ValueVariants")
}

// anyVariants is AnyVariants: a list of strings (tried first, so [] is
// the strings variant) or a list of i64.
func anyVariants(v json.RawMessage) ([]any, error) {
	var ss []string
	if err := json.Unmarshal(v, &ss); err == nil && ss != nil {
		out := make([]any, len(ss))
		for i, s := range ss {
			out[i] = s
		}
		return out, nil
	}
	var ns []json.Number
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if err := dec.Decode(&ns); err == nil && ns != nil {
		out := make([]any, len(ns))
		for i, n := range ns {
			x, err := strconv.ParseInt(string(n), 10, 64)
			if err != nil {
				return nil, errors.New("data did not match any variant of untagged enum AnyVariants")
			}
			out[i] = float64(x)
		}
		return out, nil
	}
	return nil, errors.New("data did not match any variant of untagged enum AnyVariants")
}

// UnmarshalJSON is RangeInterface: numeric bounds, or datetime bounds when
// any bound is a string (then every bound must parse as a datetime).
func (r *Range) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return errors.New("data did not match any variant of untagged enum RangeInterface")
	}
	for _, v := range raw {
		if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '"' {
			r.Datetime = true
		}
	}
	for k, v := range raw {
		var dst **float64
		switch k {
		case "gt":
			dst = &r.Gt
		case "gte":
			dst = &r.Gte
		case "lt":
			dst = &r.Lt
		case "lte":
			dst = &r.Lte
		default:
			continue
		}
		if isNull(v) {
			continue
		}
		if r.Datetime {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return errors.New("data did not match any variant of untagged enum RangeInterface")
			}
			t, ok := parseDatetime(s)
			if !ok {
				return fmt.Errorf("'%s' is not in a supported date/time format, please use RFC 3339", s)
			}
			f := float64(t.UnixNano())
			*dst = &f
			continue
		}
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return errors.New("data did not match any variant of untagged enum RangeInterface")
		}
		*dst = &f
	}
	return nil
}

// parseDatetime is DateTimePayloadType::from_str: RFC 3339, the same with
// a space or a colon-less offset, or a naive date-time (UTC).
func parseDatetime(s string) (time.Time, bool) {
	for _, format := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700", "2006-01-02 15:04:05.999999999-0700",
		"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(format, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// validate is the validator pass over a parsed filter (types.rs:
// validate_field_condition, validate_slice_condition, MinShould's
// min_count): a 422 naming the path of the offending condition.
func (f *Filter) validate(path string) error {
	if f == nil {
		return nil
	}
	for _, part := range []struct {
		name string
		cs   []Condition
	}{{"should", f.Should}, {"must", f.Must}, {"must_not", f.MustNot}} {
		for i := range part.cs {
			if err := part.cs[i].validate(fmt.Sprintf("%s.%s[%d]", path, part.name, i)); err != nil {
				return err
			}
		}
	}
	if m := f.MinShould; m != nil {
		if m.MinCount < 1 {
			return &Error{Kind: KindValidation, Msg: "[" + path + ".min_should.min_count: min_count must be greater than 0]"}
		}
		for i := range m.Conditions {
			if err := m.Conditions[i].validate(fmt.Sprintf("%s.min_should.conditions[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Condition) validate(path string) error {
	switch {
	case c.Key != "":
		if c.Match == nil && c.Range == nil && c.GeoBoundingBox == nil && c.GeoRadius == nil && c.GeoPolygon == nil &&
			c.ValuesCount == nil && c.IsEmptyFlag == nil && c.IsNullFlag == nil {
			return &Error{Kind: KindValidation, Msg: "[" + path + ": At least one field condition must be specified]"}
		}
	case c.Slice != nil:
		if c.Slice.Index >= c.Slice.Total {
			return &Error{Kind: KindValidation, Msg: "[" + path + ".slice: Slice index must be less than the total number of slices]"}
		}
	case c.Nested != nil:
		return c.Nested.Filter.validate(path + ".nested.filter")
	case c.HasID != nil, c.HasVector != nil, c.IsNul != nil, c.Empty != nil:
	default:
		return c.Filter.validate(path)
	}
	return nil
}

// matchesIn is check_payload for a stored point of a collection whose
// payload indexes are schema: a text index answers full-text matches on
// its key (textindex.go).
func (f *Filter) matchesIn(p *point, schema map[string]json.RawMessage) bool {
	if f == nil {
		return true
	}
	return f.check(p.payload, p, schema)
}

// check is check_filter: should, min_should, must, must_not. p is nil
// inside a nested condition, where has_id and has_vector never match.
func (f *Filter) check(payload map[string]any, p *point, schema map[string]json.RawMessage) bool {
	if f.Should != nil {
		any := false
		for i := range f.Should {
			if f.Should[i].check(payload, p, schema) {
				any = true
				break
			}
		}
		if !any {
			return false
		}
	}
	if m := f.MinShould; m != nil {
		n := 0
		for i := range m.Conditions {
			if m.Conditions[i].check(payload, p, schema) {
				n++
			}
		}
		if n < m.MinCount {
			return false
		}
	}
	for i := range f.Must {
		if !f.Must[i].check(payload, p, schema) {
			return false
		}
	}
	for i := range f.MustNot {
		if f.MustNot[i].check(payload, p, schema) {
			return false
		}
	}
	return true
}

func (c *Condition) check(payload map[string]any, p *point, schema map[string]json.RawMessage) bool {
	switch {
	case c.Key != "":
		return c.checkField(payload, schema)
	case c.HasID != nil:
		if p == nil {
			return false
		}
		for _, id := range c.HasID {
			if id == p.id {
				return true
			}
		}
		return false
	case c.HasVector != nil:
		if p == nil {
			return false
		}
		_, ok := p.vectors[*c.HasVector]
		return ok
	case c.Slice != nil:
		return p != nil && slicePointIDHash(p.id)%uint64(c.Slice.Total) == uint64(c.Slice.Index)
	case c.IsNul != nil:
		// check_is_null (common/utils.rs): any value at the path is null.
		for _, v := range valueGet(payload, c.IsNul.Key) {
			if v == nil {
				return true
			}
		}
		return false
	case c.Empty != nil:
		// check_is_empty: every value at the path is null or [].
		for _, v := range valueGet(payload, c.Empty.Key) {
			if arr, ok := v.([]any); !(v == nil || ok && len(arr) == 0) {
				return false
			}
		}
		return true
	case c.Nested != nil:
		key := c.Nested.Key
		if !strings.HasSuffix(key, "[]") {
			key += "[]" // NestedCondition::array_key
		}
		// The indexes under the nested key apply with the key's prefix
		// stripped (select_nested_indexes).
		var sub map[string]json.RawMessage
		for k, v := range schema {
			if rest, ok := strings.CutPrefix(k, key+"."); ok {
				if sub == nil {
					sub = map[string]json.RawMessage{}
				}
				sub[rest] = v
			}
		}
		for _, v := range valueGet(payload, key) {
			if obj, ok := v.(map[string]any); ok && c.Nested.Filter.check(obj, nil, sub) {
				return true
			}
		}
		return false
	}
	return c.Filter.check(payload, p, schema)
}

// checkField is check_field_condition: no value at the path is
// check_empty, otherwise any value passing check, where a text index on
// the key answers full-text matches (special_check_condition).
func (c *Condition) checkField(payload map[string]any, schema map[string]json.RawMessage) bool {
	vals := valueGet(payload, c.Key)
	if m := c.Match; m != nil && len(vals) > 0 && (m.Text != nil || m.TextAny != nil || m.Phrase != nil) {
		if ti := parseTextIndex(schema[c.Key]); ti != nil {
			for _, v := range vals {
				if ti.check(m, v) {
					return true
				}
			}
			return false
		}
	}
	if len(vals) == 0 {
		switch {
		case c.ValuesCount != nil:
			return c.ValuesCount.checkCount(0)
		case c.IsEmptyFlag != nil:
			return *c.IsEmptyFlag
		case c.IsNullFlag != nil:
			return !*c.IsNullFlag
		}
		return false
	}
	for _, v := range vals {
		if c.checkValue(v) {
			return true
		}
	}
	return false
}

// checkValue is FieldCondition::check for one value at the path.
func (c *Condition) checkValue(v any) bool {
	switch {
	case c.ValuesCount != nil:
		return c.ValuesCount.checkCount(valuesCountOf(v))
	case c.IsEmptyFlag != nil:
		// check_is_empty (condition_checker.rs).
		arr, isArr := v.([]any)
		switch {
		case v == nil:
			return *c.IsEmptyFlag
		case isArr:
			return (len(arr) == 0) == *c.IsEmptyFlag
		}
		return !*c.IsEmptyFlag
	case c.IsNullFlag != nil:
		arr, isArr := v.([]any)
		switch {
		case v == nil:
			return *c.IsNullFlag
		case isArr:
			hasNull := false
			for _, x := range arr {
				hasNull = hasNull || x == nil
			}
			return hasNull == *c.IsNullFlag
		}
		return !*c.IsNullFlag
	}
	// ValueChecker::_check: an array is checked element by element (one
	// level only).
	if arr, ok := v.([]any); ok {
		for _, x := range arr {
			if c.checkMatch(x) {
				return true
			}
		}
		return false
	}
	return c.checkMatch(v)
}

// checkMatch is FieldCondition::check_match: any of its conditions.
func (c *Condition) checkMatch(v any) bool {
	return (c.Match != nil && c.Match.check(v)) || (c.Range != nil && c.Range.check(v)) ||
		(c.GeoBoundingBox != nil && c.GeoBoundingBox.check(v)) || (c.GeoRadius != nil && c.GeoRadius.check(v)) ||
		(c.GeoPolygon != nil && c.GeoPolygon.check(v)) || (c.ValuesCount != nil && c.ValuesCount.checkCount(valuesCountOf(v)))
}

func valuesCountOf(v any) int {
	switch t := v.(type) {
	case nil:
		return 0
	case []any:
		return len(t)
	}
	return 1
}

func (vc *ValuesCount) checkCount(n int) bool {
	return (vc.Lt == nil || n < *vc.Lt) && (vc.Gt == nil || n > *vc.Gt) &&
		(vc.Lte == nil || n <= *vc.Lte) && (vc.Gte == nil || n >= *vc.Gte)
}

// asInt is serde_json's Number::as_i64 for a payload number: integral
// values only (the simulator's payloads keep every number as float64, so
// 1.0 counts as the integer 1, where Qdrant keeps it a float).
func asInt(v any) (float64, bool) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// check is Match::check_match.
func (m *Match) check(v any) bool {
	s, isStr := v.(string)
	switch {
	case m.Value != nil:
		switch want := m.Value.(type) {
		case bool:
			b, ok := v.(bool)
			return ok && b == want
		case string:
			return isStr && s == want
		case float64:
			n, ok := asInt(v)
			return ok && n == want
		}
		return false
	case m.Text != nil:
		return isStr && strings.Contains(s, *m.Text)
	case m.Phrase != nil:
		return isStr && strings.Contains(s, *m.Phrase)
	case m.TextAny != nil:
		if !isStr {
			return false
		}
		for _, tok := range strings.FieldsFunc(*m.TextAny, unicode.IsSpace) {
			if strings.Contains(s, tok) {
				return true
			}
		}
		return false
	case m.Prefix != nil:
		return isStr && strings.HasPrefix(s, *m.Prefix)
	case m.Any != nil:
		return inVariants(m.Any, v)
	case m.Except != nil:
		// MatchExcept: a value of the list's type matches when not in the
		// list; null never matches; any other type always matches (an
		// empty list is the strings variant).
		switch {
		case v == nil:
			return false
		case isStr && variantIsStrings(m.Except):
			return !inVariants(m.Except, v)
		}
		if _, isNum := v.(float64); isNum && !variantIsStrings(m.Except) {
			if _, ok := asInt(v); !ok {
				return true
			}
			return !inVariants(m.Except, v)
		}
		return true
	}
	return false
}

func variantIsStrings(list []any) bool {
	if len(list) == 0 {
		return true
	}
	_, ok := list[0].(string)
	return ok
}

// inVariants is MatchAny: a string in a strings list or an integer in an
// integers list.
func inVariants(list []any, v any) bool {
	if s, ok := v.(string); ok {
		if !variantIsStrings(list) {
			return false
		}
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	n, ok := asInt(v)
	if !ok || variantIsStrings(list) {
		return false
	}
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

// check is the Range ValueChecker: numbers for a float range, datetime
// strings for a datetime range.
func (r *Range) check(v any) bool {
	var f float64
	if r.Datetime {
		s, ok := v.(string)
		if !ok {
			return false
		}
		t, ok := parseDatetime(s)
		if !ok {
			return false
		}
		f = float64(t.UnixNano())
	} else {
		n, ok := v.(float64)
		if !ok {
			return false
		}
		f = n
	}
	return (r.Gt == nil || f > *r.Gt) && (r.Gte == nil || f >= *r.Gte) &&
		(r.Lt == nil || f < *r.Lt) && (r.Lte == nil || f <= *r.Lte)
}

func geoOf(v any) (GeoPoint, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return GeoPoint{}, false
	}
	lon, ok1 := m["lon"].(float64)
	lat, ok2 := m["lat"].(float64)
	return GeoPoint{Lon: lon, Lat: lat}, ok1 && ok2
}

// check is GeoBoundingBox::check_point (strict bounds, antimeridian
// crossing when top_left.lon > bottom_right.lon).
func (g *GeoBoundingBox) check(v any) bool {
	p, ok := geoOf(v)
	if !ok {
		return false
	}
	lonOK := g.TopLeft.Lon < p.Lon && p.Lon < g.BottomRight.Lon
	if g.TopLeft.Lon > g.BottomRight.Lon {
		lonOK = p.Lon > g.TopLeft.Lon || p.Lon < g.BottomRight.Lon
	}
	return lonOK && g.BottomRight.Lat < p.Lat && p.Lat < g.TopLeft.Lat
}

// check is GeoRadius::check_point: Haversine distance (geo crate, mean
// Earth radius 6371008.8 m) below the radius.
func (g *GeoRadius) check(v any) bool {
	p, ok := geoOf(v)
	if !ok {
		return false
	}
	const earth = 6371008.8
	rad := math.Pi / 180
	dLat := (p.Lat - g.Center.Lat) * rad
	dLon := (p.Lon - g.Center.Lon) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(g.Center.Lat*rad)*math.Cos(p.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2*earth*math.Asin(math.Sqrt(a)) < g.Radius
}

// check is PolygonWrapper::check_point: inside the exterior ring and
// outside every interior ring (even-odd rule).
func (g *GeoPolygon) check(v any) bool {
	p, ok := geoOf(v)
	if !ok || !inRing(g.Exterior.Points, p) {
		return false
	}
	for _, in := range g.Interiors {
		if inRing(in.Points, p) {
			return false
		}
	}
	return true
}

func inRing(ring []GeoPoint, p GeoPoint) bool {
	in := false
	for i, j := 0, len(ring)-1; i < len(ring); j, i = i, i+1 {
		a, b := ring[i], ring[j]
		if (a.Lat > p.Lat) != (b.Lat > p.Lat) && p.Lon < (b.Lon-a.Lon)*(p.Lat-a.Lat)/(b.Lat-a.Lat)+a.Lon {
			in = !in
		}
	}
	return in
}

// pathItem is a JsonPathItem: a key, an index or [] (every element).
type pathItem struct {
	key      string
	index    int
	wildcard bool
	isIndex  bool
}

// parsePath is json_path/parse.rs: a first key, then .key, ."quoted",
// [n] or [] items; keys are letters, digits, _ and -.
func parsePath(s string) ([]pathItem, bool) {
	var out []pathItem
	rawKey := func(s string) (string, string) {
		i := 0
		for i < len(s) {
			r := rune(s[i])
			if r >= 0x80 {
				// Non-ASCII letters and digits are allowed (is_alphanumeric).
				rr := []rune(s[i:])[0]
				if unicode.IsLetter(rr) || unicode.IsDigit(rr) {
					i += len(string(rr))
					continue
				}
				break
			}
			if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' {
				i++
				continue
			}
			break
		}
		return s[:i], s[i:]
	}
	quoted := func(s string) (string, string, bool) {
		if !strings.HasPrefix(s, `"`) {
			return "", s, false
		}
		end := strings.IndexAny(s[1:], `"\`)
		if end < 0 || s[1+end] != '"' {
			return "", s, false
		}
		return s[1 : 1+end], s[2+end:], true
	}
	first, rest := rawKey(s)
	if first == "" {
		var ok bool
		if first, rest, ok = quoted(s); !ok {
			return nil, false
		}
	}
	out = append(out, pathItem{key: first})
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "[]"):
			out = append(out, pathItem{wildcard: true})
			rest = rest[2:]
		case strings.HasPrefix(rest, "["):
			end := strings.IndexByte(rest, ']')
			n, err := strconv.Atoi(rest[1:max(end, 1)])
			if end < 0 || err != nil || n < 0 || strings.ContainsAny(rest[1:end], "+-") {
				return nil, false
			}
			out = append(out, pathItem{index: n, isIndex: true})
			rest = rest[end+1:]
		case strings.HasPrefix(rest, "."):
			k, r := rawKey(rest[1:])
			if k == "" {
				var ok bool
				if k, r, ok = quoted(rest[1:]); !ok {
					return nil, false
				}
			}
			out = append(out, pathItem{key: k})
			rest = r
		default:
			return nil, false
		}
	}
	return out, true
}

// valueGet is JsonPath::value_get: the values a path reaches, [] fanning
// out over an array's elements; a key never reaches into an array.
func valueGet(payload map[string]any, path string) []any {
	items, ok := parsePath(path)
	if !ok {
		return nil
	}
	first, ok := payload[items[0].key]
	if !ok {
		return nil
	}
	var out []any
	var walk func(items []pathItem, v any)
	walk = func(items []pathItem, v any) {
		if len(items) == 0 {
			out = append(out, v)
			return
		}
		head := items[0]
		switch t := v.(type) {
		case map[string]any:
			if !head.isIndex && !head.wildcard {
				if child, ok := t[head.key]; ok {
					walk(items[1:], child)
				}
			}
		case []any:
			switch {
			case head.wildcard:
				for _, el := range t {
					walk(items[1:], el)
				}
			case head.isIndex && head.index < len(t):
				walk(items[1:], t[head.index])
			}
		}
	}
	walk(items[1:], first)
	return out
}

// lookup returns the values at a payload path with arrays at the end of
// the path flattened, and whether the path reaches anything.
func lookup(payload map[string]any, path string) ([]any, bool) {
	vals := valueGet(payload, path)
	if len(vals) == 0 {
		return nil, false
	}
	var out []any
	for _, v := range vals {
		if arr, ok := v.([]any); ok {
			out = append(out, arr...)
			continue
		}
		out = append(out, v)
	}
	return out, true
}

// slicePointIDHash is slice_point_id_hash (types.rs): SipHash-2-4 with a
// zero key over 8 little-endian bytes of a numeric id or the 16 bytes of
// a UUID.
func slicePointIDHash(id PointID) uint64 {
	if id.IsUUID {
		return sipHash24(0, 0, id.UUID[:])
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], id.Num)
	return sipHash24(0, 0, b[:])
}
