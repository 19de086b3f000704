package qdrantsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// CreateCollection is the body of PUT /collections/{c}. Sub-configs that the
// simulator only stores and echoes are kept as JSON objects.
type CreateCollection struct {
	Vectors                json.RawMessage `json:"vectors,omitempty"`
	SparseVectors          json.RawMessage `json:"sparse_vectors,omitempty"`
	ShardNumber            *uint32         `json:"shard_number,omitempty"`
	ShardingMethod         *string         `json:"sharding_method,omitempty"`
	ReplicationFactor      *uint32         `json:"replication_factor,omitempty"`
	WriteConsistencyFactor *uint32         `json:"write_consistency_factor,omitempty"`
	ReadFanOutFactor       *uint32         `json:"read_fan_out_factor,omitempty"`
	OnDiskPayload          *bool           `json:"on_disk_payload,omitempty"`
	// Payload is the 1.19 payload storage placement ({"memory": ...}).
	Payload            map[string]any  `json:"payload,omitempty"`
	HnswConfig         map[string]any  `json:"hnsw_config,omitempty"`
	WalConfig          map[string]any  `json:"wal_config,omitempty"`
	OptimizersConfig   map[string]any  `json:"optimizers_config,omitempty"`
	QuantizationConfig json.RawMessage `json:"quantization_config,omitempty"`
	// Quantization is serde's alias of quantization_config
	// (lib/storage/src/content_manager/collection_meta_ops.rs).
	Quantization     json.RawMessage `json:"quantization,omitempty"`
	StrictModeConfig map[string]any  `json:"strict_mode_config,omitempty"`
	Metadata         map[string]any  `json:"metadata,omitempty"`
}

// UpdateCollection is the body of PATCH /collections/{c}.
type UpdateCollection struct {
	Vectors            map[string]map[string]any `json:"vectors,omitempty"`
	SparseVectors      map[string]map[string]any `json:"sparse_vectors,omitempty"`
	OptimizersConfig   map[string]any            `json:"optimizers_config,omitempty"`
	Params             map[string]any            `json:"params,omitempty"`
	HnswConfig         map[string]any            `json:"hnsw_config,omitempty"`
	QuantizationConfig json.RawMessage           `json:"quantization_config,omitempty"`
	StrictModeConfig   map[string]any            `json:"strict_mode_config,omitempty"`
	Metadata           map[string]any            `json:"metadata,omitempty"`
}

// collectionConfig is CollectionConfig as GET /collections/{c} shows it;
// with a uuid it is also the config.json of collection snapshots.
type collectionConfig struct {
	Params       collectionParams `json:"params"`
	HNSW         map[string]any   `json:"hnsw_config"`
	Optimizer    map[string]any   `json:"optimizer_config"`
	WAL          map[string]any   `json:"wal_config"`
	Quantization json.RawMessage  `json:"quantization_config"`
	StrictMode   map[string]any   `json:"strict_mode_config,omitempty"`
	Metadata     map[string]any   `json:"metadata,omitempty"`
}

type collectionParams struct {
	Vectors                json.RawMessage `json:"vectors"`
	SparseVectors          json.RawMessage `json:"sparse_vectors,omitempty"`
	ShardNumber            uint32          `json:"shard_number"`
	ShardingMethod         string          `json:"sharding_method,omitempty"`
	ReplicationFactor      uint32          `json:"replication_factor"`
	WriteConsistencyFactor uint32          `json:"write_consistency_factor"`
	ReadFanOutFactor       *uint32         `json:"read_fan_out_factor,omitempty"`
	OnDiskPayload          bool            `json:"on_disk_payload"`
	Payload                map[string]any  `json:"payload,omitempty"`
}

func defaultHNSW() map[string]any {
	return map[string]any{"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0, "on_disk": false}
}

func defaultOptimizer() map[string]any {
	return map[string]any{"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0,
		"max_segment_size": nil, "memmap_threshold": nil, "indexing_threshold": 10000, "flush_interval_sec": 5,
		"max_optimization_threads": nil}
}

func defaultWAL() map[string]any {
	return map[string]any{"wal_capacity_mb": 32, "wal_segments_ahead": 0}
}

// optimizerAuto stores max_optimization_threads "auto" (the request's
// spelling of "no limit") as null, which is how Qdrant reports it in the
// collection info.
func optimizerAuto(o map[string]any) map[string]any {
	if o["max_optimization_threads"] == "auto" {
		o["max_optimization_threads"] = nil
	}
	return o
}

// merge overlays diff on base one level deep as Qdrant's config diffs do
// (DiffConfig::update in lib/collection/src/operations/config_diff.rs):
// every diff field is an Option, so a null leaves the base value as it is.
func merge(base, diff map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(diff))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range diff {
		if v != nil {
			out[k] = v
		}
	}
	return out
}

