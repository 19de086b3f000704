package qdrantsim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// mixedCollection is a collection with a dense, a multivector and a
// sparse named vector.
var mixedCollection = map[string]any{
	"vectors": map[string]any{
		"image":   map[string]any{"size": 3, "distance": "Cosine"},
		"colbert": map[string]any{"size": 2, "distance": "Dot", "multivector_config": map[string]any{"comparator": "max_sim"}},
	},
	"sparse_vectors": map[string]any{
		"text":  map[string]any{"modifier": "idf"},
		"title": map[string]any{"index": map[string]any{"on_disk": true, "full_scan_threshold": 500}},
	},
}

// mixedPoint is point id's vectors in the REST shape, sparse indices out
// of order as a client may send them.
func mixedPoint(id int) map[string]any {
	f := float32(id)
	return map[string]any{
		"image":   []float32{f, 1, 2},
		"colbert": [][]float32{{f, 0.5}, {1, f}, {0.25, 2}},
		"text":    map[string]any{"indices": []uint32{uint32(id) + 10, 3, 7}, "values": []float32{f, 0.5, 1.5}},
	}
}

func createMixed(t *testing.T, c client, name string, shards, rf, n int) {
	t.Helper()
	body := map[string]any{"shard_number": shards, "replication_factor": rf}
	for k, v := range mixedCollection {
		body[k] = v
	}
	c.ok("PUT", "/collections/"+name, body, nil)
	if n == 0 {
		return
	}
	var pts []map[string]any
	for i := 1; i <= n; i++ {
		pts = append(pts, map[string]any{"id": i, "vector": mixedPoint(i), "payload": map[string]any{"n": i}})
	}
	c.ok("PUT", "/collections/"+name+"/points?wait=true", map[string]any{"points": pts}, nil)
}

func TestSparseAndMultiVectorsAreStoredAndReadBack(t *testing.T) {
	c := startCluster(t, Options{Peers: 2})
	cl := newClient(t, c.Peers()[0])
	createMixed(t, cl, "mixed", 2, 1, 5)

	var rec struct {
		Vector map[string]json.RawMessage `json:"vector"`
	}
	cl.ok("GET", "/collections/mixed/points/2", nil, &rec)
	want := map[string]string{
		"image":   `[2,1,2]`,
		"colbert": `[[2,0.5],[1,2],[0.25,2]]`,
		// Qdrant stores sparse vectors sorted by index.
		"text": `{"indices":[3,7,12],"values":[0.5,1.5,2]}`,
	}
	if len(rec.Vector) != len(want) {
		t.Errorf("point 2 has vectors %v, want %v", rec.Vector, want)
	}
	for name, w := range want {
		if got := string(rec.Vector[name]); got != w {
			t.Errorf("vector %q = %s, want %s", name, got, w)
		}
	}

	// A read may select vectors by name, sparse ones included.
	var page struct {
		Points []struct {
			Vector map[string]json.RawMessage `json:"vector"`
		} `json:"points"`
	}
	cl.ok("POST", "/collections/mixed/points/scroll", map[string]any{"limit": 1, "with_vector": []string{"text"}}, &page)
	if len(page.Points) != 1 || len(page.Points[0].Vector) != 1 || page.Points[0].Vector["text"] == nil {
		t.Errorf("with_vector [text]: %+v", page.Points)
	}

	// A point may leave named vectors out, and a dense vector given for a
	// multivector name is stored as a multivector of one.
	cl.ok("PUT", "/collections/mixed/points?wait=true", map[string]any{"batch": map[string]any{
		"ids": []int{40, 41}, "vectors": map[string]any{
			"colbert": []any{[]float32{1, 2}, [][]float32{{3, 4}}},
			"title":   []any{map[string]any{"indices": []int{5}, "values": []float32{1}}, map[string]any{"indices": []int{}, "values": []float32{}}},
		}}}, nil)
	rec.Vector = nil
	cl.ok("GET", "/collections/mixed/points/40", nil, &rec)
	if got := string(rec.Vector["colbert"]); got != `[[1,2]]` || len(rec.Vector) != 2 {
		t.Errorf("point 40 vectors %v, want colbert [[1,2]] and title", rec.Vector)
	}

	// The config is echoed as given.
	var info CollectionInfo
	cl.ok("GET", "/collections/mixed", nil, &info)
	var got, wantCfg any
	json.Unmarshal(info.Config.Params.SparseVectors, &got)
	raw, _ := json.Marshal(mixedCollection["sparse_vectors"])
	json.Unmarshal(raw, &wantCfg)
	if !reflect.DeepEqual(got, wantCfg) {
		t.Errorf("sparse_vectors echoed as %s, want %s", info.Config.Params.SparseVectors, raw)
	}
	if !strings.Contains(string(info.Config.Params.Vectors), `"multivector_config":{"comparator":"max_sim"}`) {
		t.Errorf("vectors echoed as %s", info.Config.Params.Vectors)
	}
}

