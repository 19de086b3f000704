package qdrantsim

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/qdrant/go-client/qdrant"
)

// Conversions between the Go client's generated protobuf types and the
// simulator's REST-shaped representation. Each follows the corresponding
// conversion of Qdrant's gRPC layer; what the simulator does not emulate is
// refused with InvalidArgument rather than silently dropped.

// --- point ids, shard keys -------------------------------------------------

func pointIDFromProto(id *qdrant.PointId) (PointID, error) {
	switch v := id.GetPointIdOptions().(type) {
	case *qdrant.PointId_Num:
		return NumID(v.Num), nil
	case *qdrant.PointId_Uuid:
		pid, err := ParseUUIDID(v.Uuid)
		if err != nil {
			return PointID{}, errf(KindBadInput, "Unable to parse UUID: %s", v.Uuid)
		}
		return pid, nil
	}
	return PointID{}, errf(KindBadInput, "Unknown id type")
}

func pointIDsFromProto(ids []*qdrant.PointId) ([]PointID, error) {
	out := make([]PointID, 0, len(ids))
	for _, id := range ids {
		pid, err := pointIDFromProto(id)
		if err != nil {
			return nil, err
		}
		out = append(out, pid)
	}
	return out, nil
}

func pointIDToProto(id PointID) *qdrant.PointId {
	if id.IsUUID {
		return qdrant.NewIDUUID(id.String())
	}
	return qdrant.NewIDNum(id.Num)
}

func shardKeyFromProto(k *qdrant.ShardKey) (ShardKey, error) {
	switch v := k.GetKey().(type) {
	case *qdrant.ShardKey_Keyword:
		return ShardKey{Str: v.Keyword}, nil
	case *qdrant.ShardKey_Number:
		return ShardKey{Num: v.Number, IsNum: true}, nil
	}
	return ShardKey{}, errf(KindBadInput, "Shard key is empty")
}

func shardKeyToProto(k *ShardKey) *qdrant.ShardKey {
	if k == nil {
		return nil
	}
	if k.IsNum {
		return qdrant.NewShardKeyNum(k.Num)
	}
	return qdrant.NewShardKey(k.Str)
}

// shardSelectorFromProto keeps the keys of a selector. Qdrant ignores keys
// it cannot read (an empty ShardKey) the same way.
func shardSelectorFromProto(s *qdrant.ShardKeySelector) (ShardKeySelector, error) {
	if s == nil {
		return nil, nil
	}
	if s.Fallback != nil {
		return nil, errf(KindBadInput, "shard key fallback is not emulated by the simulator")
	}
	var out ShardKeySelector
	for _, k := range s.GetShardKeys() {
		if k.GetKey() == nil {
			continue
		}
		key, err := shardKeyFromProto(k)
		if err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	return out, nil
}

// --- payload values ----------------------------------------------------------

// valueFromProto turns a protobuf Value into what encoding/json would have
// produced from the same JSON: numbers become float64, so that a payload
// written over gRPC compares equal to one written over REST.
func valueFromProto(v *qdrant.Value) any {
	switch k := v.GetKind().(type) {
	case *qdrant.Value_NullValue, nil:
		return nil
	case *qdrant.Value_DoubleValue:
		return k.DoubleValue
	case *qdrant.Value_IntegerValue:
		return float64(k.IntegerValue)
	case *qdrant.Value_StringValue:
		return k.StringValue
	case *qdrant.Value_BoolValue:
		return k.BoolValue
	case *qdrant.Value_StructValue:
		return payloadFromProto(k.StructValue.GetFields())
	case *qdrant.Value_ListValue:
		vals := k.ListValue.GetValues()
		out := make([]any, len(vals))
		for i, x := range vals {
			out[i] = valueFromProto(x)
		}
		return out
	}
	return nil
}

func payloadFromProto(m map[string]*qdrant.Value) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = valueFromProto(v)
	}
	return out
}