// mergeMetadata is Payload::merge (merge_map in lib/segment/src/common/
// utils.rs), which update_metadata of lib/collection/src/collection/
// collection_ops.rs applies: a null removes the key, anything else
// replaces it. Without stored metadata the update is stored as given.
func mergeMetadata(base, diff map[string]any) map[string]any {
	if base == nil {
		return diff
	}
	out := make(map[string]any, len(base)+len(diff))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range diff {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// isNull tells whether a raw JSON field is absent or null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// quantizationDiff reads a QuantizationConfigDiff: nil for "Disabled",
// which removes the quantization (lib/collection/src/config.rs
// update_vectors_from_diff, collection_ops.rs
// update_quantization_config_from_diff); any other value replaces the
// stored config whole.
func quantizationDiff(raw json.RawMessage) json.RawMessage {
	if strings.TrimSpace(string(raw)) == `"Disabled"` {
		return nil
	}
	return raw
}

// validate is the body validation of PATCH /collections/{c} (Validate of
// UpdateCollection in lib/storage/src/content_manager/collection_meta_ops.rs).
func (u UpdateCollection) validate() error {
	for _, d := range []struct {
		section string
		diff    map[string]any
	}{{"hnsw_config", u.HnswConfig}, {"optimizers_config", u.OptimizersConfig}} {
		if err := validateDiff(d.section, d.diff); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(u.Vectors) {
		if u.Vectors[name]["memory"] == "pinned" {
			return errValidation(inBody, "vectors."+name+".memory", "`pinned` memory placement is not supported for dense vector storage")
		}
	}
	if pl, ok := u.Params["payload"].(map[string]any); ok && pl["memory"] == "pinned" {
		return errValidation(inBody, "params.payload.memory", "`pinned` memory placement is not supported for payload storage")
	}
	for _, name := range sortedKeys(u.Vectors) {
		if h, ok := u.Vectors[name]["hnsw_config"].(map[string]any); ok {
			if err := validateDiff("hnsw_config", h); err != nil {
				e := err.(*Error)
				e.Msg = strings.Replace(e.Msg, "[hnsw_config.", "[vectors."+name+".hnsw_config.", 1)
				return e
			}
		}
	}
	return nil
}

// vectorSpec describes one configured dense vector; Multivector is set
// for a multivector (lib/segment/src/types.rs MultiVectorConfig).
type vectorSpec struct {
	Size        int                `json:"size"`
	Distance    string             `json:"distance"`
	Multivector *multivectorConfig `json:"multivector_config,omitempty"`
	// Datatype is the storage element type: float32 (default), float16,
	// uint8 or turbo4.
	Datatype string `json:"datatype,omitempty"`
}

// vectorSpecs parses params.vectors: a single unnamed VectorParams (key "")
// or a map of named ones.
func vectorSpecs(raw json.RawMessage) (map[string]vectorSpec, error) {
	specs := map[string]vectorSpec{}
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return specs, nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, err
	}
	if _, single := probe["size"]; single {
		var s vectorSpec
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		specs[""] = s
		return specs, nil
	}
	for name, r := range probe {
		var s vectorSpec
		if err := json.Unmarshal(r, &s); err != nil {
			return nil, fmt.Errorf("vectors.%s: %w", name, err)
		}
		specs[name] = s
	}
	return specs, nil
}

var distances = []string{"Cosine", "Euclid", "Dot", "Manhattan"}

// buildConfig validates a create request and fills in Qdrant's defaults.
func buildConfig(req CreateCollection, peers int) (collectionConfig, error) {
	var cfg collectionConfig
	vectors := req.Vectors
	if len(vectors) == 0 || string(vectors) == "null" {
		vectors = json.RawMessage(`{}`)
	}
	specs, err := vectorSpecs(vectors)
	if err != nil {
		return cfg, errf(KindFormat, "%v", err)
	}
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := specs[n]
		field := "vectors.size"
		if n != "" {
			field = "vectors." + n + ".size"
		}
		if s.Size < 1 || s.Size > 65536 {
			return cfg, errf(KindValidation, "[%s: value %d invalid, must be from 1 to 65536]", field, s.Size)
		}
		ok := false
		for _, d := range distances {
			ok = ok || d == s.Distance
		}
		if !ok {
			return cfg, errf(KindFormat, "unknown variant `%s`, expected one of `Cosine`, `Euclid`, `Dot`, `Manhattan`", s.Distance)
		}
	}
	if err := checkVectorKinds(specs, req.SparseVectors); err != nil {
		return cfg, err
	}
	// CreateCollectionOperation::new (lib/storage/src/content_manager/
	// collection_meta_ops.rs): no unnamed sparse vector, no name both
	// dense and sparse.
	if sparse, _ := sparseSpecs(req.SparseVectors); len(sparse) > 0 {
		if _, ok := sparse[""]; ok {
			return cfg, errf(KindBadInput, "Sparse vector name cannot be empty")
		}
		for _, n := range names {
			if _, ok := sparse[n]; ok {
				return cfg, errf(KindBadInput, "Dense and sparse vector names must be unique - duplicate found with '%s'", n)
			}
		}
	}
	p := collectionParams{Vectors: vectors, SparseVectors: req.SparseVectors, ReplicationFactor: 1, WriteConsistencyFactor: 1, ReadFanOutFactor: req.ReadFanOutFactor}
	if req.ShardingMethod != nil {
		switch *req.ShardingMethod {
		case "auto":
		case "custom":
			p.ShardingMethod = "custom"
		default:
			return cfg, errf(KindFormat, "sharding_method: unknown variant `%s`, expected `auto` or `custom`", *req.ShardingMethod)
		}
	}
	switch {
	case req.ShardNumber != nil:
		if *req.ShardNumber < 1 {
			return cfg, errf(KindValidation, "[shard_number: value 0 invalid, must be 1 or larger]")
		}
		p.ShardNumber = *req.ShardNumber
	case p.ShardingMethod == "custom":
		p.ShardNumber = 1
	default:
		p.ShardNumber = uint32(max(peers, 1))
	}
	if req.ReplicationFactor != nil {
		if *req.ReplicationFactor < 1 {
			return cfg, errf(KindValidation, "[replication_factor: value 0 invalid, must be 1 or larger]")
		}
		p.ReplicationFactor = *req.ReplicationFactor
	}
	if req.WriteConsistencyFactor != nil {
		if *req.WriteConsistencyFactor < 1 {
			return cfg, errf(KindValidation, "[write_consistency_factor: value 0 invalid, must be 1 or larger]")
		}
		p.WriteConsistencyFactor = *req.WriteConsistencyFactor
	}
	// Qdrant's default for on_disk_payload is true.
	p.OnDiskPayload = true
	if req.OnDiskPayload != nil {
		p.OnDiskPayload = *req.OnDiskPayload
	}
	if err := checkMemoryPlacement(vectors, req.Payload, "vectors"); err != nil {
		return cfg, err
	}
	p.Payload = req.Payload
	for _, d := range []struct {
		section string
		diff    map[string]any
	}{{"hnsw_config", req.HnswConfig}, {"wal_config", req.WalConfig}, {"optimizers_config", req.OptimizersConfig}} {
		if err := validateDiff(d.section, d.diff); err != nil {
			return cfg, err
		}
	}
	cfg.Params = p
	cfg.HNSW = merge(defaultHNSW(), req.HnswConfig)
	cfg.Optimizer = optimizerAuto(merge(defaultOptimizer(), req.OptimizersConfig))
	cfg.WAL = merge(defaultWAL(), req.WalConfig)
	cfg.Quantization = json.RawMessage("null")
	if len(req.QuantizationConfig) == 0 {
		req.QuantizationConfig = req.Quantization
	}
	if len(req.QuantizationConfig) > 0 {
		cfg.Quantization = req.QuantizationConfig
	}
	cfg.StrictMode = merge(map[string]any{"enabled": false}, req.StrictModeConfig)
	cfg.Metadata = req.Metadata
	return cfg, nil
}

// applyUpdate applies a PATCH body to cfg.
func applyUpdate(cfg collectionConfig, u UpdateCollection) (collectionConfig, error) {
	for k, v := range u.Params {
		n, isNum := v.(float64)
		switch k {
		case "replication_factor", "write_consistency_factor":
			if !isNum || n < 1 {
				return cfg, errf(KindValidation, "[params.%s: value %v invalid, must be 1 or larger]", k, v)
			}
			if k == "replication_factor" {
				cfg.Params.ReplicationFactor = uint32(n)
			} else {
				cfg.Params.WriteConsistencyFactor = uint32(n)
			}
		case "read_fan_out_factor":
			if isNum {
				f := uint32(n)
				cfg.Params.ReadFanOutFactor = &f
			}
		case "on_disk_payload":
			if b, ok := v.(bool); ok {
				cfg.Params.OnDiskPayload = b
			}
		case "payload":
			if m, ok := v.(map[string]any); ok {
				cfg.Params.Payload = merge(cfg.Params.Payload, m)
			}
		}
	}
	if len(u.Vectors) > 0 {
		var vec map[string]any
		specs, _ := vectorSpecs(cfg.Params.Vectors)
		_, single := specs[""]
		if err := json.Unmarshal(cfg.Params.Vectors, &vec); err != nil {
			return cfg, errf(KindServiceError, "stored vectors config: %v", err)
		}
		for name, diff := range u.Vectors {
			if _, ok := specs[name]; !ok {
				return cfg, errf(KindBadInput, "Not existing vector name error: %s", name)
			}
			cur := vec
			if !single {
				cur, _ = vec[name].(map[string]any)
			}
			cur = applyVectorDiff(cur, diff)
			if single {
				vec = cur
			} else {
				vec[name] = cur
			}
		}
		b, _ := json.Marshal(vec)
		cfg.Params.Vectors = b
	}
	if len(u.SparseVectors) > 0 {
		// update_sparse_vectors_from_other (lib/collection/src/config.rs):
		// the vector must exist, modifier replaces, index fields merge.
		_, sparse, err := vectorMaps(cfg.Params)
		if err != nil {
			return cfg, err
		}
		for _, name := range sortedKeys(u.SparseVectors) {
			cur, ok := sparse[name]
			if !ok {
				return cfg, errf(KindBadInput, "Sparse vector `%s` is not specified in collection config", name)
			}
			diff := u.SparseVectors[name]
			next := merge(cur, nil)
			if m, ok := diff["modifier"]; ok && m != nil {
				next["modifier"] = m
			}
			if ix, ok := diff["index"].(map[string]any); ok {
				prev, _ := cur["index"].(map[string]any)
				next["index"] = merge(prev, ix)
			}
			sparse[name] = next
		}
		cfg.Params.SparseVectors, _ = json.Marshal(sparse)
	}
	if u.HnswConfig != nil {
		cfg.HNSW = merge(cfg.HNSW, u.HnswConfig)
	}
	if u.OptimizersConfig != nil {
		cfg.Optimizer = optimizerAuto(merge(cfg.Optimizer, u.OptimizersConfig))
	}
	if !isNull(u.QuantizationConfig) {
		cfg.Quantization = quantizationDiff(u.QuantizationConfig)
		if cfg.Quantization == nil {
			cfg.Quantization = json.RawMessage("null")
		}
	}
	if u.StrictModeConfig != nil {
		cfg.StrictMode = merge(cfg.StrictMode, u.StrictModeConfig)
	}
	if u.Metadata != nil {
		cfg.Metadata = mergeMetadata(cfg.Metadata, u.Metadata)
	}
	return cfg, nil
}

// applyVectorDiff is update_vectors_from_diff of lib/collection/src/
// config.rs for one vector: hnsw_config merges into the vector's own diff,
// quantization_config replaces it ("Disabled" removes it), on_disk and
// memory replace; nulls change nothing.
func applyVectorDiff(cur, diff map[string]any) map[string]any {
	out := merge(cur, nil)
	for k, v := range diff {
		if v == nil {
			continue
		}
		switch k {
		case "hnsw_config":
			d, _ := v.(map[string]any)
			prev, _ := out[k].(map[string]any)
			out[k] = merge(prev, d)
		case "quantization_config":
			if v == "Disabled" {
				delete(out, k)
				continue
			}
			out[k] = v
		default:
			out[k] = v
		}
	}
	return out
}

// checkMemoryPlacement is validate_dense_vector_memory (lib/collection/
// src/operations/types.rs) and validate_payload_storage_memory
// (lib/collection/src/config.rs), 1.19: dense vector and payload storage
// have no pinned placement.
func checkMemoryPlacement(vectors json.RawMessage, payload map[string]any, field string) error {
	var probe map[string]any
	_ = json.Unmarshal(vectors, &probe)
	if _, single := probe["size"]; single {
		probe = map[string]any{"": probe}
	}
	for _, name := range sortedKeys(probe) {
		if dig(probe[name], "memory") == "pinned" {
			f := field + ".memory"
			if name != "" {
				f = field + "." + name + ".memory"
			}
			return errValidation(inBody, f, "`pinned` memory placement is not supported for dense vector storage")
		}
	}
	if payload["memory"] == "pinned" {
		return errValidation(inBody, "payload.memory", "`pinned` memory placement is not supported for payload storage")
	}
	return nil
}
