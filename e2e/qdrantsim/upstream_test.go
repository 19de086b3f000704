package qdrantsim

// Contract tests stating, for the simulator, the facts Qdrant's own REST
// suite (tests/openapi of Qdrant's repository, tag v1.19.0) checks against
// real Qdrant. Each test names the upstream test it answers and the Qdrant
// source that implements the behaviour; UPSTREAM_TESTS.md maps the whole
// suite.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// basicCollectionSetup is tests/openapi/helpers/collection_setup.py
// basic_collection_setup: an unnamed 4-dim Dot vector plus the sparse
// vector "sparse-text", eight dense points and two points that carry only
// the sparse vector.
func basicCollectionSetup(t *testing.T, c client, name string) {
	t.Helper()
	if status, raw := c.do("DELETE", "/collections/"+name, nil); status != http.StatusOK {
		t.Fatalf("drop %s = %d %s", name, status, raw)
	}
	c.ok("PUT", "/collections/"+name, map[string]any{
		"sharding_method": nil,
		"vectors":         map[string]any{"size": 4, "distance": "Dot", "on_disk": false},
		"sparse_vectors":  map[string]any{"sparse-text": map[string]any{}},
		"on_disk_payload": false,
		"wal_config":      map[string]any{"wal_capacity_mb": nil},
	}, nil)
	c.ok("GET", "/collections/"+name, nil, nil)
	c.ok("PUT", "/collections/"+name+"/points?wait=true", json.RawMessage(`{"points": [
		{"id": 1, "vector": [0.05, 0.61, 0.76, 0.74], "payload": {"city": "Berlin", "price": 10.0}},
		{"id": 2, "vector": [0.19, 0.81, 0.75, 0.11], "payload": {"city": ["Berlin", "London"], "price": 11.0}},
		{"id": 3, "vector": [0.36, 0.55, 0.47, 0.94], "payload": {"city": ["Berlin", "Moscow"], "price": 9.5}},
		{"id": 4, "vector": [0.18, 0.01, 0.85, 0.80], "payload": {"city": ["London", "Moscow"], "price": 9}},
		{"id": 5, "vector": [0.24, 0.18, 0.22, 0.44], "payload": {"count": 0}},
		{"id": 6, "vector": [0.35, 0.08, 0.11, 0.44]},
		{"id": 7, "vector": [0.25, 0.98, 0.14, 0.43], "payload": {"city": null, "price": null}},
		{"id": 8, "vector": [0.79, 0.53, 0.72, 0.15], "payload": {"city": [], "price": []}},
		{"id": 9, "vector": {"sparse-text": {"indices": [66, 12], "values": [0.5, 0.5]}}},
		{"id": 10, "vector": {"sparse-text": {"indices": [1, 2, 3], "values": [0.1, 0.2, 0.3]}}, "payload": {"city": [], "price": []}}
	]}`), nil)
}

// rawJSON marshals a request body that must keep explicit nulls.
func rawJSON(s string) json.RawMessage { return json.RawMessage(s) }

// getRecord reads one point with its vectors and payload.
func getRecord(t *testing.T, c client, coll string, id int) map[string]any {
	t.Helper()
	var rec map[string]any
	c.ok("GET", "/collections/"+coll+"/points/"+itoa(int64(id)), nil, &rec)
	return rec
}

// collectionConfigOf returns result.config of GET /collections/{c}.
func collectionConfigOf(t *testing.T, c client, coll string) map[string]any {
	t.Helper()
	var info map[string]any
	c.ok("GET", "/collections/"+coll, nil, &info)
	cfg, _ := info["config"].(map[string]any)
	if cfg == nil {
		t.Fatalf("collection info of %s has no config: %v", coll, info)
	}
	return cfg
}

func wantContains(t *testing.T, what, got string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Errorf("%s = %q, want it to contain %q", what, got, p)
		}
	}
}

// TestUpstreamFixtureTakesSparseOnlyPoints: every upstream test that uses
// basic_collection_setup depends on points 9 and 10, which carry only the
// sparse vector of a collection that also has an unnamed dense vector;
// Qdrant stores them without a dense vector (vectors are optional per point,
// lib/segment/src/segment/entry.rs upsert_point) and returns only what they
// have.
func TestUpstreamFixtureTakesSparseOnlyPoints(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	var n struct {
		Count int `json:"count"`
	}
	c.ok("POST", "/collections/test_collection/points/count", map[string]any{"exact": true}, &n)
	if n.Count != 10 {
		t.Fatalf("count = %d, want 10", n.Count)
	}
	rec := getRecord(t, c, "test_collection", 9)
	vec, _ := rec["vector"].(map[string]any)
	if _, ok := vec["sparse-text"]; !ok || len(vec) != 1 {
		t.Errorf("point 9 vector = %v, want only sparse-text", rec["vector"])
	}
	rec = getRecord(t, c, "test_collection", 1)
	if _, ok := rec["vector"].([]any); !ok {
		t.Errorf("point 1 vector = %v, want the unnamed dense vector", rec["vector"])
	}
}

// TestUpstreamReadyz: tests/openapi/test_k8s_health.py. /healthz and
// /livez answer "healthz check passed", /readyz "all shards are ready"
// (src/actix/api/service_api.rs readyz).
func TestUpstreamReadyz(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	for path, want := range map[string]string{"/healthz": "healthz check passed", "/livez": "healthz check passed",
		"/readyz": "all shards are ready"} {
		resp, err := http.Get(cl.Peers()[0].URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_, _ = readAllTo(&b, resp)
		if resp.StatusCode != http.StatusOK || b.String() != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, resp.StatusCode, b.String(), want)
		}
	}
}

func readAllTo(b *strings.Builder, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	return io.Copy(b, resp.Body)
}

// TestUpstreamSnapshotFileURI: test_snapshot.py test_snapshot_invalid_file_uri
// and the recovery half of test_collection_snapshot_security. The file://
// branch of download_snapshot (lib/storage/src/content_manager/snapshots/
// download.rs) refuses a host other than localhost, then a missing file,
// and only then a file outside the snapshots directory; none of it needs
// the collection to exist.
func TestUpstreamSnapshotFileURI(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	const path = "/collections/somethingthatdoesnotexist/snapshots/recover"
	for _, tc := range []struct {
		location string
		status   int
		msg      string
		prefix   bool
	}{
		{"file://whatever.snapshot", 400, "Bad request: Invalid snapshot URI, file path must be absolute or on localhost", false},
		{"file:///whatever.snapshot", 400, `Bad request: Snapshot file "/whatever.snapshot" does not exist`, false},
		{"file://localhost/whatever.snapshot", 400, `Bad request: Snapshot file "/whatever.snapshot" does not exist`, false},
		{"file:///etc/passwd", 403, "Forbidden: Snapshot file path must be inside the snapshots directory", true},
		{"file://./etc/passwd", 400, "Bad request: Invalid snapshot URI, file path must be absolute or on localhost", false},
	} {
		msg := c.errorOf("PUT", path, map[string]any{"location": tc.location}, tc.status)
		if (tc.prefix && !strings.HasPrefix(msg, tc.msg)) || (!tc.prefix && msg != tc.msg) {
			t.Errorf("recover from %s: %q, want %q", tc.location, msg, tc.msg)
		}
	}
	if ok, _ := cl.Peers()[0].CollectionExists(t.Context(), "somethingthatdoesnotexist"); ok {
		t.Error("a refused recovery created the collection")
	}
}

// TestUpstreamAliasAndCollectionNames: test_alias.py. An alias cannot take
// a collection's name (409, lib/storage/src/content_manager/alias_mapping
// via toc/collection_meta_ops.rs), a collection cannot take an alias's name
// (400 bad input, toc/create_collection.rs), and aliases are listed
// globally and per collection until deleted.
func TestUpstreamAliasAndCollectionNames(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	basicCollectionSetup(t, c, "test_collection_2")
	alias := func(action string, body map[string]any) map[string]any {
		return map[string]any{"actions": []any{map[string]any{action: body}}}
	}
	c.errorOf("POST", "/collections/aliases", alias("create_alias", map[string]any{
		"alias_name": "test_collection_2", "collection_name": "test_collection"}), 409)

	c.ok("DELETE", "/collections/test_collection_3", nil, nil)
	c.ok("POST", "/collections/aliases", alias("create_alias", map[string]any{
		"alias_name": "test_collection_3", "collection_name": "test_collection"}), nil)
	var list struct {
		Aliases []AliasDescription `json:"aliases"`
	}
	c.ok("GET", "/aliases", nil, &list)
	if len(list.Aliases) != 1 || list.Aliases[0].AliasName != "test_collection_3" || list.Aliases[0].CollectionName != "test_collection" {
		t.Fatalf("aliases = %+v", list.Aliases)
	}
	msg := c.errorOf("PUT", "/collections/test_collection_3", map[string]any{
		"vectors": map[string]any{"size": 4, "distance": "Dot"}}, 400)
	if want := "Wrong input: Can't create collection with name test_collection_3. Alias with the same name already exists"; msg != want {
		t.Errorf("collection named like an alias: %q, want %q", msg, want)
	}
	c.ok("GET", "/collections/test_collection/aliases", nil, &list)
	if len(list.Aliases) != 1 || list.Aliases[0].AliasName != "test_collection_3" {
		t.Errorf("collection aliases = %+v", list.Aliases)
	}
	// Reads through the alias reach the collection until it is deleted.
	c.ok("POST", "/collections/test_collection_3/points/scroll", map[string]any{"limit": 3}, nil)
	c.ok("POST", "/collections/aliases", alias("delete_alias", map[string]any{"alias_name": "test_collection_3"}), nil)
	c.ok("GET", "/aliases", nil, &list)
	if len(list.Aliases) != 0 {
		t.Errorf("aliases after delete = %+v", list.Aliases)
	}
	c.errorOf("POST", "/collections/test_collection_3/points/scroll", map[string]any{"limit": 3}, 404)
}

// TestUpstreamCollectionMetadataPatch: test_collection_metadata.py. PATCH
// metadata merges key by key and a null removes the key (Payload::merge,
// lib/segment/src/common/utils.rs merge_map, applied by update_metadata in
// lib/collection/src/collection/collection_ops.rs).
func TestUpstreamCollectionMetadataPatch(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	for _, body := range []string{`{"metadata": {"new_meta": "value"}}`, `{"metadata": {"new_meta_2": "value2"}}`,
		`{"metadata": {"new_meta": "value3"}}`, `{"metadata": {"new_meta_2": null}}`} {
		c.ok("PATCH", "/collections/test_collection", rawJSON(body), nil)
	}
	got, _ := json.Marshal(collectionConfigOf(t, c, "test_collection")["metadata"])
	if string(got) != `{"new_meta":"value3"}` {
		t.Errorf("metadata = %s, want {\"new_meta\":\"value3\"}", got)
	}
}

// TestUpstreamCollectionUpdatePatch: test_collection_update.py
// test_edit_collection_params, the strict-mode half of test_strictmode.py
// test_strict_mode_rate_limit_update (a null leaves the limit in place) and
// the Disabled quantization of test_vector_config.py. Config diffs only
// change what they set (DiffConfig::update in lib/collection/src/
// operations/config_diff.rs); per vector, hnsw_config merges,
// quantization_config replaces and "Disabled" removes it
// (update_vectors_from_diff in lib/collection/src/config.rs); a null
// collection quantization changes nothing, "Disabled" clears it
// (collection_ops.rs update_quantization_config_from_diff).
func TestUpstreamCollectionUpdatePatch(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	cfg := collectionConfigOf(t, c, "test_collection")
	if v := dig(cfg, "params", "vectors"); dig(v, "hnsw_config") != nil || dig(v, "quantization_config") != nil || dig(v, "on_disk") != false {
		t.Errorf("fresh vector params = %v", v)
	}
	if dig(cfg, "hnsw_config", "m") != 16.0 || dig(cfg, "hnsw_config", "ef_construct") != 100.0 || cfg["quantization_config"] != nil {
		t.Errorf("fresh config = %v", cfg)
	}
	c.ok("PATCH", "/collections/test_collection", rawJSON(`{
		"vectors": {"": {"hnsw_config": {"m": 32}, "quantization_config": {"scalar": {"type": "int8", "quantile": 0.8}}, "on_disk": true}},
		"hnsw_config": {"ef_construct": 123},
		"quantization_config": {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": true}},
		"params": {"on_disk_payload": true}}`), nil)
	c.ok("PATCH", "/collections/test_collection", rawJSON(`{
		"vectors": {"": {"hnsw_config": {"m": 10, "ef_construct": 100}, "quantization_config": {"product": {"compression": "x32", "always_ram": true}}, "on_disk": false}},
		"quantization_config": null, "hnsw_config": {"m": null}}`), nil)
	cfg = collectionConfigOf(t, c, "test_collection")
	vec := dig(cfg, "params", "vectors")
	for _, tc := range []struct {
		what string
		got  any
		want any
	}{
		{"vector hnsw m", dig(vec, "hnsw_config", "m"), 10.0},
		{"vector hnsw ef_construct", dig(vec, "hnsw_config", "ef_construct"), 100.0},
		{"vector quantization replaced", dig(vec, "quantization_config", "scalar"), nil},
		{"vector quantization product", dig(vec, "quantization_config", "product", "compression"), "x32"},
		{"vector on_disk", dig(vec, "on_disk"), false},
		{"on_disk_payload", dig(cfg, "params", "on_disk_payload"), true},
		{"collection hnsw m kept by null", dig(cfg, "hnsw_config", "m"), 16.0},
		{"collection hnsw ef_construct", dig(cfg, "hnsw_config", "ef_construct"), 123.0},
		{"collection quantization kept by null", dig(cfg, "quantization_config", "scalar", "quantile"), 0.99},
		{"collection quantization always_ram", dig(cfg, "quantization_config", "scalar", "always_ram"), true},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	c.ok("PATCH", "/collections/test_collection", rawJSON(`{"vectors": {"": {"quantization_config": "Disabled"}}, "quantization_config": "Disabled"}`), nil)
	cfg = collectionConfigOf(t, c, "test_collection")
	if _, ok := dig(cfg, "params", "vectors").(map[string]any)["quantization_config"]; ok || cfg["quantization_config"] != nil {
		t.Errorf("after Disabled: vector %v, collection %v", dig(cfg, "params", "vectors"), cfg["quantization_config"])
	}

	c.ok("PATCH", "/collections/test_collection", rawJSON(`{"strict_mode_config": {"enabled": true, "write_rate_limit": 1}}`), nil)
	c.ok("PATCH", "/collections/test_collection", rawJSON(`{"strict_mode_config": {"read_rate_limit": 2}}`), nil)
	c.ok("PATCH", "/collections/test_collection", rawJSON(`{"strict_mode_config": {"write_rate_limit": null}}`), nil)
	sm := collectionConfigOf(t, c, "test_collection")["strict_mode_config"]
	if dig(sm, "enabled") != true || dig(sm, "read_rate_limit") != 2.0 || dig(sm, "write_rate_limit") != 1.0 {
		t.Errorf("strict mode after a null write_rate_limit = %v, want enabled, read 2, write still 1", sm)
	}
}

// TestUpstreamValidationBeforeState: test_validation.py and test_limits.py.
// The actix extractors validate path, body and query before the handler
// reads any state (src/actix/api/collections_api.rs, src/actix/api/mod.rs
// CollectionPath, lib/collection/src/operations/config_diff.rs bounds), so
// an invalid request about an existing or missing collection is a 422, not
// a 409 or 404.
func TestUpstreamValidationBeforeState(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	long := strings.Repeat("extremelylongname", 16)
	dense := map[string]any{"size": 4, "distance": "Dot"}
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		parts              []string
	}{
		{"name over 255 characters", "GET", "/collections/" + long + "/points/1", nil, 422,
			[]string{"Validation error in path parameters: [collection_name: value \"" + long + "\" invalid, must be from 1 to 255 characters]"}},
		{"ef_construct 0 on an existing name", "PUT", "/collections/test_collection",
			map[string]any{"vectors": dense, "hnsw_config": map[string]any{"ef_construct": 0}}, 422,
			[]string{"Validation error in JSON body: [hnsw_config.ef_construct: value 0 invalid, must be 4 or larger]"}},
		{"timeout=0 on an existing name", "PUT", "/collections/test_collection?timeout=0", map[string]any{"vectors": dense}, 422,
			[]string{"Validation error in query parameters: [timeout: value 0 invalid, must be 1 or larger]"}},
		{"vector size over the limit", "PUT", "/collections/test_limits", map[string]any{"vectors": map[string]any{"size": 65537, "distance": "Dot"}}, 422,
			[]string{"Validation error in JSON body: [vectors.size: value 65537 invalid, must be from 1 to 65536]"}},
		{"shard_number 0", "PUT", "/collections/test_validation_shard_number_zero", map[string]any{"vectors": dense, "shard_number": 0}, 422,
			[]string{"shard_number"}},
		{"replication_factor 0", "PUT", "/collections/test_validation_replication_factor_zero", map[string]any{"vectors": dense, "replication_factor": 0}, 422,
			[]string{"replication_factor"}},
		{"write_consistency_factor 0", "PUT", "/collections/test_validation_write_consistency_factor_zero", map[string]any{"vectors": dense, "write_consistency_factor": 0}, 422,
			[]string{"write_consistency_factor"}},
		{"shard_number negative", "PUT", "/collections/test_validation_shard_number_neg", map[string]any{"vectors": dense, "shard_number": -1}, 400,
			[]string{"shard_number"}},
		{"ef_construct 0 in a PATCH of a missing collection", "PATCH", "/collections/missing", map[string]any{"hnsw_config": map[string]any{"ef_construct": 0}}, 422,
			[]string{"hnsw_config.ef_construct: value 0 invalid"}},
		{"timeout=0 on delete", "DELETE", "/collections/test_collection?timeout=0", nil, 422,
			[]string{"timeout: value 0 invalid, must be 1 or larger"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantContains(t, tc.method+" "+tc.path, c.errorOf(tc.method, tc.path, tc.body, tc.status), tc.parts...)
		})
	}
	if ok, _ := cl.Peers()[0].CollectionExists(t.Context(), "test_collection"); !ok {
		t.Error("an invalid request removed the collection")
	}
	c.ok("PUT", "/collections/test_limits", map[string]any{"vectors": map[string]any{"size": 65536, "distance": "Dot"}}, nil)
}

// TestUpstreamMalformedChecksum: test_shard_snapshot.py
// test_upload_shard_snapshot_rejects_malformed_checksum. The checksum query
// parameter is validated (validate_sha256_hash, lib/common/common/src/
// validation.rs) before the upload is read: 422 naming invalid_sha256_hash.
func TestUpstreamMalformedChecksum(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	for path, upload := range map[string]func() (int, []byte){
		"shard upload": func() (int, []byte) {
			return uploadShard(t, c, "test_collection", 0, []byte("not a snapshot"), "checksum=abc")
		},
		"collection upload": func() (int, []byte) {
			return uploadCollection(t, c, "test_collection", "snapshot.tar", []byte("not a snapshot"), "checksum=abc")
		},
		// test_recover_partial_snapshot_rejects_malformed_checksum.
		"partial recover": func() (int, []byte) {
			return postSnapshotForm(t, c, "/collections/test_collection/shards/0/snapshot/partial/recover?checksum=abc", []byte("not a snapshot"))
		},
	} {
		status, body := upload()
		if status != 422 || !strings.Contains(string(body), "invalid_sha256_hash") ||
			!strings.Contains(string(body), "Validation error in query parameters: [checksum: ") {
			t.Errorf("%s with checksum=abc = %d %s, want 422 invalid_sha256_hash", path, status, body)
		}
	}
	// A well-formed request whose upload is not an archive: 400
	// (TestPartialSnapshotRoundTrip recovers real ones).
	if status, body := postSnapshotForm(t, c, "/collections/test_collection/shards/0/snapshot/partial/recover", []byte("x")); status != 400 ||
		!strings.Contains(string(body), "Invalid snapshot") {
		t.Errorf("partial recover of a non-archive = %d %s, want 400 Invalid snapshot", status, body)
	}
	msg := c.errorOf("PUT", "/collections/test_collection/shards/0/snapshots/recover",
		map[string]any{"location": "http://localhost:1/x.snapshot", "checksum": strings.Repeat("g", 64)}, 422)
	if want := "Validation error in JSON body: [checksum: invalid characters, expected 0-9, a-f, A-F]"; msg != want {
		t.Errorf("non-hex checksum in body: %q, want %q", msg, want)
	}
}

