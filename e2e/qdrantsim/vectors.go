package qdrantsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// vector is one stored vector of a point: exactly one of dense, sparse or
// multi is set, as in Qdrant's VectorInternal
// (lib/segment/src/data_types/vectors.rs). Vectors are immutable once
// stored, like the points that hold them.
type vector struct {
	dense  []float32
	sparse *sparseVector
	multi  [][]float32
}

// floats is how many numbers the vector holds: its dimension, a sparse
// vector's values (each with its index), or every sub-vector's.
func (v vector) floats() int {
	n := len(v.dense)
	if v.sparse != nil {
		n += 2 * len(v.sparse.Values)
	}
	for _, m := range v.multi {
		n += len(m)
	}
	return n
}

// sparseVector is Qdrant's SparseVector (lib/sparse/src/common/
// sparse_vector.rs): indices must be unique and as many as the values.
type sparseVector struct {
	Indices []uint32  `json:"indices"`
	Values  []float32 `json:"values"`
}

// MarshalJSON writes the REST VectorOutput shape (lib/api/src/rest/
// schema.rs): a dense array, {"indices","values"} or an array of arrays.
// Snapshots store points in the same shape, so a dense-only snapshot
// written before sparse and multi vectors existed still reads back.
func (v vector) MarshalJSON() ([]byte, error) {
	switch {
	case v.sparse != nil:
		return json.Marshal(v.sparse)
	case v.multi != nil:
		return json.Marshal(v.multi)
	}
	if v.dense == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(v.dense)
}

// UnmarshalJSON reads one REST Vector: serde tries Dense, Sparse and
// MultiDense in turn (an untagged enum). Inference objects (Document,
// Image, Object) are not emulated.
func (v *vector) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*v = vector{}
	switch {
	case len(b) > 0 && b[0] == '[':
		var d []float32
		if json.Unmarshal(b, &d) == nil {
			v.dense = d
			return nil
		}
		var m [][]float32
		if json.Unmarshal(b, &m) == nil {
			v.multi = m
			return nil
		}
	case len(b) > 0 && b[0] == '{':
		var probe map[string]json.RawMessage
		if json.Unmarshal(b, &probe) == nil {
			// serde reads null as no sequence: both fields must be arrays.
			isArray := func(r json.RawMessage) bool {
				r = bytes.TrimSpace(r)
				return len(r) > 0 && r[0] == '['
			}
			var s sparseVector
			if isArray(probe["indices"]) && isArray(probe["values"]) && json.Unmarshal(b, &s) == nil {
				v.sparse = &s
				return nil
			}
		}
	}
	return fmt.Errorf("data did not match any variant of untagged enum Vector")
}

// parseVectorStruct reads one REST VectorStruct (lib/api/src/rest/
// schema.rs): an unnamed dense vector (array), an unnamed multivector
// (array of arrays) or a map of named vectors of any kind. The result
// maps names to vectors, "" for the unnamed one.
func parseVectorStruct(raw json.RawMessage) (map[string]vector, error) {
	raw = bytes.TrimSpace(raw)
	out := map[string]vector{}
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	if raw[0] == '[' {
		var v vector
		if err := v.UnmarshalJSON(raw); err != nil {
			return nil, errf(KindFormat, "data did not match any variant of untagged enum VectorStruct")
		}
		out[""] = v
		return out, nil
	}
	var named map[string]json.RawMessage
	if err := json.Unmarshal(raw, &named); err != nil {
		return nil, errf(KindFormat, "data did not match any variant of untagged enum VectorStruct")
	}
	for name, r := range named {
		var v vector
		if err := v.UnmarshalJSON(r); err != nil {
			// Document, Image and inference objects are what else an
			// object may hold; the simulator runs no inference.
			return nil, errf(KindFormat, "data did not match any variant of untagged enum VectorStruct")
		}
		out[name] = v
	}
	return out, nil
}

