package qdrant

import (
	"encoding/json"
	"fmt"
	"slices"
)

// CreateOverrides change what CreateCollectionBody takes from a recorded
// config; nil keeps the recorded value.
type CreateOverrides struct {
	ShardNumber            *uint32
	ReplicationFactor      *uint32
	WriteConsistencyFactor *uint32
}

// createParams are the config.params keys that PUT /collections/{c}
// accepts at the top level (1.15–1.19; "payload" since 1.19).
var createParams = []string{
	"vectors", "sparse_vectors", "shard_number", "sharding_method", "replication_factor",
	"write_consistency_factor", "on_disk_payload", "payload",
}

// createSections maps config sections to their create-body names: Qdrant
// reports "optimizer_config" but takes "optimizers_config".
var createSections = map[string]string{
	"hnsw_config":         "hnsw_config",
	"wal_config":          "wal_config",
	"optimizer_config":    "optimizers_config",
	"quantization_config": "quantization_config",
	"strict_mode_config":  "strict_mode_config",
	"metadata":            "metadata",
}

// CreateCollectionBody turns a recorded CollectionInfo.Config (result.config
// of GET /collections/{c}) into the body of PUT /collections/{c} that
// recreates the collection with the same settings. It returns the config
// keys it could not carry over, sorted, for the caller to warn about:
// params.read_fan_out_factor and read_fan_out_delay_ms (set only by
// PATCH), and keys of a newer Qdrant this tool does not know. Null
// sections are left out (Qdrant's defaults apply, as they did).
func CreateCollectionBody(config json.RawMessage, o CreateOverrides) (json.RawMessage, []string, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, nil, fmt.Errorf("collection config: %w", err)
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(cfg["params"], &params); err != nil || params == nil {
		return nil, nil, fmt.Errorf("collection config has no params object")
	}
	if _, ok := params["vectors"]; !ok {
		// An empty vectors map is valid (sparse-only); absence is not.
		return nil, nil, fmt.Errorf("collection config has no params.vectors")
	}
	body := map[string]json.RawMessage{}
	var dropped []string
	for k, v := range params {
		switch {
		case isNull(v):
		case slices.Contains(createParams, k):
			body[k] = v
		default:
			dropped = append(dropped, "params."+k)
		}
	}
	for k, v := range cfg {
		if k == "params" {
			continue
		}
		name, ok := createSections[k]
		switch {
		case !ok:
			dropped = append(dropped, k)
		case !isNull(v):
			body[name] = v
		}
	}
	for key, v := range map[string]*uint32{"shard_number": o.ShardNumber, "replication_factor": o.ReplicationFactor, "write_consistency_factor": o.WriteConsistencyFactor} {
		if v != nil {
			body[key] = json.RawMessage(fmt.Sprint(*v))
		}
	}
	out, err := json.Marshal(body) // map keys are sorted: a stable body
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(dropped)
	return out, dropped, nil
}

func isNull(v json.RawMessage) bool { return len(v) == 0 || string(v) == "null" }