// postSnapshotForm posts data as the multipart "snapshot" field to path.
func postSnapshotForm(t *testing.T, c client, path string, data []byte) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("snapshot", "snapshot.tar")
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(c.base+path, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestUpstreamRootAndExists: test_root_api.py (title, version and a
// 40-character commit, nothing else; src/actix/api/service_api.rs index)
// and test_collection_exists.py (exists is true or false, never an error;
// src/actix/api/collections_api.rs get_collection_existence).
func TestUpstreamRootAndExists(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	var root map[string]string
	if status, raw := c.do("GET", "/", nil); status != 200 || json.Unmarshal(raw, &root) != nil {
		t.Fatalf("GET / = %d %s", status, raw)
	}
	if len(root) != 3 || root["title"] != "qdrant - vector search engine" || root["version"] == "" || len(root["commit"]) != 40 {
		t.Errorf("GET / = %v", root)
	}
	basicCollectionSetup(t, c, "test_collection")
	for name, want := range map[string]bool{"test_collection": true, "wrong": false} {
		var got struct {
			Exists bool `json:"exists"`
		}
		c.ok("GET", "/collections/"+name+"/exists", nil, &got)
		if got.Exists != want {
			t.Errorf("%s exists = %v, want %v", name, got.Exists, want)
		}
	}
}

// payloadOf reads a point's payload.
func payloadOf(t *testing.T, c client, coll string, id int) map[string]any {
	t.Helper()
	pl, _ := getRecord(t, c, coll, id)["payload"].(map[string]any)
	return pl
}

// scrollIDs returns the ids a filtered scroll finds.
func scrollIDs(t *testing.T, c client, coll string, filter string) []float64 {
	t.Helper()
	var page struct {
		Points []struct {
			ID float64 `json:"id"`
		} `json:"points"`
	}
	c.ok("POST", "/collections/"+coll+"/points/scroll", rawJSON(`{"limit": 100, "filter": `+filter+`}`), &page)
	var ids []float64
	for _, p := range page.Points {
		ids = append(ids, p.ID)
	}
	return ids
}

// TestUpstreamPayloadOperations: test_payload_operations.py. Set merges
// top-level keys (Payload::merge), overwrite replaces the payload, delete
// removes keys, clear empties it, all by ids or filter; "key" writes into
// a nested object, also through array elements (merge_by_key,
// lib/segment/src/payload_storage/payload_storage_impl.rs). A missing id
// is a 404 (PointIdError); a request naming neither points nor filter is a
// format error (lib/shard/src/operations/payload_ops.rs).
func TestUpstreamPayloadOperations(t *testing.T) {
	cl := startCluster(t, Options{Peers: 2})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	const coll = "/collections/test_collection"
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"test_payload": "keyword"}, "points": [6]}`), nil)
	if pl := payloadOf(t, c, "test_collection", 6); len(pl) != 1 || pl["test_payload"] != "keyword" {
		t.Errorf("after set: %v", pl)
	}
	c.ok("POST", coll+"/points/payload/clear?wait=true", rawJSON(`{"filter": {"must": [{"has_id": [6]}]}}`), nil)
	if pl := payloadOf(t, c, "test_collection", 6); len(pl) != 0 {
		t.Errorf("after clear: %v", pl)
	}
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"test_payload": "keyword"}, "points": [6]}`), nil)
	c.ok("POST", coll+"/points/payload/delete?wait=true", rawJSON(`{"keys": ["test_payload"], "points": [6]}`), nil)
	if pl := payloadOf(t, c, "test_collection", 6); len(pl) != 0 {
		t.Errorf("after delete: %v", pl)
	}
	c.ok("PUT", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"key1": "aaa", "key2": "bbb"}, "points": [6]}`), nil)
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"key1": "ccc"}, "points": [6]}`), nil)
	if pl := payloadOf(t, c, "test_collection", 6); len(pl) != 2 || pl["key1"] != "ccc" || pl["key2"] != "bbb" {
		t.Errorf("after overwrite and set: %v", pl)
	}
	c.ok("PUT", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"key2": "eee"}, "points": [6]}`), nil)
	if pl := payloadOf(t, c, "test_collection", 6); len(pl) != 1 || pl["key2"] != "eee" {
		t.Errorf("after second overwrite: %v", pl)
	}
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"key4": "aaa"}, "points": [1, 2, 3]}`), nil)
	if ids := scrollIDs(t, c, "test_collection", `{"must": [{"key": "key4", "match": {"value": "aaa"}}]}`); len(ids) != 3 {
		t.Errorf("points with key4 = %v", ids)
	}
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"key5": "bbb"}, "filter": {"must": [{"key": "key4", "match": {"value": "aaa"}}]}}`), nil)
	if ids := scrollIDs(t, c, "test_collection", `{"must": [{"key": "key5", "match": {"value": "bbb"}}]}`); len(ids) != 3 {
		t.Errorf("points with key5 = %v", ids)
	}
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"key6": {"subkey": "xxx", "arraykey": [{"a1": {"a1k": "xxx"}}, {"a2": {"a2k": "xxx"}}], "subkey2": {"subkey3": "xxx"}}}, "points": [1], "key": null}`), nil)
	for _, tc := range []struct{ body, path, want string }{
		{`{"payload": {"subkey": "yyy"}, "points": [1], "key": "key6"}`, "key6.subkey", "yyy"},
		{`{"payload": {"subkey3": "yyy"}, "points": [1], "key": "key6.subkey2"}`, "key6.subkey2.subkey3", "yyy"},
		{`{"payload": {"a1k": "yyy"}, "points": [1], "key": "key6.arraykey[0].a1"}`, "key6.arraykey.0.a1.a1k", "yyy"},
		{`{"payload": {"a2k": "yyy"}, "points": [1], "key": "key6.arraykey[].a2"}`, "key6.arraykey.1.a2.a2k", "yyy"},
		{`{"payload": {"key": "xxx"}, "points": [1], "key": "key6.subkey7"}`, "key6.subkey7.key", "xxx"},
	} {
		c.ok("POST", coll+"/points/payload?wait=true", rawJSON(tc.body), nil)
		pl := payloadOf(t, c, "test_collection", 1)
		var v any = pl
		for _, k := range strings.Split(tc.path, ".") {
			if arr, ok := v.([]any); ok {
				i := int(k[0] - '0')
				v = arr[i]
				continue
			}
			v = dig(v, k)
		}
		if v != tc.want || len(pl) != 5 {
			t.Errorf("after %s: %s = %v (payload %v), want %s and 5 keys", tc.body, tc.path, v, pl, tc.want)
		}
	}
	// A sparse-only point without payload takes one under a key.
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"key": "xxx"}, "points": [9], "key": "key"}`), nil)
	if got, _ := json.Marshal(payloadOf(t, c, "test_collection", 9)); string(got) != `{"key":{"key":"xxx"}}` {
		t.Errorf("point 9 payload = %s", got)
	}
	c.ok("POST", coll+"/points/payload/delete?wait=true", rawJSON(`{"keys": ["key5"], "filter": {"must": [{"key": "key5", "match": {"value": "bbb"}}]}}`), nil)
	if ids := scrollIDs(t, c, "test_collection", `{"must": [{"key": "key5", "match": {"value": "bbb"}}]}`); len(ids) != 0 {
		t.Errorf("points with key5 after delete = %v", ids)
	}
	// Setting an object replaces the key whole: a.x is gone.
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"a": {"x": 1}}, "points": [2]}`), nil)
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"a": {"y": 1}}, "points": [2]}`), nil)
	if ids := scrollIDs(t, c, "test_collection", `{"must": [{"key": "a.x", "match": {"value": 1}}]}`); len(ids) != 0 {
		t.Errorf("a.x still found on %v", ids)
	}
	msg := c.errorOf("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"k": 1}, "points": [424242]}`), 404)
	if msg != "Not found: No point with id 424242 found" {
		t.Errorf("missing point: %q", msg)
	}
	wantContains(t, "no selector", c.errorOf("POST", coll+"/points/payload", rawJSON(`{"payload": {"k": 1}}`), 400),
		"Format error in JSON body: Either list of point ids or filter must be provided")
}

// TestUpstreamBatchUpdate: test_batch_update.py. The operations run in
// order, one result each (src/common/update.rs update_batch): upsert,
// delete, upsert again and a sparse-only upsert leave exactly their net
// effect; payload and vector operations mix in.
func TestUpstreamBatchUpdate(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	var res []UpdateResult
	c.ok("POST", "/collections/test_collection/points/batch?wait=true", rawJSON(`{"operations": [
		{"upsert": {"points": [{"id": 7, "vector": [1.0, 2.0, 3.0, 4.0], "payload": {}}]}},
		{"upsert": {"points": [{"id": 8, "vector": [1.0, 2.0, 3.0, 4.0], "payload": {}}]}},
		{"delete": {"points": [8]}},
		{"upsert": {"points": [{"id": 7, "vector": [2.0, 1.0, 3.0, 4.0], "payload": {}}]}},
		{"upsert": {"points": [{"id": 9, "vector": {"sparse-text": {"indices": [123, 321], "values": [5.5, 5.5]}}, "payload": {}}]}},
		{"delete": {"points": [10]}},
		{"set_payload": {"payload": {"a": 1}, "points": [7]}},
		{"overwrite_payload": {"payload": {"b": 2}, "points": [9]}},
		{"update_vectors": {"points": [{"id": 9, "vector": {"": [4.0, 3.0, 2.0, 1.0]}}]}},
		{"delete_vectors": {"points": [9], "vector": ["sparse-text"]}}
	]}`), &res)
	if len(res) != 10 || res[9].Status != "completed" {
		t.Fatalf("batch results = %+v", res)
	}
	rec7 := getRecord(t, c, "test_collection", 7)
	if got, _ := json.Marshal(rec7["vector"]); string(got) != "[2,1,3,4]" || dig(rec7, "payload", "a") != 1.0 {
		t.Errorf("point 7 = %v", rec7)
	}
	c.errorOf("GET", "/collections/test_collection/points/8", nil, 404)
	c.errorOf("GET", "/collections/test_collection/points/10", nil, 404)
	rec9 := getRecord(t, c, "test_collection", 9)
	if got, _ := json.Marshal(rec9); !strings.Contains(string(got), `"vector":[4,3,2,1]`) || !strings.Contains(string(got), `"payload":{"b":2}`) {
		t.Errorf("point 9 = %s", got)
	}
	// A failing operation ends the batch; the ones before it stay.
	c.errorOf("POST", "/collections/test_collection/points/batch?wait=true", rawJSON(`{"operations": [
		{"set_payload": {"payload": {"c": 3}, "points": [7]}},
		{"set_payload": {"payload": {"c": 3}, "points": [424242]}}]}`), 404)
	if payloadOf(t, c, "test_collection", 7)["c"] != 3.0 {
		t.Error("the operation before the failing one was not applied")
	}
}

// TestUpstreamVectorOperations: test_optional_vectors.py and the vector
// half of test_shard_snapshot.py. PUT /points/vectors replaces the given
// vectors and keeps the others; POST /points/vectors/delete removes named
// vectors; an unknown point is a 404 "No point with id X found", an
// unknown vector name a 400 "Not existing vector name error"
// (lib/collection/src/operations/vector_ops.rs, lib/segment/src/segment).
func TestUpstreamVectorOperations(t *testing.T) {
	cl := startCluster(t, Options{Peers: 2})
	c := newClient(t, cl.Peers()[0])
	c.ok("PUT", "/collections/vecs", rawJSON(`{"vectors": {"image": {"size": 4, "distance": "Dot"}, "text": {"size": 8, "distance": "Cosine"}}}`), nil)
	c.ok("PUT", "/collections/vecs/points?wait=true", rawJSON(`{"points": [
		{"id": 1, "vector": {"image": [1, 2, 3, 4], "text": [1, 2, 3, 4, 5, 6, 7, 8]}},
		{"id": 2, "vector": {"image": [1, 2, 3, 4], "text": [1, 2, 3, 4, 5, 6, 7, 8]}},
		{"id": 3, "vector": {"image": [1, 2, 3, 4]}},
		{"id": 1000, "vector": {}, "payload": {"city": "Berlin"}}]}`), nil)
	if v := getRecord(t, c, "vecs", 1000)["vector"]; dig(v, "text") != nil {
		t.Errorf("point without vectors: %v", v)
	}
	c.ok("PUT", "/collections/vecs/points/vectors?wait=true", rawJSON(`{"points": [{"id": 1000, "vector": {"text": [8, 7, 6, 5, 4, 3, 2, 1]}}]}`), nil)
	rec := getRecord(t, c, "vecs", 1000)
	if v, _ := dig(rec["vector"], "text").([]any); len(v) != 8 || dig(rec, "payload", "city") != "Berlin" {
		t.Errorf("after update_vectors: %v", rec)
	}
	c.ok("POST", "/collections/vecs/points/vectors/delete?wait=true", rawJSON(`{"points": [1, 2], "vector": ["image"]}`), nil)
	c.ok("POST", "/collections/vecs/points/vectors/delete?wait=true", rawJSON(`{"points": [2, 3], "vector": ["text"]}`), nil)
	v2 := getRecord(t, c, "vecs", 2)["vector"].(map[string]any)
	v1 := getRecord(t, c, "vecs", 1)["vector"].(map[string]any)
	if _, ok := v1["image"]; ok || v1["text"] == nil || len(v2) != 0 {
		t.Errorf("after deletes: point 1 %v, point 2 %v", v1, v2)
	}
	msg := c.errorOf("PUT", "/collections/vecs/points/vectors?wait=true", rawJSON(`{"points": [{"id": 424242424242424242, "vector": {"image": [1, 2, 3, 4]}}]}`), 404)
	if msg != "Not found: No point with id 424242424242424242 found" {
		t.Errorf("unknown point: %q", msg)
	}
	wantContains(t, "unknown vector", c.errorOf("POST", "/collections/vecs/points/vectors/delete?wait=true",
		rawJSON(`{"points": [1], "vector": ["a"]}`), 400), "Wrong input: Not existing vector name error: a")
	wantContains(t, "no points", c.errorOf("PUT", "/collections/vecs/points/vectors", rawJSON(`{"points": []}`), 422),
		"must specify points to update")
	wantContains(t, "wrong dimension", c.errorOf("PUT", "/collections/vecs/points/vectors?wait=true",
		rawJSON(`{"points": [{"id": 1, "vector": {"image": [1, 2]}}]}`), 400), "Vector dimension error: expected dim: 4, got 2")
}

// TestUpstreamNamedVectorCRUD: test_named_vector_crud.py (1.19). A named
// vector can be deleted and created again with another size; points keep
// their other vectors and scroll; size 0 or over 65536 is a 422 naming
// size (src/actix/api/vector_name_api.rs, lib/collection/src/collection/
// vector_name_schema.rs). Before 1.19 the route does not exist.
func TestUpstreamNamedVectorCRUD(t *testing.T) {
	cl := startCluster(t, Options{Peers: 2})
	c := newClient(t, cl.Peers()[0])
	c.ok("PUT", "/collections/nv", rawJSON(`{"vectors": {"vec_a": {"size": 4, "distance": "Cosine"}, "vec_b": {"size": 8, "distance": "Cosine"}}, "optimizers_config": {"indexing_threshold": 1}}`), nil)
	var pts []string
	for i := 0; i < 200; i++ {
		pts = append(pts, `{"id": `+itoa(int64(i))+`, "vector": {"vec_a": [0, 0.01, 0.02, 0.03], "vec_b": [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07]}, "payload": {"idx": `+itoa(int64(i))+`}}`)
	}
	c.ok("PUT", "/collections/nv/points?wait=true", rawJSON(`{"points": [`+strings.Join(pts, ",")+`]}`), nil)
	c.ok("DELETE", "/collections/nv/vectors/vec_a?wait=true", nil, nil)
	c.ok("PUT", "/collections/nv/vectors/vec_a?wait=true", rawJSON(`{"dense": {"size": 6, "distance": "Dot"}}`), nil)
	var page struct {
		Points []struct {
			Vector map[string][]float64 `json:"vector"`
		} `json:"points"`
	}
	c.ok("POST", "/collections/nv/points/scroll", rawJSON(`{"limit": 10, "with_vector": true}`), &page)
	if len(page.Points) != 10 {
		t.Fatalf("scroll = %d points", len(page.Points))
	}
	for _, p := range page.Points {
		if len(p.Vector["vec_b"]) != 8 || p.Vector["vec_a"] != nil {
			t.Fatalf("point vectors after recreate = %v", p.Vector)
		}
	}
	if size := dig(collectionConfigOf(t, c, "nv"), "params", "vectors", "vec_a", "size"); size != 6.0 {
		t.Errorf("recreated vec_a size = %v", size)
	}
	c.ok("PUT", "/collections/nv/points?wait=true", rawJSON(`{"points": [{"id": 500, "vector": {"vec_a": [1, 2, 3, 4, 5, 6], "vec_b": [1, 2, 3, 4, 5, 6, 7, 8]}}]}`), nil)
	for _, size := range []string{"0", "65537"} {
		wantContains(t, "size "+size, c.errorOf("PUT", "/collections/nv/vectors/vec_bad?wait=true",
			rawJSON(`{"dense": {"size": `+size+`, "distance": "Cosine"}}`), 422), "dense.size")
	}
	wantContains(t, "other schema", c.errorOf("PUT", "/collections/nv/vectors/vec_b", rawJSON(`{"dense": {"size": 9, "distance": "Cosine"}}`), 400),
		"Vector `vec_b` already exists with a different configuration")
	c.ok("PUT", "/collections/nv/vectors/vec_b", rawJSON(`{"dense": {"size": 8, "distance": "Cosine"}}`), nil)

	old := startCluster(t, Options{Peers: 1, Version: "1.18.3"})
	if status, body := newClient(t, old.Peers()[0]).do("DELETE", "/collections/nv/vectors/vec_a", nil); status != 404 || len(body) != 0 {
		t.Errorf("1.18 named vector route = %d %q, want an empty 404", status, body)
	}
}

// TestUpstreamCollectionInfoFields: test_vector_config.py
// test_configuration_warnings and the collection-info half of
// test_update_queue.py. warnings (from 1.16) lists an inline_storage that
// cannot apply and is absent when empty (CollectionConfigInternal::
// get_warnings, lib/collection/src/config.rs); update_queue (from 1.17)
// reports the update worker's queue (CollectionInfo in lib/collection/
// src/operations/types.rs), empty once wait=true updates are applied.
func TestUpstreamCollectionInfoFields(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	for _, tc := range []struct {
		name   string
		vector string
		want   int
	}{
		{"no_inline_storage", `{}`, 0},
		{"valid_config", `{"hnsw_config": {"inline_storage": true}, "quantization_config": {"scalar": {"type": "int8"}}}`, 0},
		{"inline_storage_no_quant", `{"hnsw_config": {"inline_storage": true}}`, 1},
		{"inline_storage_multivec", `{"hnsw_config": {"inline_storage": true}, "multivector_config": {"comparator": "max_sim"}}`, 1},
	} {
		var vec map[string]any
		if err := json.Unmarshal([]byte(tc.vector), &vec); err != nil {
			t.Fatal(err)
		}
		vec["size"], vec["distance"] = 4, "Dot"
		name := "test_" + tc.name
		c.ok("PUT", "/collections/"+name, map[string]any{"vectors": map[string]any{"test_vector": vec}}, nil)
		var info map[string]any
		c.ok("GET", "/collections/"+name, nil, &info)
		warnings, present := info["warnings"].([]any)
		if tc.want == 0 && present || tc.want > 0 && len(warnings) != tc.want {
			t.Errorf("%s: warnings = %v, want %d (absent when 0)", tc.name, info["warnings"], tc.want)
		}
		if tc.want > 0 && !strings.Contains(dig(warnings[0], "message").(string), "'test_vector'") {
			t.Errorf("%s: warning %v does not name the vector", tc.name, warnings[0])
		}
		if q, ok := info["update_queue"].(map[string]any); !ok || q["length"] != 0.0 {
			t.Errorf("%s: update_queue = %v, want {length: 0}", tc.name, info["update_queue"])
		}
	}
	old := startCluster(t, Options{Peers: 1, Version: "1.15.0"})
	oc := newClient(t, old.Peers()[0])
	oc.ok("PUT", "/collections/c", rawJSON(`{"vectors": {"v": {"size": 4, "distance": "Dot", "hnsw_config": {"inline_storage": true}}}}`), nil)
	var info map[string]any
	oc.ok("GET", "/collections/c", nil, &info)
	if _, ok := info["warnings"]; ok {
		t.Errorf("1.15 collection info has warnings: %v", info)
	}
	if _, ok := info["update_queue"]; ok {
		t.Errorf("1.15 collection info has update_queue: %v", info)
	}
}

// TestUpstreamScrollSelectors: test_payload_selector.py and
// test_basic_retrieve_api.py test_with_vectors_alias_of_with_vector.
// with_payload include/exclude take JSON paths, nested and through arrays
// (PayloadSelectorInclude/Exclude in lib/segment/src/types.rs over
// lib/segment/src/json_path), with_payload false gives no payload, and
// with_vectors is an alias of with_vector (lib/api/src/rest/schema.rs).
func TestUpstreamScrollSelectors(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	c.ok("PUT", "/collections/sel", rawJSON(`{"vectors": {"size": 4, "distance": "Dot"}}`), nil)
	c.ok("PUT", "/collections/sel/points?wait=true", rawJSON(`{"points": [
		{"id": 1, "vector": [0.15, 0.31, 0.76, 0.74], "payload": {"country": {"name": "Germany", "capital": "Berlin",
			"cities": [{"name": "Berlin", "population": 3.7}, {"name": "Munich", "population": 1.5}]}}},
		{"id": 2, "vector": [0.1, 0.2, 0.3, 0.4], "payload": {"country": {"name": "France"}}}]}`), nil)
	payload := func(sel string) string {
		t.Helper()
		var page struct {
			Points []json.RawMessage `json:"points"`
		}
		c.ok("POST", "/collections/sel/points/scroll", rawJSON(`{"limit": 3, "filter": {"must": [{"key": "country.name", "match": {"value": "Germany"}}]}, "with_payload": `+sel+`}`), &page)
		if len(page.Points) != 1 {
			t.Fatalf("scroll with %s = %d points", sel, len(page.Points))
		}
		var rec struct {
			Payload json.RawMessage `json:"payload"`
		}
		_ = json.Unmarshal(page.Points[0], &rec)
		return string(rec.Payload)
	}
	for _, tc := range []struct{ sel, want string }{
		{`false`, `null`},
		{`{"include": ["country.name", "country.capital"]}`, `{"country":{"capital":"Berlin","name":"Germany"}}`},
		{`{"include": ["country.cities[].name"]}`, `{"country":{"cities":[{"name":"Berlin"},{"name":"Munich"}]}}`},
		{`{"exclude": ["country.cities"]}`, `{"country":{"capital":"Berlin","name":"Germany"}}`},
		{`{"exclude": ["country.name", "country.capital"]}`, `{"country":{"cities":[{"name":"Berlin","population":3.7},{"name":"Munich","population":1.5}]}}`},
		{`["country.capital"]`, `{"country":{"capital":"Berlin"}}`},
	} {
		if got := payload(tc.sel); got != tc.want {
			t.Errorf("with_payload %s = %s, want %s", tc.sel, got, tc.want)
		}
	}
	for _, kw := range []string{"with_vector", "with_vectors"} {
		var page struct {
			Points []struct {
				Vector []float32 `json:"vector"`
			} `json:"points"`
		}
		c.ok("POST", "/collections/sel/points/scroll", rawJSON(`{"limit": 1, "`+kw+`": true}`), &page)
		if len(page.Points) != 1 || len(page.Points[0].Vector) != 4 || page.Points[0].Vector[0] != 0.15 {
			t.Errorf("%s: %+v", kw, page.Points)
		}
	}
}