// valueToProto follows Qdrant's json_to_proto: integral numbers become
// integer values, other numbers doubles.
func valueToProto(v any) *qdrant.Value {
	switch x := v.(type) {
	case nil:
		return qdrant.NewValueNull()
	case bool:
		return qdrant.NewValueBool(x)
	case string:
		return qdrant.NewValueString(x)
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return qdrant.NewValueInt(int64(x))
		}
		return qdrant.NewValueDouble(x)
	case float32:
		return valueToProto(float64(x))
	case int:
		return qdrant.NewValueInt(int64(x))
	case int64:
		return qdrant.NewValueInt(x)
	case uint64:
		return qdrant.NewValueInt(int64(x))
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return qdrant.NewValueInt(n)
		}
		f, _ := x.Float64()
		return qdrant.NewValueDouble(f)
	case map[string]any:
		return qdrant.NewValueFromFields(payloadToProto(x))
	case []any:
		vals := make([]*qdrant.Value, len(x))
		for i, e := range x {
			vals[i] = valueToProto(e)
		}
		return qdrant.NewValueFromList(vals...)
	}
	return qdrant.NewValueString(fmt.Sprint(v))
}

func payloadToProto(m map[string]any) map[string]*qdrant.Value {
	out := make(map[string]*qdrant.Value, len(m))
	for k, v := range m {
		out[k] = valueToProto(v)
	}
	return out
}

func recordToProto(r Record, ver version) (*qdrant.RetrievedPoint, error) {
	vec, err := vectorsToProto(r.Vector, ver)
	if err != nil {
		return nil, errf(KindServiceError, "stored vector: %v", err)
	}
	return &qdrant.RetrievedPoint{
		Id:       pointIDToProto(r.ID),
		Payload:  payloadToProto(r.Payload),
		Vectors:  vec,
		ShardKey: shardKeyToProto(r.ShardKey),
	}, nil
}

// withPayloadJSON renders a WithPayloadSelector as the REST JSON; nil keeps
// the endpoint's default, as Qdrant passes None through.
func withPayloadJSON(s *qdrant.WithPayloadSelector) json.RawMessage {
	var v any
	switch x := s.GetSelectorOptions().(type) {
	case nil:
		return nil
	case *qdrant.WithPayloadSelector_Enable:
		v = x.Enable
	case *qdrant.WithPayloadSelector_Include:
		v = map[string]any{"include": nonNil(x.Include.GetFields())}
	case *qdrant.WithPayloadSelector_Exclude:
		v = map[string]any{"exclude": nonNil(x.Exclude.GetFields())}
	}
	b, _ := json.Marshal(v)
	return b
}

