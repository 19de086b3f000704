package qdrantsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Request validation as Qdrant's actix extractors run it, before the
// handler looks at any state: path parameters, then the JSON body, then the
// query string (src/actix/mod.rs validation_error_handler labels them
// "path parameters", "JSON body" and "query parameters"). Field errors read
// as lib/collection/src/operations/validation.rs describe_error writes
// them: "[field: value V invalid, must be N or larger]".

// validationIn is where a validation error was found.
type validationIn int

const (
	inBody validationIn = iota
	inPathParams
	inQueryParams
)

func errValidation(in validationIn, field, msg string) *Error {
	return &Error{Kind: KindValidation, Msg: "[" + field + ": " + msg + "]", inPath: in == inPathParams, inQuery: in == inQueryParams}
}

// rangeMsg is describe_error's "range" message with the value.
func rangeMsg(v any, min, max any) string {
	b, _ := json.Marshal(v)
	switch {
	case max == nil:
		return fmt.Sprintf("value %s invalid, must be %v or larger", b, min)
	case min == nil:
		return fmt.Sprintf("value %s invalid, must be %v or smaller", b, max)
	}
	return fmt.Sprintf("value %s invalid, must be from %v to %v", b, min, max)
}

// invalidNameChars is INVALID_NAME_CHARS of lib/common/common/src/
// validation.rs (collection and vector names); legacyNameChars the
// characters validate_collection_name_legacy refuses.
var (
	invalidNameChars = []rune{'<', '>', ':', '"', '/', '\\', '|', '?', '*', 0, 0x1F}
	legacyNameChars  = []rune{'/', 0}
)

// validateCollectionName is StrictCollectionPath (strict, for creation)
// or CollectionPath of src/actix/api/mod.rs: 1 to 255 characters
// (validator counts characters) and none of the refused characters. The
// field is "collection_name" from 1.18, "name" before.
func (v version) validateCollectionName(name string, strict bool) error {
	field := "collection_name"
	if !v.atLeast(1, 18, 0) {
		field = "name"
	}
	if n := utf8.RuneCountInString(name); n < 1 || n > 255 {
		b, _ := json.Marshal(name)
		return errValidation(inPathParams, field, fmt.Sprintf("value %s invalid, must be from 1 to 255 characters", b))
	}
	refused := legacyNameChars
	if strict {
		refused = invalidNameChars
	}
	for _, c := range refused {
		if strings.ContainsRune(name, c) {
			return errValidation(inPathParams, field, fmt.Sprintf("collection name cannot contain %q char", string(c)))
		}
	}
	return nil
}

// withPathValidation refuses a /collections/{collection_name}/... request
// whose name fails CollectionPath validation before any handler looks the
// collection up; creation applies the strict rules in its own handler.
func (p *Peer) withPathValidation(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/collections/"); ok {
			name, _, _ := strings.Cut(rest, "/")
			if name != "" && name != "aliases" {
				if err := p.c.ver.validateCollectionName(name, false); err != nil {
					writeError(w, time.Now(), err, 0)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// timeoutParam is WaitTimeout of src/actix/api/collections_api.rs:
// ?timeout= in seconds, at least 1.
func timeoutParam(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("timeout")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, &Error{Kind: KindRaw, Msg: "Deserialize error in query parameters: timeout: invalid digit found in string"}
	}
	if n < 1 {
		return 0, errValidation(inQueryParams, "timeout", rangeMsg(n, 1, nil))
	}
	return time.Duration(n) * time.Second, nil
}

// diffBounds are the #[validate(range)] bounds of the config diffs in
// lib/collection/src/operations/config_diff.rs that a create or update
// body is checked against.
var diffBounds = map[string]map[string][2]any{
	"hnsw_config":       {"ef_construct": {4, nil}, "full_scan_threshold": {10, nil}},
	"wal_config":        {"wal_capacity_mb": {1, nil}},
	"optimizers_config": {"deleted_threshold": {0.0, 1.0}, "vacuum_min_vector_number": {100, nil}, "max_segment_size": {1, nil}},
}

// validateDiff checks one config diff of a body against diffBounds; null
// fields are absent in Qdrant's Option fields and pass.
func validateDiff(section string, diff map[string]any) error {
	bounds := diffBounds[section]
	var msgs []string
	for _, k := range sortedKeys(diff) {
		b, ok := bounds[k]
		n, isNum := diff[k].(float64)
		if !ok || !isNum {
			continue
		}
		lo, hi := b[0], b[1]
		if (lo != nil && n < toFloat(lo)) || (hi != nil && n > toFloat(hi)) {
			var shown any = n
			if n == float64(int64(n)) {
				shown = int64(n)
			}
			msgs = append(msgs, section+"."+k+": "+rangeMsg(shown, lo, hi))
		}
	}
	if len(msgs) > 0 {
		return &Error{Kind: KindValidation, Msg: "[" + strings.Join(msgs, "; ") + "]"}
	}
	return nil
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