// TestUpstreamPayloadIndexing: test_payload_indexing.py
// test_payload_indexing_validation, test_payload_indexing_operations and
// test_boolean_index. An integer index with lookup and range both off is a
// 422 (validate_integer_index_params, lib/segment/src/data_types/
// index.rs); an index is reported in payload_schema with its type and the
// number of points holding the field until it is deleted.
func TestUpstreamPayloadIndexing(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	const coll = "/collections/test_collection"
	wantContains(t, "integer index without capabilities", c.errorOf("PUT", coll+"/index?wait=true",
		rawJSON(`{"field_name": "test_payload", "field_schema": {"type": "integer", "lookup": false, "range": false}}`), 422),
		"Validation error: the 'lookup' and 'range' capabilities can't be both disabled")
	c.ok("PUT", coll+"/index?wait=true", rawJSON(`{"field_name": "test_int", "field_schema": {"type": "integer", "lookup": false, "range": true}}`), nil)

	schema := func() map[string]any {
		m, _ := dig(func() any { var i map[string]any; c.ok("GET", coll, nil, &i); return i }(), "payload_schema").(map[string]any)
		return m
	}
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"test_payload": "keyword"}, "points": [6]}`), nil)
	c.ok("PUT", coll+"/index?wait=true", rawJSON(`{"field_name": "test_payload", "field_schema": "keyword"}`), nil)
	if typ := dig(schema(), "test_payload", "data_type"); typ != "keyword" {
		t.Errorf("test_payload index type = %v", typ)
	}
	c.ok("DELETE", coll+"/index/test_payload?wait=true", nil, nil)
	if _, ok := schema()["test_payload"]; ok {
		t.Error("deleted index still listed")
	}
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"boolean_payload": false}, "points": [1, 2, 3, 4]}`), nil)
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"boolean_payload": [true, false]}, "points": [5]}`), nil)
	c.ok("POST", coll+"/points/payload?wait=true", rawJSON(`{"payload": {"boolean_payload": true}, "points": [6, 7]}`), nil)
	c.ok("PUT", coll+"/index?wait=true", rawJSON(`{"field_name": "boolean_payload", "field_schema": "bool"}`), nil)
	if s := schema()["boolean_payload"]; dig(s, "data_type") != "bool" || dig(s, "points") != 7.0 {
		t.Errorf("bool index = %v, want data_type bool, points 7", s)
	}
}

// TestUpstreamShardSnapshots: test_shard_snapshot.py
// test_shard_snapshot_operations, _non_wait, _recovery_errors and
// _security (src/actix/api/snapshot_api.rs, lib/collection/src/
// shards/..., lib/storage/src/content_manager/snapshots/download.rs).
func TestUpstreamShardSnapshots(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	const shard = "/collections/test_collection/shards/0/snapshots"
	list := func() []SnapshotDescription {
		var l []SnapshotDescription
		c.ok("GET", shard, nil, &l)
		return l
	}
	if l := list(); len(l) != 0 {
		t.Fatalf("fresh shard has snapshots %v", l)
	}
	var d SnapshotDescription
	c.ok("POST", shard+"?wait=true", nil, &d)
	if l := list(); len(l) != 1 || l[0].Name != d.Name || l[0].Checksum == "" || l[0].Checksum != d.Checksum {
		t.Fatalf("listed %+v, created %+v", l, d)
	}
	status, data := c.do("GET", shard+"/"+d.Name, nil)
	if sum := sha256.Sum256(data); status != 200 || hex.EncodeToString(sum[:]) != d.Checksum {
		t.Fatalf("download = %d, sha256 %x, want %s", status, sum, d.Checksum)
	}
	c.ok("DELETE", shard+"/"+d.Name+"?wait=true", nil, nil)
	if l := list(); len(l) != 0 {
		t.Fatalf("after delete: %v", l)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	defer srv.Close()
	c.errorOf("PUT", shard+"/recover", map[string]any{"location": srv.URL + "/snapshot.tar", "checksum": strings.Repeat("3", 64)}, 400)
	c.ok("PUT", shard+"/recover", map[string]any{"location": srv.URL + "/snapshot.tar", "checksum": d.Checksum}, nil)

	// Without waiting: 202, then the snapshot appears and goes.
	if status, raw := c.do("POST", shard+"?wait=false", nil); status != 202 {
		t.Fatalf("non-wait create = %d %s", status, raw)
	}
	waitFor(t, "non-wait snapshot", func() bool { return len(list()) == 1 })
	if status, raw := c.do("DELETE", shard+"/"+list()[0].Name+"?wait=false", nil); status != 202 {
		t.Fatalf("non-wait delete = %d %s", status, raw)
	}
	waitFor(t, "non-wait delete", func() bool { return len(list()) == 0 })

	// Recovery errors.
	c.errorOf("PUT", "/collections/somethingthatdoesnotexist/shards/0/snapshots/recover", map[string]any{"location": "whatever"}, 404)
	c.errorOf("PUT", shard+"/recover", map[string]any{"location": "file:///whatever.snapshot"}, 400)
	gone := httptest.NewServer(http.NotFoundHandler())
	defer gone.Close()
	c.errorOf("PUT", shard+"/recover", map[string]any{"location": gone.URL + "/snapshots/whatever.snapshot"}, 400)

	// No path traversal out of the snapshot directory.
	for _, name := range []string{"/etc/passwd", "../../../../../../../etc/passwd", "..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd"} {
		if status, _ := c.do("GET", shard+"/"+name, nil); status != 404 {
			t.Errorf("GET shard snapshot %q = %d, want 404", name, status)
		}
		if status, _ := c.do("GET", "/collections/test_collection/snapshots/"+name, nil); status != 404 {
			t.Errorf("GET collection snapshot %q = %d, want 404", name, status)
		}
	}
}

// TestUpstreamCollectionSnapshots: test_snapshot.py
// test_collection_snapshot_operations and the collection half of
// test_snapshot_operations_non_wait. A wrong checksum refuses the recovery
// (400) and creates nothing; the right one recreates the deleted
// collection with its ten points, sparse-only points included
// (lib/storage/src/content_manager/snapshots/recover.rs).
func TestUpstreamCollectionSnapshots(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	const snaps = "/collections/test_collection/snapshots"
	list := func() []SnapshotDescription {
		var l []SnapshotDescription
		c.ok("GET", snaps, nil, &l)
		return l
	}
	if l := list(); len(l) != 0 {
		t.Fatalf("fresh collection has snapshots %v", l)
	}
	var d SnapshotDescription
	c.ok("POST", snaps+"?wait=true", nil, &d)
	if l := list(); len(l) != 1 || l[0].Name != d.Name || l[0].Checksum != d.Checksum {
		t.Fatalf("listed %+v, created %+v", l, d)
	}
	status, data := c.do("GET", snaps+"/"+d.Name, nil)
	if sum := sha256.Sum256(data); status != 200 || hex.EncodeToString(sum[:]) != d.Checksum {
		t.Fatalf("download = %d, sha256 %x, want %s", status, sum, d.Checksum)
	}
	c.ok("DELETE", snaps+"/"+d.Name+"?wait=true", nil, nil)
	if l := list(); len(l) != 0 {
		t.Fatalf("after delete: %v", l)
	}
	c.ok("DELETE", "/collections/test_collection", nil, nil)
	c.errorOf("POST", "/collections/test_collection/points/scroll", map[string]any{}, 404)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	defer srv.Close()
	c.errorOf("PUT", snaps+"/recover", map[string]any{"location": srv.URL + "/snapshot.tar", "checksum": strings.Repeat("3", 64)}, 400)
	c.errorOf("POST", "/collections/test_collection/points/scroll", map[string]any{}, 404)
	c.ok("PUT", snaps+"/recover", map[string]any{"location": srv.URL + "/snapshot.tar", "checksum": d.Checksum}, nil)
	var page struct {
		Points []json.RawMessage `json:"points"`
	}
	c.ok("POST", "/collections/test_collection/points/scroll", map[string]any{}, &page)
	if len(page.Points) != 10 {
		t.Errorf("recovered collection scrolls %d points, want 10", len(page.Points))
	}

	if status, raw := c.do("POST", snaps+"?wait=false", nil); status != 202 {
		t.Fatalf("non-wait create = %d %s", status, raw)
	}
	waitFor(t, "non-wait snapshot", func() bool { return len(list()) == 1 })
	if status, raw := c.do("DELETE", snaps+"/"+list()[0].Name+"?wait=false", nil); status != 202 {
		t.Fatalf("non-wait delete = %d %s", status, raw)
	}
	waitFor(t, "non-wait delete", func() bool { return len(list()) == 0 })
}

// TestUpstreamPointBasics: test_count.py, test_delete_points.py,
// test_uuid_ops.py and test_shard_key.py on the suite's fixture. Counts
// follow the filter (should: London or Berlin finds 4 of the 10 points,
// the sparse-only ones included in the total); deletes by filter and by
// ids shrink points_count; UUID ids read back; shard keys of a custom
// collection are listed as they were created, strings and numbers.
func TestUpstreamPointBasics(t *testing.T) {
	cl := startCluster(t, Options{Peers: 2})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	const coll = "/collections/test_collection"
	should := `{"should": [{"key": "city", "match": {"value": "London"}}, {"key": "city", "match": {"value": "Berlin"}}]}`
	for _, exact := range []string{"true", "false"} {
		var n struct {
			Count int `json:"count"`
		}
		c.ok("POST", coll+"/points/count", rawJSON(`{"filter": `+should+`, "exact": `+exact+`}`), &n)
		if exact == "true" && n.Count != 4 || n.Count <= 0 || n.Count >= 10 {
			t.Errorf("count exact=%s = %d", exact, n.Count)
		}
	}
	pointsCount := func() float64 {
		var info map[string]any
		c.ok("GET", coll, nil, &info)
		return info["points_count"].(float64)
	}
	c.ok("POST", coll+"/points/delete?wait=true", rawJSON(`{"filter": {"must": [{"has_id": [5]}]}}`), nil)
	if n := pointsCount(); n != 9 {
		t.Errorf("points_count after deleting id 5 = %v, want 9", n)
	}
	c.ok("POST", coll+"/points/delete?wait=true", rawJSON(`{"points": [1, 2, 3, 4]}`), nil)
	if n := pointsCount(); n != 5 {
		t.Errorf("points_count after deleting 1-4 = %v, want 5", n)
	}
	c.ok("PUT", coll+"/points?wait=true", rawJSON(`{"points": [
		{"id": "b524a3c4-c568-4383-8019-c9ca08243d6a", "vector": [0.15, 0.21, 0.96, 0.04], "payload": {"city": "Berlin"}},
		{"id": "1d675313-d3dd-4646-8b98-8052364872da", "vector": [0.19, 0.81, 0.75, 0.11], "payload": {"city": ["Berlin", "London"]}}]}`), nil)
	c.ok("GET", coll+"/points/b524a3c4-c568-4383-8019-c9ca08243d6a", nil, nil)

	c.ok("DELETE", "/collections/keyed", nil, nil)
	c.ok("PUT", "/collections/keyed", rawJSON(`{"sharding_method": "custom", "vectors": {"size": 4, "distance": "Dot"}, "sparse_vectors": {"sparse-text": {}}, "wal_config": {"wal_capacity_mb": 1}}`), nil)
	var keys struct {
		ShardKeys []map[string]any `json:"shard_keys"`
	}
	c.ok("GET", "/collections/keyed/shards", nil, &keys)
	if len(keys.ShardKeys) != 0 {
		t.Fatalf("fresh custom collection keys = %v", keys.ShardKeys)
	}
	c.ok("PUT", "/collections/keyed/shards", rawJSON(`{"shard_key": "test_key"}`), nil)
	c.ok("PUT", "/collections/keyed/shards", rawJSON(`{"shard_key": 100}`), nil)
	c.ok("GET", "/collections/keyed/shards", nil, &keys)
	got, _ := json.Marshal(keys.ShardKeys)
	if len(keys.ShardKeys) != 2 || !strings.Contains(string(got), `"test_key"`) || !strings.Contains(string(got), `100`) {
		t.Errorf("shard keys = %s", got)
	}
}

// TestUpstreamVectorValidation: test_vector_dimension_validation.py and
// test_sparse_vector_validations.py. A wrong dimension is a 400 naming the
// dimension whether or not the client waits (checked before the operation
// is queued, lib/collection/src/operations/verification); sparse vectors
// need as many values as indices and unique indices (422,
// lib/sparse/src/common/sparse_vector.rs); a sparse index cannot use the
// turbo4 datatype (sparse_turbo4_unsupported_error, lib/common/common/src/
// validation.rs).
func TestUpstreamVectorValidation(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	c.ok("PUT", "/collections/dims", rawJSON(`{"vectors": {"size": 4, "distance": "Dot"}}`), nil)
	for _, wait := range []string{"true", "false"} {
		wantContains(t, "wrong dimension wait="+wait, strings.ToLower(c.errorOf("PUT", "/collections/dims/points?wait="+wait,
			rawJSON(`{"points": [{"id": 1, "vector": [0.1, 0.2]}]}`), 400)), "dimension")
	}
	wantContains(t, "wrong dimension in a batch", strings.ToLower(c.errorOf("PUT", "/collections/dims/points?wait=false",
		rawJSON(`{"batch": {"ids": [1, 2], "vectors": [[0.1, 0.2, 0.3, 0.4], [0.1, 0.2]]}}`), 400)), "dimension")
	c.ok("PUT", "/collections/dims/points?wait=false", rawJSON(`{"points": [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}]}`), nil)

	c.ok("PUT", "/collections/sparse", rawJSON(`{"sparse_vectors": {"text": {}}}`), nil)
	c.ok("PUT", "/collections/sparse/points?wait=true", rawJSON(`{"points": [
		{"id": 1, "vector": {"text": {"indices": [0, 2], "values": [0.1, 0.2]}}},
		{"id": 2, "vector": {"text": {"indices": [1, 3], "values": [0.3, 0.4]}}},
		{"id": 3, "vector": {"text": {"indices": [0, 1], "values": [0.5, 0.6]}}}]}`), nil)
	wantContains(t, "values length", c.errorOf("PUT", "/collections/sparse/points?wait=true",
		rawJSON(`{"points": [{"id": 4, "vector": {"text": {"indices": [1, 2], "values": [0.1]}}}]}`), 422),
		"Validation error", "points[0].vector.?.values: Validation error: must be the same length as indices [{}]")
	wantContains(t, "unique indices", c.errorOf("PUT", "/collections/sparse/points?wait=true",
		rawJSON(`{"points": [{"id": 4, "vector": {"text": {"indices": [1, 1], "values": [0.1, 0.2]}}}]}`), 422),
		"Validation error", "points[0].vector.?.indices: Validation error: must be unique [{}]")
	status, raw := c.do("PUT", "/collections/sparse_turbo4", rawJSON(`{"sparse_vectors": {"text": {"index": {"datatype": "turbo4"}}}}`))
	if status < 400 || !strings.Contains(string(raw), "sparse vectors do not support") {
		t.Errorf("turbo4 sparse index = %d %s", status, raw)
	}
}

// TestUpstreamSparseConfigUpdate: test_sparse_vector_config_update.py and
// the sparse half of test_collection_update.py test_collection_update.
// PATCH sparse_vectors merges index fields into the named sparse vector
// and refuses an unknown one (update_sparse_vectors_from_other and
// get_sparse_vector_params_mut, lib/collection/src/config.rs).
func TestUpstreamSparseConfigUpdate(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	c.ok("PUT", "/collections/sp", rawJSON(`{"sparse_vectors": {"sparse-text": {"index": {"on_disk": false}}}}`), nil)
	if v := dig(collectionConfigOf(t, c, "sp"), "params", "sparse_vectors", "sparse-text", "index", "on_disk"); v != false {
		t.Fatalf("created on_disk = %v", v)
	}
	c.ok("PATCH", "/collections/sp", rawJSON(`{"sparse_vectors": {"sparse-text": {"index": {"on_disk": true, "full_scan_threshold": 100}}}}`), nil)
	c.ok("PATCH", "/collections/sp", rawJSON(`{"sparse_vectors": {"sparse-text": {"index": {"full_scan_threshold": null}, "modifier": "idf"}}}`), nil)
	sv := dig(collectionConfigOf(t, c, "sp"), "params", "sparse_vectors", "sparse-text")
	if dig(sv, "index", "on_disk") != true || dig(sv, "index", "full_scan_threshold") != 100.0 || dig(sv, "modifier") != "idf" {
		t.Errorf("sparse-text after PATCH = %v", sv)
	}
	msg := c.errorOf("PATCH", "/collections/sp", rawJSON(`{"sparse_vectors": {"other": {"index": {"on_disk": true}}}}`), 400)
	if msg != "Wrong input: Sparse vector `other` is not specified in collection config" {
		t.Errorf("unknown sparse vector: %q", msg)
	}
}

// TestUpstreamUpdateMode: test_update_mode.py. update_only changes existing
// points and creates none; insert_only creates new points and leaves
// existing ones as they are (UpdateMode, lib/api/src/rest/schema.rs, from
// 1.17).
func TestUpstreamUpdateMode(t *testing.T) {
	cl := startCluster(t, Options{Peers: 2})
	c := newClient(t, cl.Peers()[0])
	const body = `{"points": [{"id": 1, "vector": [9.0, 9.0, 9.0, 9.0], "payload": {"updated": true}},
		{"id": 999, "vector": [1.0, 1.0, 1.0, 1.0], "payload": {"new": true}}], "update_mode": "%s"}`
	basicCollectionSetup(t, c, "test_collection")
	c.ok("PUT", "/collections/test_collection/points?wait=true", rawJSON(strings.Replace(body, "%s", "update_only", 1)), nil)
	rec := getRecord(t, c, "test_collection", 1)
	if dig(rec, "payload", "updated") != true || rec["vector"].([]any)[0] != 9.0 {
		t.Errorf("update_only: point 1 = %v", rec)
	}
	c.errorOf("GET", "/collections/test_collection/points/999", nil, 404)

	basicCollectionSetup(t, c, "test_collection")
	c.ok("PUT", "/collections/test_collection/points?wait=true", rawJSON(strings.Replace(body, "%s", "insert_only", 1)), nil)
	rec = getRecord(t, c, "test_collection", 1)
	if _, ok := rec["payload"].(map[string]any)["updated"]; ok || rec["vector"].([]any)[0].(float64) >= 1 {
		t.Errorf("insert_only: point 1 = %v", rec)
	}
	if dig(getRecord(t, c, "test_collection", 999), "payload", "new") != true {
		t.Error("insert_only did not create point 999")
	}
}

// TestUpstreamConditionalUpdate: test_conditional_update.py and
// test_batch_update_multivec.py test_batch_update_validation. With
// update_filter an upsert replaces an existing point only if the stored
// point matches (retain_conditional_upsert_points, lib/shard/src/update/
// points/upsert.rs) and still inserts new ones; a vector update changes
// only matching points; an update_filter with an empty field condition is
// a 422, in a batch too.
func TestUpstreamConditionalUpdate(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_conditional_update"
	basicCollectionSetup(t, c, coll)
	setPayloadOf(t, c, coll, map[string]any{"version": 5}, 6)
	upsert := func(version, below int) {
		t.Helper()
		c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(fmt.Sprintf(`{"points": [
			{"id": 6, "vector": [1.1, 1.2, 1.3, 1.4], "payload": {"version": %d, "test": "test_value"}},
			{"id": 77, "vector": [1.0, 1.0, 1.0, 1.0], "payload": {"version": %d}}],
			"update_filter": {"must": {"key": "version", "range": {"lt": %d}}}}`, version, version, below)), nil)
	}
	upsert(4, 4)
	if rec := getRecord(t, c, coll, 6); dig(rec, "payload", "version") != 5.0 {
		t.Errorf("upsert with a filter the point fails replaced it: %v", rec)
	}
	if rec := getRecord(t, c, coll, 77); dig(rec, "payload", "version") != 4.0 {
		t.Errorf("conditional upsert did not insert the new point 77: %v", rec)
	}
	upsert(6, 6)
	rec := getRecord(t, c, coll, 6)
	if v := rec["vector"].([]any)[0].(float64); dig(rec, "payload", "version") != 6.0 || v < 1.05 || v > 1.15 {
		t.Errorf("upsert with a filter the point matches: %v", rec)
	}
	c.ok("PUT", "/collections/"+coll+"/points/vectors?wait=true", rawJSON(`{"points": [{"id": 6, "vector": [2.1, 2.2, 2.3, 2.4]}],
		"update_filter": {"must": {"key": "version", "range": {"lt": 4}}}}`), nil)
	if v := getRecord(t, c, coll, 6)["vector"].([]any)[0].(float64); v >= 2 {
		t.Errorf("vector update with a filter the point fails changed it: first element %v", v)
	}
	c.ok("PUT", "/collections/"+coll+"/points/vectors?wait=true", rawJSON(`{"points": [{"id": 6, "vector": [2.1, 2.2, 2.3, 2.4]}],
		"update_filter": {"must": {"key": "version", "range": {"lt": 7}}}}`), nil)
	if v := getRecord(t, c, coll, 6)["vector"].([]any)[0].(float64); v < 2 {
		t.Errorf("vector update with a filter the point matches left it: first element %v", v)
	}
	msg := c.errorOf("POST", "/collections/"+coll+"/points/batch?wait=true", rawJSON(`{"operations": [{"upsert": {
		"points": [{"id": 7, "vector": [1.0, 0.0, 9.0, 1.0], "payload": {}}], "update_filter": {"must": [{"key": "empty"}]}}}]}`), 422)
	wantContains(t, "empty condition in a batch", msg, "Validation error in JSON body", "At least one field condition must be specified")
}

// TestUpstreamStrictModeUpdates: test_strictmode.py
// test_patch_collection_full, _partially, test_strict_mode_upsert_max_
// batch_size, _update_many_upsert_max_batch_size and
// _update_vectors_max_batch_size. Strict mode settings round-trip through
// PATCH; upsert_max_batchsize caps an upsert, an upsert inside a batch
// ("upsert limit") and a vector update ("update limit"), checked by
// lib/collection/src/operations/verification/update.rs.
func TestUpstreamStrictModeUpdates(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	const coll = "/collections/test_collection"
	if dig(collectionConfigOf(t, c, "test_collection"), "strict_mode_config", "enabled") == true {
		t.Fatal("strict mode enabled on a fresh collection")
	}
	c.ok("PATCH", coll, rawJSON(`{"strict_mode_config": {"enabled": true, "max_query_limit": 10, "max_timeout": 2,
		"unindexed_filtering_retrieve": false, "unindexed_filtering_update": false, "search_max_hnsw_ef": 3,
		"search_allow_exact": false, "search_max_oversampling": 1.5}}`), nil)
	sm := collectionConfigOf(t, c, "test_collection")["strict_mode_config"]
	for k, want := range map[string]any{"enabled": true, "max_query_limit": 10.0, "max_timeout": 2.0, "unindexed_filtering_retrieve": false,
		"unindexed_filtering_update": false, "search_max_hnsw_ef": 3.0, "search_allow_exact": false, "search_max_oversampling": 1.5} {
		if got := dig(sm, k); got != want {
			t.Errorf("strict_mode_config.%s = %v, want %v", k, got, want)
		}
	}
	c.ok("PATCH", coll, rawJSON(`{"strict_mode_config": {"enabled": false, "max_query_limit": null}}`), nil)

	six := `{"ids": [1, 2, 3, 4, 5, 6], "payloads": [{}, {}, {}, {}, {}, {}], "vectors": [[1, 2, 3, 5], [1, 2, 3, 5], [1, 2, 3, 5], [1, 2, 3, 5], [1, 2, 3, 5], [1, 2, 3, 5]]}`
	upsert := func() (int, string) {
		status, raw := c.do("PUT", coll+"/points?wait=true", rawJSON(`{"batch": `+six+`}`))
		return status, string(raw)
	}
	batch := func() (int, string) {
		status, raw := c.do("POST", coll+"/points/batch?wait=true", rawJSON(`{"operations": [{"upsert": {"batch": `+six+`}}]}`))
		return status, string(raw)
	}
	vectors := func() (int, string) {
		status, raw := c.do("PUT", coll+"/points/vectors?wait=true", rawJSON(`{"points": [{"id": 1, "vector": [1, 2, 3, 5]},
			{"id": 2, "vector": [1, 2, 3, 5]}, {"id": 3, "vector": [1, 2, 3, 5]}, {"id": 4, "vector": [1, 2, 3, 5]}]}`))
		return status, string(raw)
	}
	for _, tc := range []struct {
		name        string
		send        func() (int, string)
		fits, fails int
		word        string
	}{{"upsert", upsert, 6, 5, "upsert"}, {"batch upsert", batch, 6, 5, "upsert"}, {"vector update", vectors, 4, 3, "update limit"}} {
		c.ok("PATCH", coll, rawJSON(`{"strict_mode_config": {"enabled": false}}`), nil)
		if status, raw := tc.send(); status != 200 {
			t.Errorf("%s without strict mode = %d %s", tc.name, status, raw)
		}
		c.ok("PATCH", coll, map[string]any{"strict_mode_config": map[string]any{"enabled": true, "upsert_max_batchsize": tc.fits}}, nil)
		if status, raw := tc.send(); status != 200 {
			t.Errorf("%s at the limit = %d %s", tc.name, status, raw)
		}
		c.ok("PATCH", coll, map[string]any{"strict_mode_config": map[string]any{"enabled": true, "upsert_max_batchsize": tc.fails}}, nil)
		if status, raw := tc.send(); status == 200 || !strings.Contains(raw, tc.word) {
			t.Errorf("%s over the limit = %d %s, want a refusal naming %q", tc.name, status, raw, tc.word)
		}
	}
}

// TestUpstreamOptionalVectors: the rest of test_optional_vectors.py
// (test_retrieve_deleted_vector, test_update_empty_vectors,
// test_update_vectors_same_point_in_batch, test_no_vectors,
// test_delete_all_vectors). Deleted vectors are absent on retrieve and can
// be set again one by one; within one update the last vector given for a
// point wins; an empty vector map is a 422; an empty filter selects every
// point (lib/collection/src/operations/vector_ops.rs, lib/api/src/rest/
// validate.rs).
func TestUpstreamOptionalVectors(t *testing.T) {
	cl := startCluster(t, Options{Peers: 2})
	c := newClient(t, cl.Peers()[0])
	c.ok("PUT", "/collections/mv", rawJSON(`{"vectors": {"image": {"size": 4, "distance": "Dot"}, "text": {"size": 8, "distance": "Dot"}}}`), nil)
	c.ok("PUT", "/collections/mv/points?wait=true", rawJSON(`{"points": [
		{"id": 1, "vector": {"image": [1, 2, 3, 4], "text": [1, 2, 3, 4, 5, 6, 7, 8]}},
		{"id": 2, "vector": {"image": [1, 2, 3, 4], "text": [1, 2, 3, 4, 5, 6, 7, 8]}},
		{"id": 3, "vector": {"image": [1, 2, 3, 4], "text": [1, 2, 3, 4, 5, 6, 7, 8]}},
		{"id": 4, "vector": {"image": [1, 2, 3, 4], "text": [1, 2, 3, 4, 5, 6, 7, 8]}}]}`), nil)
	c.ok("POST", "/collections/mv/points/vectors/delete?wait=true", rawJSON(`{"points": [1, 3], "vector": ["text"]}`), nil)
	var recs []struct {
		ID     float64        `json:"id"`
		Vector map[string]any `json:"vector"`
	}
	c.ok("POST", "/collections/mv/points", rawJSON(`{"ids": [1, 2, 3, 4], "with_vector": true}`), &recs)
	if len(recs) != 4 {
		t.Fatalf("retrieve = %d records", len(recs))
	}
	for _, r := range recs {
		_, hasText := r.Vector["text"]
		if r.Vector["image"] == nil || hasText != (r.ID == 2 || r.ID == 4) {
			t.Errorf("point %v vectors = %v", r.ID, r.Vector)
		}
	}
	c.ok("POST", "/collections/mv/points/vectors/delete?wait=true", rawJSON(`{"points": [1], "vector": ["image", "text"]}`), nil)
	if v := getRecord(t, c, "mv", 1)["vector"].(map[string]any); len(v) != 0 {
		t.Errorf("after deleting both: %v", v)
	}
	c.ok("PUT", "/collections/mv/points/vectors?wait=true", rawJSON(`{"points": [{"id": 1, "vector": {"text": [8, 7, 6, 5, 4, 3, 2, 1]}}]}`), nil)
	if v := getRecord(t, c, "mv", 1)["vector"].(map[string]any); v["text"] == nil || v["image"] != nil {
		t.Errorf("after setting text: %v", v)
	}
	c.ok("PUT", "/collections/mv/points/vectors?wait=true", rawJSON(`{"points": [
		{"id": 2, "vector": {"image": [0.1, 0.1, 0.1, 0.1]}}, {"id": 2, "vector": {"image": [0.3, 0.6, 0.4, 0.4], "text": [0.8, 0.8, 0.9, 0.2, 0.7, 0.5, 0.2, 0.6]}}]}`), nil)
	if got, _ := json.Marshal(getRecord(t, c, "mv", 2)["vector"]); string(got) != `{"image":[0.3,0.6,0.4,0.4],"text":[0.8,0.8,0.9,0.2,0.7,0.5,0.2,0.6]}` {
		t.Errorf("same point twice: %s", got)
	}
	msg := c.errorOf("PUT", "/collections/mv/points/vectors?wait=true", rawJSON(`{"points": [{"id": 1, "vector": {}}]}`), 422)
	wantContains(t, "empty vectors", msg, "Validation error in JSON body: [points[0].vector: must specify vectors to update for point]")
	c.ok("POST", "/collections/mv/points/vectors/delete?wait=true", rawJSON(`{"filter": {}, "vector": ["image", "text"]}`), nil)
	recs = nil
	c.ok("POST", "/collections/mv/points", rawJSON(`{"ids": [1, 2, 3, 4], "with_vector": true}`), &recs)
	for _, r := range recs {
		if len(r.Vector) != 0 {
			t.Errorf("after deleting all: point %v has %v", r.ID, r.Vector)
		}
	}
}

// TestUpstreamInvalidVectorNames: test_basic_retrieve_multivec_api.py
// test_retrieve_invalid_vector and test_collection_update_multivec.py
// test_invalid_vector_name. Naming a vector the collection lacks, in a
// retrieve's with_vectors or in a PATCH, is a 400 "Not existing vector
// name error" (lib/collection/src/config.rs get_vector_params_mut,
// lib/segment vector name checks).
func TestUpstreamInvalidVectorNames(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	c.ok("PUT", "/collections/mv", rawJSON(`{"vectors": {"image": {"size": 4, "distance": "Dot"}, "text": {"size": 8, "distance": "Dot"}}}`), nil)
	c.ok("PUT", "/collections/mv/points?wait=true", rawJSON(`{"points": [{"id": 1, "vector": {"image": [1, 2, 3, 4]}}]}`), nil)
	const want = "Wrong input: Not existing vector name error: i_do_no_exist"
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/collections/mv/points", `{"ids": [1], "with_vectors": ["text", "image", "i_do_no_exist"]}`},
		{"POST", "/collections/mv/points/scroll", `{"limit": 1, "with_vector": ["i_do_no_exist"]}`},
		{"PATCH", "/collections/mv", `{"vectors": {"i_do_no_exist": {"hnsw_config": {"m": 32}}}}`},
	} {
		if msg := c.errorOf(tc.method, tc.path, rawJSON(tc.body), 400); msg != want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.path, msg, want)
		}
	}
	c.ok("POST", "/collections/mv/points", rawJSON(`{"ids": [1], "with_vectors": ["text", "image"]}`), nil)
}

// TestUpstreamMemoryPlacement: test_memory_placement.py (1.19). memory
// placements are stored and echoed where given and absent otherwise;
// dense vector and payload storage refuse pinned (422,
// validate_dense_vector_memory in lib/collection/src/operations/types.rs,
// validate_payload_storage_memory in lib/collection/src/config.rs), at
// creation and in a PATCH.
func TestUpstreamMemoryPlacement(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	c.ok("PUT", "/collections/mp", rawJSON(`{"vectors": {"size": 4, "distance": "Dot", "memory": "cached", "hnsw_config": {"memory": "cold"},
		"quantization_config": {"scalar": {"type": "int8", "memory": "pinned"}}},
		"sparse_vectors": {"sparse": {"index": {"memory": "cold"}}}, "payload": {"memory": "cached"}}`), nil)
	params := collectionConfigOf(t, c, "mp")["params"]
	for path, want := range map[string]string{"vectors.memory": "cached", "vectors.hnsw_config.memory": "cold",
		"vectors.quantization_config.scalar.memory": "pinned", "sparse_vectors.sparse.index.memory": "cold", "payload.memory": "cached"} {
		if got := dig(params, strings.Split(path, ".")...); got != want {
			t.Errorf("params.%s = %v, want %s", path, got, want)
		}
	}
	c.ok("PUT", "/collections/mp/index?wait=true", rawJSON(`{"field_name": "keyword_field", "field_schema": {"type": "keyword", "memory": "cold"}}`), nil)
	var info map[string]any
	c.ok("GET", "/collections/mp", nil, &info)
	if got := dig(info, "payload_schema", "keyword_field", "params", "memory"); got != "cold" {
		t.Errorf("index params memory = %v", got)
	}

	c.ok("PUT", "/collections/plain", rawJSON(`{"vectors": {"size": 4, "distance": "Dot", "on_disk": true}}`), nil)
	params = collectionConfigOf(t, c, "plain")["params"]
	if _, ok := params.(map[string]any)["payload"]; ok || dig(params, "vectors", "memory") != nil {
		t.Errorf("collection without placements shows them: %v", params)
	}
	for _, body := range []string{`{"vectors": {"size": 4, "distance": "Dot", "memory": "pinned"}}`,
		`{"vectors": {"size": 4, "distance": "Dot"}, "payload": {"memory": "pinned"}}`} {
		wantContains(t, body, c.errorOf("PUT", "/collections/pinned", rawJSON(body), 422), "pinned")
	}
	c.ok("PATCH", "/collections/plain", rawJSON(`{"vectors": {"": {"memory": "cold"}}, "params": {"payload": {"memory": "cached"}}}`), nil)
	params = collectionConfigOf(t, c, "plain")["params"]
	if dig(params, "vectors", "memory") != "cold" || dig(params, "payload", "memory") != "cached" {
		t.Errorf("after PATCH: %v", params)
	}
	wantContains(t, "PATCH pinned", c.errorOf("PATCH", "/collections/plain", rawJSON(`{"vectors": {"": {"memory": "pinned"}}}`), 422), "pinned")
}

// TestUpstreamSparseNaming: test_sparse_vector_persistence.py
// test_sparse_dense_vector_naming_validations. A sparse vector cannot be
// unnamed nor share a dense vector's name (CreateCollectionOperation::new,
// lib/storage/src/content_manager/collection_meta_ops.rs); sparse vectors
// are stored sorted by index (test_sparse_vector_persisted_sorted).
func TestUpstreamSparseNaming(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	for body, want := range map[string]string{
		`{"vectors": {"image": {"size": 4, "distance": "Dot"}}, "sparse_vectors": {"image": {}}}`: "Wrong input: Dense and sparse vector names must be unique - duplicate found with 'image'",
		`{"vectors": {"image": {"size": 4, "distance": "Dot"}}, "sparse_vectors": {"": {}}}`:      "Wrong input: Sparse vector name cannot be empty",
		`{"sparse_vectors": {"": {}}}`: "Wrong input: Sparse vector name cannot be empty",
	} {
		if msg := c.errorOf("PUT", "/collections/naming", rawJSON(body), 400); msg != want {
			t.Errorf("%s: %q, want %q", body, msg, want)
		}
	}
	c.ok("PUT", "/collections/sorted", rawJSON(`{"sparse_vectors": {"text": {}}}`), nil)
	c.ok("PUT", "/collections/sorted/points?wait=true", rawJSON(`{"points": [{"id": 1, "vector": {"text": {"indices": [3, 1, 2], "values": [0.3, 0.1, 0.2]}}}]}`), nil)
	if got, _ := json.Marshal(getRecord(t, c, "sorted", 1)["vector"]); string(got) != `{"text":{"indices":[1,2,3],"values":[0.1,0.2,0.3]}}` {
		t.Errorf("stored sparse vector = %s", got)
	}
}

// TestUpstreamSparseLargeIndices: test_sparse_vector_large.py. Sparse
// indices span the whole u32 range (SparseVector indices are DimId = u32,
// lib/sparse/src/common/types.rs) and read back unchanged, sorted.
func TestUpstreamSparseLargeIndices(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	c.ok("PUT", "/collections/large", rawJSON(`{"sparse_vectors": {"text": {}}}`), nil)
	c.ok("PUT", "/collections/large/points?wait=true", rawJSON(`{"points": [{"id": 1, "vector": {"text": {
		"indices": [808342246, 3331306528, 542569676, 4146668087, 4294967295], "values": [0.5, 0.5, 0.5, 0.5, 0.5]}}}]}`), nil)
	if got, _ := json.Marshal(dig(getRecord(t, c, "large", 1)["vector"], "text", "indices")); string(got) != "[542569676,808342246,3331306528,4146668087,4294967295]" {
		t.Errorf("indices = %s", got)
	}
	c.errorOf("PUT", "/collections/large/points?wait=true", rawJSON(`{"points": [{"id": 2, "vector": {"text": {"indices": [4294967296], "values": [0.5]}}}]}`), 400)
}

// TestUpstreamSparseDenseMix: test_sparse_dense_batch_update.py. Points
// carrying a dense and a sparse vector are replaced whole by a second
// upsert; scroll returns both, the sparse one sorted by index.
func TestUpstreamSparseDenseMix(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	c.ok("PUT", "/collections/mix", rawJSON(`{"vectors": {"image": {"size": 2, "distance": "Euclid"}}, "sparse_vectors": {"text": {}}, "on_disk_payload": false}`), nil)
	points := func(scale int) string {
		var pts []string
		texts := []string{`{"indices": [100, 500, 10], "values": [0.9, 0.8, 0.5]}`, `{"indices": [10], "values": [0.1]}`,
			`{"indices": [55, 20, 101], "values": [0.4, 0.6, 0.1]}`, `{"indices": [66, 12], "values": [0.5, 0.5]}`, `{"indices": [1, 2, 3], "values": [0.1, 0.2, 0.3]}`}
		for i, text := range texts {
			v := itoa(int64((i + 1) * scale))
			pts = append(pts, `{"id": `+itoa(int64(i+1))+`, "vector": {"image": [`+v+`, `+v+`], "text": `+text+`}}`)
		}
		return `{"points": [` + strings.Join(pts, ",") + `]}`
	}
	c.ok("PUT", "/collections/mix/points?wait=true", rawJSON(points(0)), nil)
	c.ok("PUT", "/collections/mix/points?wait=true", rawJSON(points(1)), nil)
	var page struct {
		Points []struct {
			Vector struct {
				Image []float64 `json:"image"`
				Text  struct {
					Indices []int `json:"indices"`
				} `json:"text"`
			} `json:"vector"`
		} `json:"points"`
	}
	c.ok("POST", "/collections/mix/points/scroll", rawJSON(`{"limit": 10, "with_vector": true}`), &page)
	if len(page.Points) != 5 {
		t.Fatalf("scroll = %d points", len(page.Points))
	}
	p := page.Points[2].Vector
	if fmt.Sprint(p.Image) != "[3 3]" || fmt.Sprint(p.Text.Indices) != "[20 55 101]" {
		t.Errorf("point 3 = %+v, want image [3 3] and indices [20 55 101]", p)
	}
}

// TestUpstreamMultiVectors: test_multi_vector.py and
// test_multi_vector_unnamed.py (test_multi_vector_float_persisted,
// test_multi_vector_validation, test_upsert_legacy_api). Multivectors read
// back as given; a plain dense vector given for a multivector is stored
// as a multivector of one; empty and ragged multivectors are refused with
// the messages of validate_multi_vector (lib/common/common/src/
// validation.rs) and validate_non_empty_dense.
func TestUpstreamMultiVectors(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	for _, named := range []bool{true, false} {
		coll, wrap := "multi_unnamed", func(v string) string { return v }
		cfg := `{"size": 4, "distance": "Dot", "multivector_config": {"comparator": "max_sim"}}`
		if named {
			coll, wrap = "multi_named", func(v string) string { return `{"my-multivec": ` + v + `}` }
			cfg = `{"my-multivec": ` + cfg + `}`
		}
		c.ok("PUT", "/collections/"+coll, rawJSON(`{"vectors": `+cfg+`}`), nil)
		path := "/collections/" + coll + "/points?wait=true"
		c.ok("PUT", path, rawJSON(`{"points": [
			{"id": 1, "vector": `+wrap(`[[0.05, 0.61, 0.76, 0.74], [0.05, 0.61, 0.76, 0.74], [0.05, 0.61, 0.76, 0.74]]`)+`},
			{"id": 2, "vector": `+wrap(`[0.19, 0.81, 0.75, 0.11]`)+`}]}`), nil)
		vec := func(id int) string {
			v := getRecord(t, c, coll, id)["vector"]
			if named {
				v = dig(v, "my-multivec")
			}
			b, _ := json.Marshal(v)
			return string(b)
		}
		if got := vec(1); got != "[[0.05,0.61,0.76,0.74],[0.05,0.61,0.76,0.74],[0.05,0.61,0.76,0.74]]" {
			t.Errorf("%s point 1 = %s", coll, got)
		}
		if got := vec(2); got != "[[0.19,0.81,0.75,0.11]]" {
			t.Errorf("%s point 2 (dense given) = %s", coll, got)
		}
		if named {
			wantContains(t, "empty", c.errorOf("PUT", path, rawJSON(`{"points": [{"id": 1, "vector": {"my-multivec": []}}]}`), 422), "dense vector must not be empty")
		}
		for body, want := range map[string]string{
			wrap(`[[]]`):                           "Validation error in JSON body: [points[0].vector.?.data: all vectors must be non-empty]",
			wrap(`[[0.05, 0.61, 0.76, 0.74], []]`): "Validation error in JSON body: [points[0].vector.?.data: all vectors must be non-empty]",
			wrap(`[[0.05, 0.61, 0.76, 0.74], [0.05, 0.61, 0.76]]`): "Validation error in JSON body: [points[0].vector.?.data: all vectors must have the same dimension, found vector with dimension 3",
		} {
			if !named {
				// test_multi_vector_unnamed.py only asserts a validation
				// error for the unnamed form.
				want = "Validation error in JSON body"
			}
			msg := c.errorOf("PUT", path, rawJSON(`{"points": [{"id": 1, "vector": `+body+`}]}`), 422)
			if !strings.Contains(msg, want) {
				t.Errorf("%s %s: %q, want %q", coll, body, msg, want)
			}
		}
	}
}

// TestUpstreamBatchPayload: test_batch_update.py test_batch_update_payload.
// Payload operations in one batch apply in order: overwrites on two
// points, clears, then overwrite, set and delete on one point leave
// {"test_payload_1": "1", "test_payload_3": "3"}.
func TestUpstreamBatchPayload(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	basicCollectionSetup(t, c, "test_collection")
	const batch = "/collections/test_collection/points/batch?wait=true"
	payloads := func() string {
		b1, _ := json.Marshal(payloadOf(t, c, "test_collection", 1))
		b2, _ := json.Marshal(payloadOf(t, c, "test_collection", 2))
		return string(b1) + " " + string(b2)
	}
	c.ok("POST", batch, rawJSON(`{"operations": [{"overwrite_payload": {"payload": {"test_payload": "1"}, "points": [1]}},
		{"overwrite_payload": {"payload": {"test_payload": "2"}, "points": [2]}}]}`), nil)
	if got := payloads(); got != `{"test_payload":"1"} {"test_payload":"2"}` {
		t.Errorf("after overwrites: %s", got)
	}
	c.ok("POST", batch, rawJSON(`{"operations": [{"clear_payload": {"points": [1]}}, {"clear_payload": {"points": [2]}}]}`), nil)
	if got := payloads(); got != `{} {}` {
		t.Errorf("after clears: %s", got)
	}
	c.ok("POST", batch, rawJSON(`{"operations": [{"overwrite_payload": {"payload": {"test_payload_1": "1"}, "points": [1]}},
		{"set_payload": {"payload": {"test_payload_2": "2", "test_payload_3": "3"}, "points": [1]}},
		{"delete_payload": {"keys": ["test_payload_2"], "points": [1]}}]}`), nil)
	if got, _ := json.Marshal(payloadOf(t, c, "test_collection", 1)); string(got) != `{"test_payload_1":"1","test_payload_3":"3"}` {
		t.Errorf("after one point's sequence: %s", got)
	}
}

// matchFixture is the collection of test_match_any_empty.py and
// test_match_except_empty.py: three points with an integer n, a keyword
// tag and a UUID string uid.
func matchFixture(t *testing.T, c client, name string) {
	t.Helper()
	c.ok("DELETE", "/collections/"+name, nil, nil)
	c.ok("PUT", "/collections/"+name, map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}}, nil)
	c.ok("PUT", "/collections/"+name+"/points?wait=true", rawJSON(`{"points": [
		{"id": 1, "vector": [1.0, 0.0], "payload": {"n": 1, "tag": "a", "uid": "550e8400-e29b-41d4-a716-446655440001"}},
		{"id": 2, "vector": [0.0, 1.0], "payload": {"n": 2, "tag": "b", "uid": "550e8400-e29b-41d4-a716-446655440002"}},
		{"id": 3, "vector": [1.0, 1.0], "payload": {"n": 3, "tag": "c", "uid": "550e8400-e29b-41d4-a716-446655440003"}}
	]}`), nil)
}

func idsString(ids []float64) string { return fmt.Sprint(ids) }

// TestUpstreamMatchAnyExcept: test_match_any_empty.py and
// test_match_except_empty.py. match any/except compare a value of the
// list's type (an empty list is the strings variant, AnyVariants in
// lib/segment/src/types.rs); any:[] matches nothing, except:[] and an
// except list of the other type match every point that has the field
// (condition_checker.rs Match::Except), with or without an index. With
// strict mode's unindexed_filtering_retrieve false, an empty list needs no
// index (infer_index_from_any_variants, lib/collection/src/problems/
// unindexed_field.rs).
func TestUpstreamMatchAnyExcept(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_match_any_except"
	matchFixture(t, c, coll)
	cases := []struct {
		key, match string
		want       string
	}{
		{"n", `{"any": []}`, "[]"},
		{"tag", `{"any": []}`, "[]"},
		{"uid", `{"any": []}`, "[]"},
		{"n", `{"any": [1]}`, "[1]"},
		{"tag", `{"any": ["a"]}`, "[1]"},
		{"n", `{"any": [1, 2]}`, "[1 2]"},
		{"tag", `{"any": ["a", "b"]}`, "[1 2]"},
		{"n", `{"except": []}`, "[1 2 3]"},
		{"tag", `{"except": []}`, "[1 2 3]"},
		{"uid", `{"except": []}`, "[1 2 3]"},
		{"n", `{"except": [1]}`, "[2 3]"},
		{"tag", `{"except": ["a"]}`, "[2 3]"},
		{"uid", `{"except": ["550e8400-e29b-41d4-a716-446655440001"]}`, "[2 3]"},
		{"n", `{"except": ["foo", "bar"]}`, "[1 2 3]"},
		{"tag", `{"except": [999, 888]}`, "[1 2 3]"},
		{"uid", `{"except": [999, 888]}`, "[1 2 3]"},
		{"n", `{"except": [1, 2, 3]}`, "[]"},
		{"tag", `{"except": ["a", "b", "c"]}`, "[]"},
		{"uid", `{"except": ["550e8400-e29b-41d4-a716-446655440001", "550e8400-e29b-41d4-a716-446655440002", "550e8400-e29b-41d4-a716-446655440003"]}`, "[]"},
	}
	run := func(stage string) {
		for _, tc := range cases {
			got := idsString(scrollIDs(t, c, coll, `{"must": [{"key": "`+tc.key+`", "match": `+tc.match+`}]}`))
			if got != tc.want {
				t.Errorf("%s: %s %s = %s, want %s", stage, tc.key, tc.match, got, tc.want)
			}
		}
	}
	run("no index")
	for field, schema := range map[string]string{"n": "integer", "tag": "keyword", "uid": "uuid"} {
		c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": field, "field_schema": schema}, nil)
	}
	run("indexed")

	c.ok("PATCH", "/collections/"+coll, map[string]any{"strict_mode_config": map[string]any{
		"enabled": true, "unindexed_filtering_retrieve": false}}, nil)
	for _, tc := range []struct{ filter, want string }{
		{`{"must": [{"key": "n", "match": {"any": [1]}}]}`, "[1]"},
		{`{"must": [{"key": "n", "match": {"any": []}}]}`, "[]"},
		{`{"must": [{"key": "uid", "match": {"any": []}}]}`, "[]"},
		{`{"must_not": [{"key": "n", "match": {"any": []}}]}`, "[1 2 3]"},
	} {
		if got := idsString(scrollIDs(t, c, coll, tc.filter)); got != tc.want {
			t.Errorf("strict mode: %s = %s, want %s", tc.filter, got, tc.want)
		}
	}
	// The check is real: a field without an index is refused.
	msg := c.errorOf("POST", "/collections/"+coll+"/points/scroll",
		rawJSON(`{"filter": {"must": [{"key": "other", "match": {"any": [1]}}]}}`), 400)
	want := `Bad request: Index required but not found for "other" of one of the following types: [integer]. Help: Create an index for this key or use a different filter.`
	if msg != want {
		t.Errorf("unindexed key: %q, want %q", msg, want)
	}
}

// facetHits posts a facet request and returns its hits.
func facetHits(t *testing.T, c client, coll string, body string) []FacetHit {
	t.Helper()
	var res FacetResult
	c.ok("POST", "/collections/"+coll+"/facet", rawJSON(body), &res)
	return res.Hits
}

// TestUpstreamFacets: test_facets.py and test_prefix_match.py
// test_facet_with_prefix_filter. Facets count the points holding each
// value of a keyword, integer, uuid or bool index, sorted by count
// descending then value ascending (lib/segment/src/data_types/facets.rs),
// after the filter; a key without such an index is refused
// (MissingMapIndexForFacet).
func TestUpstreamFacets(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_facets"
	basicCollectionSetup(t, c, coll)
	var pts []string
	for i, p := range []struct {
		n    int
		uuid string
		b    bool
	}{{3, "a64a8051-3ee7-4881-8bc6-691d25c70d54", true}, {3, "a64a8051-3ee7-4881-8bc6-691d25c70d54", true},
		{3, "7cb46fb3-e348-4762-93ad-7fb983d2b85e", false}, {0, "2b016c50-282c-4d80-b784-cefead291180", true},
		{3, "a64a8051-3ee7-4881-8bc6-691d25c70d54", true}, {1, "a64a8051-3ee7-4881-8bc6-691d25c70d54", false},
		{2, "7cb46fb3-e348-4762-93ad-7fb983d2b85e", false}, {0, "a64a8051-3ee7-4881-8bc6-691d25c70d54", true}} {
		pts = append(pts, fmt.Sprintf(`{"id": %d, "vector": {}, "payload": {"integer": %d, "uuid": %q, "boolean": %t}}`, 100+i, p.n, p.uuid, p.b))
	}
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(`{"points": [`+strings.Join(pts, ",")+`]}`), nil)
	msg := c.errorOf("POST", "/collections/"+coll+"/facet", rawJSON(`{"key": "city"}`), 400)
	wantContains(t, "facet without an index", msg, "No appropriate index for faceting: `city`")
	for field, schema := range map[string]string{"city": "keyword", "integer": "integer", "uuid": "uuid", "boolean": "bool"} {
		c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": field, "field_schema": schema}, nil)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"key": "city"}`, `[{Berlin 3} {London 2} {Moscow 2}]`},
		{`{"key": "integer"}`, `[{3 4} {0 2} {1 1} {2 1}]`},
		{`{"key": "uuid"}`, `[{a64a8051-3ee7-4881-8bc6-691d25c70d54 5} {7cb46fb3-e348-4762-93ad-7fb983d2b85e 2} {2b016c50-282c-4d80-b784-cefead291180 1}]`},
		{`{"key": "boolean"}`, `[{true 5} {false 3}]`},
		{`{"key": "integer", "limit": 2}`, `[{3 4} {0 2}]`},
		{`{"key": "city", "filter": {"must": [{"key": "price", "range": {"gte": 10}}]}}`, `[{Berlin 2} {London 1}]`},
	} {
		if got := fmt.Sprint(facetHits(t, c, coll, tc.body)); got != tc.want {
			t.Errorf("facet %s = %s, want %s", tc.body, got, tc.want)
		}
	}

	// test_facet_with_prefix_filter: every value of the matching points.
	prefixFixture(t, c, "test_prefix_match")
	c.ok("PUT", "/collections/test_prefix_match/index?wait=true", map[string]any{"field_name": "url",
		"field_schema": map[string]any{"type": "keyword", "prefix": true}}, nil)
	got := fmt.Sprint(facetHits(t, c, "test_prefix_match", `{"key": "url", "filter": {"must": [{"key": "url", "match": {"prefix": "https://q"}}]}}`))
	if want := `[{http://example.com 1} {https://qdrant.tech 1} {https://qdrant.tech/blog 1} {https://qdrant.tech/docs 1}]`; got != want {
		t.Errorf("facet with a prefix filter = %s, want %s", got, want)
	}
}