// withVectorsJSON renders a WithVectorsSelector; absent means no vectors,
// as in Qdrant's gRPC API (unwrap_or_default).
func withVectorsJSON(s *qdrant.WithVectorsSelector) json.RawMessage {
	var v any = false
	switch x := s.GetSelectorOptions().(type) {
	case *qdrant.WithVectorsSelector_Enable:
		v = x.Enable
	case *qdrant.WithVectorsSelector_Include:
		v = nonNil(x.Include.GetNames())
	}
	b, _ := json.Marshal(v)
	return b
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// --- filters -----------------------------------------------------------------

func filterFromProto(f *qdrant.Filter) (*Filter, error) {
	if f == nil {
		return nil, nil
	}
	if f.MinShould != nil {
		return nil, errf(KindBadInput, "min_should filters are not emulated by the simulator")
	}
	out := &Filter{}
	var err error
	if out.Must, err = conditionsFromProto(f.GetMust()); err != nil {
		return nil, err
	}
	if out.MustNot, err = conditionsFromProto(f.GetMustNot()); err != nil {
		return nil, err
	}
	if out.Should, err = conditionsFromProto(f.GetShould()); err != nil {
		return nil, err
	}
	return out, nil
}

func conditionsFromProto(cs []*qdrant.Condition) ([]Condition, error) {
	var out []Condition
	for _, c := range cs {
		cond, err := conditionFromProto(c)
		if err != nil {
			return nil, err
		}
		out = append(out, cond)
	}
	return out, nil
}

func conditionFromProto(c *qdrant.Condition) (Condition, error) {
	switch x := c.GetConditionOneOf().(type) {
	case *qdrant.Condition_Field:
		return fieldConditionFromProto(x.Field)
	case *qdrant.Condition_HasId:
		ids, err := pointIDsFromProto(x.HasId.GetHasId())
		if err != nil {
			return Condition{}, err
		}
		if ids == nil {
			ids = []PointID{}
		}
		return Condition{HasID: ids}, nil
	case *qdrant.Condition_IsEmpty:
		return Condition{Empty: &fieldOnly{Key: x.IsEmpty.GetKey()}}, nil
	case *qdrant.Condition_IsNull:
		return Condition{IsNul: &fieldOnly{Key: x.IsNull.GetKey()}}, nil
	case *qdrant.Condition_Filter:
		f, err := filterFromProto(x.Filter)
		if err != nil || f == nil {
			return Condition{}, err
		}
		return Condition{Filter: *f}, nil
	}
	return Condition{}, errf(KindBadInput, "this filter condition is not emulated by the simulator")
}

func fieldConditionFromProto(fc *qdrant.FieldCondition) (Condition, error) {
	key := fc.GetKey()
	switch {
	case fc.Match != nil:
		m, err := matchFromProto(fc.Match)
		if err != nil {
			return Condition{}, err
		}
		return Condition{Key: key, Match: m}, nil
	case fc.Range != nil:
		r := fc.Range
		return Condition{Key: key, Range: &Range{Gt: r.Gt, Gte: r.Gte, Lt: r.Lt, Lte: r.Lte}}, nil
	case fc.IsNull != nil && *fc.IsNull:
		return Condition{IsNul: &fieldOnly{Key: key}}, nil
	case fc.IsEmpty != nil && *fc.IsEmpty:
		return Condition{Empty: &fieldOnly{Key: key}}, nil
	}
	return Condition{}, errf(KindBadInput, "field condition on %q is not emulated by the simulator", key)
}

func matchFromProto(m *qdrant.Match) (*Match, error) {
	anyStrings := func(ss []string) []any {
		out := make([]any, len(ss))
		for i, s := range ss {
			out[i] = s
		}
		return out
	}
	anyInts := func(ns []int64) []any {
		out := make([]any, len(ns))
		for i, n := range ns {
			out[i] = float64(n)
		}
		return out
	}
	switch x := m.GetMatchValue().(type) {
	case *qdrant.Match_Keyword:
		return &Match{Value: x.Keyword}, nil
	case *qdrant.Match_Integer:
		return &Match{Value: float64(x.Integer)}, nil
	case *qdrant.Match_Boolean:
		return &Match{Value: x.Boolean}, nil
	case *qdrant.Match_Keywords:
		return &Match{Any: anyStrings(x.Keywords.GetStrings())}, nil
	case *qdrant.Match_Integers:
		return &Match{Any: anyInts(x.Integers.GetIntegers())}, nil
	case *qdrant.Match_ExceptKeywords:
		return &Match{Except: anyStrings(x.ExceptKeywords.GetStrings())}, nil
	case *qdrant.Match_ExceptIntegers:
		return &Match{Except: anyInts(x.ExceptIntegers.GetIntegers())}, nil
	}
	return nil, errf(KindBadInput, "this match is not emulated by the simulator")
}

// --- collection configuration ------------------------------------------------

var distanceNames = map[qdrant.Distance]string{
	qdrant.Distance_Cosine: "Cosine", qdrant.Distance_Euclid: "Euclid",
	qdrant.Distance_Dot: "Dot", qdrant.Distance_Manhattan: "Manhattan",
}

func vectorParamsJSON(p *qdrant.VectorParams) (map[string]any, error) {
	name, ok := distanceNames[p.GetDistance()]
	if !ok {
		return nil, errf(KindBadInput, "Malformed distance parameter: %d", p.GetDistance())
	}
	m := map[string]any{"size": p.GetSize(), "distance": name}
	if p.MultivectorConfig != nil {
		mv, err := multivectorJSON(p.MultivectorConfig)
		if err != nil {
			return nil, err
		}
		m["multivector_config"] = mv
	}
	if p.OnDisk != nil {
		m["on_disk"] = *p.OnDisk
	}
	if p.HnswConfig != nil {
		m["hnsw_config"] = hnswJSON(p.HnswConfig)
	}
	if p.Datatype != nil {
		m["datatype"] = strings.ToLower(p.Datatype.String())
	}
	return m, nil
}

func vectorsConfigJSON(c *qdrant.VectorsConfig) (json.RawMessage, error) {
	switch x := c.GetConfig().(type) {
	case nil:
		return nil, nil
	case *qdrant.VectorsConfig_Params:
		m, err := vectorParamsJSON(x.Params)
		if err != nil {
			return nil, err
		}
		return json.Marshal(m)
	case *qdrant.VectorsConfig_ParamsMap:
		all := map[string]any{}
		for name, p := range x.ParamsMap.GetMap() {
			m, err := vectorParamsJSON(p)
			if err != nil {
				return nil, err
			}
			all[name] = m
		}
		return json.Marshal(all)
	}
	return nil, errf(KindBadInput, "unknown vectors config")
}

func hnswJSON(h *qdrant.HnswConfigDiff) map[string]any {
	if h == nil {
		return nil
	}
	m := map[string]any{}
	setU64(m, "m", h.M)
	setU64(m, "ef_construct", h.EfConstruct)
	setU64(m, "full_scan_threshold", h.FullScanThreshold)
	setU64(m, "max_indexing_threads", h.MaxIndexingThreads)
	setU64(m, "payload_m", h.PayloadM)
	if h.OnDisk != nil {
		m["on_disk"] = *h.OnDisk
	}
	return m
}

func walJSON(w *qdrant.WalConfigDiff) map[string]any {
	if w == nil {
		return nil
	}
	m := map[string]any{}
	setU64(m, "wal_capacity_mb", w.WalCapacityMb)
	setU64(m, "wal_segments_ahead", w.WalSegmentsAhead)
	return m
}

func optimizersJSON(o *qdrant.OptimizersConfigDiff) map[string]any {
	if o == nil {
		return nil
	}
	m := map[string]any{}
	if o.DeletedThreshold != nil {
		m["deleted_threshold"] = *o.DeletedThreshold
	}
	setU64(m, "vacuum_min_vector_number", o.VacuumMinVectorNumber)
	setU64(m, "default_segment_number", o.DefaultSegmentNumber)
	setU64(m, "max_segment_size", o.MaxSegmentSize)
	setU64(m, "memmap_threshold", o.MemmapThreshold)
	setU64(m, "indexing_threshold", o.IndexingThreshold)
	setU64(m, "flush_interval_sec", o.FlushIntervalSec)
	if t, ok := o.GetMaxOptimizationThreads().GetVariant().(*qdrant.MaxOptimizationThreads_Value); ok {
		m["max_optimization_threads"] = t.Value
	}
	return m
}

func setU64(m map[string]any, key string, v *uint64) {
	if v != nil {
		m[key] = *v
	}
}

func quantizationJSON(q *qdrant.QuantizationConfig) (json.RawMessage, error) {
	var v any
	switch x := q.GetQuantization().(type) {
	case nil:
		return nil, nil
	case *qdrant.QuantizationConfig_Scalar:
		s := map[string]any{"type": "int8"}
		if x.Scalar.Quantile != nil {
			s["quantile"] = *x.Scalar.Quantile
		}
		if x.Scalar.AlwaysRam != nil {
			s["always_ram"] = *x.Scalar.AlwaysRam
		}
		v = map[string]any{"scalar": s}
	case *qdrant.QuantizationConfig_Product:
		p := map[string]any{"compression": x.Product.GetCompression().String()}
		if x.Product.AlwaysRam != nil {
			p["always_ram"] = *x.Product.AlwaysRam
		}
		v = map[string]any{"product": p}
	case *qdrant.QuantizationConfig_Binary:
		b := map[string]any{}
		if x.Binary.AlwaysRam != nil {
			b["always_ram"] = *x.Binary.AlwaysRam
		}
		v = map[string]any{"binary": b}
	}
	return json.Marshal(v)
}

// createCollectionFromProto maps CreateCollection to the REST body.
func createCollectionFromProto(r *qdrant.CreateCollection) (CreateCollection, error) {
	var out CreateCollection
	var err error
	if out.Vectors, err = vectorsConfigJSON(r.VectorsConfig); err != nil {
		return out, err
	}
	if out.SparseVectors, err = sparseVectorsJSON(r.GetSparseVectorsConfig()); err != nil {
		return out, err
	}
	out.ShardNumber = r.ShardNumber
	out.ReplicationFactor = r.ReplicationFactor
	out.WriteConsistencyFactor = r.WriteConsistencyFactor
	out.OnDiskPayload = r.OnDiskPayload
	if r.ShardingMethod != nil {
		m := "auto"
		if *r.ShardingMethod == qdrant.ShardingMethod_Custom {
			m = "custom"
		}
		out.ShardingMethod = &m
	}
	out.HnswConfig = hnswJSON(r.HnswConfig)
	out.WalConfig = walJSON(r.WalConfig)
	out.OptimizersConfig = optimizersJSON(r.OptimizersConfig)
	if out.QuantizationConfig, err = quantizationJSON(r.QuantizationConfig); err != nil {
		return out, err
	}
	out.StrictModeConfig = strictModeFromProto(r.StrictModeConfig)
	if r.Metadata != nil {
		out.Metadata = payloadFromProto(r.Metadata)
	}
	return out, nil
}

// numU64 reads a number stored in a JSON-ish config map.
func numU64(m map[string]any, key string) *uint64 {
	var n uint64
	switch v := m[key].(type) {
	case int:
		n = uint64(v)
	case int64:
		n = uint64(v)
	case uint64:
		n = v
	case uint32:
		n = uint64(v)
	case float64:
		n = uint64(v)
	case json.Number:
		i, err := v.Int64()
		if err != nil {
			return nil
		}
		n = uint64(i)
	default:
		return nil
	}
	return &n
}

func numF64(m map[string]any, key string) *float64 {
	var f float64
	switch v := m[key].(type) {
	case float64:
		f = v
	case int:
		f = float64(v)
	case uint64:
		f = float64(v)
	default:
		return nil
	}
	return &f
}

func boolPtr(m map[string]any, key string) *bool {
	if b, ok := m[key].(bool); ok {
		return &b
	}
	return nil
}

func ptrU32(v uint32) *uint32 { return &v }
func ptrU64(v uint64) *uint64 { return &v }

func vectorsConfigToProto(raw json.RawMessage) (*qdrant.VectorsConfig, error) {
	specs, err := vectorSpecs(raw)
	if err != nil {
		return nil, err
	}
	var full map[string]json.RawMessage
	_ = json.Unmarshal(raw, &full)
	params := func(name string, s vectorSpec) *qdrant.VectorParams {
		p := &qdrant.VectorParams{Size: uint64(s.Size), Distance: qdrant.Distance(qdrant.Distance_value[s.Distance])}
		extra := map[string]any{}
		if name == "" {
			_ = json.Unmarshal(raw, &extra)
		} else {
			_ = json.Unmarshal(full[name], &extra)
		}
		p.OnDisk = boolPtr(extra, "on_disk")
		p.MultivectorConfig = multivectorToProto(extra)
		return p
	}
	if s, ok := specs[""]; ok {
		return qdrant.NewVectorsConfig(params("", s)), nil
	}
	m := map[string]*qdrant.VectorParams{}
	for name, s := range specs {
		m[name] = params(name, s)
	}
	return qdrant.NewVectorsConfigMap(m), nil
}

func collectionInfoToProto(info *CollectionInfo) (*qdrant.CollectionInfo, error) {
	cfg := info.Config
	vc, err := vectorsConfigToProto(cfg.Params.Vectors)
	if err != nil {
		return nil, errf(KindServiceError, "stored vectors config: %v", err)
	}
	params := &qdrant.CollectionParams{
		ShardNumber:            cfg.Params.ShardNumber,
		OnDiskPayload:          cfg.Params.OnDiskPayload,
		VectorsConfig:          vc,
		ReplicationFactor:      ptrU32(cfg.Params.ReplicationFactor),
		WriteConsistencyFactor: ptrU32(cfg.Params.WriteConsistencyFactor),
		ReadFanOutFactor:       cfg.Params.ReadFanOutFactor,
	}
	if cfg.Params.ShardingMethod == "custom" {
		m := qdrant.ShardingMethod_Custom
		params.ShardingMethod = &m
	}
	params.SparseVectorsConfig = sparseVectorsToProto(cfg.Params.SparseVectors)
	h := cfg.HNSW
	o := cfg.Optimizer
	out := &qdrant.CollectionInfo{
		Status:          qdrant.CollectionStatus(qdrant.CollectionStatus_value[capitalize(info.Status)]),
		OptimizerStatus: &qdrant.OptimizerStatus{Ok: info.OptimizerStatus == "ok"},
		SegmentsCount:   uint64(info.SegmentsCount),
		PointsCount:     ptrU64(info.PointsCount),
		// Qdrant reports 0 indexed vectors until the optimizer indexes them;
		// the simulator never indexes.
		IndexedVectorsCount: ptrU64(info.IndexedVectorsCount),
		Config: &qdrant.CollectionConfig{
			Params: params,
			HnswConfig: &qdrant.HnswConfigDiff{M: numU64(h, "m"), EfConstruct: numU64(h, "ef_construct"),
				FullScanThreshold: numU64(h, "full_scan_threshold"), MaxIndexingThreads: numU64(h, "max_indexing_threads"),
				OnDisk: boolPtr(h, "on_disk"), PayloadM: numU64(h, "payload_m")},
			OptimizerConfig: &qdrant.OptimizersConfigDiff{DeletedThreshold: numF64(o, "deleted_threshold"),
				VacuumMinVectorNumber: numU64(o, "vacuum_min_vector_number"), DefaultSegmentNumber: numU64(o, "default_segment_number"),
				MaxSegmentSize: numU64(o, "max_segment_size"), MemmapThreshold: numU64(o, "memmap_threshold"),
				IndexingThreshold: numU64(o, "indexing_threshold"), FlushIntervalSec: numU64(o, "flush_interval_sec")},
			WalConfig: &qdrant.WalConfigDiff{WalCapacityMb: numU64(cfg.WAL, "wal_capacity_mb"),
				WalSegmentsAhead: numU64(cfg.WAL, "wal_segments_ahead")},
		},
		PayloadSchema: map[string]*qdrant.PayloadSchemaInfo{},
	}
	if t := numU64(o, "max_optimization_threads"); t != nil {
		out.Config.OptimizerConfig.MaxOptimizationThreads = qdrant.NewMaxOptimizationThreads(*t)
	}
	if q, err := quantizationToProto(cfg.Quantization); err == nil {
		out.Config.QuantizationConfig = q
	}
	out.Config.StrictModeConfig = strictModeToProto(cfg.StrictMode)
	if cfg.Metadata != nil {
		out.Config.Metadata = payloadToProto(cfg.Metadata)
	}
	for field, raw := range info.PayloadSchema {
		var idx struct {
			DataType string  `json:"data_type"`
			Points   *uint64 `json:"points"`
		}
		if json.Unmarshal(raw, &idx) != nil {
			continue
		}
		out.PayloadSchema[field] = &qdrant.PayloadSchemaInfo{
			DataType: qdrant.PayloadSchemaType(qdrant.PayloadSchemaType_value[capitalize(idx.DataType)]),
			Points:   idx.Points,
		}
	}
	return out, nil
}

func quantizationToProto(raw json.RawMessage) (*qdrant.QuantizationConfig, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return nil, nil
	}
	var q struct {
		Scalar *struct {
			Quantile  *float32 `json:"quantile"`
			AlwaysRAM *bool    `json:"always_ram"`
		} `json:"scalar"`
		Product *struct {
			Compression string `json:"compression"`
			AlwaysRAM   *bool  `json:"always_ram"`
		} `json:"product"`
		Binary *struct {
			AlwaysRAM *bool `json:"always_ram"`
		} `json:"binary"`
	}
	if err := json.Unmarshal(raw, &q); err != nil {
		return nil, err
	}
	switch {
	case q.Scalar != nil:
		return qdrant.NewQuantizationScalar(&qdrant.ScalarQuantization{Type: qdrant.QuantizationType_Int8,
			Quantile: q.Scalar.Quantile, AlwaysRam: q.Scalar.AlwaysRAM}), nil
	case q.Product != nil:
		return qdrant.NewQuantizationProduct(&qdrant.ProductQuantization{
			Compression: qdrant.CompressionRatio(qdrant.CompressionRatio_value[q.Product.Compression]),
			AlwaysRam:   q.Product.AlwaysRAM}), nil
	case q.Binary != nil:
		return qdrant.NewQuantizationBinary(&qdrant.BinaryQuantization{AlwaysRam: q.Binary.AlwaysRAM}), nil
	}
	return nil, nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// --- cluster -----------------------------------------------------------------

var transferMethodNames = map[qdrant.ShardTransferMethod]string{
	qdrant.ShardTransferMethod_StreamRecords:           MethodStreamRecords,
	qdrant.ShardTransferMethod_Snapshot:                MethodSnapshot,
	qdrant.ShardTransferMethod_WalDelta:                MethodWalDelta,
	qdrant.ShardTransferMethod_ReshardingStreamRecords: "resharding_stream_records",
}

func transferMethodFromProto(m *qdrant.ShardTransferMethod) *string {
	if m == nil {
		return nil
	}
	name, ok := transferMethodNames[*m]
	if !ok {
		name = m.String()
	}
	return &name
}

func replicaStateToProto(s string) qdrant.ReplicaState {
	return qdrant.ReplicaState(qdrant.ReplicaState_value[s])
}

func clusterInfoToProto(info *CollectionClusterInfo) *qdrant.CollectionClusterInfoResponse {
	out := &qdrant.CollectionClusterInfoResponse{
		PeerId:         info.PeerID,
		ShardCount:     uint64(info.ShardCount),
		LocalShards:    []*qdrant.LocalShardInfo{},
		RemoteShards:   []*qdrant.RemoteShardInfo{},
		ShardTransfers: []*qdrant.ShardTransferInfo{},
	}
	for _, l := range info.LocalShards {
		out.LocalShards = append(out.LocalShards, &qdrant.LocalShardInfo{ShardId: l.ShardID,
			PointsCount: uint64(l.PointsCount), State: replicaStateToProto(l.State), ShardKey: shardKeyToProto(l.ShardKey)})
	}
	for _, r := range info.RemoteShards {
		out.RemoteShards = append(out.RemoteShards, &qdrant.RemoteShardInfo{ShardId: r.ShardID,
			PeerId: r.PeerID, State: replicaStateToProto(r.State), ShardKey: shardKeyToProto(r.ShardKey)})
	}
	for _, t := range info.ShardTransfers {
		out.ShardTransfers = append(out.ShardTransfers, &qdrant.ShardTransferInfo{ShardId: t.ShardID, ToShardId: t.ToShardID,
			From: t.From, To: t.To, Sync: t.Sync})
	}
	// resharding_operations (lib/api/src/grpc/proto/collections.proto).
	for _, r := range info.ReshardingOperations {
		dir := qdrant.ReshardingDirection_Up
		if r.Direction == "down" {
			dir = qdrant.ReshardingDirection_Down
		}
		out.ReshardingOperations = append(out.ReshardingOperations, &qdrant.ReshardingInfo{ShardId: r.ShardID, PeerId: r.PeerID,
			ShardKey: shardKeyToProto(r.ShardKey), Direction: dir})
	}
	return out
}

func createShardKeyFromProto(r *qdrant.CreateShardKey) (CreateShardingKey, error) {
	if r == nil || r.ShardKey == nil {
		return CreateShardingKey{}, errf(KindBadInput, "Shard key is not specified")
	}
	key, err := shardKeyFromProto(r.ShardKey)
	if err != nil {
		return CreateShardingKey{}, err
	}
	out := CreateShardingKey{ShardKey: key, ShardsNumber: r.ShardsNumber, ReplicationFactor: r.ReplicationFactor}
	if r.Placement != nil {
		out.Placement = append([]uint64{}, r.Placement...)
	}
	if r.InitialState != nil {
		s := r.InitialState.String()
		out.InitialState = &s
	}
	return out, nil
}

func transferFromProto(shard uint32, toShard *uint32, from, to uint64, method *qdrant.ShardTransferMethod) *ShardTransferRequest {
	return &ShardTransferRequest{ShardID: shard, ToShardID: toShard, FromPeerID: from, ToPeerID: to, Method: transferMethodFromProto(method)}
}

func clusterOperationFromProto(r *qdrant.UpdateCollectionClusterSetupRequest) (ClusterOperation, error) {
	var op ClusterOperation
	switch x := r.GetOperation().(type) {
	case *qdrant.UpdateCollectionClusterSetupRequest_MoveShard:
		m := x.MoveShard
		op.MoveShard = transferFromProto(m.ShardId, m.ToShardId, m.FromPeerId, m.ToPeerId, m.Method)
	case *qdrant.UpdateCollectionClusterSetupRequest_ReplicateShard:
		m := x.ReplicateShard
		op.ReplicateShard = transferFromProto(m.ShardId, m.ToShardId, m.FromPeerId, m.ToPeerId, m.Method)
	case *qdrant.UpdateCollectionClusterSetupRequest_AbortTransfer:
		m := x.AbortTransfer
		op.AbortTransfer = transferFromProto(m.ShardId, m.ToShardId, m.FromPeerId, m.ToPeerId, nil)
	case *qdrant.UpdateCollectionClusterSetupRequest_RestartTransfer:
		m := x.RestartTransfer
		method := m.Method
		op.RestartTransfer = transferFromProto(m.ShardId, m.ToShardId, m.FromPeerId, m.ToPeerId, &method)
	case *qdrant.UpdateCollectionClusterSetupRequest_DropReplica:
		op.DropReplica = &ReplicaRef{ShardID: x.DropReplica.ShardId, PeerID: x.DropReplica.PeerId}
	case *qdrant.UpdateCollectionClusterSetupRequest_CreateShardKey:
		k, err := createShardKeyFromProto(x.CreateShardKey)
		if err != nil {
			return op, err
		}
		op.CreateShardingKey = &k
	case *qdrant.UpdateCollectionClusterSetupRequest_DeleteShardKey:
		if x.DeleteShardKey.GetShardKey() == nil {
			return op, errf(KindBadInput, "Shard key is not specified")
		}
		k, err := shardKeyFromProto(x.DeleteShardKey.ShardKey)
		if err != nil {
			return op, err
		}
		op.DropShardingKey = &DropShardingKey{ShardKey: k}
	case *qdrant.UpdateCollectionClusterSetupRequest_ReplicatePoints:
		op.ReplicatePoints = json.RawMessage(`{}`)
	default:
		return op, errf(KindBadInput, "Malformed UpdateCollectionClusterSetup operation")
	}
	return op, nil
}
