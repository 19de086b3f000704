package qdrantsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/qdrant/go-client/qdrant"
)

// multivectorConfig is MultiVectorConfig (lib/segment/src/types.rs): the
// only comparator of 1.15–1.19 is max_sim.
type multivectorConfig struct {
	Comparator *string `json:"comparator"`
}

// sparseSpec is one entry of params.sparse_vectors, SparseVectorParams in
// lib/collection/src/operations/types.rs: an optional index override and
// an optional modifier (lib/segment/src/data_types/modifier.rs).
type sparseSpec struct {
	Index    map[string]any `json:"index,omitempty"`
	Modifier *string        `json:"modifier,omitempty"`
}

// sparseSpecs parses params.sparse_vectors, a map of names to
// SparseVectorParams; absent or null means no sparse vectors.
func sparseSpecs(raw json.RawMessage) (map[string]sparseSpec, error) {
	specs := map[string]sparseSpec{}
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return specs, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("sparse_vectors: %w", err)
	}
	for name, r := range m {
		var s sparseSpec
		if err := json.Unmarshal(r, &s); err != nil {
			return nil, fmt.Errorf("sparse_vectors.%s: %w", name, err)
		}
		specs[name] = s
	}
	return specs, nil
}

// checkVectorKinds refuses what serde refuses when it reads the sparse
// and multivector parts of a create request (the enums MultiVectorComparator
// in lib/segment/src/types.rs and Modifier in lib/segment/src/data_types/
// modifier.rs are snake_case, comparator is a required field).
func checkVectorKinds(dense map[string]vectorSpec, sparseRaw json.RawMessage) error {
	names := make([]string, 0, len(dense))
	for n := range dense {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mv := dense[n].Multivector
		if mv == nil {
			continue
		}
		switch {
		case mv.Comparator == nil:
			return errf(KindFormat, "missing field `comparator`")
		case *mv.Comparator != "max_sim":
			return errf(KindFormat, "unknown variant `%s`, expected `max_sim`", *mv.Comparator)
		}
	}
	sparse, err := sparseSpecs(sparseRaw)
	if err != nil {
		return errf(KindFormat, "%v", err)
	}
	for _, name := range sortedKeys(sparse) {
		s := sparse[name]
		if s.Modifier != nil && *s.Modifier != "none" && *s.Modifier != "idf" {
			return errf(KindFormat, "unknown variant `%s`, expected `none` or `idf`", *s.Modifier)
		}
		// validate_sparse_datatype (lib/collection/src/operations/
		// types.rs, 1.19) refuses turbo4 for sparse indexes.
		// Approximation: releases before 1.19 do not know the variant
		// and answer a 400 format error instead.
		if s.Index["datatype"] == "turbo4" {
			return &Error{Kind: KindValidation, Msg: "[sparse_vectors." + name + ".index.datatype: sparse vectors do not support the `turbo4` datatype]"}
		}
	}
	return nil
}

// --- gRPC (lib/api/src/grpc/qdrant.rs, conversions in
// lib/collection/src/operations/conversions.rs) --------------------------

// multivectorJSON is the REST form of a gRPC MultiVectorConfig.
func multivectorJSON(c *qdrant.MultiVectorConfig) (map[string]any, error) {
	if c.GetComparator() != qdrant.MultiVectorComparator_MaxSim {
		return nil, errf(KindBadInput, "Unknown multi vector comparator: %d", c.GetComparator())
	}
	return map[string]any{"comparator": "max_sim"}, nil
}

// multivectorToProto reads multivector_config from one stored
// VectorParams object.
func multivectorToProto(params map[string]any) *qdrant.MultiVectorConfig {
	if _, ok := params["multivector_config"].(map[string]any); !ok {
		return nil
	}
	return &qdrant.MultiVectorConfig{Comparator: qdrant.MultiVectorComparator_MaxSim}
}

// sparseVectorsJSON is the REST sparse_vectors of a gRPC
// SparseVectorConfig, keeping only what the request set.
func sparseVectorsJSON(c *qdrant.SparseVectorConfig) (json.RawMessage, error) {
	if len(c.GetMap()) == 0 {
		return nil, nil
	}
	m := map[string]any{}
	for name, p := range c.GetMap() {
		entry := map[string]any{}
		if ix := p.GetIndex(); ix != nil {
			idx := map[string]any{}
			setU64(idx, "full_scan_threshold", ix.FullScanThreshold)
			if ix.OnDisk != nil {
				idx["on_disk"] = *ix.OnDisk
			}
			if ix.Datatype != nil {
				idx["datatype"] = strings.ToLower(ix.Datatype.String())
			}
			entry["index"] = idx
		}
		if p.Modifier != nil {
			switch *p.Modifier {
			case qdrant.Modifier_None:
				entry["modifier"] = "none"
			case qdrant.Modifier_Idf:
				entry["modifier"] = "idf"
			default:
				return nil, errf(KindBadInput, "Unknown modifier: %d", *p.Modifier)
			}
		}
		m[name] = entry
	}
	return json.Marshal(m)
}

// sparseVectorsToProto is the gRPC SparseVectorConfig of a stored
// sparse_vectors, nil when there are none.
func sparseVectorsToProto(raw json.RawMessage) *qdrant.SparseVectorConfig {
	specs, err := sparseSpecs(raw)
	if err != nil || len(specs) == 0 {
		return nil
	}
	out := &qdrant.SparseVectorConfig{Map: map[string]*qdrant.SparseVectorParams{}}
	for name, s := range specs {
		p := &qdrant.SparseVectorParams{}
		if s.Index != nil {
			p.Index = &qdrant.SparseIndexConfig{FullScanThreshold: numU64(s.Index, "full_scan_threshold"), OnDisk: boolPtr(s.Index, "on_disk")}
			if d, ok := s.Index["datatype"].(string); ok {
				if v, ok := qdrant.Datatype_value[capitalize(d)]; ok {
					dt := qdrant.Datatype(v)
					p.Index.Datatype = &dt
				}
			}
		}
		if s.Modifier != nil {
			m := qdrant.Modifier_None
			if *s.Modifier == "idf" {
				m = qdrant.Modifier_Idf
			}
			p.Modifier = &m
		}
		out.Map[name] = p
	}
	return out
}