// prefixURLs is test_prefix_match.py's POINT_URLS; point 6 has no url.
var prefixURLs = map[int]any{1: "https://qdrant.tech", 2: "https://qdrant.tech/docs", 3: "https://example.com",
	4: []any{"http://example.com", "https://qdrant.tech/blog"}, 5: "ftp://files.example.com"}

func prefixFixture(t *testing.T, c client, coll string) {
	t.Helper()
	c.ok("DELETE", "/collections/"+coll, nil, nil)
	c.ok("PUT", "/collections/"+coll, map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}}, nil)
	var pts []any
	for id := 1; id <= 6; id++ {
		payload := map[string]any{"tag": "odd"}
		if id%2 == 0 {
			payload["tag"] = "even"
		}
		if u, ok := prefixURLs[id]; ok {
			payload["url"] = u
		}
		pts = append(pts, map[string]any{"id": id, "vector": []float64{1, 0}, "payload": payload})
	}
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", map[string]any{"points": pts}, nil)
}

// TestUpstreamPrefixMatch: test_prefix_match.py. match prefix is a
// case-sensitive starts_with on string values, any element of an array
// (condition_checker.rs Match::Prefix), the same with a prefix keyword
// index, whose params are echoed in payload_schema; under strict mode a
// prefix filter needs a keyword index with prefix: true
// (unindexed_field.rs KeywordPrefix).
func TestUpstreamPrefixMatch(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_prefix_match"
	prefixFixture(t, c, coll)
	expected := func(prefix string) string {
		var ids []float64
		for id := 1; id <= 6; id++ {
			var vals []any
			switch u := prefixURLs[id].(type) {
			case string:
				vals = []any{u}
			case []any:
				vals = u
			}
			for _, v := range vals {
				if strings.HasPrefix(v.(string), prefix) {
					ids = append(ids, float64(id))
					break
				}
			}
		}
		return idsString(ids)
	}
	filter := func(key, prefix string) string {
		return fmt.Sprintf(`{"must": [{"key": %q, "match": {"prefix": %q}}]}`, key, prefix)
	}
	probes := []string{"https://qdrant.", "https://", "http", "ftp://", "https://example.com", "nonexistent", ""}
	check := func(stage string) {
		for _, p := range probes {
			if got, want := idsString(scrollIDs(t, c, coll, filter("url", p))), expected(p); got != want {
				t.Errorf("%s: prefix %q = %s, want %s", stage, p, got, want)
			}
		}
	}
	check("no index")
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "url",
		"field_schema": map[string]any{"type": "keyword", "prefix": true}}, nil)
	var info struct {
		PayloadSchema map[string]struct {
			DataType string         `json:"data_type"`
			Params   map[string]any `json:"params"`
		} `json:"payload_schema"`
	}
	c.ok("GET", "/collections/"+coll, nil, &info)
	if s := info.PayloadSchema["url"]; s.DataType != "keyword" || s.Params["prefix"] != true {
		t.Errorf("payload_schema.url = %+v, want keyword with prefix true", s)
	}
	check("prefix index")
	var n struct {
		Count int `json:"count"`
	}
	c.ok("POST", "/collections/"+coll+"/points/count", rawJSON(`{"exact": true, "filter": `+filter("url", "https://qdrant.")+`}`), &n)
	if n.Count != 3 {
		t.Errorf("count of prefix https://qdrant. = %d, want 3", n.Count)
	}

	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "tag", "field_schema": "keyword"}, nil)
	c.ok("PATCH", "/collections/"+coll, map[string]any{"strict_mode_config": map[string]any{"enabled": true, "unindexed_filtering_retrieve": false}}, nil)
	if got := idsString(scrollIDs(t, c, coll, `{"must": [{"key": "tag", "match": {"value": "odd"}}]}`)); got != "[1 3 5]" {
		t.Errorf("strict mode, exact match on a keyword index = %s, want [1 3 5]", got)
	}
	msg := c.errorOf("POST", "/collections/"+coll+"/points/scroll", rawJSON(`{"filter": `+filter("tag", "od")+`}`), 400)
	if want := `Bad request: Index required but not found for "tag" of one of the following types: [keyword (with prefix: true)]. Help: Create an index for this key or use a different filter.`; msg != want {
		t.Errorf("strict mode, prefix on a plain keyword index: %q, want %q", msg, want)
	}
	if got := idsString(scrollIDs(t, c, coll, filter("url", "https://qdrant."))); got != "[1 2 4]" {
		t.Errorf("strict mode, prefix on a prefix index = %s, want [1 2 4]", got)
	}
}

