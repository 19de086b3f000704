package qdrantsim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRESTRefusesWhatQdrantRefuses(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 1)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		status int
		want   string
	}{
		{"missing collection", "GET", "/collections/nope", nil, 404, "Not found: Collection `nope` doesn't exist!"},
		{"existing collection", "PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, 409, "Wrong input: Collection `c` already exists!"},
		{"invalid JSON", "PUT", "/collections/d", "{", 400, "Format error in JSON body: "},
		{"empty body", "POST", "/collections/c/points/scroll", "", 400, "Format error in JSON body: EOF while parsing"},
		{"zero vector size", "PUT", "/collections/d", map[string]any{"vectors": map[string]any{"size": 0, "distance": "Dot"}}, 422, "Validation error in JSON body: "},
		{"unknown distance", "PUT", "/collections/d", map[string]any{"vectors": map[string]any{"size": 3, "distance": "Hamming"}}, 400, "Format error in JSON body: unknown variant `Hamming`"},
		{"scroll limit 0", "POST", "/collections/c/points/scroll", map[string]any{"limit": 0}, 400, "Bad request: Limit cannot be 0"},
		{"wrong dimension", "PUT", "/collections/c/points", map[string]any{"points": []map[string]any{{"id": 1, "vector": []float32{1}}}}, 400, "Wrong input: Vector dimension error: expected dim: 4, got 1"},
		{"bad point id", "PUT", "/collections/c/points", map[string]any{"points": []map[string]any{{"id": "x", "vector": []float32{1, 2, 3, 4}}}}, 400, "is not a valid point ID"},
		{"neither points nor batch", "PUT", "/collections/c/points", map[string]any{}, 400, "Format error in JSON body: data did not match any variant of untagged enum PointInsertOperations"},
		{"bad collection name", "PUT", "/collections/a%3Fb", map[string]any{}, 422, "Validation error in path parameters: "},
		{"missing point", "GET", "/collections/c/points/77", nil, 404, "Not found: No point with id 77 found"},
		{"unknown shard snapshot", "POST", "/collections/c/shards/4/snapshots", nil, 404, "Not found: shard 4 not found"},
		{"resharding", "POST", "/collections/c/cluster", map[string]any{"start_resharding": map[string]any{"direction": "up"}}, 400, "resharding is only supported in Qdrant Cloud"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := cl.errorOf(tc.method, tc.path, tc.body, tc.status); !strings.Contains(msg, tc.want) {
				t.Errorf("got %q, want it to contain %q", msg, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/no/such/route", 404},
		{"DELETE", "/collections/c/points/scroll", 404},
		{"PATCH", "/cluster", 404},
	} {
		if status, body := cl.do(tc.method, tc.path, nil); status != tc.status || len(body) != 0 {
			t.Errorf("%s %s = %d %q, want %d with an empty body", tc.method, tc.path, status, body, tc.status)
		}
	}
}

func TestPointsReadWriteAndScrollOrder(t *testing.T) {
	c := startCluster(t, Options{Peers: 3})
	cl := newClient(t, c.Peers()[1])
	cl.ok("PUT", "/collections/n", map[string]any{"vectors": map[string]any{"a": map[string]any{"size": 2, "distance": "Cosine"}, "b": map[string]any{"size": 3, "distance": "Dot"}}, "shard_number": 3}, nil)
	cl.ok("PUT", "/collections/n/points?wait=true", map[string]any{"batch": map[string]any{
		"ids":      []any{30, "00000000-0000-0000-0000-000000000002", 10, "00000000-0000-0000-0000-000000000001", 20},
		"vectors":  map[string]any{"a": [][]float32{{1, 0}, {0, 1}, {1, 1}, {2, 2}, {3, 3}}},
		"payloads": []map[string]any{{"k": "x"}, {"k": "y"}, {"k": "x"}, nil, {"k": "z", "n": 5}},
	}}, nil)
	var page ScrollResult
	var raw struct {
		Points []struct {
			ID      any            `json:"id"`
			Payload map[string]any `json:"payload"`
			Vector  any            `json:"vector"`
		} `json:"points"`
		NextPageOffset any `json:"next_page_offset"`
	}
	cl.ok("POST", "/collections/n/points/scroll", map[string]any{"limit": 4}, &raw)
	var ids []any
	for _, p := range raw.Points {
		ids = append(ids, p.ID)
	}
	if b, _ := json.Marshal(ids); string(b) != `[10,20,30,"00000000-0000-0000-0000-000000000001"]` {
		t.Errorf("scroll order %s", b)
	}
	if raw.NextPageOffset != "00000000-0000-0000-0000-000000000002" || raw.Points[0].Vector != nil {
		t.Errorf("next offset %v, vector %v", raw.NextPageOffset, raw.Points[0].Vector)
	}
	cl.ok("POST", "/collections/n/points/scroll", map[string]any{"offset": 20, "limit": 1, "with_vector": []string{"a"}, "with_payload": []string{"n"}}, &page)
	if len(page.Points) != 1 || page.Points[0].ID != NumID(20) || page.Points[0].Payload["n"] != float64(5) || page.Points[0].Payload["k"] != nil ||
		string(page.Points[0].Vector) != `{"a":[3,3]}` || page.NextPageOffset == nil || *page.NextPageOffset != NumID(30) {
		t.Errorf("page from offset 20: %+v next %v", page.Points, page.NextPageOffset)
	}
	var n struct{ Count int }
	cl.ok("POST", "/collections/n/points/count", map[string]any{"filter": map[string]any{"must": []any{map[string]any{"key": "k", "match": map[string]any{"value": "x"}}}}}, &n)
	if n.Count != 2 {
		t.Errorf("filtered count %d, want 2", n.Count)
	}
	cl.ok("POST", "/collections/n/points/delete?wait=true", map[string]any{"filter": map[string]any{"must": []any{map[string]any{"key": "k", "match": map[string]any{"value": "x"}}}}}, nil)
	cl.ok("POST", "/collections/n/points/delete", map[string]any{"points": []any{"00000000-0000-0000-0000-000000000001"}}, nil)
	cl.ok("POST", "/collections/n/points/count", map[string]any{}, &n)
	if n.Count != 2 {
		t.Errorf("count after deletes %d, want 2", n.Count)
	}
	var recs []Record
	cl.ok("POST", "/collections/n/points", map[string]any{"ids": []any{20, 10, 20}, "with_vector": true}, &recs)
	if len(recs) != 1 || recs[0].ID != NumID(20) || string(recs[0].Vector) != `{"a":[3,3]}` {
		t.Errorf("retrieve %+v", recs)
	}
	var info CollectionInfo
	cl.ok("GET", "/collections/n", nil, &info)
	if info.PointsCount != 2 || info.Config.Params.ShardNumber != 3 || info.VectorsCount != nil {
		t.Errorf("collection info %+v", info)
	}
}

func TestCollectionConfigIsStoredAndEchoed(t *testing.T) {
	c := startCluster(t, Options{Peers: 2})
	cl := newClient(t, c.Peers()[0])
	cl.ok("PUT", "/collections/cfg", map[string]any{
		"vectors": map[string]any{"size": 8, "distance": "Euclid", "on_disk": true}, "shard_number": 4, "replication_factor": 3,
		"write_consistency_factor": 2, "on_disk_payload": false, "hnsw_config": map[string]any{"m": 32},
		"optimizers_config": map[string]any{"indexing_threshold": 0}, "wal_config": map[string]any{"wal_capacity_mb": 64},
		"quantization_config": map[string]any{"scalar": map[string]any{"type": "int8", "always_ram": true}},
	}, nil)
	cl.ok("PATCH", "/collections/cfg", map[string]any{"params": map[string]any{"replication_factor": 2}, "hnsw_config": map[string]any{"ef_construct": 64}}, nil)
	var raw map[string]any
	cl.ok("GET", "/collections/cfg", nil, &raw)
	cfg := raw["config"].(map[string]any)
	params := cfg["params"].(map[string]any)
	hnsw := cfg["hnsw_config"].(map[string]any)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"vectors.on_disk", params["vectors"].(map[string]any)["on_disk"], true},
		{"shard_number", params["shard_number"], 4.0},
		{"replication_factor", params["replication_factor"], 2.0},
		{"write_consistency_factor", params["write_consistency_factor"], 2.0},
		{"on_disk_payload", params["on_disk_payload"], false},
		{"hnsw m", hnsw["m"], 32.0},
		{"hnsw ef_construct", hnsw["ef_construct"], 64.0},
		{"optimizer indexing_threshold", cfg["optimizer_config"].(map[string]any)["indexing_threshold"], 0.0},
		{"wal capacity", cfg["wal_config"].(map[string]any)["wal_capacity_mb"], 64.0},
		{"quantization", cfg["quantization_config"].(map[string]any)["scalar"].(map[string]any)["type"], "int8"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// Placement caps replicas at the peer count but keeps the requested factor.
	var info CollectionClusterInfo
	cl.ok("GET", "/collections/cfg/cluster", nil, &info)
	if len(info.LocalShards)+len(info.RemoteShards) != 8 {
		t.Errorf("replicas: %d local + %d remote, want 8", len(info.LocalShards), len(info.RemoteShards))
	}
	var exists struct{ Exists bool }
	cl.ok("GET", "/collections/cfg/exists", nil, &exists)
	if !exists.Exists {
		t.Error("exists = false")
	}
}

func TestAliases(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 1)
	cl.ok("POST", "/collections/aliases", map[string]any{"actions": []any{
		map[string]any{"create_alias": map[string]any{"collection_name": "c", "alias_name": "a1"}},
		map[string]any{"create_alias": map[string]any{"collection_name": "c", "alias_name": "a2"}},
		map[string]any{"rename_alias": map[string]any{"old_alias_name": "a2", "new_alias_name": "a3"}},
	}}, nil)
	var res struct{ Aliases []AliasDescription }
	cl.ok("GET", "/aliases", nil, &res)
	if len(res.Aliases) != 2 || res.Aliases[0].AliasName != "a1" || res.Aliases[1].AliasName != "a3" {
		t.Errorf("aliases %+v", res.Aliases)
	}
	upsertN(t, cl, "a1", 3)
	var n struct{ Count int }
	cl.ok("POST", "/collections/a3/points/count", map[string]any{}, &n)
	if n.Count != 4 {
		t.Errorf("count through alias %d", n.Count)
	}
	cl.errorOf("POST", "/collections/aliases", map[string]any{"actions": []any{map[string]any{"delete_alias": map[string]any{"alias_name": "zz"}}}}, 404)
	cl.ok("DELETE", "/collections/c", nil, nil)
	cl.ok("GET", "/aliases", nil, &res)
	if len(res.Aliases) != 0 {
		t.Errorf("aliases survive their collection: %+v", res.Aliases)
	}
}

func TestAuth(t *testing.T) {
	c := startCluster(t, Options{Peers: 1, APIKey: "admin-key", ReadOnlyAPIKey: "ro-key"})
	p := c.Peers()[0]
	admin := newClient(t, p)
	admin.key = "admin-key"
	createCollection(t, admin, "c", 1, 1)
	send := func(method, path, key, bearer string) (int, string, string) {
		req, _ := http.NewRequest(method, p.URL()+path, strings.NewReader(`{}`))
		if key != "" {
			req.Header.Set("api-key", key)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	for _, tc := range []struct {
		name, method, path, key, bearer string
		status                          int
		body                            string
	}{
		{"root is open", "GET", "/", "", "", 200, `"version":"1.19.0"`},
		{"healthz is open", "GET", "/healthz", "", "", 200, ""},
		{"readyz is open", "GET", "/readyz", "", "", 200, ""},
		{"missing key", "GET", "/collections", "", "", 401, "Must provide an API key or an Authorization bearer token"},
		{"wrong key", "GET", "/collections", "nope", "", 401, "Invalid API key or JWT"},
		{"admin key", "GET", "/collections", "admin-key", "", 200, `"collections"`},
		{"bearer token", "GET", "/cluster", "", "admin-key", 200, `"peer_id"`},
		{"read-only reads", "POST", "/collections/c/points/count", "ro-key", "", 200, `"count"`},
		{"read-only lists snapshots", "GET", "/collections/c/snapshots", "ro-key", "", 200, `"result"`},
		{"read-only cannot write", "PUT", "/collections/c/points", "ro-key", "", 403, `{"status":{"error":"Forbidden: `},
		{"read-only cannot stream a shard", "GET", "/collections/c/shards/0/snapshot", "ro-key", "", 403, "Forbidden: "},
		{"read-only cannot recover", "PUT", "/collections/c/shards/0/snapshots/recover", "ro-key", "", 403, "Forbidden: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ctype, body := send(tc.method, tc.path, tc.key, tc.bearer)
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, status, body, tc.status, tc.body)
			}
			if status == 401 && !strings.HasPrefix(ctype, "text/plain") {
				t.Errorf("401 content type %q, want plain text", ctype)
			}
		})
	}
}

func TestPayloadIndexesAreEchoedAndTravelInCollectionSnapshots(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	p := c.Peers()[0]
	cl := newClient(t, p)
	createCollection(t, cl, "c", 1, 1)
	upsertN(t, cl, "c", 9)
	cl.ok("PUT", "/collections/c/index?wait=true", map[string]any{"field_name": "group", "field_schema": "keyword"}, nil)
	cl.ok("PUT", "/collections/c/index", map[string]any{"field_name": "n", "field_schema": map[string]any{"type": "integer", "range": true}}, nil)
	cl.errorOf("PUT", "/collections/c/index", map[string]any{"field_name": "x", "field_schema": "vector"}, 400)
	var info struct {
		PayloadSchema map[string]PayloadIndexInfo `json:"payload_schema"`
	}
	cl.ok("GET", "/collections/c", nil, &info)
	if g := info.PayloadSchema["group"]; g.DataType != "keyword" || g.Points != 9 {
		t.Errorf("group index %+v", g)
	}
	if n := info.PayloadSchema["n"]; n.DataType != "integer" || len(n.Params) == 0 {
		t.Errorf("n index %+v", n)
	}
	var d SnapshotDescription
	cl.ok("POST", "/collections/c/snapshots", nil, &d)
	cl.ok("PUT", "/collections/copy/snapshots/recover", map[string]any{"location": "file://" + p.snapshotRoot() + "/c/" + d.Name}, nil)
	info.PayloadSchema = nil
	cl.ok("GET", "/collections/copy", nil, &info)
	if len(info.PayloadSchema) != 2 {
		t.Errorf("recovered collection's payload schema %+v", info.PayloadSchema)
	}
	cl.ok("DELETE", "/collections/c/index/group", nil, nil)
	info.PayloadSchema = nil
	cl.ok("GET", "/collections/c", nil, &info)
	if _, ok := info.PayloadSchema["group"]; ok {
		t.Error("deleted index still listed")
	}
}

func TestScrollPagesThroughEveryPointInOrder(t *testing.T) {
	c := startCluster(t, Options{Peers: 2})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 5, 1)
	var pts []map[string]any
	want := map[string]bool{}
	for i := 0; i < 400; i++ {
		id := (i * 7919) % 100003
		pts = append(pts, map[string]any{"id": id, "vector": []float32{1, 2, 3, 4}})
		want[itoa(int64(id))] = true
	}
	cl.ok("PUT", "/collections/c/points?wait=true", map[string]any{"points": pts}, nil)
	last := int64(-1)
	seen := 0
	for _, raw := range allPoints(t, cl, "c") {
		var rec struct{ ID int64 }
		json.Unmarshal(raw, &rec)
		if rec.ID <= last || !want[itoa(rec.ID)] {
			t.Fatalf("id %d after %d", rec.ID, last)
		}
		last = rec.ID
		seen++
	}
	if seen != len(want) {
		t.Errorf("scrolled %d points, want %d", seen, len(want))
	}
}
