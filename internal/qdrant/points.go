package qdrant

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	qc "github.com/qdrant/go-client/qdrant"
)

// PointID is a Qdrant point id: an unsigned integer or a UUID.
type PointID struct {
	Num uint64
	// UUID is set (canonical lowercase hyphenated form) for UUID ids.
	UUID string
}

// IsUUID reports whether the id is a UUID.
func (id PointID) IsUUID() bool { return id.UUID != "" }

func (id PointID) String() string {
	if id.IsUUID() {
		return id.UUID
	}
	return strconv.FormatUint(id.Num, 10)
}

// MarshalJSON writes Qdrant's JSON form: a number or a UUID string.
func (id PointID) MarshalJSON() ([]byte, error) {
	if id.IsUUID() {
		return json.Marshal(id.UUID)
	}
	return []byte(strconv.FormatUint(id.Num, 10)), nil
}

// UnmarshalJSON reads a number or a UUID string.
func (id *PointID) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*id = PointID{UUID: s}
		return nil
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("point id %s: want an unsigned integer or a UUID string", b)
	}
	*id = PointID{Num: n}
	return nil
}

func (id PointID) proto() *qc.PointId {
	if id.IsUUID() {
		return qc.NewIDUUID(id.UUID)
	}
	return qc.NewIDNum(id.Num)
}

func pointIDFromProto(p *qc.PointId) PointID {
	if u := p.GetUuid(); u != "" {
		return PointID{UUID: u}
	}
	return PointID{Num: p.GetNum()}
}

// Vector is one (named) vector of a point: exactly one of Dense, Sparse or
// Multi is set.
type Vector struct {
	Dense  []float32
	Sparse *SparseVector
	Multi  [][]float32
}

// SparseVector is a sparse vector as index/value pairs.
type SparseVector struct {
	Indices []uint32
	Values  []float32
}

// Point is a point as read back from Qdrant, in a form meant for content
// comparison: payload values are plain Go values (nil, bool, int64,
// float64, string, []any, map[string]any) and vectors are keyed by name,
// "" for the unnamed default vector.
type Point struct {
	ID       PointID
	ShardKey *ShardKey
	Vectors  map[string]Vector
	Payload  map[string]any
}

func pointFromProto(p *qc.RetrievedPoint) (Point, error) {
	out := Point{ID: pointIDFromProto(p.GetId())}
	if k := p.GetShardKey(); k != nil {
		sk := shardKeyFromProto(k)
		out.ShardKey = &sk
	}
	if len(p.GetPayload()) > 0 {
		out.Payload = make(map[string]any, len(p.GetPayload()))
		for k, v := range p.GetPayload() {
			out.Payload[k] = valueFromProto(v)
		}
	}
	if vs := p.GetVectors(); vs != nil {
		out.Vectors = map[string]Vector{}
		if v := vs.GetVector(); v != nil {
			vec, err := vectorFromProto(v)
			if err != nil {
				return Point{}, fmt.Errorf("point %s: %w", out.ID, err)
			}
			out.Vectors[""] = vec
		}
		for name, v := range vs.GetVectors().GetVectors() {
			vec, err := vectorFromProto(v)
			if err != nil {
				return Point{}, fmt.Errorf("point %s vector %q: %w", out.ID, name, err)
			}
			out.Vectors[name] = vec
		}
	}
	return out, nil
}

// vectorFromProto reads the typed oneof, falling back to the deprecated
// flat fields that older servers fill instead.
func vectorFromProto(v *qc.VectorOutput) (Vector, error) {
	switch x := v.GetVector().(type) {
	case *qc.VectorOutput_Dense:
		return Vector{Dense: slices.Clone(x.Dense.GetData())}, nil
	case *qc.VectorOutput_Sparse:
		return Vector{Sparse: &SparseVector{Indices: slices.Clone(x.Sparse.GetIndices()), Values: slices.Clone(x.Sparse.GetValues())}}, nil
	case *qc.VectorOutput_MultiDense:
		m := make([][]float32, 0, len(x.MultiDense.GetVectors()))
		for _, d := range x.MultiDense.GetVectors() {
			m = append(m, slices.Clone(d.GetData()))
		}
		return Vector{Multi: m}, nil
	}
	//lint:ignore SA1019 servers before the typed oneof fill only these deprecated fields
	data, idx, count := v.GetData(), v.GetIndices(), v.GetVectorsCount()
	switch {
	case idx != nil:
		if len(idx.GetData()) != len(data) {
			return Vector{}, fmt.Errorf("sparse vector with %d indices and %d values", len(idx.GetData()), len(data))
		}
		return Vector{Sparse: &SparseVector{Indices: slices.Clone(idx.GetData()), Values: slices.Clone(data)}}, nil
	case count > 0:
		if len(data)%int(count) != 0 {
			return Vector{}, fmt.Errorf("multi vector of %d values is not %d equal vectors", len(data), count)
		}
		dim := len(data) / int(count)
		m := make([][]float32, 0, count)
		for i := 0; i < len(data); i += dim {
			m = append(m, slices.Clone(data[i:i+dim]))
		}
		return Vector{Multi: m}, nil
	default:
		return Vector{Dense: slices.Clone(data)}, nil
	}
}

// valueFromProto converts a payload value to a plain Go value.
func valueFromProto(v *qc.Value) any {
	switch x := v.GetKind().(type) {
	case *qc.Value_NullValue, nil:
		return nil
	case *qc.Value_BoolValue:
		return x.BoolValue
	case *qc.Value_IntegerValue:
		return x.IntegerValue
	case *qc.Value_DoubleValue:
		return x.DoubleValue
	case *qc.Value_StringValue:
		return x.StringValue
	case *qc.Value_ListValue:
		l := make([]any, 0, len(x.ListValue.GetValues()))
		for _, e := range x.ListValue.GetValues() {
			l = append(l, valueFromProto(e))
		}
		return l
	case *qc.Value_StructValue:
		m := make(map[string]any, len(x.StructValue.GetFields()))
		for k, e := range x.StructValue.GetFields() {
			m[k] = valueFromProto(e)
		}
		return m
	default:
		return nil
	}
}