// TestUpstreamFilterConditions: test_filter_values_count_missing_field.py,
// test_filter_is_empty.py (scroll half) and test_filter_slice.py, on the
// filter language of lib/segment/src/payload_storage/query_checker.rs: a
// missing field has zero values for values_count (FieldCondition::
// check_empty), is_empty holds for a missing field, null and [] also after
// clear_payload and an index rebuild, and slice conditions split the ids
// (numeric and UUID) into disjoint sets by SipHash (types.rs Slice); an
// index out of range is a 422, a zero total a 400 (NonZeroU32).
func TestUpstreamFilterConditions(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])

	const vc = "test_values_count"
	c.ok("PUT", "/collections/"+vc, map[string]any{"vectors": map[string]any{"size": 4, "distance": "Cosine"}}, nil)
	c.ok("PUT", "/collections/"+vc+"/points?wait=true", rawJSON(`{"points": [
		{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4], "payload": {"tags": ["a", "b", "c"]}},
		{"id": 2, "vector": [0.2, 0.3, 0.4, 0.5], "payload": {"tags": ["x"]}},
		{"id": 3, "vector": [0.3, 0.4, 0.5, 0.6], "payload": {"title": "no tags field"}}]}`), nil)
	for cond, want := range map[string]string{`{"lt": 1}`: "[3]", `{"gte": 0}`: "[1 2 3]", `{"lte": 0}`: "[3]", `{"gt": 1}`: "[1]"} {
		if got := idsString(scrollIDs(t, c, vc, `{"must": [{"key": "tags", "values_count": `+cond+`}]}`)); got != want {
			t.Errorf("values_count %s = %s, want %s", cond, got, want)
		}
	}

	const ie = "test_is_empty"
	c.ok("PUT", "/collections/"+ie, map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}}, nil)
	index := map[string]any{"field_name": "status", "field_schema": map[string]any{"type": "keyword", "on_disk": true}}
	c.ok("PUT", "/collections/"+ie+"/index?wait=true", index, nil)
	c.ok("PUT", "/collections/"+ie+"/points?wait=true", rawJSON(`{"points": [
		{"id": 1, "vector": [1.0, 0.0], "payload": {"status": null}},
		{"id": 2, "vector": [0.0, 1.0], "payload": {}},
		{"id": 3, "vector": [1.0, 1.0], "payload": {"status": "live"}}]}`), nil)
	isEmpty := func(stage string) {
		t.Helper()
		if got := idsString(scrollIDs(t, c, ie, `{"must": [{"is_empty": {"key": "status"}}]}`)); got != "[1 2]" {
			t.Errorf("%s: is_empty status = %s, want [1 2]", stage, got)
		}
	}
	isEmpty("initial")
	c.ok("POST", "/collections/"+ie+"/points/payload/clear?wait=true", map[string]any{"points": []int{1}}, nil)
	isEmpty("after clear")
	c.ok("DELETE", "/collections/"+ie+"/index/status?wait=true", nil, nil)
	c.ok("PUT", "/collections/"+ie+"/index?wait=true", index, nil)
	isEmpty("after rebuild")

	const sl = "test_slice"
	c.ok("PUT", "/collections/"+sl, map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}}, nil)
	var pts []any
	for i := range 16 {
		pts = append(pts, map[string]any{"id": i, "vector": []float64{0.1, 0.2}},
			map[string]any{"id": fmt.Sprintf("00000000-0000-0000-0000-%012x", i), "vector": []float64{0.1, 0.2}})
	}
	c.ok("PUT", "/collections/"+sl+"/points?wait=true", map[string]any{"points": pts}, nil)
	slice := func(clause string, index int) map[string]bool {
		t.Helper()
		var page struct {
			Points []struct {
				ID any `json:"id"`
			} `json:"points"`
		}
		c.ok("POST", "/collections/"+sl+"/points/scroll", rawJSON(fmt.Sprintf(
			`{"filter": {%q: [{"slice": {"total": 4, "index": %d}}]}, "limit": 33, "with_payload": false, "with_vector": false}`, clause, index)), &page)
		out := map[string]bool{}
		for _, p := range page.Points {
			out[fmt.Sprint(p.ID)] = true
		}
		return out
	}
	seen := map[string]bool{}
	for i := range 4 {
		part := slice("must", i)
		if len(part) == 32 || len(part) == 0 {
			t.Errorf("slice %d of 4 has %d of 32 points: no partition", i, len(part))
		}
		for id := range part {
			if seen[id] {
				t.Errorf("point %s is in two slices", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != 32 {
		t.Errorf("slices cover %d of 32 points", len(seen))
	}
	if inv, s0 := slice("must_not", 0), slice("must", 0); len(inv) != 32-len(s0) {
		t.Errorf("must_not slice 0 = %d points, want %d", len(inv), 32-len(s0))
	}
	msg := c.errorOf("POST", "/collections/"+sl+"/points/scroll", rawJSON(`{"filter": {"must": [{"slice": {"total": 4, "index": 4}}]}, "limit": 1}`), 422)
	wantContains(t, "slice index out of range", msg, "Validation error in JSON body", "Slice index must be less than the total number of slices")
	c.errorOf("POST", "/collections/"+sl+"/points/scroll", rawJSON(`{"filter": {"must": [{"slice": {"total": 0, "index": 0}}]}, "limit": 1}`), 400)
	// An empty field condition is refused by validation (types.rs
	// validate_field_condition), as in test_batch_update_multivec.py.
	msg = c.errorOf("POST", "/collections/"+sl+"/points/scroll", rawJSON(`{"filter": {"must": [{"key": "empty"}]}}`), 422)
	wantContains(t, "empty field condition", msg, "Validation error in JSON body", "At least one field condition must be specified")
}

// TestUpstreamStrictModeFilters: test_strictmode.py
// test_strict_mode_unindexed_filter_phrase_read_validation and
// test_strict_mode_unindexed_filter_write_validation: with
// unindexed_filtering_retrieve false a phrase match needs a text index with
// phrase_matching, a text match any text index; with
// unindexed_filtering_update false a filtered delete needs an index on
// its keys (verification/mod.rs check_request_filter). Also
// filter_max_conditions (check_filter_limits).
func TestUpstreamStrictModeFilters(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_strict_filters"
	basicCollectionSetup(t, c, coll)
	strict := func(cfg map[string]any) {
		c.ok("PATCH", "/collections/"+coll, map[string]any{"strict_mode_config": cfg}, nil)
	}
	strict(map[string]any{"enabled": true, "unindexed_filtering_retrieve": false})
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "t", "field_schema": map[string]any{"type": "text"}}, nil)
	scroll := func(kind string) (int, []byte) {
		return c.do("POST", "/collections/"+coll+"/points/scroll", rawJSON(`{"filter": {"must": [{"key": "t", "match": {"`+kind+`": "some text"}}]}}`))
	}
	if st, raw := scroll("text"); st != 200 {
		t.Errorf("text match on a text index = %d %s", st, raw)
	}
	msg := c.errorOf("POST", "/collections/"+coll+"/points/scroll", rawJSON(`{"filter": {"must": [{"key": "t", "match": {"phrase": "some text"}}]}}`), 400)
	wantContains(t, "phrase without phrase_matching", msg, `Index required but not found for "t" of one of the following types: [text (with phrase_matching: true)]`, "Help: Create an index")
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "t", "field_schema": map[string]any{"type": "text", "phrase_matching": true}}, nil)
	for _, kind := range []string{"text", "phrase"} {
		if st, raw := scroll(kind); st != 200 {
			t.Errorf("%s match on a phrase index = %d %s", kind, st, raw)
		}
	}

	del := `{"filter": {"must": [{"key": "city", "match": {"value": "Berlin"}}]}}`
	strict(map[string]any{"enabled": true, "unindexed_filtering_update": true})
	c.ok("POST", "/collections/"+coll+"/points/delete?wait=true", rawJSON(del), nil)
	basicCollectionSetup(t, c, coll)
	strict(map[string]any{"enabled": true, "unindexed_filtering_update": false})
	msg = c.errorOf("POST", "/collections/"+coll+"/points/delete?wait=true", rawJSON(del), 400)
	wantContains(t, "unindexed filtered delete", msg, `"city"`, "[keyword]")
	var n struct {
		Count int `json:"count"`
	}
	c.ok("POST", "/collections/"+coll+"/points/count", map[string]any{"exact": true}, &n)
	if n.Count != 10 {
		t.Errorf("a refused delete changed the collection: %d points, want 10", n.Count)
	}
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "city", "field_schema": "keyword"}, nil)
	c.ok("POST", "/collections/"+coll+"/points/delete?wait=true", rawJSON(del), nil)
	c.ok("POST", "/collections/"+coll+"/points/count", map[string]any{"exact": true}, &n)
	if n.Count != 7 {
		t.Errorf("after the indexed delete: %d points, want 7", n.Count)
	}

	strict(map[string]any{"enabled": true, "filter_max_conditions": 2})
	msg = c.errorOf("POST", "/collections/"+coll+"/points/count", rawJSON(`{"filter": {"must": [
		{"key": "price", "range": {"gt": 1}}, {"has_id": [1]}, {"must": [{"key": "count", "match": {"value": 0}}]}]}}`), 400)
	if want := "Bad request: Filter condition limit reached (3 > 2). Help: Reduce the amount of conditions of your filter."; msg != want {
		t.Errorf("filter_max_conditions: %q, want %q", msg, want)
	}
}

// setPayloadOf is test_payload_indexing.py set_payload.
func setPayloadOf(t *testing.T, c client, coll string, payload map[string]any, ids ...int) {
	t.Helper()
	c.ok("POST", "/collections/"+coll+"/points/payload?wait=true", map[string]any{"payload": payload, "points": ids}, nil)
}

// TestUpstreamPayloadIndexTypes: test_payload_indexing.py
// test_index_with_numeric_key, test_datetime_indexing,
// test_update_payload_on_indexed_field and test_payload_schemas. A
// datetime range takes RFC 3339 and the naive forms of
// DateTimePayloadType::from_str (lib/segment/src/types.rs) and refuses
// anything else; a set-payload on other keys leaves an indexed match
// alone; payload_schema echoes each schema's params as given, with no
// params for a bare type.
func TestUpstreamPayloadIndexTypes(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_payload_index_types"
	basicCollectionSetup(t, c, coll)
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "123", "field_schema": "keyword"}, nil)

	const dt = "datetime_payload"
	setPayloadOf(t, c, coll, map[string]any{dt: "2015-01-01T00:00:00Z"}, 1)
	setPayloadOf(t, c, coll, map[string]any{dt: "2015-02-01T08:00:00+02:00"}, 2)
	setPayloadOf(t, c, coll, map[string]any{dt: "2015-03-01T12:30"}, 3)
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": dt, "field_schema": "datetime"}, nil)
	rng := func(gte, lte string) string {
		return fmt.Sprintf(`{"must": [{"key": %q, "range": {"gte": %q, "lte": %q}}]}`, dt, gte, lte)
	}
	for _, tc := range []struct{ gte, lte, want string }{
		{"2015-03-01T12:30", "2015-03-01T12:30", "[3]"},
		{"2015-01-01", "2015-01-01 00:00", "[1]"},
		{"2015-01-01T01:00:00+01:00", "2015-01-01T01:00:00+01:00", "[1]"},
		{"2015-02-01T06:00:00", "2015-02-01T06:00:00Z", "[2]"},
		{"2015-02-01T06:00:00.000000000", "2015-02-01T06:00:00.000000000", "[2]"},
		{"2015-01-01T00:00", "2015-01-01T00:00", "[1]"},
		{"2015-02-01T06:00", "2015-02-01T06:00", "[2]"},
		{"2015-01-01", "2015-12-31", "[1 2 3]"},
	} {
		if got := idsString(scrollIDs(t, c, coll, rng(tc.gte, tc.lte))); got != tc.want {
			t.Errorf("datetime range %s..%s = %s, want %s", tc.gte, tc.lte, got, tc.want)
		}
	}
	for _, bad := range [][2]string{
		{"Thu, 01 Jan 2015 01:00:00 +0100", "Thu, 01 Jan 2015 01:00:00 +0100"}, {"1422758400000", "1422758400000"},
		{"1420070400", "1420070400"}, {"2015-02-01 06:00:00 AM", "2015-02-01 06:00:00 AM"}, {"20150201", "20150201"},
		{"20150201T060000.000Z", "20150201T060000.000Z"}, {"2015032T060000Z", "2015032T060000Z"},
		{"2015032T060000Z", "2015-02-01T06:00:00"},
	} {
		c.errorOf("POST", "/collections/"+coll+"/points/scroll", rawJSON(`{"with_vector": false, "filter": `+rng(bad[0], bad[1])+`}`), 400)
	}

	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "city", "field_schema": "keyword"}, nil)
	c.ok("PATCH", "/collections/"+coll, map[string]any{"optimizers_config": map[string]any{"indexing_threshold": 100}}, nil)
	berlin := `{"must": [{"key": "city", "match": {"value": "Berlin"}}]}`
	if got := idsString(scrollIDs(t, c, coll, berlin)); got != "[1 2 3]" {
		t.Errorf("Berlin = %s, want [1 2 3]", got)
	}
	setPayloadOf(t, c, coll, map[string]any{"foo": "bar"}, 2, 4)
	if got := idsString(scrollIDs(t, c, coll, berlin)); got != "[1 2 3]" {
		t.Errorf("Berlin after setting another key = %s, want [1 2 3]", got)
	}

	schemas := []string{`"keyword"`, `"integer"`, `"float"`, `"geo"`, `"text"`, `"bool"`, `"datetime"`, `"uuid"`,
		`{"type": "keyword", "is_tenant": true, "on_disk": true, "enable_hnsw": true}`,
		`{"type": "integer", "lookup": true, "range": true, "is_principal": true, "on_disk": true, "enable_hnsw": true}`,
		`{"type": "float", "on_disk": true, "is_principal": true, "enable_hnsw": true}`,
		`{"type": "geo", "enable_hnsw": true}`,
		`{"type": "text", "tokenizer": "word", "lowercase": true, "min_token_len": 2, "max_token_len": 10, "enable_hnsw": true}`,
		`{"type": "bool", "enable_hnsw": true}`,
		`{"type": "datetime", "on_disk": true, "is_principal": true, "enable_hnsw": true}`,
		`{"type": "uuid", "is_tenant": true, "on_disk": true, "enable_hnsw": true}`}
	for i, s := range schemas {
		c.ok("PUT", "/collections/"+coll+"/index?wait=true", rawJSON(fmt.Sprintf(`{"field_name": "field_%02d", "field_schema": %s}`, i, s)), nil)
	}
	var info struct {
		PayloadSchema map[string]map[string]any `json:"payload_schema"`
	}
	c.ok("GET", "/collections/"+coll, nil, &info)
	for i, s := range schemas {
		got := info.PayloadSchema[fmt.Sprintf("field_%02d", i)]
		var want any
		_ = json.Unmarshal([]byte(s), &want)
		if name, ok := want.(string); ok {
			if _, has := got["params"]; got["data_type"] != name || has {
				t.Errorf("field_%02d schema = %v, want data_type %s and no params", i, got, name)
			}
		} else if w := want.(map[string]any); got["data_type"] != w["type"] || fmt.Sprint(got["params"]) != fmt.Sprint(w) {
			t.Errorf("field_%02d schema = %v, want data_type %v and params %v", i, got, w["type"], w)
		}
		if got["points"] != float64(0) {
			t.Errorf("field_%02d points = %v, want 0", i, got["points"])
		}
	}
}

