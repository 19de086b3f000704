package restore

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestCreateRequestKeepsSparseAndMultivectorConfig(t *testing.T) {
	tests := []struct {
		name, vectors, sparse string
	}{
		{"named dense, multivector and sparse vectors",
			`{"image":{"size":3,"distance":"Cosine","on_disk":false},"colbert":{"size":128,"distance":"Dot","multivector_config":{"comparator":"max_sim"},"datatype":"float16"}}`,
			`{"text":{"modifier":"idf","index":{"on_disk":true,"full_scan_threshold":500,"datatype":"float16"}}}`},
		{"sparse vectors only", `{}`, `{"bm25":{"modifier":"idf"},"splade":{}}`},
		{"an unnamed multivector", `{"size":2,"distance":"Dot","multivector_config":{"comparator":"max_sim"}}`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := `"vectors":` + tt.vectors
			if tt.sparse != "" {
				params += `,"sparse_vectors":` + tt.sparse
			}
			cfg := `{"params":{` + params + `,"shard_number":2,"replication_factor":1,"write_consistency_factor":1,"on_disk_payload":true}}`
			body, _, err := createRequest(json.RawMessage(cfg), 2, 1, 1)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			for key, raw := range map[string]string{"vectors": tt.vectors, "sparse_vectors": tt.sparse} {
				if raw == "" {
					if _, ok := got[key]; ok {
						t.Errorf("%s added: %v", key, got[key])
					}
					continue
				}
				var want any
				if err := json.Unmarshal([]byte(raw), &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got[key], want) {
					t.Errorf("%s = %v, want %v", key, got[key], want)
				}
			}
		})
	}
}