func TestSparseOnlyCollectionTakesPointsWithoutDenseVectors(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	cl := newClient(t, c.Peers()[0])
	cl.ok("PUT", "/collections/bm25", map[string]any{"sparse_vectors": map[string]any{"bm25": map[string]any{"modifier": "idf"}}}, nil)
	cl.ok("PUT", "/collections/bm25/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": 1, "vector": map[string]any{"bm25": map[string]any{"indices": []int{9, 2}, "values": []float32{0.1, 0.2}}}},
		map[string]any{"id": 2, "vector": map[string]any{}},
	}}, nil)
	var recs []struct {
		Vector json.RawMessage `json:"vector"`
	}
	cl.ok("POST", "/collections/bm25/points", map[string]any{"ids": []int{1, 2}, "with_vector": true}, &recs)
	if len(recs) != 2 || string(recs[0].Vector) != `{"bm25":{"indices":[2,9],"values":[0.2,0.1]}}` || string(recs[1].Vector) != `{}` {
		t.Errorf("sparse-only points read back as %+v", recs)
	}
	var info CollectionInfo
	cl.ok("GET", "/collections/bm25", nil, &info)
	if string(info.Config.Params.Vectors) != `{}` {
		t.Errorf("params.vectors of a sparse-only collection = %s, want {}", info.Config.Params.Vectors)
	}
}

func TestVectorValidationAnswersAsQdrant(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	cl := newClient(t, c.Peers()[0])
	createMixed(t, cl, "mixed", 1, 1, 0)
	point := func(vec any) map[string]any {
		return map[string]any{"points": []any{map[string]any{"id": 1, "vector": vec}}}
	}
	sparse := func(idx []int, vals []float32) map[string]any { return map[string]any{"indices": idx, "values": vals} }
	tests := []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"sparse values fewer than indices", point(map[string]any{"text": sparse([]int{1, 2}, []float32{1})}), 422,
			"Validation error in JSON body: [points[0].vector.?.values: Validation error: must be the same length as indices [{}]]"},
		{"sparse indices repeated", point(map[string]any{"text": sparse([]int{4, 4}, []float32{1, 2})}), 422,
			"Validation error in JSON body: [points[0].vector.?.indices: Validation error: must be unique [{}]]"},
		{"multivector of ragged vectors", point(map[string]any{"colbert": [][]float32{{1, 2}, {1}}}), 422,
			"Validation error in JSON body: [points[0].vector.?.data: all vectors must have the same dimension, found vector with dimension 1]"},
		{"empty multivector", point(map[string]any{"colbert": [][]float32{}}), 422,
			// [] reads as an empty dense vector first (untagged enum
			// order), which 1.18.3+ refuse in validation.
			"Validation error in JSON body: [points[0].vector.?.vector: dense vector must not be empty]"},
		{"multivector holding an empty vector", point(map[string]any{"colbert": [][]float32{{1, 2}, {}}}), 422,
			"Validation error in JSON body: [points[0].vector.?.data: all vectors must be non-empty]"},
		{"multivector of the wrong dimension", point(map[string]any{"colbert": [][]float32{{1, 2, 3}}}), 400,
			"Wrong input: Vector dimension error: expected dim: 2, got 3"},
		{"multivector for a dense name", point(map[string]any{"image": [][]float32{{1, 2, 3}}}), 400,
			"Wrong input: Wrong usage of multi vectors"},
		{"dense vector for a sparse name", point(map[string]any{"text": []float32{1, 2}}), 400,
			"Wrong input: Wrong usage of sparse vectors"},
		{"sparse vector for a dense name", point(map[string]any{"image": sparse([]int{1}, []float32{1})}), 400,
			"Wrong input: Wrong usage of sparse vectors"},
		{"multivector for a sparse name", point(map[string]any{"text": [][]float32{{1}}}), 400,
			"Wrong input: Wrong usage of multi vectors"},
		{"sparse vector with null indices", point(map[string]any{"text": map[string]any{"indices": nil, "values": []float32{}}}), 400,
			"Format error in JSON body: data did not match any variant of untagged enum VectorStruct"},
		{"unknown vector name", point(map[string]any{"nope": []float32{1}}), 400,
			"Wrong input: Not existing vector name error: nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cl.errorOf("PUT", "/collections/mixed/points?wait=true", tt.body, tt.status); got != tt.msg {
				t.Errorf("message %q, want %q", got, tt.msg)
			}
		})
	}
	var n struct{ Count int }
	cl.ok("POST", "/collections/mixed/points/count", map[string]any{"exact": true}, &n)
	if n.Count != 0 {
		t.Errorf("refused upserts stored %d points", n.Count)
	}

	configs := []struct {
		name string
		body map[string]any
		msg  string
	}{
		{"unknown comparator", map[string]any{"vectors": map[string]any{"m": map[string]any{"size": 2, "distance": "Dot", "multivector_config": map[string]any{"comparator": "min_sim"}}}},
			"Format error in JSON body: unknown variant `min_sim`, expected `max_sim`"},
		{"comparator missing", map[string]any{"vectors": map[string]any{"m": map[string]any{"size": 2, "distance": "Dot", "multivector_config": map[string]any{}}}},
			"Format error in JSON body: missing field `comparator`"},
		{"unknown modifier", map[string]any{"sparse_vectors": map[string]any{"s": map[string]any{"modifier": "bm25"}}},
			"Format error in JSON body: unknown variant `bm25`, expected `none` or `idf`"},
	}
	for _, tt := range configs {
		t.Run(tt.name, func(t *testing.T) {
			if got := cl.errorOf("PUT", "/collections/bad", tt.body, 400); got != tt.msg {
				t.Errorf("message %q, want %q", got, tt.msg)
			}
		})
	}
}