// nestedPayloadFixture is test_nested_payload_indexing.py
// nested_payload_collection_setup: countries with arrays of city objects.
const nestedPayloadFixture = `{"points": [
		{"id": 1, "vector": [0.05, 0.61, 0.76, 0.74], "payload": {"country": {"name": "Germany", "capital": "Berlin", "cities": [{"name": "Berlin", "population": 3.7, "location": {"lon": 13.76116, "lat": 52.33826}, "sightseeing": ["Brandenburg Gate", "Reichstag"]}, {"name": "Munich", "population": 1.5, "location": {"lon": 11.57549, "lat": 48.13743}, "sightseeing": ["Marienplatz", "Olympiapark"]}, {"name": "Hamburg", "population": 1.8, "location": {"lon": 9.99368, "lat": 53.55108}, "sightseeing": ["Reeperbahn", "Elbphilharmonie"]}]}}},
		{"id": 2, "vector": [0.19, 0.81, 0.75, 0.11], "payload": {"country": {"name": "England", "capital": "London", "cities": [{"name": "London", "population": 8.9, "location": {"lon": -0.12755, "lat": 51.50722}, "sightseeing": ["Big Ben", "London Eye", "Buckingham Palace"]}, {"name": "Manchester", "population": 2.5, "location": {"lon": -2.23743, "lat": 53.48095}, "sightseeing": ["Manchester United", "Manchester City"]}, {"name": "Liverpool", "population": 0.5, "location": {"lon": -2.97794, "lat": 53.41058}, "sightseeing": ["Anfield", "Albert Dock"]}]}}},
		{"id": 3, "vector": [0.36, 0.55, 0.47, 0.94], "payload": {"country": {"name": "France", "capital": "Paris", "cities": [{"name": "Paris", "population": 2.2, "location": {"lon": 2.35222, "lat": 48.85661}, "sightseeing": ["Eiffel Tower", "Louvre", "Notre Dame", "Arc de Triomphe"]}, {"name": "Marseille", "population": 0.9, "location": {"lon": 5.36978, "lat": 43.29648}, "sightseeing": ["Vieux Port", "Notre Dame de la Garde"]}, {"name": "Lyon", "population": 0.5, "location": {"lon": 4.83565, "lat": 45.76404}, "sightseeing": ["Place Bellecour", "Fourvière Basilica"]}]}}},
		{"id": 4, "vector": [0.18, 0.01, 0.85, 0.8], "payload": {"country": {"name": "Japan", "capital": "Tokyo", "cities": [{"name": "Tokyo", "population": 9.3, "location": {"lon": 139.69171, "lat": 35.6895}, "sightseeing": ["Tokyo Tower", "Tokyo Skytree"]}, {"name": "Osaka", "population": 2.7, "location": {"lon": 135.50217, "lat": 34.69374}, "sightseeing": ["Osaka Castle", "Universal Studios Japan"]}, {"name": "Kyoto", "population": 1.5, "location": {"lon": 135.76803, "lat": 35.01163}, "sightseeing": ["Kiyomizu-dera", "Fushimi Inari-taisha"]}]}}},
		{"id": 5, "vector": [0.24, 0.18, 0.22, 0.44], "payload": {"country": {"name": "Nauru", "cities": [{"name": null}]}}},
		{"id": 6, "vector": [0.35, 0.08, 0.11, 0.44]}
	]}`

// countriesOf scrolls with filter and returns country.name of each hit.
func countriesOf(t *testing.T, c client, coll, filter string) []string {
	t.Helper()
	var page struct {
		Points []struct {
			Payload struct {
				Country struct {
					Name string `json:"name"`
				} `json:"country"`
			} `json:"payload"`
		} `json:"points"`
	}
	c.ok("POST", "/collections/"+coll+"/points/scroll", rawJSON(`{"limit": 3, "filter": `+filter+`}`), &page)
	out := []string{}
	for _, p := range page.Points {
		out = append(out, p.Payload.Country.Name)
	}
	return out
}

// TestUpstreamNestedPayload: test_nested_payload_indexing.py,
// test_nested_payload_query.py and test_nesting_nested_payload_query.py.
// Payload paths reach into objects with ".", into arrays only with "[]" or
// "[i]" (JsonPath::value_get, lib/segment/src/json_path/mod.rs); a nested
// condition evaluates its filter on each object of the array at its key
// ("[]" added when missing, NestedCondition::array_key) and matches when
// one object passes all of it (query_checker.rs), nesting included;
// payload_schema counts the points that have a value at an indexed path.
func TestUpstreamNestedPayload(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_nested_payload"
	c.ok("PUT", "/collections/"+coll, map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, nil)
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(nestedPayloadFixture), nil)
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "country.capital", "field_schema": "keyword"}, nil)
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "country.cities[].population", "field_schema": "float"}, nil)
	var info struct {
		PayloadSchema map[string]PayloadIndexInfo `json:"payload_schema"`
	}
	c.ok("GET", "/collections/"+coll, nil, &info)
	for field, typ := range map[string]string{"country.capital": "keyword", "country.cities[].population": "float"} {
		if s := info.PayloadSchema[field]; s.DataType != typ || s.Points != 4 {
			t.Errorf("payload_schema[%s] = %+v, want %s with 4 points", field, s, typ)
		}
	}
	nested := func(key, inner string) string {
		return `{"must": [{"nested": {"key": "` + key + `", "filter": ` + inner + `}}]}`
	}
	pop9 := `{"must": [{"key": "population", "range": {"gte": 9.0}}]}`
	berlinBox := `{"bottom_right": {"lon": 13.76117, "lat": 52.33825}, "top_left": {"lon": 13.08835, "lat": 52.67551}}`
	for _, tc := range []struct{ filter, want string }{
		{`{"must": [{"key": "country.capital", "match": {"value": "London"}}]}`, "[England]"},
		{`{"must": [{"key": "country.name", "match": {"value": "France"}}]}`, "[France]"},
		{`{"must": [{"key": "country.cities.population", "range": {"gte": 9.0}}]}`, "[]"},
		{`{"must": [{"key": "country.cities[].population", "range": {"gte": 9.0}}]}`, "[Japan]"},
		{`{"must": [{"key": "country.cities[].sightseeing", "match": {"value": "Eiffel Tower"}}]}`, "[France]"},
		{`{"must": [{"key": "country.cities[0].name", "match": {"value": "Paris"}}]}`, "[France]"},
		{`{"must": [{"key": "country.cities[].sightseeing[1]", "match": {"value": "Louvre"}}]}`, "[France]"},
		{nested("country.cities[]", pop9), "[Japan]"},
		{nested("country.cities", pop9), "[Japan]"},
		{nested("country.cities", `{"must": [{"must": [{"key": "sightseeing", "values_count": {"gt": 3}}]}]}`), "[France]"},
		{nested("country.cities", `{"must": [{"key": "population", "range": {"gte": 9.0}}], "must_not": [{"key": "sightseeing", "values_count": {"gt": 1}}]}`), "[]"},
		{nested("country.cities", `{"must": [{"key": "population", "range": {"gte": 9.0}}, {"key": "sightseeing", "values_count": {"gt": 2}}]}`), "[]"},
		{nested("country.cities", `{"must": [{"key": "population", "range": {"gte": 8.0}}, {"key": "sightseeing", "values_count": {"lt": 3}}]}`), "[Japan]"},
		{nested("country.cities", `{"must_not": [{"key": "population", "range": {"lt": 8.0}}, {"is_null": {"key": "name"}}]}`), "[England Japan]"},
		{nested("country.cities", `{"must_not": [{"key": "population", "range": {"lt": 8.0}}, {"key": "sightseeing", "values_count": {"gte": 3}}, {"is_null": {"key": "name"}}]}`), "[Japan]"},
		{nested("country.cities", `{"must": [{"is_null": {"key": "name"}}]}`), "[Nauru]"},
		{nested("country.cities", `{"must": [{"key": "location", "geo_bounding_box": `+berlinBox+`}]}`), "[Germany]"},
		{nested("country.cities", `{"must": [{"key": "location", "geo_radius": {"center": {"lon": 13.76117, "lat": 52.33825}, "radius": 1000}}]}`), "[Germany]"},
	} {
		if got := fmt.Sprint(countriesOf(t, c, coll, tc.filter)); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.filter, got, tc.want)
		}
	}
	for _, f := range []string{"country.capital", "country.cities[].population"} {
		c.ok("DELETE", "/collections/"+coll+"/index/"+f+"?wait=true", nil, nil)
	}
	info.PayloadSchema = nil // decoding merges into an existing map
	c.ok("GET", "/collections/"+coll, nil, &info)
	if len(info.PayloadSchema) != 0 {
		t.Errorf("payload_schema after deleting the indexes = %v", info.PayloadSchema)
	}

	const deep = "test_nesting_nested"
	c.ok("PUT", "/collections/"+deep, map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, nil)
	c.ok("PUT", "/collections/"+deep+"/points?wait=true", rawJSON(`{"points": [
		{"id": 1, "vector": [0.05, 0.61, 0.76, 0.74], "payload": {"arr1": [{"arr2": [{"a": 1, "b": 2}]}, {"arr2": [{"a": 3, "b": 4}, {"a": 5, "b": 6}]}]}},
		{"id": 2, "vector": [0.15, 0.71, 0.78, 0.24], "payload": {"arr1": [{"arr2": [{"a": 2, "b": 3}]}, {"arr2": [{"a": 3, "b": 5}, {"a": 5, "b": 7}]}]}}]}`), nil)
	c.ok("PUT", "/collections/"+deep+"/index?wait=true", map[string]any{"field_name": "arr1[].arr2[].a", "field_schema": "integer"}, nil)
	info.PayloadSchema = nil
	c.ok("GET", "/collections/"+deep, nil, &info)
	if s := info.PayloadSchema["arr1[].arr2[].a"]; s.DataType != "integer" || s.Points != 2 {
		t.Errorf("payload_schema[arr1[].arr2[].a] = %+v, want integer with 2 points", s)
	}
	twice := func(clause string) string {
		return nested("arr1", `{"must": [{"nested": {"key": "arr2", "filter": {"`+clause+`": [{"key": "a", "match": {"value": 5}}, {"key": "b", "match": {"value": 6}}]}}}]}`)
	}
	for _, tc := range []struct{ filter, want string }{
		{nested("arr1", `{"must": [{"key": "arr2[].a", "match": {"value": 5}}]}`), "[1 2]"},
		{nested("arr1", `{"must": [{"key": "arr2[].a", "match": {"value": 4}}]}`), "[]"},
		{nested("arr1", `{"must": [{"key": "arr2[].b", "match": {"value": 6}}]}`), "[1]"},
		{nested("arr1[].arr2", `{"must": [{"key": "b", "match": {"value": 8}}]}`), "[]"},
		{nested("arr1", `{"must": [{"nested": {"key": "arr2", "filter": {"must": [{"key": "a", "match": {"value": 5}}]}}}]}`), "[1 2]"},
		{twice("must"), "[1]"},
		{twice("should"), "[1 2]"},
	} {
		if got := idsString(scrollIDs(t, c, deep, tc.filter)); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.filter, got, tc.want)
		}
	}
}

// TestUpstreamStrictModeLimits: test_strictmode.py
// test_strict_mode_max_sparse_length_upsert,
// test_strict_mode_max_multivector_size_upsert,
// test_strict_mode_payload_index_count,
// test_strict_mode_write_rate_limiting_filtered_update_op,
// test_strict_mode_write_rate_limiting_batch_update_op,
// test_strict_mode_retrieve_read_rate_limiting and
// test_scroll_filter_many_conditions: the checks of
// lib/collection/src/operations/verification/update.rs and
// src/common/update.rs, the write cost of a filtered update (its estimated
// cardinality, replica_set/update.rs) and the read cost of a retrieve or
// scroll (ids, or 1 plus the filter's conditions).
func TestUpstreamStrictModeLimits(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_strict_limits"
	send := func(method, path string, body any) { t.Helper(); c.ok(method, path, body, nil) }
	strict := func(cfg map[string]any) {
		t.Helper()
		c.ok("PATCH", "/collections/"+coll, map[string]any{"strict_mode_config": cfg}, nil)
	}
	batch := func(ids ...int) map[string]any {
		var payloads []any
		var vectors []any
		for range ids {
			payloads = append(payloads, map[string]any{"city": "Berlin"})
			vectors = append(vectors, []float64{1, 2, 3, 5})
		}
		return map[string]any{"ids": ids, "payloads": payloads, "vectors": vectors}
	}
	upserts := map[string]func(ids ...int) (string, string, any){
		"upsert": func(ids ...int) (string, string, any) {
			return "PUT", "/collections/" + coll + "/points?wait=true", map[string]any{"batch": batch(ids...)}
		},
		"batch": func(ids ...int) (string, string, any) {
			return "POST", "/collections/" + coll + "/points/batch?wait=true", map[string]any{"operations": []any{map[string]any{"upsert": map[string]any{"batch": batch(ids...)}}}}
		},
	}
	var msg, method, path string
	var body any

	c.ok("DELETE", "/collections/"+coll, nil, nil)
	c.ok("PUT", "/collections/"+coll, map[string]any{"sparse_vectors": map[string]any{"sparse-vector": map[string]any{}}}, nil)
	strict(map[string]any{"enabled": true, "sparse_config": map[string]any{"sparse-vector": map[string]any{"max_length": 4}}})
	sparse := func(id, n int) map[string]any {
		var idx []int
		var vals []float64
		for i := range n {
			idx, vals = append(idx, i+1), append(vals, float64(i)/10)
		}
		return map[string]any{"points": []any{map[string]any{"id": id, "vector": map[string]any{"sparse-vector": map[string]any{"indices": idx, "values": vals}}}}}
	}
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", sparse(1, 4), nil)
	msg = c.errorOf("PUT", "/collections/"+coll+"/points?wait=true", sparse(2, 6), 400)
	wantContains(t, "sparse limit", msg, "Sparse vector 'sparse-vector' has a limit of 4 indices, but 6 were provided!")

	c.ok("DELETE", "/collections/"+coll, nil, nil)
	c.ok("PUT", "/collections/"+coll, map[string]any{"vectors": map[string]any{"dense-multi": map[string]any{
		"size": 4, "distance": "Dot", "multivector_config": map[string]any{"comparator": "max_sim"}}}}, nil)
	limit := map[string]any{"dense-multi": map[string]any{"max_vectors": 5}}
	strict(map[string]any{"enabled": true, "multivector_config": limit})
	multi := func(n int) [][]float64 {
		var m [][]float64
		for i := range n {
			m = append(m, []float64{float64(i), 1.61, 1.76, 1.74})
		}
		return m
	}
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 1, "vector": map[string]any{"dense-multi": multi(3)}}}}, nil)
	asBatch := map[string]any{"batch": map[string]any{"ids": []int{1}, "vectors": map[string]any{"dense-multi": []any{multi(6)}}}}
	for _, body := range []any{map[string]any{"points": []any{map[string]any{"id": 1, "vector": map[string]any{"dense-multi": multi(6)}}}}, asBatch} {
		msg := c.errorOf("PUT", "/collections/"+coll+"/points?wait=true", body, 400)
		wantContains(t, "multivector limit", msg, "Multivector 'dense-multi' has a limit of 5 vectors, but 6 were provided!")
	}
	strict(map[string]any{"enabled": false, "multivector_config": limit})
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", asBatch, nil)

	basicCollectionSetup(t, c, coll)
	index := func(field, typ string) (string, string, any) {
		return "PUT", "/collections/" + coll + "/index?wait=true", map[string]any{"field_name": field, "field_schema": map[string]any{"type": typ}}
	}
	for n, fields := range [][]string{{}, {"city"}, {"price"}} {
		strict(map[string]any{"enabled": true, "max_payload_index_count": n})
		for _, f := range fields {
			send(index(f, "keyword"))
		}
		method, path, body := index("count", "integer")
		msg := c.errorOf(method, path, body, 400)
		if want := fmt.Sprintf("Bad request: Collection already has the maximum number of payload indices (%d). Help: Please delete an existing index before creating a new one.", n); msg != want {
			t.Errorf("index count %d: %q, want %q", n, msg, want)
		}
	}

	// A filtered payload update costs its estimated cardinality: half the
	// points for an unindexed key.
	basicCollectionSetup(t, c, coll)
	strict(map[string]any{"enabled": true, "write_rate_limit": 7})
	c.ok("PUT", "/collections/"+coll+"/points/payload", rawJSON(`{"payload": {"City": "Not Berlin"}, "filter": {"must": [{"key": "City", "match": {"value": "Berlin"}}]}}`), nil)
	msg = c.errorOf("PUT", "/collections/"+coll+"/points/payload", rawJSON(`{"payload": {"City": "Not London"}, "filter": {"must": [{"key": "City", "match": {"value": "London"}}]}}`), 429)
	wantContains(t, "filtered update rate", msg, "Rate limiting exceeded: Write rate limit exceeded: Operation requires 5 tokens but only")

	basicCollectionSetup(t, c, coll)
	strict(map[string]any{"enabled": true, "write_rate_limit": 10})
	ten := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	method, path, body = upserts["batch"](append(ten, 11)...)
	msg = c.errorOf(method, path, body, 429)
	wantContains(t, "batch over capacity", msg, "Rate limiting exceeded: Write rate limit exceeded, request larger than rate limiter capacity, please try to split your request")
	send(upserts["batch"](ten...))
	method, path, body = upserts["batch"](ten...)
	msg = c.errorOf(method, path, body, 429)
	wantContains(t, "batch without tokens", msg, "Rate limiting exceeded: Write rate limit exceeded: Operation requires 10 tokens but only 0.0 were available. Retry after 60s")

	basicCollectionSetup(t, c, coll)
	strict(map[string]any{"enabled": true, "read_rate_limit": 4})
	msg = c.errorOf("POST", "/collections/"+coll+"/points", map[string]any{"ids": []int{1, 2, 3, 4, 5}}, 429)
	wantContains(t, "retrieve over capacity", msg, "Read rate limit exceeded, request larger than rate limiter capacity, please try to split your request")
	c.ok("POST", "/collections/"+coll+"/points", map[string]any{"ids": []int{1, 2, 3, 4}}, nil)
	msg = c.errorOf("POST", "/collections/"+coll+"/points", map[string]any{"ids": []int{1, 2, 3, 4}}, 429)
	wantContains(t, "retrieve without tokens", msg, "Read rate limit exceeded: Operation requires 4 tokens but only 0.0 were available")

	basicCollectionSetup(t, c, coll)
	conditions := func(n int) string {
		var cs []string
		for i := range n {
			cs = append(cs, fmt.Sprintf(`{"key": "price", "match": {"value": %d}}`, i))
		}
		return `{"filter": {"must": [` + strings.Join(cs, ",") + `]}}`
	}
	c.ok("POST", "/collections/"+coll+"/points/scroll", rawJSON(conditions(11)), nil)
	strict(map[string]any{"enabled": true, "read_rate_limit": 10})
	msg = c.errorOf("POST", "/collections/"+coll+"/points/scroll", rawJSON(conditions(11)), 429)
	wantContains(t, "scroll over capacity", msg, "Read rate limit exceeded, request larger than rate limiter capacity, please try to split your request")
	c.ok("POST", "/collections/"+coll+"/points/scroll", rawJSON(conditions(6)), nil)
	msg = c.errorOf("POST", "/collections/"+coll+"/points/scroll", rawJSON(conditions(6)), 429)
	wantContains(t, "scroll without tokens", msg, "Read rate limit exceeded: Operation requires 7 tokens")
}

// TestUpstreamNamedVectorValidation: test_validation.py
// test_validation_iter_named_vectors, test_validation_iter_batch_named_vectors,
// test_validation_empty_vector_upsert and
// test_validation_empty_vector_batch_upsert. Every named vector of a
// point or a batch column is validated (validate_iter, lib/api/src/rest/
// schema.rs and validate.rs) before the collection is consulted, and an
// empty dense vector is refused whether or not the client waits.
func TestUpstreamNamedVectorValidation(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_named_vector_validation"
	basicCollectionSetup(t, c, coll)
	const bad = `{"indices": [0, 1], "values": [0.0]}`
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", "/points/vectors?wait=true", `{"points": [{"id": 1, "vector": {"a": ` + bad + `, "b": ` + bad + `}}]}`},
		{"POST", "/points/batch?wait=true", `{"operations": [{"upsert": {"batch": {"ids": [1, 2], "vectors": {"a": [` + bad + `, ` + bad + `]}}}}]}`},
	} {
		msg := c.errorOf(tc.method, "/collections/"+coll+tc.path, rawJSON(tc.body), 422)
		wantContains(t, tc.path, msg, "Validation error")
	}
	for _, wait := range []string{"true", "false"} {
		status, raw := c.do("PUT", "/collections/"+coll+"/points?wait="+wait, rawJSON(`{"points": [{"id": 1000, "vector": []}]}`))
		if status < 400 {
			t.Errorf("empty vector upsert, wait=%s: %d %s", wait, status, raw)
		}
		status, raw = c.do("POST", "/collections/"+coll+"/points/batch?wait="+wait, rawJSON(`{"operations": [{"upsert": {"points": [{"id": 1001, "vector": []}]}}]}`))
		if status < 400 {
			t.Errorf("empty vector batch upsert, wait=%s: %d %s", wait, status, raw)
		}
	}
	var n struct {
		Count int `json:"count"`
	}
	c.ok("POST", "/collections/"+coll+"/points/count", map[string]any{"exact": true}, &n)
	if n.Count != 10 {
		t.Errorf("refused upserts changed the collection: %d points, want 10", n.Count)
	}
}

// orderByFixture is test_order_by.py's setup: basic_collection_setup, 300
// points with integer, float, repeated float, multi-valued and datetime
// payloads, and their indexes. The upstream fixture draws repetitions and
// date steps at random; here they follow i%2 and i%3.
func orderByFixture(t *testing.T, c client, coll string, total int) {
	t.Helper()
	basicCollectionSetup(t, c, coll)
	repeated := float64(total)
	day := time.Date(2026, 1, 1, 8, 30, 0, 0, time.UTC)
	var pts []any
	for i := range total {
		if i%2 == 1 {
			repeated--
		}
		if i%3 == 0 {
			day = day.AddDate(0, 0, 1)
		}
		city := "Moscow"
		if i%3 == 0 {
			city = "London"
		}
		pts = append(pts, map[string]any{"id": i, "vector": []float64{0.1, 0.1, 0.1, 0.1}, "payload": map[string]any{
			"city": city, "is_middle_split": float64(i) > float64(total)*0.25 && float64(i) < float64(total)*0.75,
			"price": float64(total - i), "payload_id": i, "multi_id": []int{i, total - i + 1},
			"maybe_repeated_float": repeated, "date_rfc3339": day.Format(time.RFC3339Nano),
			"date_simple": day.AddDate(0, 0, i%2).Format("2006-01-02")}})
	}
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", map[string]any{"points": pts}, nil)
	for field, schema := range map[string]string{"city": "keyword", "is_middle_split": "bool", "price": "float",
		"maybe_repeated_float": "float", "payload_id": "integer", "multi_id": "integer", "date_rfc3339": "datetime", "date_simple": "datetime"} {
		c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": field, "field_schema": schema}, nil)
	}
}

