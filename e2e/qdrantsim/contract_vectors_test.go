package qdrantsim_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// TestRESTContractSparseAndMultiVectors checks the sparse and multivector
// shapes (config, upserts in list and batch form, reads) against Qdrant's
// OpenAPI document of each contract version.
func TestRESTContractSparseAndMultiVectors(t *testing.T) {
	for _, version := range contractVersions {
		t.Run(version, func(t *testing.T) {
			sim := startSim(t, qdrantsim.Options{Peers: 2, Version: version})
			hc, _ := validatingClient(t, version)
			c := rest{t: t, client: hc}.on(sim.Peers()[0])

			c.ok("PUT", "/collections/mixed", map[string]any{
				"vectors": map[string]any{
					"image":   map[string]any{"size": 3, "distance": "Cosine"},
					"colbert": map[string]any{"size": 2, "distance": "Dot", "multivector_config": map[string]any{"comparator": "max_sim"}},
				},
				"sparse_vectors": map[string]any{
					"text": map[string]any{"modifier": "idf", "index": map[string]any{"on_disk": true, "full_scan_threshold": 100}},
				},
				"shard_number": 2,
			})
			c.ok("PUT", "/collections/bm25", map[string]any{"sparse_vectors": map[string]any{"bm25": map[string]any{}}})
			c.ok("PUT", "/collections/mixed/points?wait=true", map[string]any{"points": []any{
				map[string]any{"id": 1, "payload": map[string]any{"n": 1}, "vector": map[string]any{
					"image":   []float32{1, 2, 3},
					"colbert": [][]float32{{1, 2}, {3, 4}},
					"text":    map[string]any{"indices": []int{7, 2}, "values": []float32{0.7, 0.2}},
				}},
				map[string]any{"id": 2, "vector": map[string]any{"text": map[string]any{"indices": []int{}, "values": []float32{}}}},
			}})
			c.ok("PUT", "/collections/mixed/points?wait=true", map[string]any{"batch": map[string]any{
				"ids": []int{3, 4}, "vectors": map[string]any{
					"colbert": []any{[][]float32{{5, 6}}, [][]float32{{7, 8}, {9, 10}}},
					"text":    []any{map[string]any{"indices": []int{1}, "values": []float32{1}}, map[string]any{"indices": []int{2}, "values": []float32{2}}},
				}}})
			c.ok("PUT", "/collections/bm25/points?wait=true", map[string]any{"points": []any{
				map[string]any{"id": 1, "vector": map[string]any{"bm25": map[string]any{"indices": []int{3}, "values": []float32{0.3}}}}}})

			var page struct {
				Points []struct {
					ID     int                        `json:"id"`
					Vector map[string]json.RawMessage `json:"vector"`
				} `json:"points"`
			}
			c.do("POST", "/collections/mixed/points/scroll", map[string]any{"limit": 10, "with_vector": true, "with_payload": true}).decode(t, &page)
			if len(page.Points) != 4 || string(page.Points[0].Vector["text"]) != `{"indices":[2,7],"values":[0.2,0.7]}` {
				t.Errorf("scroll: %+v", page.Points)
			}
			c.ok("POST", "/collections/mixed/points/scroll", map[string]any{"limit": 10, "with_vector": []string{"colbert", "text"}})
			c.ok("POST", "/collections/mixed/points", map[string]any{"ids": []int{1, 4}, "with_vector": true})
			c.ok("GET", "/collections/mixed/points/1", nil)
			c.ok("POST", "/collections/bm25/points/scroll", map[string]any{"with_vector": true})
			c.ok("GET", "/collections/mixed", nil)
			c.ok("GET", "/collections/bm25", nil)

			// A refusal is still a documented response.
			r := c.do("PUT", "/collections/mixed/points?wait=true", map[string]any{"points": []any{
				map[string]any{"id": 9, "vector": map[string]any{"text": map[string]any{"indices": []int{1, 1}, "values": []float32{1, 2}}}}}})
			if _, msg := r.envelope(t); r.status != http.StatusUnprocessableEntity || msg != "Validation error in JSON body: [points[0].vector.?.indices: Validation error: must be unique [{}]]" {
				t.Errorf("duplicate sparse indices: %d %q", r.status, msg)
			}
		})
	}
}