// validateVectors applies the request validation Qdrant runs before the
// operation reaches a shard (Validate for VectorStruct and Vector in
// lib/api/src/rest/schema.rs): a sparse vector needs as many values as
// indices and unique indices (validate_sparse_vector_impl in
// lib/sparse/src/common/sparse_vector.rs), a multivector must hold
// non-empty vectors of one dimension (validate_multi_vector_by_length in
// lib/common/common/src/validation.rs). The answer is 422 with the
// fields labelled as lib/collection/src/operations/validation.rs
// label_errors does; path is where the vector sits in the body.
func validateVectors(vs map[string]vector, path string, emptyDense bool) error {
	var msgs []string
	if v, ok := vs[""]; ok && len(vs) == 1 {
		// Unnamed: VectorStruct::Single and MultiDense are checked at the
		// top level.
		if f := vectorProblems(v, emptyDense); len(f) > 0 {
			msgs = append(msgs, path+"."+f[0])
		}
	} else {
		// Named: validate_iter (lib/common/common/src/validation.rs) files
		// one failing vector under "?" and several under "?[i]".
		names := make([]string, 0, len(vs))
		for n := range vs {
			names = append(names, n)
		}
		sort.Strings(names)
		var failing [][]string
		for _, n := range names {
			if f := vectorProblems(vs[n], emptyDense); len(f) > 0 {
				failing = append(failing, f)
			}
		}
		for i, f := range failing {
			key := path + ".?"
			if len(failing) > 1 {
				key = fmt.Sprintf("%s.?[%d]", path, i)
			}
			for _, m := range f {
				msgs = append(msgs, key+"."+m)
			}
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errf(KindValidation, "[%s]", strings.Join(msgs, "; "))
}

// vectorProblems lists the validation failures of one vector as
// "field: message". emptyDense refuses an empty dense vector, as
// validate_non_empty_dense does from 1.18.3.
func vectorProblems(v vector, emptyDense bool) []string {
	var out []string
	switch {
	case v.sparse == nil && v.multi == nil:
		if emptyDense && len(v.dense) == 0 {
			out = append(out, "vector: dense vector must not be empty")
		}
	case v.sparse != nil:
		// ValidationError::new(code) without a message: describe_error
		// prints validator's Display, "Validation error: CODE [PARAMS]".
		if len(v.sparse.Indices) != len(v.sparse.Values) {
			out = append(out, "values: Validation error: must be the same length as indices [{}]")
		}
		seen := make(map[uint32]bool, len(v.sparse.Indices))
		for _, i := range v.sparse.Indices {
			if seen[i] {
				out = append(out, "indices: Validation error: must be unique [{}]")
				break
			}
			seen[i] = true
		}
	case v.multi != nil:
		if m := multiProblem(v.multi); m != "" {
			out = append(out, "data: "+m)
		}
	}
	return out
}

// multiProblem is validate_multi_vector_by_length's message, or "".
func multiProblem(m [][]float32) string {
	const maxFlattened = 1_048_576 // MAX_MULTIVECTOR_FLATTENED_LEN (1024*1024)
	if len(m) == 0 {
		return "multi vector must not be empty"
	}
	total := 0
	for _, d := range m {
		if len(d) == 0 {
			return "all vectors must be non-empty"
		}
		total += len(d)
	}
	if total >= maxFlattened {
		return fmt.Sprintf("Total size of all vectors (%d) must be less than %d", total, maxFlattened)
	}
	for _, d := range m {
		if len(d) != len(m[0]) {
			return fmt.Sprintf("all vectors must have the same dimension, found vector with dimension %d", len(d))
		}
	}
	return ""
}

// vectorSchema is what a collection's config says each vector name holds.
type vectorSchema struct {
	dense  map[string]vectorSpec
	sparse map[string]sparseSpec
	// emptyDense: the version refuses empty dense vectors in validation.
	emptyDense bool
}

// schemaOf reads the vector names of a stored config. Stored configs were
// validated when the collection was created, so errors are not expected;
// a config that fails to parse has no vectors of that kind.
func schemaOf(p collectionParams, ver version) vectorSchema {
	dense, _ := vectorSpecs(p.Vectors)
	sparse, _ := sparseSpecs(p.SparseVectors)
	return vectorSchema{dense: dense, sparse: sparse, emptyDense: ver.atLeast(1, 18, 3)}
}

// conform checks the vectors of one point against the collection's config
// the way a segment does before storing them (check_vector and
// check_vector_against_config in lib/segment/src/common/mod.rs), and
// returns them as they are stored: sparse vectors sorted by index
// (VectorInternal::preprocess in lib/segment/src/data_types/vectors.rs)
// and a dense vector given for a multivector name kept as a multivector of
// one (TryFrom<VectorRef> for TypedMultiDenseVectorRef, same file).
func (s vectorSchema) conform(vs map[string]vector) (map[string]vector, error) {
	names := make([]string, 0, len(vs))
	for n := range vs {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make(map[string]vector, len(vs))
	for _, name := range names {
		v := vs[name]
		if spec, ok := s.dense[name]; ok {
			switch {
			case v.sparse != nil:
				return nil, errf(KindBadInput, "Wrong usage of sparse vectors")
			case v.multi != nil:
				for _, d := range v.multi {
					if len(d) != spec.Size {
						return nil, errDimension(spec.Size, len(d))
					}
				}
				if spec.Multivector == nil {
					// The dense storage cannot take a multivector.
					return nil, errf(KindBadInput, "Wrong usage of multi vectors")
				}
			default:
				if len(v.dense) != spec.Size {
					return nil, errDimension(spec.Size, len(v.dense))
				}
				if spec.Multivector != nil {
					v = vector{multi: [][]float32{v.dense}}
				}
			}
			out[name] = v.stored(spec.Datatype)
			continue
		}
		if _, ok := s.sparse[name]; ok {
			switch {
			case v.sparse == nil && v.multi != nil:
				return nil, errf(KindBadInput, "Wrong usage of multi vectors")
			case v.sparse == nil:
				return nil, errf(KindBadInput, "Wrong usage of sparse vectors")
			}
			out[name] = vector{sparse: sortedSparse(v.sparse)}
			continue
		}
		return nil, errf(KindBadInput, "Not existing vector name error: %s", name)
	}
	return out, nil
}

// stored is the vector as a dense storage of datatype keeps it: uint8
// storage casts each number as Rust's `as u8` does, truncating towards
// zero and saturating at 0 and 255 (PrimitiveVectorElement for
// VectorElementTypeByte, lib/segment/src/data_types/primitive.rs). Other
// datatypes keep the float32 numbers (float16 rounding and turbo4
// quantisation are not modelled).
func (v vector) stored(datatype string) vector {
	if datatype != "uint8" {
		return v
	}
	cast := func(xs []float32) []float32 {
		out := make([]float32, len(xs))
		for i, x := range xs {
			switch {
			case x != x || x <= 0:
				out[i] = 0
			case x >= 255:
				out[i] = 255
			default:
				out[i] = float32(int(x))
			}
		}
		return out
	}
	if v.multi != nil {
		m := make([][]float32, len(v.multi))
		for i, d := range v.multi {
			m[i] = cast(d)
		}
		return vector{multi: m}
	}
	return vector{dense: cast(v.dense)}
}

func errDimension(want, got int) *Error {
	return errf(KindBadInput, "Vector dimension error: expected dim: %d, got %d", want, got)
}

// sortedSparse returns s sorted by index (double_sort in
// lib/sparse/src/common/sparse_vector.rs), copying only when needed.
func sortedSparse(s *sparseVector) *sparseVector {
	if slices.IsSorted(s.Indices) {
		return s
	}
	idx := make([]int, len(s.Indices))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return s.Indices[idx[a]] < s.Indices[idx[b]] })
	out := &sparseVector{Indices: make([]uint32, len(idx)), Values: make([]float32, len(idx))}
	for k, i := range idx {
		out.Indices[k], out.Values[k] = s.Indices[i], s.Values[i]
	}
	return out
}

// vectorsOutput renders the vectors a read selected as the REST
// VectorStructOutput: the unnamed vector alone as a bare value (dense or
// multi), otherwise an object by name.
func vectorsOutput(vs map[string]vector, all bool, names []string) json.RawMessage {
	if v, ok := vs[""]; ok && len(vs) == 1 && all {
		b, _ := json.Marshal(v)
		return b
	}
	m := map[string]vector{}
	for name, v := range vs {
		if all || slices.Contains(names, name) {
			m[name] = v
		}
	}
	b, _ := json.Marshal(m)
	return b
}