type orderedPoint struct {
	ID      float64        `json:"id"`
	Payload map[string]any `json:"payload"`
}

// TestUpstreamOrderBy: test_order_by.py. Scroll with order_by walks the
// key's range index by (value, id) ascending or descending, returns no
// next_page_offset, lists a point once per value, refuses an id offset and
// a key without a range index (lib/collection/src/collection/
// point_ops.rs, shards/local_shard/shard_ops.rs); paging with start_from
// and a must_not has_id of the ids seen at the last value visits every
// matching point exactly once.
func TestUpstreamOrderBy(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll, total = "test_order_by", 300
	orderByFixture(t, c, coll, total)
	scroll := func(body string) (ids []float64, pts []orderedPoint, next any) {
		t.Helper()
		var page struct {
			Points         []orderedPoint `json:"points"`
			NextPageOffset any            `json:"next_page_offset"`
		}
		c.ok("POST", "/collections/"+coll+"/points/scroll", rawJSON(body), &page)
		for _, p := range page.Points {
			ids = append(ids, p.ID)
		}
		return ids, page.Points, page.NextPageOffset
	}
	for dir, want := range map[string]string{"asc": "[0 1 2 3 4]", "desc": "[299 298 297 296 295]"} {
		ids, _, next := scroll(`{"order_by": {"key": "payload_id", "direction": "` + dir + `"}, "limit": 5}`)
		if idsString(ids) != want || next != nil {
			t.Errorf("order_by payload_id %s = %v next %v, want %s and no next page", dir, ids, next, want)
		}
	}
	paginate := func(key, dir, must string) {
		t.Helper()
		var n struct {
			Count int `json:"count"`
		}
		c.ok("POST", "/collections/"+coll+"/points/count", rawJSON(`{"exact": true, "filter": {"must": `+must+`}}`), &n)
		const limit = 23
		seen := map[float64]bool{}
		var last any
		lastIDs := []float64{}
		start := "null"
		pages := 0
		for {
			excl, _ := json.Marshal(lastIDs)
			_, pts, _ := scroll(fmt.Sprintf(`{"order_by": {"key": %q, "direction": %q, "start_from": %s}, "limit": %d, "filter": {"must": %s, "must_not": [{"has_id": %s}]}}`,
				key, dir, start, limit, must, excl))
			pages++
			if len(pts) > 0 {
				v := pts[len(pts)-1].Payload[key]
				if fmt.Sprint(v) != fmt.Sprint(last) {
					lastIDs = []float64{}
					last = v
					b, _ := json.Marshal(v)
					start = string(b)
				}
			}
			for _, p := range pts {
				if seen[p.ID] {
					t.Fatalf("%s %s %s: point %v twice", key, dir, must, p.ID)
				}
				seen[p.ID] = true
				if fmt.Sprint(p.Payload[key]) == fmt.Sprint(last) {
					lastIDs = append(lastIDs, p.ID)
				}
			}
			if len(pts) < limit || pages > 100 {
				break
			}
		}
		if len(seen) != n.Count || pages != (n.Count+limit-1)/limit {
			t.Errorf("%s %s %s: %d points in %d pages, want %d in %d", key, dir, must, len(seen), pages, n.Count, (n.Count+limit-1)/limit)
		}
	}
	for _, key := range []string{"payload_id", "price", "maybe_repeated_float", "date_rfc3339", "date_simple"} {
		for _, dir := range []string{"asc", "desc"} {
			for _, must := range []string{"null", `[{"key": "city", "match": {"value": "London"}}]`, `[{"key": "is_middle_split", "match": {"value": false}}]`} {
				paginate(key, dir, must)
			}
		}
	}
	ids, _, _ := scroll(fmt.Sprintf(`{"order_by": "multi_id", "limit": %d}`, 2*total))
	freq := map[float64]int{}
	for _, id := range ids {
		freq[id]++
	}
	if len(ids) != 2*total || len(freq) != total {
		t.Errorf("multi-valued order_by: %d entries for %d points, want %d for %d", len(ids), len(freq), 2*total, total)
	}
	msg := c.errorOf("POST", "/collections/"+coll+"/points/scroll", rawJSON(`{"order_by": "payload_id", "offset": 10, "limit": 10}`), 400)
	wantContains(t, "offset with order_by", msg, "Cannot use an `offset` when using `order_by`")
	msg = c.errorOf("POST", "/collections/"+coll+"/points/scroll", rawJSON(`{"order_by": "city", "limit": 10}`), 400)
	wantContains(t, "order_by without a range index", msg, "No range index for `order_by` key: `city`")
}

// ftsTitles is test_fts.py's texts: story titles.
var ftsTitles = []string{
	"2430 A.D.", "The Acquisitive Chuckle", "Author! Author!", "The Bicentennial Man", "Big Game",
	"The Billiard Ball", "Birth of a Notion", "Black Friar of the Flame", "Blank!", "Blind Alley",
	"Breeds There a Man...?", "Button, Button", "Buy Jupiter", "C-Chute", "Cal", "The Callistan Menace",
	"Catch That Rabbit", "Christmas on Ganymede", "Darwinian Pool Room", "Day of the Hunters", "Death Sentence",
	"Does a Bee Care?", "Dreaming Is a Private Thing", "The Dust of Death", "The Dying Night",
	"Each an Explorer", "Escape!", "Everest", "Evidence", "The Evitable Conflict", "Exile to Hell",
	"Eyes Do More Than See", "The Feeling of Power", "Feminine Intuition", "First Law", "Flies",
	"For the Birds", "Founding Father", "The Fun They Had", "Galley Slave", "The Gentle Vultures",
	"Getting Even", "Gimmicks Three", "Gold", "Good Taste", "The Greatest Asset", "Green Patches", "Half-Breed",
	"Half-Breeds on Venus", "Hallucination", "The Hazing", "Hell-Fire", "Heredity", "History", "Homo Sol",
	"Hostess", "I Just Make Them Up, See!", "I'm in Marsport Without Hilda", "The Imaginary",
	"The Immortal Bard", "In a Good Cause—", "Insert Knob A in Hole B", "The Instability",
	"It's Such a Beautiful Day", "The Key", "Kid Stuff", "The Last Answer", "The Last Question",
	"The Last Trump", "Left to Right", "Legal Rites", "Lenny", "Lest We Remember", "Let's Not", "Liar!",
	"Light Verse", "Little Lost Robot", "The Little Man on the Subway", "Living Space", "A Loint of Paw",
	"The Magnificent Possession", "Marching In", "Marooned off Vesta", "The Message", "Mirror Image",
	"Mother Earth", "My Son, the Physicist", "No Connection", "No Refuge Could Save", "Nobody Here But—",
	"Not Final!", "Obituary", "Old-fashioned", "Pâté de Foie Gras", "The Pause", "Ph as in Phony",
	"The Portable Star", "The Proper Study", "Rain, Rain, Go Away", "Reason", "The Red Queen's Race",
	"Rejection Slips", "Ring Around the Sun", "Risk", "Robot AL-76 Goes Astray", "Robot Dreams", "Runaround",
	"Sally", "Satisfaction Guaranteed", "The Secret Sense", "Shah Guido G.", "Silly Asses", "The Singing Bell",
	"Sixty Million Trillion Combinations", "Spell My Name with an S", "Star Light", "A Statue for Father",
	"Strikebreaker", "Super-Neutron", "Take a Match", "The Talking Stone", ". . . That Thou Art Mindful of Him",
	"Thiotimoline", "Time Pussy", "Trends", "Truth to Tell", "The Ugly Little Boy", "The Ultimate Crime",
	"Unto the Fourth Generation", "The Up-to-Date Sorcerer", "Waterclap", "The Watery Place", "The Weapon",
	"The Weapon Too Dreadful to Use", "What If—", "What Is This Thing Called Love?", "What's in a Name?",
	"The Winnowing",
}

// TestUpstreamFullText: test_fts.py and test_phrase_matching.py. With a
// text index on the key, full-text matches use its tokenizer
// (textindex.go): text_any is any query token (English stop words
// dropped) and equals a should of one text match per remaining token; a
// prefix tokenizer matches a lowercased query word against every word's
// prefixes; a phrase needs the tokens consecutively and in order, an
// empty phrase matches nothing.
func TestUpstreamFullText(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_fts"
	c.ok("PUT", "/collections/"+coll, map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, nil)
	var pts []any
	for i, title := range ftsTitles {
		pts = append(pts, map[string]any{"id": i, "vector": []float64{0.1, 0.2, 0.3, 0.4}, "payload": map[string]any{"title": title}})
	}
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", map[string]any{"points": pts}, nil)
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "title", "field_schema": map[string]any{
		"type": "text", "tokenizer": "word", "lowercase": true, "stopwords": "english"}}, nil)
	anyIDs := idsString(scrollIDs(t, c, coll, `{"must": {"key": "title", "match": {"text_any": "robot of the star"}}}`))
	split := idsString(scrollIDs(t, c, coll, `{"should": [{"key": "title", "match": {"text": "robot"}}, {"key": "title", "match": {"text": "star"}}]}`))
	if anyIDs != split || anyIDs == "[]" {
		t.Errorf("text_any robot of the star = %s, should of robot and star = %s; want the same, not empty", anyIDs, split)
	}
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "title", "field_schema": map[string]any{
		"type": "text", "tokenizer": "prefix"}}, nil)
	var page struct {
		Points []struct {
			Payload map[string]any `json:"payload"`
		} `json:"points"`
	}
	c.ok("POST", "/collections/"+coll+"/points/scroll", rawJSON(`{"offset": null, "limit": 10, "with_payload": true, "with_vector": false,
		"filter": {"should": [{"key": "title", "match": {"text": "ROBO"}}]}}`), &page)
	var titles []string
	for _, p := range page.Points {
		titles = append(titles, fmt.Sprint(p.Payload["title"]))
	}
	if got := strings.Join(titles, "|"); got != "Little Lost Robot|Robot AL-76 Goes Astray|Robot Dreams" {
		t.Errorf("prefix text ROBO = %s, want the three Robot titles", got)
	}

	const phr = "test_phrase_collection"
	c.ok("PUT", "/collections/"+phr, map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, nil)
	c.ok("PUT", "/collections/"+phr+"/index?wait=true", map[string]any{"field_name": "text", "field_schema": map[string]any{
		"type": "text", "tokenizer": "word", "phrase_matching": true}}, nil)
	pts = nil
	for i, s := range []string{"the quick brown fox jumps over the lazy dog", "a quick brown cat runs through the garden",
		"the brown fox is very quick and agile", "lazy dogs sleep all day long", "machine learning algorithms are powerful tools",
		"natural language processing with transformers", "the artificial intelligence revolution", "deep learning neural networks",
		"brown sugar and quick oats", "New York City is a bustling metropolis", "writing tests is very very very important"} {
		pts = append(pts, map[string]any{"id": i + 1, "vector": []float64{0.1, 0.2, 0.3, 0.4}, "payload": map[string]any{"text": s}})
	}
	c.ok("PUT", "/collections/"+phr+"/points?wait=true", map[string]any{"points": pts}, nil)
	for phrase, want := range map[string]string{"quick brown fox": "[1]", "quick brown bird": "[]", "brown quick": "[]",
		"quick brown": "[1 2]", "brown": "[1 2 3 9]", "machine learning algorithms are powerful tools": "[5]", "": "[]",
		"very very very": "[11]", "very very very very": "[]"} {
		if got := idsString(scrollIDs(t, c, phr, fmt.Sprintf(`{"must": [{"key": "text", "match": {"phrase": %q}}]}`, phrase))); got != want {
			t.Errorf("phrase %q = %s, want %s", phrase, got, want)
		}
	}
}

// TestUpstreamNestedStrictAndDottedKeys: test_strict_mode_nested.py and
// test_basic_retrieve_api.py test_query_nested. Under strict mode a
// nested condition's keys are checked with the nested key as prefix
// (Extractor::update_from_condition, lib/collection/src/problems/
// unindexed_field.rs): every key needs an index, any type serving
// values_count; a dotted key reaches into a payload object.
func TestUpstreamNestedStrictAndDottedKeys(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_nested_strict"
	c.ok("PUT", "/collections/"+coll, map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, nil)
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(nestedPayloadFixture), nil)
	c.ok("PATCH", "/collections/"+coll, map[string]any{"strict_mode_config": map[string]any{"enabled": true, "unindexed_filtering_retrieve": false}}, nil)
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "country.cities[].population", "field_schema": "float"}, nil)
	filter := `{"must": [{"nested": {"key": "country.cities", "filter": {"must": [{"key": "population", "range": {"gte": 8.0}},
		{"key": "sightseeing", "values_count": {"lt": 3}}]}}}]}`
	msg := c.errorOf("POST", "/collections/"+coll+"/points/scroll", rawJSON(`{"limit": 3, "filter": `+filter+`}`), 400)
	wantContains(t, "unindexed nested key", msg, `Index required but not found for "country.cities[].sightseeing"`)
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "country.cities[].sightseeing", "field_schema": "integer"}, nil)
	if got := fmt.Sprint(countriesOf(t, c, coll, filter)); got != "[Japan]" {
		t.Errorf("nested filter with both keys indexed = %s, want [Japan]", got)
	}

	const basic = "test_query_nested"
	basicCollectionSetup(t, c, basic)
	c.ok("PUT", "/collections/"+basic+"/points?wait=true", rawJSON(`{"points": [{"id": 8, "vector": [0.15, 0.31, 0.76, 0.74],
		"payload": {"database_id": {"type": "keyword", "value": "8594ff5d-265f-4785-a9f5-b3b4b9665506"}}}]}`), nil)
	if got := idsString(scrollIDs(t, c, basic, `{"must": [{"key": "database_id.value", "match": {"value": "8594ff5d-265f-4785-a9f5-b3b4b9665506"}}]}`)); got != "[8]" {
		t.Errorf("dotted key = %s, want [8]", got)
	}
}

// TestUpstreamGeoPayloadIndex: test_geo_payload_index.py. Points with
// geo payloads (one location or an array of them) take a geo index and a
// delete by has_id; a bounding box matches a point when any of its
// locations lies strictly inside (GeoBoundingBox::check_point,
// lib/segment/src/types.rs).
func TestUpstreamGeoPayloadIndex(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_geo_index"
	basicCollectionSetup(t, c, coll)
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(`{"points": [
		{"id": 1001, "vector": [1.05, 1.61, 1.76, 0.74], "payload": {"location": {"lon": 13.4, "lat": 52.5}}},
		{"id": 1002, "vector": [1.19, 1.81, 1.75, 0.11], "payload": {"location": [{"lon": 13.4, "lat": 52.1}, {"lon": 13.2, "lat": 52.5}]}},
		{"id": 1003, "vector": [1.36, 1.55, 1.47, 0.94], "payload": {"location": {"lon": 13.4, "lat": 12.5}}},
		{"id": 1004, "vector": [1.18, 1.01, 1.85, 0.80], "payload": {"location": {"lon": 12.4, "lat": 52.5}}},
		{"id": 1005, "vector": [1.24, 1.18, 1.22, 0.44], "payload": {"location": [{"lon": 12.1, "lat": 62.5}, {"lon": 13.4, "lat": 52.5}]}}]}`), nil)
	c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": "location", "field_schema": "geo"}, nil)
	c.ok("POST", "/collections/"+coll+"/points/delete?wait=true", rawJSON(`{"filter": {"must": [{"has_id": [1004]}]}}`), nil)
	c.errorOf("GET", "/collections/"+coll+"/points/1004", nil, 404)
	box := `{"must": [{"key": "location", "geo_bounding_box": {"top_left": {"lon": 12.0, "lat": 53.0}, "bottom_right": {"lon": 14.0, "lat": 52.3}}}]}`
	if got := idsString(scrollIDs(t, c, coll, box)); got != "[1001 1002 1005]" {
		t.Errorf("bounding box = %s, want [1001 1002 1005]", got)
	}
	radius := `{"must": [{"key": "location", "geo_radius": {"center": {"lon": 13.4, "lat": 52.5}, "radius": 1000}}]}`
	if got := idsString(scrollIDs(t, c, coll, radius)); got != "[1001 1005]" {
		t.Errorf("radius = %s, want [1001 1005]", got)
	}
	polygon := `{"must": [{"key": "location", "geo_polygon": {"exterior": {"points": [{"lon": 13.0, "lat": 52.0}, {"lon": 14.0, "lat": 52.0},
		{"lon": 14.0, "lat": 53.0}, {"lon": 13.0, "lat": 53.0}, {"lon": 13.0, "lat": 52.0}]}}}]}`
	if got := idsString(scrollIDs(t, c, coll, polygon)); got != "[1001 1002 1005]" {
		t.Errorf("polygon = %s, want [1001 1002 1005]", got)
	}
}

// TestUpstreamOptimizations: test_optimizations.py. Without an optimizer
// nothing runs; queued, completed and idle_segments are listed only when
// ?with= names them (blanks around names ignored), and every local
// replica is an idle segment; an unknown name is a 400 (src/actix/api/
// collections_api.rs).
func TestUpstreamOptimizations(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_optimizations"
	basicCollectionSetup(t, c, coll)
	var res map[string]any
	c.ok("GET", "/collections/"+coll+"/optimizations", nil, &res)
	if fmt.Sprint(res["running"]) != "[]" || res["queued"] != nil || res["completed"] != nil || res["idle_segments"] != nil {
		t.Errorf("optimizations = %v, want only an empty running list and the summary", res)
	}
	for _, with := range []string{"queued,completed,idle_segments", "queued%20,%20%20completed%20%20,%20idle_segments"} {
		res = nil
		c.ok("GET", "/collections/"+coll+"/optimizations?with="+with, nil, &res)
		idle, _ := res["idle_segments"].([]any)
		if fmt.Sprint(res["running"], res["queued"], res["completed"]) != "[] [] []" || len(idle) == 0 {
			t.Errorf("optimizations?with=%s = %v, want empty running, queued, completed and some idle segments", with, res)
		}
		if seg, _ := idle[0].(map[string]any); seg["points_count"] != 10.0 {
			t.Errorf("idle segment = %v, want the shard's 10 points", idle[0])
		}
	}
	msg := c.errorOf("GET", "/collections/"+coll+"/optimizations?with=running", nil, 400)
	if want := "Wrong input: Unknown field in 'with' parameter: running"; msg != want {
		t.Errorf("unknown with: %q, want %q", msg, want)
	}
}

// TestUpstreamVectorSpecificConfig: test_vector_config.py
// test_retrieve_vector_specific_hnsw, test_retrieve_vector_specific_quantization
// and test_disable_indexing. Per-vector hnsw_config and
// quantization_config are kept as given (only the fields sent), next to
// the collection's (quantization is an alias of quantization_config,
// lib/api/src/rest/schema.rs); a collection whose indexing_threshold is 0
// never indexes, one with a threshold below its vector data does.
func TestUpstreamVectorSpecificConfig(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_vector_config"
	c.ok("PUT", "/collections/"+coll, rawJSON(`{"vectors": {
		"image": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 20}, "on_disk": true},
		"audio": {"size": 4, "distance": "Dot", "hnsw_config": {"ef_construct": 100}, "quantization_config": {"scalar": {"type": "int8", "quantile": 0.6}}, "on_disk": true},
		"text": {"size": 8, "distance": "Cosine", "quantization_config": {"scalar": {"type": "int8", "always_ram": true}}, "on_disk": true}},
		"hnsw_config": {"m": 10, "ef_construct": 80},
		"quantization": {"scalar": {"type": "int8", "quantile": 0.5}}, "on_disk_payload": false}`), nil)
	cfg := collectionConfigOf(t, c, coll)
	vectors := dig(cfg, "params", "vectors").(map[string]any)
	for _, tc := range []struct {
		path []string
		want any
	}{
		{[]string{"image", "hnsw_config", "m"}, 20.0}, {[]string{"image", "hnsw_config", "ef_construct"}, nil},
		{[]string{"image", "on_disk"}, true}, {[]string{"audio", "hnsw_config", "m"}, nil},
		{[]string{"audio", "hnsw_config", "ef_construct"}, 100.0}, {[]string{"text", "hnsw_config"}, nil},
		{[]string{"image", "quantization_config"}, nil},
		{[]string{"audio", "quantization_config", "scalar", "type"}, "int8"},
		{[]string{"audio", "quantization_config", "scalar", "quantile"}, 0.6},
		{[]string{"audio", "quantization_config", "scalar", "always_ram"}, nil},
		{[]string{"text", "quantization_config", "scalar", "quantile"}, nil},
		{[]string{"text", "quantization_config", "scalar", "always_ram"}, true},
	} {
		if got := dig(vectors, tc.path...); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("params.vectors.%s = %v, want %v", strings.Join(tc.path, "."), got, tc.want)
		}
	}
	if m, ef := dig(cfg, "hnsw_config", "m"), dig(cfg, "hnsw_config", "ef_construct"); m != 10.0 || ef != 80.0 {
		t.Errorf("hnsw_config = %v/%v, want m 10, ef_construct 80", m, ef)
	}
	if q := dig(cfg, "quantization_config", "scalar", "quantile"); q != 0.5 {
		t.Errorf("quantization_config.scalar.quantile = %v, want 0.5", q)
	}

	for name, threshold := range map[string]int{"test_collection_indexed": 10, "test_collection_unindexed": 0} {
		c.ok("PUT", "/collections/"+name, map[string]any{"vectors": map[string]any{"size": 256, "distance": "Dot"},
			"optimizers_config": map[string]any{"indexing_threshold": threshold}}, nil)
		var pts []any
		for i := range 100 {
			v := make([]float64, 256)
			for j := range v {
				v[j] = float64((i*31+j)%97) / 97
			}
			pts = append(pts, map[string]any{"id": i, "vector": v})
		}
		c.ok("PUT", "/collections/"+name+"/points?wait=true", map[string]any{"points": pts}, nil)
		var info struct {
			PointsCount         int `json:"points_count"`
			IndexedVectorsCount int `json:"indexed_vectors_count"`
		}
		waitFor(t, name+" indexing", func() bool {
			c.ok("GET", "/collections/"+name, nil, &info)
			return info.PointsCount == 100 && (threshold == 0) == (info.IndexedVectorsCount == 0)
		})
	}
}

