package qdrantsim

import (
	"bytes"
	"encoding/json"

	"github.com/qdrant/go-client/qdrant"
)

// Point vectors over gRPC, after lib/api/src/conversions/vectors.rs. A
// request's vectors are turned into the REST VectorStruct JSON the core
// parses, so both protocols share one validation; a read's REST output is
// turned back into VectorsOutput in the encoding of the emulated version.

// fillsVectorOneof: Qdrant 1.15 and 1.16 answer with the deprecated flat
// fields of VectorOutput (data, plus indices for sparse and vectors_count
// for multi vectors) and leave the typed oneof empty; from 1.17 they fill
// only the oneof (From<VectorInternal> for grpc::VectorOutput).
func (v version) fillsVectorOneof() bool { return v.atLeast(1, 17, 0) }

// vectorFromProto reads one named Vector: the typed oneof, else the
// deprecated fields older clients send (TryFrom<grpc::Vector> for
// rest::Vector): indices make it sparse, vectors_count a multivector.
func vectorFromProto(v *qdrant.Vector) (vector, error) {
	switch x := v.GetVector().(type) {
	case *qdrant.Vector_Dense:
		return vector{dense: nonNilF32(x.Dense.GetData())}, nil
	case *qdrant.Vector_Sparse:
		return vector{sparse: &sparseVector{Indices: nonNilU32(x.Sparse.GetIndices()), Values: nonNilF32(x.Sparse.GetValues())}}, nil
	case *qdrant.Vector_MultiDense:
		m := make([][]float32, 0, len(x.MultiDense.GetVectors()))
		for _, d := range x.MultiDense.GetVectors() {
			m = append(m, nonNilF32(d.GetData()))
		}
		return vector{multi: m}, nil
	case nil:
	default:
		return vector{}, errf(KindBadInput, "inference vectors (document, image, object) are not emulated by the simulator")
	}
	//lint:ignore SA1019 older clients send only the deprecated fields, which Qdrant still reads
	data, indices, count := v.GetData(), v.GetIndices(), v.VectorsCount
	switch {
	case indices != nil:
		return vector{sparse: &sparseVector{Indices: nonNilU32(indices.GetData()), Values: nonNilF32(data)}}, nil
	case count != nil:
		m, err := splitMulti(data, int(*count))
		if err != nil {
			return vector{}, err
		}
		return vector{multi: m}, nil
	}
	return vector{dense: nonNilF32(data)}, nil
}

// splitMulti is convert_to_plain_multi_vector: data flattened from count
// vectors of one dimension.
func splitMulti(data []float32, count int) ([][]float32, error) {
	if count == 0 || len(data) == 0 {
		return nil, errf(KindBadInput, "Unable to convert to multi-dense vector: Validation failed: Empty multi-vector data with vectors count: %d", count)
	}
	dim := len(data) / count
	if dim*count != len(data) {
		return nil, errf(KindBadInput, "Unable to convert to multi-dense vector: Validation failed: Data length is not divisible by vectors count. Data length: %d, vectors count: %d", len(data), count)
	}
	m := make([][]float32, 0, count)
	for i := 0; i < len(data); i += dim {
		m = append(m, data[i:i+dim:i+dim])
	}
	return m, nil
}

// vectorsFromProto renders a point's vectors as the REST VectorStruct JSON
// (TryFrom<grpc::Vectors> for rest::VectorStruct): an unnamed vector is
// dense or multi, never sparse ("Sparse vector must be named").
func vectorsFromProto(v *qdrant.Vectors) (json.RawMessage, error) {
	switch x := v.GetVectorsOptions().(type) {
	case nil:
		return nil, nil
	case *qdrant.Vectors_Vector:
		vec, err := vectorFromProto(x.Vector)
		if err != nil {
			return nil, err
		}
		if vec.sparse != nil {
			return nil, errf(KindBadInput, "Sparse vector must be named")
		}
		return json.Marshal(vec)
	case *qdrant.Vectors_Vectors:
		m := map[string]vector{}
		for name, pv := range x.Vectors.GetVectors() {
			vec, err := vectorFromProto(pv)
			if err != nil {
				return nil, err
			}
			m[name] = vec
		}
		return json.Marshal(m)
	}
	return nil, errf(KindBadInput, "unknown vectors variant")
}

// vectorOutputToProto encodes one stored vector for a read answer in the
// emulated version's encoding (see fillsVectorOneof).
func vectorOutputToProto(v vector, ver version) *qdrant.VectorOutput {
	if !ver.fillsVectorOneof() {
		switch {
		case v.sparse != nil:
			//lint:ignore SA1019 these are the fields Qdrant 1.15 and 1.16 fill.
			return &qdrant.VectorOutput{Data: v.sparse.Values, Indices: &qdrant.SparseIndices{Data: v.sparse.Indices}}
		case v.multi != nil:
			var flat []float32
			for _, d := range v.multi {
				flat = append(flat, d...)
			}
			n := uint32(len(v.multi))
			//lint:ignore SA1019 these are the fields Qdrant 1.15 and 1.16 fill.
			return &qdrant.VectorOutput{Data: flat, VectorsCount: &n}
		}
		//lint:ignore SA1019 this is the field Qdrant 1.15 and 1.16 fill.
		return &qdrant.VectorOutput{Data: v.dense}
	}
	switch {
	case v.sparse != nil:
		return &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_Sparse{Sparse: &qdrant.SparseVector{Indices: v.sparse.Indices, Values: v.sparse.Values}}}
	case v.multi != nil:
		ds := make([]*qdrant.DenseVector, 0, len(v.multi))
		for _, d := range v.multi {
			ds = append(ds, &qdrant.DenseVector{Data: d})
		}
		return &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_MultiDense{MultiDense: &qdrant.MultiDenseVector{Vectors: ds}}}
	}
	return &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_Dense{Dense: &qdrant.DenseVector{Data: v.dense}}}
}

// vectorsToProto turns a Record's vector JSON (REST VectorStructOutput)
// into VectorsOutput: a bare value is the unnamed vector, an object the
// named ones.
func vectorsToProto(raw json.RawMessage, ver version) (*qdrant.VectorsOutput, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '[' {
		var v vector
		if err := v.UnmarshalJSON(raw); err != nil {
			return nil, err
		}
		return &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vector{Vector: vectorOutputToProto(v, ver)}}, nil
	}
	var m map[string]vector
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	named := &qdrant.NamedVectorsOutput{Vectors: make(map[string]*qdrant.VectorOutput, len(m))}
	for name, v := range m {
		named.Vectors[name] = vectorOutputToProto(v, ver)
	}
	return &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vectors{Vectors: named}}, nil
}

// nonNilF32 keeps an empty vector empty rather than null in the JSON the
// core parses.
func nonNilF32(s []float32) []float32 {
	if s == nil {
		return []float32{}
	}
	return s
}

func nonNilU32(s []uint32) []uint32 {
	if s == nil {
		return []uint32{}
	}
	return s
}