func TestSparseAndMultiVectorsTravelInSnapshotsAndTransfers(t *testing.T) {
	c := startCluster(t, Options{Peers: 3})
	cl := newClient(t, c.Peers()[0])
	createMixed(t, cl, "mixed", 1, 1, 12)
	before := canon(t, allPoints(t, cl, "mixed"))

	// A replica copied by a transfer holds the same vectors.
	src := holders(c, "mixed", 0)[0]
	dst := nonHolder(c, "mixed", 0)
	cl.ok("POST", "/collections/mixed/cluster", map[string]any{"replicate_shard": map[string]any{
		"shard_id": 0, "from_peer_id": src, "to_peer_id": dst.ID()}}, nil)
	waitFor(t, "replica Active on the new peer", func() bool { return stateOf(c, "mixed", 0, dst.ID()) == StateActive })
	cl.ok("POST", "/collections/mixed/cluster", map[string]any{"drop_replica": map[string]any{"shard_id": 0, "peer_id": src}}, nil)
	waitFor(t, "old replica dropped", func() bool { return len(holders(c, "mixed", 0)) == 1 })
	if after := canon(t, allPoints(t, cl, "mixed")); !reflect.DeepEqual(before, after) {
		t.Fatalf("points differ after the transfer:\nbefore %v\nafter  %v", before, after)
	}

	// A shard snapshot recovered into a recreated collection restores them.
	data := snapshotShard(t, c, "mixed", 0, false)
	cl.ok("DELETE", "/collections/mixed", nil, nil)
	createMixed(t, cl, "mixed", 1, 1, 0)
	sum := sha256.Sum256(data)
	target := peerByID(c, holders(c, "mixed", 0)[0])
	if status, body := uploadShard(t, newClient(t, target), "mixed", 0, data, "priority=snapshot&checksum="+hex.EncodeToString(sum[:])); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	if after := canon(t, allPoints(t, cl, "mixed")); !reflect.DeepEqual(before, after) {
		t.Fatalf("points differ after recovery:\nbefore %v\nafter  %v", before, after)
	}
}
