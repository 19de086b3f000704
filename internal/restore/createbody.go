package restore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// createRequest turns a recorded collection config (result.config of
// GET /collections/{c}) into a PUT /collections/{c} body. The two shapes
// differ: GET nests vectors and sharding under "params" and says
// "optimizer_config", while a create request takes them at the top level
// and says "optimizers_config"; GET writes every setting (null for "not
// set") where the create request's *Diff types read null as "use the
// server default". Settings Qdrant only accepts through a later update
// (read_fan_out_factor, read_fan_out_delay_ms) are returned as dropped.
func createRequest(config json.RawMessage, shardNumber, replicationFactor, writeConsistency uint32) (body json.RawMessage, dropped []string, err error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, nil, fmt.Errorf("decode recorded config: %w", err)
	}
	var params map[string]json.RawMessage
	if raw, ok := cfg["params"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &params); err != nil {
			return nil, nil, fmt.Errorf("decode recorded config params: %w", err)
		}
	}
	req := map[string]any{}
	for _, k := range []string{"vectors", "sparse_vectors", "on_disk_payload", "payload", "sharding_method"} {
		if v, ok := params[k]; ok && !isNull(v) {
			req[k] = v
		}
	}
	for _, k := range []string{"read_fan_out_factor", "read_fan_out_delay_ms"} {
		if v, ok := params[k]; ok && !isNull(v) {
			dropped = append(dropped, "params."+k)
		}
	}
	req["shard_number"] = shardNumber
	req["replication_factor"] = replicationFactor
	req["write_consistency_factor"] = max(writeConsistency, 1)
	// Strict mode is off while restoring: a recorded one could refuse the
	// restore's own exact counts, scroll pages and upserts. The recorded
	// settings are applied once the collection is verified (strictMode).
	req["strict_mode_config"] = map[string]any{"enabled": false}

	sections := []struct{ from, to string }{
		{"hnsw_config", "hnsw_config"},
		{"optimizer_config", "optimizers_config"},
		{"wal_config", "wal_config"},
		{"quantization_config", "quantization_config"},
		{"metadata", "metadata"},
	}
	for _, s := range sections {
		raw, ok := cfg[s.from]
		if !ok || isNull(raw) {
			continue
		}
		// UseNumber keeps integers above 2^53 exact.
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("decode recorded %s: %w", s.from, err)
		}
		if s.from == "optimizer_config" {
			// GET writes null for "no limit"; in a create request null
			// means "server default", which may be a limit. "auto" is the
			// same no-limit setting spelled the way the request takes it.
			if m, ok := v.(map[string]any); ok {
				if t, present := m["max_optimization_threads"]; present && t == nil {
					m["max_optimization_threads"] = "auto"
				}
			}
		}
		// metadata is user data: its nulls are values, not "unset".
		if s.from != "metadata" && s.from != "quantization_config" {
			v = dropNulls(v)
		}
		req[s.to] = v
	}
	out, err := json.Marshal(req)
	if err != nil {
		return nil, nil, fmt.Errorf("encode create request: %w", err)
	}
	slices.Sort(dropped)
	return out, dropped, nil
}

// strictModeDisabled is the PATCH /collections/{c} body that turns strict
// mode off, for a collection kept from an earlier run.
var strictModeDisabled = json.RawMessage(`{"strict_mode_config":{"enabled":false}}`)

// strictModeUpdate is the PATCH /collections/{c} body that applies the
// recorded strict_mode_config, nulls ("not set") left out; nil when the
// backup recorded none.
func strictModeUpdate(config json.RawMessage) (json.RawMessage, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, fmt.Errorf("decode recorded config: %w", err)
	}
	raw, ok := cfg["strict_mode_config"]
	if !ok || isNull(raw) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode recorded strict_mode_config: %w", err)
	}
	v = dropNulls(v)
	if m, ok := v.(map[string]any); !ok || len(m) == 0 {
		return nil, nil
	}
	out, err := json.Marshal(map[string]any{"strict_mode_config": v})
	if err != nil {
		return nil, fmt.Errorf("encode strict mode update: %w", err)
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// dropNulls removes null members of objects, recursively.
func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if x == nil {
				delete(t, k)
				continue
			}
			t[k] = dropNulls(x)
		}
	case []any:
		for i, x := range t {
			t[i] = dropNulls(x)
		}
	}
	return v
}