// TestUpstreamNamedCollectionUpdate: test_collection_update_multivec.py
// test_collection_update_multivec and test_edit_collection_params on the
// named multivec fixture. PATCH merges a named vector's hnsw_config field
// by field, replaces its quantization_config whole (removed by
// "Disabled"), sets on_disk, and changes the collection's hnsw_config,
// quantization_config and on_disk_payload (lib/collection/src/config.rs
// update_vectors_from_diff, collection_ops.rs); points still go in after.
func TestUpstreamNamedCollectionUpdate(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_named_update"
	c.ok("PUT", "/collections/"+coll, rawJSON(`{"vectors": {"image": {"size": 4, "distance": "Dot", "on_disk": false},
		"text": {"size": 8, "distance": "Cosine", "on_disk": false}},
		"sparse_vectors": {"sparse-image": {}, "sparse-text": {}}, "on_disk_payload": false}`), nil)
	c.ok("PATCH", "/collections/"+coll, rawJSON(`{"vectors": {"image": {"hnsw_config": {"m": 32, "ef_construct": 123},
		"quantization_config": {"scalar": {"type": "int8", "quantile": 0.8}}}},
		"optimizers_config": {"default_segment_number": 6, "indexing_threshold": 10000}}`), nil)
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(`{"points": [{"id": 7, "vector": {"image": [0.15, 0.31, 0.76, 0.74]}, "payload": {"city": "Rome"}}]}`), nil)
	getRecord(t, c, coll, 7)

	cfg := collectionConfigOf(t, c, coll)
	if dig(cfg, "params", "vectors", "text", "hnsw_config") != nil || dig(cfg, "hnsw_config", "m") != 16.0 ||
		dig(cfg, "hnsw_config", "ef_construct") != 100.0 || cfg["quantization_config"] != nil || dig(cfg, "params", "on_disk_payload") != false {
		t.Errorf("initial config = %v", cfg)
	}
	c.ok("PATCH", "/collections/"+coll, rawJSON(`{"vectors": {"text": {"hnsw_config": {"m": 32},
		"quantization_config": {"scalar": {"type": "int8", "quantile": 0.8}}, "on_disk": true}},
		"hnsw_config": {"ef_construct": 123},
		"quantization_config": {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": true}},
		"params": {"on_disk_payload": true}}`), nil)
	check := func(stage string, want map[string]any) {
		t.Helper()
		cfg := collectionConfigOf(t, c, coll)
		for path, v := range want {
			if got := dig(cfg, strings.Split(path, ".")...); fmt.Sprint(got) != fmt.Sprint(v) {
				t.Errorf("%s: %s = %v, want %v", stage, path, got, v)
			}
		}
	}
	check("first patch", map[string]any{"params.vectors.text.hnsw_config.m": 32.0, "params.vectors.text.quantization_config.scalar.type": "int8",
		"params.vectors.text.quantization_config.scalar.quantile": 0.8, "params.vectors.text.quantization_config.scalar.always_ram": nil,
		"params.vectors.text.on_disk": true, "params.on_disk_payload": true, "hnsw_config.m": 16.0, "hnsw_config.ef_construct": 123.0,
		"quantization_config.scalar.quantile": 0.99, "quantization_config.scalar.always_ram": true})
	c.ok("PATCH", "/collections/"+coll, rawJSON(`{"vectors": {"text": {"hnsw_config": {"m": 10, "ef_construct": 100},
		"quantization_config": {"product": {"compression": "x32", "always_ram": true}}, "on_disk": false}},
		"params": {"on_disk_payload": false}}`), nil)
	check("second patch", map[string]any{"params.vectors.text.hnsw_config.m": 10.0, "params.vectors.text.hnsw_config.ef_construct": 100.0,
		"params.vectors.text.quantization_config.product.compression": "x32", "params.vectors.text.quantization_config.product.always_ram": true,
		"params.vectors.text.quantization_config.scalar": nil, "params.vectors.text.on_disk": false, "params.on_disk_payload": false,
		"quantization_config.scalar.quantile": 0.99})
	c.ok("PATCH", "/collections/"+coll, rawJSON(`{"vectors": {"text": {"quantization_config": "Disabled"}}}`), nil)
	check("disabled", map[string]any{"params.vectors.text.quantization_config": nil, "params.vectors.image.quantization_config.scalar.quantile": 0.8})
}

// multivecCollectionSetup is helpers/collection_setup.py
// multivec_collection_setup: named dense vectors image (4) and text (8),
// sparse vectors sparse-image and sparse-text, six dense points and two
// sparse-only ones.
// textDistance is the distance of the text vector (the helper's distance
// argument; Cosine by default).
func multivecCollectionSetup(t *testing.T, c client, name, textDistance string) {
	t.Helper()
	c.ok("DELETE", "/collections/"+name, nil, nil)
	c.ok("PUT", "/collections/"+name, rawJSON(`{"vectors": {"image": {"size": 4, "distance": "Dot"}, "text": {"size": 8, "distance": "`+textDistance+`"}},
		"sparse_vectors": {"sparse-image": {}, "sparse-text": {}}, "on_disk_payload": false}`), nil)
	dense := func(id int, v string, payload string) string {
		return fmt.Sprintf(`{"id": %d, "vector": {"image": [%s], "text": [%s, %s]}%s}`, id, v, v, v, payload)
	}
	c.ok("PUT", "/collections/"+name+"/points?wait=true", rawJSON(`{"points": [`+strings.Join([]string{
		dense(1, "0.05, 0.61, 0.76, 0.74", `, "payload": {"city": "Berlin"}`),
		dense(2, "0.19, 0.81, 0.75, 0.11", `, "payload": {"city": ["Berlin", "London"]}`),
		dense(3, "0.36, 0.55, 0.47, 0.94", `, "payload": {"city": ["Berlin", "Moscow"]}`),
		dense(4, "0.18, 0.01, 0.85, 0.80", `, "payload": {"city": ["London", "Moscow"]}`),
		dense(5, "0.24, 0.18, 0.22, 0.44", `, "payload": {"count": 0}`),
		dense(6, "0.35, 0.08, 0.11, 0.44", ""),
		`{"id": 7, "vector": {"sparse-image": {"indices": [1, 2, 4, 8], "values": [1.5, 1.5, 1.5, 1.5]}, "sparse-text": {"indices": [66, 12], "values": [0.5, 0.5]}}}`,
		`{"id": 8, "vector": {"sparse-image": {"indices": [2, 8], "values": [2.5, 2.5]}, "sparse-text": {"indices": [1, 2, 3], "values": [0.1, 0.2, 0.3]}}}`,
	}, ",")+`]}`), nil)
}

// TestUpstreamMultivecRetrieve: test_basic_retrieve_multivec_api.py
// test_points_retrieve (retrieve and scroll; its query part is out of
// scope) and test_query_nested. Points carry the named vectors they were
// given, dense or sparse; with_vector may name the vectors to return.
func TestUpstreamMultivecRetrieve(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_multivec_retrieve"
	multivecCollectionSetup(t, c, coll, "Cosine")
	getRecord(t, c, coll, 2)
	var recs []map[string]any
	c.ok("POST", "/collections/"+coll+"/points", map[string]any{"ids": []int{1, 2}}, &recs)
	if len(recs) != 2 {
		t.Errorf("retrieve 1, 2 = %d records", len(recs))
	}
	var info struct {
		PointsCount int `json:"points_count"`
	}
	c.ok("GET", "/collections/"+coll, nil, &info)
	if info.PointsCount != 8 {
		t.Errorf("points_count = %d, want 8", info.PointsCount)
	}
	page := func(body string) []map[string]any {
		var p struct {
			Points []map[string]any `json:"points"`
		}
		c.ok("POST", "/collections/"+coll+"/points/scroll", rawJSON(body), &p)
		return p.Points
	}
	for offset, lens := range map[int]map[string]int{2: {"text": 8, "image": 4}, 7: {"sparse-text": 2, "sparse-image": 2}} {
		pts := page(fmt.Sprintf(`{"offset": %d, "limit": 2, "with_vector": true}`, offset))
		if len(pts) != 2 {
			t.Fatalf("scroll from %d = %d points, want 2", offset, len(pts))
		}
		for _, p := range pts {
			vec, _ := p["vector"].(map[string]any)
			for name, n := range lens {
				var got int
				switch v := vec[name].(type) {
				case []any:
					got = len(v)
				case map[string]any:
					got = len(v)
				}
				if got != n {
					t.Errorf("scroll from %d: point %v vector %s has %d entries, want %d", offset, p["id"], name, got, n)
				}
			}
		}
	}
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(`{"points": [{"id": 8, "vector": {"image": [0.15, 0.31, 0.76, 0.74],
		"text": [0.15, 0.31, 0.76, 0.74, 0.15, 0.31, 0.76, 0.74]}, "payload": {"database_id": {"type": "keyword", "value": "8594ff5d-265f-4785-a9f5-b3b4b9665506"}}}]}`), nil)
	pts := page(`{"offset": null, "limit": 10, "with_vector": ["text"], "filter": {"must": [{"key": "database_id.value", "match": {"value": "8594ff5d-265f-4785-a9f5-b3b4b9665506"}}]}}`)
	if len(pts) != 1 {
		t.Fatalf("dotted key scroll = %d points, want 1", len(pts))
	}
	if vec, _ := pts[0]["vector"].(map[string]any); len(vec) != 1 || vec["text"] == nil {
		t.Errorf("with_vector [text] = %v, want only text", pts[0]["vector"])
	}
}

// TestUpstreamUint8Multivectors: test_multi_vector_uint8.py. A uint8
// multivector stores each number cast to a byte (truncated, saturating at
// 255) and reads it back so; points are retrieved, scrolled and deleted as
// any others.
func TestUpstreamUint8Multivectors(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_uint8"
	c.ok("PUT", "/collections/"+coll, rawJSON(`{"vectors": {"my-multivec": {"size": 4, "distance": "Dot", "datatype": "uint8",
		"multivector_config": {"comparator": "max_sim"}}}}`), nil)
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(`{"points": [
		{"id": 1, "vector": {"my-multivec": [[1.05, 1.61, 1.76, 1.74], [2.05, 2.61, 2.76, 2.74], [3.05, 3.61, 3.76, 3.74]]}},
		{"id": 2, "vector": {"my-multivec": [[3.19, 3.81, 3.75, 3.11], [2.19, 2.81, 2.75, 2.11], [1.19, 1.81, 1.75, 1.11]]}},
		{"id": 3, "vector": {"my-multivec": [[2.36, 2.55, 2.47, 2.94], [1.36, 1.55, 1.47, 1.94], [3.36, 3.55, 3.47, 3.94]]}}]}`), nil)
	var page struct {
		Points []map[string]any `json:"points"`
	}
	c.ok("POST", "/collections/"+coll+"/points/scroll", map[string]any{"limit": 10, "with_vector": true}, &page)
	if len(page.Points) != 3 || fmt.Sprint(dig(page.Points[0], "vector", "my-multivec")) != "[[1 1 1 1] [2 2 2 2] [3 3 3 3]]" {
		t.Errorf("scroll = %v, want 3 points, the first [[1 1 1 1] [2 2 2 2] [3 3 3 3]]", page.Points)
	}
	if got := fmt.Sprint(dig(getRecord(t, c, coll, 2), "vector", "my-multivec")); got != "[[3 3 3 3] [2 2 2 2] [1 1 1 1]]" {
		t.Errorf("point 2 = %s", got)
	}
	c.ok("POST", "/collections/"+coll+"/points/delete?wait=true", map[string]any{"points": []int{2}}, nil)
	c.errorOf("GET", "/collections/"+coll+"/points/2", nil, 404)

	c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(`{"points": [{"id": 1, "vector": {"my-multivec": [[256.19, 1.81, 2.75, 3.11]]}}]}`), nil)
	if got := fmt.Sprint(dig(getRecord(t, c, coll, 1), "vector", "my-multivec")); got != "[[255 1 2 3]]" {
		t.Errorf("truncation: %s, want [[255 1 2 3]]", got)
	}
}

// turboVector is a deterministic vector of turbo4 test size 64 with
// components in (-1, 1).
func turboVector(seed, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64((seed*7919+i*104729)%2001)/1000 - 1.0005
	}
	return v
}

func cosine(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab, aa, bb = ab+a[i]*b[i], aa+a[i]*a[i], bb+b[i]*b[i]
	}
	return ab / math.Sqrt(aa*bb)
}

func floatsOf(v any) []float64 {
	var out []float64
	for _, x := range v.([]any) {
		out = append(out, x.(float64))
	}
	return out
}

// TestUpstreamTurbo4Storage: test_turbo4_storage.py
// test_turbo4_config_persists, test_quantized_turbo4_config_persists,
// test_turbo4_retrieve_with_vector, test_turbo4_overwrite_point and
// test_turbo4_update_single_vector. The turbo4 datatype and a
// quantization over it persist in the config; vectors read back close to
// what was written (the simulator keeps them exactly, where Qdrant's 4-bit
// codes give a cosine above 0.9), an overwrite replaces them, and a
// single-vector update leaves the other vectors exactly as they were.
func TestUpstreamTurbo4Storage(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll, size = "test_turbo4", 64
	names := map[string]string{"image": "Cosine", "audio": "Dot", "text": "Euclid"}
	vectors := map[string]any{}
	for name, dist := range names {
		vectors[name] = map[string]any{"size": size, "distance": dist, "datatype": "turbo4"}
	}
	c.ok("PUT", "/collections/"+coll, map[string]any{"vectors": vectors}, nil)
	var pts []any
	for id := 1; id <= 50; id++ {
		vs := map[string]any{}
		for name := range names {
			vs[name] = turboVector(id*len(name), size)
		}
		pts = append(pts, map[string]any{"id": id, "vector": vs})
	}
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", map[string]any{"points": pts}, nil)
	cfg := collectionConfigOf(t, c, coll)
	for name := range names {
		if dt := dig(cfg, "params", "vectors", name, "datatype"); dt != "turbo4" {
			t.Errorf("%s datatype = %v, want turbo4", name, dt)
		}
	}
	for name := range names {
		got := floatsOf(dig(getRecord(t, c, coll, 10), "vector", name))
		if len(got) != size || cosine(got, turboVector(10*len(name), size)) <= 0.9 {
			t.Errorf("point 10 %s read back with %d numbers, cosine %v", name, len(got), cosine(got, turboVector(10*len(name), size)))
		}
	}
	newVec := turboVector(1001, size)
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 1,
		"vector": map[string]any{"image": newVec, "audio": newVec, "text": newVec}}}}, nil)
	for name := range names {
		got := floatsOf(dig(getRecord(t, c, coll, 1), "vector", name))
		if cosine(got, newVec) <= cosine(got, turboVector(len(name), size)) || cosine(got, newVec) <= 0.9 {
			t.Errorf("overwritten point 1 %s is not the new vector", name)
		}
	}
	before := getRecord(t, c, coll, 2)["vector"].(map[string]any)
	c.ok("PUT", "/collections/"+coll+"/points/vectors?wait=true", map[string]any{"points": []any{map[string]any{"id": 2,
		"vector": map[string]any{"audio": newVec}}}}, nil)
	after := getRecord(t, c, coll, 2)["vector"].(map[string]any)
	if cosine(floatsOf(after["audio"]), newVec) <= 0.9 {
		t.Error("single-vector update did not replace audio")
	}
	for _, untouched := range []string{"image", "text"} {
		if fmt.Sprint(after[untouched]) != fmt.Sprint(before[untouched]) {
			t.Errorf("single-vector update changed %s", untouched)
		}
	}

	const quant = "test_turbo4_quantized"
	c.ok("PUT", "/collections/"+quant, rawJSON(`{"vectors": {
		"binary": {"size": 64, "distance": "Dot", "datatype": "turbo4", "quantization_config": {"binary": {"always_ram": true}}},
		"turbo": {"size": 64, "distance": "Cosine", "datatype": "turbo4", "quantization_config": {"turbo": {"bits": "bits2", "always_ram": true}}}},
		"optimizers_config": {"default_segment_number": 1, "indexing_threshold": 1}}`), nil)
	cfg = collectionConfigOf(t, c, quant)
	for name, kind := range map[string]string{"binary": "binary", "turbo": "turbo"} {
		if dig(cfg, "params", "vectors", name, "datatype") != "turbo4" || dig(cfg, "params", "vectors", name, "quantization_config", kind) == nil {
			t.Errorf("%s config = %v, want turbo4 with %s quantization", name, dig(cfg, "params", "vectors", name), kind)
		}
	}
}

// TestUpstreamPayloadIndexOverwrite: test_payload_operations.py
// test_payload_index_overwrite. With integer indexes on plain and nested
// keys, set-payload replaces a top-level object (a.x gone, a.y there), also
// under "key" (nested.a.x gone, nested.a.y there) and indexed filters see
// it; a re-upsert replaces the payload whole: {} and a missing payload
// clear it, a new one is all there is (payload_storage_impl.rs, lib/shard/
// src/update/points/upsert.rs).
func TestUpstreamPayloadIndexOverwrite(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_payload_index_overwrite"
	c.ok("PUT", "/collections/"+coll, map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, nil)
	for _, f := range []string{"a.x", "a.y", "b", "nested.a.x", "nested.a.y", "nested.b"} {
		c.ok("PUT", "/collections/"+coll+"/index?wait=true", map[string]any{"field_name": f, "field_schema": "integer"}, nil)
	}
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(`{"points": [{"id": 1, "vector": [1, 2, 3, 4],
		"payload": {"a": {"x": 1}, "b": 1, "nested": {"a": {"x": 1}, "b": 1}}}]}`), nil)
	count := func(key string) int {
		return len(scrollIDs(t, c, coll, `{"must": [{"key": "`+key+`", "match": {"value": 1}}]}`))
	}
	c.ok("POST", "/collections/"+coll+"/points/payload", rawJSON(`{"payload": {"a": {"y": 1}}, "points": [1]}`), nil)
	if count("a.x") != 0 || count("a.y") != 1 {
		t.Errorf("after set a: a.x matches %d, a.y %d; want 0 and 1", count("a.x"), count("a.y"))
	}
	c.ok("POST", "/collections/"+coll+"/points/payload", rawJSON(`{"payload": {"a": {"y": 1}}, "points": [1], "key": "nested"}`), nil)
	if count("nested.a.x") != 0 || count("nested.a.y") != 1 {
		t.Errorf("after set nested.a: nested.a.x matches %d, nested.a.y %d; want 0 and 1", count("nested.a.x"), count("nested.a.y"))
	}
	if pl := payloadOf(t, c, coll, 1); len(pl) != 3 {
		t.Errorf("payload = %v, want 3 keys", pl)
	}
	for _, tc := range []struct{ point, want string }{
		{`{"id": 1, "vector": [1, 2, 3, 4], "payload": {}}`, "map[]"},
		{`{"id": 1, "vector": [1, 2, 3, 4], "payload": {"key": {"nested": 1}}}`, "map[key:map[nested:1]]"},
		{`{"id": 1, "vector": [1, 2, 3, 4]}`, "map[]"},
	} {
		c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(`{"points": [`+tc.point+`]}`), nil)
		rec := getRecord(t, c, coll, 1)
		if pl, ok := rec["payload"].(map[string]any); !ok || fmt.Sprint(pl) != tc.want {
			t.Errorf("after upserting %s: payload %v, want %s", tc.point, rec["payload"], tc.want)
		}
	}
}

// TestUpstreamMultivecBatchUpdate: test_batch_update_multivec.py
// test_batch_update. On the named multivec fixture, batches of upserts,
// deletes, vector updates and vector deletes apply in order; a point keeps
// only the named vectors left to it, possibly none.
func TestUpstreamMultivecBatchUpdate(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_multivec_batch"
	multivecCollectionSetup(t, c, coll, "Dot")
	batch := func(ops string) {
		t.Helper()
		c.ok("POST", "/collections/"+coll+"/points/batch?wait=true", rawJSON(`{"operations": [`+ops+`]}`), nil)
	}
	check := func(stage string, ids []int, want string) {
		t.Helper()
		var got []any
		c.ok("POST", "/collections/"+coll+"/points", map[string]any{"ids": ids, "with_vector": true, "with_payload": true}, &got)
		var w []any
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s: points = %v, want %v", stage, got, w)
		}
	}
	batch(`{"upsert": {"points": [{"id": 7, "vector": {"image": [1.0, 0.0, 9.0, 1.0]}, "payload": {}}]}},
		{"upsert": {"points": [{"id": 8, "vector": {"image": [7.0, 1.0, 6.0, 9.0]}, "payload": {}}]}},
		{"delete": {"points": [8]}},
		{"upsert": {"points": [{"id": 7, "vector": {"image": [9.0, 9.0, 3.0, 0.0], "text": [8.0, 1.0, 2.0, 5.0, 2.0, 7.0, 1.0, 6.0]}, "payload": {}}]}}`)
	check("upserts", []int{7, 8}, `[{"id": 7, "payload": {}, "vector": {"image": [9, 9, 3, 0], "text": [8, 1, 2, 5, 2, 7, 1, 6]}}]`)
	batch(`{"update_vectors": {"points": [{"id": 7, "vector": {"image": [2.0, 6.0, 3.0, 2.0], "text": [5.0, 7.0, 0.0, 8.0, 2.0, 7.0, 1.0, 6.0]}}]}},
		{"update_vectors": {"points": [{"id": 7, "vector": {"image": [0.0, 3.0, 1.0, 8.0]}}]}}`)
	check("vector updates", []int{7, 8}, `[{"id": 7, "payload": {}, "vector": {"image": [0, 3, 1, 8], "text": [5, 7, 0, 8, 2, 7, 1, 6]}}]`)
	batch(`{"upsert": {"points": [{"id": 9, "vector": {"image": [5.0, 5.0, 3.0, 6.0], "text": [8.0, 4.0, 7.0, 3.0, 3.0, 8.0, 9.0, 0.0]}, "payload": {}}]}},
		{"upsert": {"points": [{"id": 10, "vector": {"image": [2.0, 9.0, 1.0, 4.0], "text": [1.0, 5.0, 5.0, 6.0, 9.0, 3.0, 3.0, 2.0]}, "payload": {}}]}},
		{"delete_vectors": {"points": [7, 10], "vector": ["text"]}},
		{"delete_vectors": {"points": [9, 10], "vector": ["image"]}}`)
	check("vector deletes", []int{7, 9, 10, 8}, `[{"id": 7, "payload": {}, "vector": {"image": [0, 3, 1, 8]}},
		{"id": 9, "payload": {}, "vector": {"text": [8, 4, 7, 3, 3, 8, 9, 0]}}, {"id": 10, "payload": {}, "vector": {}}]`)
}

// TestUpstreamUnnamedVectorUpdate: test_collection_update.py
// test_collection_update. PATCH addresses the unnamed vector by the empty
// name, together with a sparse vector's index and the optimizer; the
// collection then takes and returns a point as before, and the diffs show
// in the config (lib/collection/src/config.rs update_vectors_from_diff).
func TestUpstreamUnnamedVectorUpdate(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	const coll = "test_unnamed_update"
	basicCollectionSetup(t, c, coll)
	c.ok("PATCH", "/collections/"+coll, rawJSON(`{"vectors": {"": {"hnsw_config": {"m": 32, "ef_construct": 123},
		"quantization_config": {"scalar": {"type": "int8", "quantile": 0.8}}}},
		"sparse_vectors": {"sparse-text": {"index": {"on_disk": true}}},
		"optimizers_config": {"default_segment_number": 6, "indexing_threshold": 10000}}`), nil)
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(`{"points": [{"id": 7, "vector": [0.15, 0.31, 0.76, 0.74], "payload": {"city": "Rome"}}]}`), nil)
	if rec := getRecord(t, c, coll, 7); dig(rec, "payload", "city") != "Rome" {
		t.Errorf("point 7 = %v", rec)
	}
	cfg := collectionConfigOf(t, c, coll)
	for path, want := range map[string]any{"params.vectors.hnsw_config.m": 32.0, "params.vectors.hnsw_config.ef_construct": 123.0,
		"params.vectors.quantization_config.scalar.quantile": 0.8, "params.sparse_vectors.sparse-text.index.on_disk": true,
		"optimizer_config.default_segment_number": 6.0, "optimizer_config.indexing_threshold": 10000.0} {
		if got := dig(cfg, strings.Split(path, ".")...); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
}
