package qdrant

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestCreateCollectionBodyFromARecordedConfig(t *testing.T) {
	var env struct {
		Result struct {
			Config json.RawMessage `json:"config"`
		} `json:"result"`
	}
	if err := json.Unmarshal(fixture(t, "collection_info.json"), &env); err != nil {
		t.Fatal(err)
	}
	rf := uint32(1)
	body, dropped, err := CreateCollectionBody(env.Result.Config, CreateOverrides{ReplicationFactor: &rf})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"vectors", "sparse_vectors", "shard_number", "sharding_method", "write_consistency_factor",
		"on_disk_payload", "hnsw_config", "optimizers_config", "wal_config", "quantization_config", "strict_mode_config"} {
		if _, ok := got[k]; !ok {
			t.Errorf("body lacks %s: %s", k, body)
		}
	}
	if got["replication_factor"] != 1.0 || got["shard_number"] != 3.0 || got["sharding_method"] != "custom" {
		t.Fatalf("params %s", body)
	}
	if _, ok := got["optimizer_config"]; ok {
		t.Error("optimizer_config must be renamed to optimizers_config")
	}
	if !reflect.DeepEqual(dropped, []string{"future_setting"}) {
		t.Fatalf("dropped %v", dropped)
	}

	min, _ := json.Marshal(map[string]any{"params": map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}, "read_fan_out_factor": 2}, "quantization_config": nil})
	body, dropped, err = CreateCollectionBody(min, CreateOverrides{})
	if err != nil || string(body) != `{"vectors":{"distance":"Dot","size":4}}` || !reflect.DeepEqual(dropped, []string{"params.read_fan_out_factor"}) {
		t.Fatalf("minimal: %s %v %v", body, dropped, err)
	}
	if _, _, err := CreateCollectionBody(json.RawMessage(`{"params":{}}`), CreateOverrides{}); err == nil {
		t.Fatal("a config without vectors was accepted")
	}
}
