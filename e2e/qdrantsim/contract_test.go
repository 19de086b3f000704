package qdrantsim_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/e2e/qdrantsim/openapi"
)

// The contract tests drive the simulator over REST through the validating
// transport: every request they send and every response the simulator
// gives is checked against Qdrant's OpenAPI document of the emulated
// version. A request or response off the document fails the test.

var contractVersions = []string{"1.15.0", "1.19.0"}

// rest is a REST client for one peer whose traffic is validated.
type rest struct {
	t      *testing.T
	base   string
	client *http.Client
	key    string
}

func validatingClient(t *testing.T, version string) (*http.Client, *openapi.Transport) {
	t.Helper()
	v, err := openapi.New(version)
	if err != nil {
		t.Fatal(err)
	}
	tr := openapi.NewTransport(t, v, nil)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, tr
}

func (c rest) on(p *qdrantsim.Peer) rest { c.base = p.URL(); return c }

type reply struct {
	status int
	header http.Header
	body   []byte
}

// envelope decodes a JSON reply as Qdrant's envelope.
func (r reply) envelope(t *testing.T) (result json.RawMessage, errMsg string) {
	t.Helper()
	var env struct {
		Result json.RawMessage `json:"result"`
		Status json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("reply %d is not JSON: %v: %q", r.status, err, r.body)
	}
	var st struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(env.Status, &st)
	return env.Result, st.Error
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	res, msg := r.envelope(t)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, msg)
	}
	if err := json.Unmarshal(res, v); err != nil {
		t.Fatalf("decode result %s: %v", res, err)
	}
}

func (c rest) send(ctx context.Context, method, path string, body any, header http.Header) reply {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("api-key", c.key)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c rest) do(method, path string, body any) reply {
	c.t.Helper()
	return c.send(context.Background(), method, path, body, nil)
}

// invalid sends a request that is off the document on purpose.
func (c rest) invalid(method, path string, body any) reply {
	c.t.Helper()
	return c.send(openapi.ExpectInvalidRequest(context.Background()), method, path, body, nil)
}

func (c rest) ok(method, path string, body any) json.RawMessage {
	c.t.Helper()
	r := c.do(method, path, body)
	res, msg := r.envelope(c.t)
	if r.status != http.StatusOK {
		c.t.Fatalf("%s %s: status %d: %s", method, path, r.status, msg)
	}
	return res
}

type shardPlace struct {
	ShardID uint32 `json:"shard_id"`
	PeerID  uint64 `json:"peer_id"`
	State   string `json:"state"`
}

type clusterView struct {
	PeerID         uint64            `json:"peer_id"`
	LocalShards    []shardPlace      `json:"local_shards"`
	RemoteShards   []shardPlace      `json:"remote_shards"`
	ShardTransfers []json.RawMessage `json:"shard_transfers"`
}

type snapshotDescription struct {
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	Checksum string `json:"checksum"`
}

func TestRESTContract(t *testing.T) {
	for _, version := range contractVersions {
		t.Run(version, func(t *testing.T) {
			sim := startSim(t, qdrantsim.Options{Peers: 3, Version: version})
			peers := sim.Peers()
			hc, tr := validatingClient(t, version)
			c := rest{t: t, client: hc}.on(peers[0])

			// Service endpoints.
			var vi struct{ Version string }
			if r := c.do("GET", "/", nil); r.status != 200 || json.Unmarshal(r.body, &vi) != nil || vi.Version != version {
				t.Errorf("GET /: %d %s", r.status, r.body)
			}
			for _, p := range []string{"/healthz", "/readyz", "/livez"} {
				if r := c.do("GET", p, nil); r.status != 200 {
					t.Errorf("GET %s: %d", p, r.status)
				}
			}

			// Collections.
			c.ok("PUT", "/collections/items", map[string]any{
				"vectors":      map[string]any{"size": 4, "distance": "Cosine"},
				"shard_number": 3, "replication_factor": 2,
			})
			c.ok("GET", "/collections", nil)
			c.ok("GET", "/collections/items", nil)
			c.ok("GET", "/collections/items/exists", nil)
			c.ok("PATCH", "/collections/items", map[string]any{"optimizers_config": map[string]any{"indexing_threshold": 20000}})
			if r := c.do("GET", "/collections/missing", nil); r.status != 404 {
				t.Errorf("missing collection: %d %s", r.status, r.body)
			} else if _, msg := r.envelope(t); msg != "Not found: Collection `missing` doesn't exist!" {
				t.Errorf("missing collection message: %q", msg)
			}
			if r := c.do("PUT", "/collections/items", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Cosine"}}); r.status != 409 {
				t.Errorf("existing collection: %d %s", r.status, r.body)
			}

			// Points.
			var points []map[string]any
			for i := 1; i <= 30; i++ {
				points = append(points, map[string]any{"id": i, "vector": []float32{float32(i), 1, 0, 0}, "payload": map[string]any{"n": i}})
			}
			points = append(points, map[string]any{"id": uuidA, "vector": []float32{1, 2, 3, 4}, "payload": map[string]any{"kind": "uuid"}})
			c.ok("PUT", "/collections/items/points?wait=true", map[string]any{"points": points})
			c.ok("PUT", "/collections/items/points?wait=true", map[string]any{"batch": map[string]any{
				"ids": []any{31, 32}, "vectors": [][]float32{{1, 1, 1, 1}, {2, 2, 2, 2}}}})
			var count struct{ Count int }
			if err := json.Unmarshal(c.ok("POST", "/collections/items/points/count", map[string]any{"exact": true}), &count); err != nil || count.Count != 33 {
				t.Errorf("count = %d, %v; want 33", count.Count, err)
			}
			c.ok("POST", "/collections/items/points/scroll", map[string]any{"limit": 5, "with_payload": true, "with_vector": true})
			c.ok("POST", "/collections/items/points/scroll", map[string]any{"limit": 5,
				"filter": map[string]any{"must": []any{map[string]any{"key": "n", "range": map[string]any{"gte": 10}}}}})
			c.ok("POST", "/collections/items/points", map[string]any{"ids": []any{1, uuidA}, "with_payload": true, "with_vector": true})
			c.ok("GET", "/collections/items/points/7", nil)
			c.ok("GET", "/collections/items/points/"+uuidA, nil)
			c.ok("POST", "/collections/items/points/delete?wait=true", map[string]any{"points": []any{32}})
			c.ok("PUT", "/collections/items/index?wait=true", map[string]any{"field_name": "n", "field_schema": "integer"})
			c.ok("GET", "/collections/items", nil)
			c.ok("DELETE", "/collections/items/index/n?wait=true", nil)

			// Payload, vector and batch updates.
			c.ok("POST", "/collections/items/points/payload?wait=true", map[string]any{"payload": map[string]any{"tag": "a"}, "points": []any{1, 2}})
			c.ok("PUT", "/collections/items/points/payload?wait=true", map[string]any{"payload": map[string]any{"tag": "b"}, "points": []any{3}})
			c.ok("POST", "/collections/items/points/payload/delete?wait=true", map[string]any{"keys": []string{"tag"}, "points": []any{1}})
			c.ok("POST", "/collections/items/points/payload/clear?wait=true", map[string]any{"points": []any{2}})
			c.ok("PUT", "/collections/items/points/vectors?wait=true", map[string]any{"points": []any{
				map[string]any{"id": 4, "vector": []float32{4, 3, 2, 1}}}})
			c.ok("POST", "/collections/items/points/batch?wait=true", map[string]any{"operations": []any{
				map[string]any{"upsert": map[string]any{"points": []any{map[string]any{"id": 40, "vector": []float32{1, 2, 3, 4}}}}},
				map[string]any{"set_payload": map[string]any{"payload": map[string]any{"k": 1}, "points": []any{40}}},
				map[string]any{"delete": map[string]any{"points": []any{40}}}}})
			if r := c.do("POST", "/collections/items/points/payload?wait=true", map[string]any{"payload": map[string]any{"k": 1}, "points": []any{4242}}); r.status != 404 {
				t.Errorf("payload of a missing point: %d %s", r.status, r.body)
			}
			if version == "1.19.0" {
				c.ok("PUT", "/collections/items/vectors/extra?wait=true", map[string]any{"dense": map[string]any{"size": 2, "distance": "Dot"}})
				c.ok("DELETE", "/collections/items/vectors/extra?wait=true", nil)
			}

			// Aliases.
			c.ok("POST", "/collections/aliases", map[string]any{"actions": []any{
				map[string]any{"create_alias": map[string]any{"collection_name": "items", "alias_name": "live"}}}})
			c.ok("GET", "/aliases", nil)
			c.ok("GET", "/collections/items/aliases", nil)
			c.ok("POST", "/collections/aliases", map[string]any{"actions": []any{
				map[string]any{"delete_alias": map[string]any{"alias_name": "live"}}}})

			// Cluster views and operations.
			c.ok("GET", "/cluster", nil)
			var view clusterView
			c.do("GET", "/collections/items/cluster", nil).decode(t, &view)
			if len(view.LocalShards) == 0 {
				t.Fatalf("peer %d holds no replica: %+v", view.PeerID, view)
			}
			shard := view.LocalShards[0].ShardID
			holders := map[uint64]bool{view.PeerID: true}
			for _, r := range view.RemoteShards {
				if r.ShardID == shard {
					holders[r.PeerID] = true
				}
			}
			var target uint64
			for _, p := range peers {
				if !holders[p.ID()] {
					target = p.ID()
				}
			}
			c.ok("POST", "/collections/items/cluster", map[string]any{"replicate_shard": map[string]any{
				"shard_id": shard, "from_peer_id": view.PeerID, "to_peer_id": target}})
			waitTransfersDone(t, c, "items")
			c.ok("POST", "/collections/items/cluster", map[string]any{"drop_replica": map[string]any{
				"shard_id": shard, "peer_id": target}})
			if r := c.do("POST", "/collections/items/cluster", map[string]any{"move_shard": map[string]any{
				"shard_id": 99, "from_peer_id": view.PeerID, "to_peer_id": target}}); r.status != 400 {
				t.Errorf("move of an unknown shard: %d %s", r.status, r.body)
			}

			contractSnapshots(t, c, shard)

			// Custom sharding and shard keys.
			c.ok("PUT", "/collections/tenants", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"},
				"sharding_method": "custom"})
			c.ok("PUT", "/collections/tenants/shards", map[string]any{"shard_key": "acme"})
			c.ok("PUT", "/collections/tenants/points?wait=true", map[string]any{"shard_key": "acme",
				"points": []any{map[string]any{"id": 1, "vector": []float32{1, 2}}}})
			if version == "1.19.0" {
				c.ok("GET", "/collections/tenants/shards", nil)
			}
			c.ok("POST", "/collections/tenants/shards/delete", map[string]any{"shard_key": "acme"})

			// Version-specific routes.
			if version == "1.15.0" {
				c.ok("GET", "/locks", nil)
				c.ok("POST", "/locks", map[string]any{"write": false})
			} else if r := c.invalid("GET", "/locks", nil); r.status != 404 {
				t.Errorf("GET /locks on %s: %d, want 404", version, r.status)
			}

			c.ok("DELETE", "/collections/tenants", nil)
			c.ok("DELETE", "/collections/items", nil)
			if tr.Checked() < 50 {
				t.Errorf("only %d exchanges went through the validating transport", tr.Checked())
			}
		})
	}
}

func waitTransfersDone(t *testing.T, c rest, coll string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var view clusterView
		c.do("GET", "/collections/"+coll+"/cluster", nil).decode(t, &view)
		if len(view.ShardTransfers) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("transfers still running: %+v", view.ShardTransfers)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// contractSnapshots exercises every snapshot route on a shard local to c's
// peer: stored, downloaded (whole and by range), streamed, recovered from a
// URL and from an upload, deleted; then collection snapshots.
func contractSnapshots(t *testing.T, c rest, shard uint32) {
	base := fmt.Sprintf("/collections/items/shards/%d", shard)
	var desc snapshotDescription
	c.do("POST", base+"/snapshots?wait=true", nil).decode(t, &desc)
	c.ok("GET", base+"/snapshots", nil)

	r := c.do("GET", base+"/snapshots/"+desc.Name, nil)
	sum := sha256.Sum256(r.body)
	if r.status != 200 || int64(len(r.body)) != desc.Size || hex.EncodeToString(sum[:]) != desc.Checksum {
		t.Fatalf("download: status %d, %d bytes (want %d), checksum match %v", r.status, len(r.body), desc.Size,
			hex.EncodeToString(sum[:]) == desc.Checksum)
	}
	data := r.body
	part := c.send(context.Background(), "GET", base+"/snapshots/"+desc.Name, nil, http.Header{"Range": {"bytes=0-99"}})
	if part.status != http.StatusPartialContent || len(part.body) != 100 {
		t.Errorf("ranged download: %d, %d bytes", part.status, len(part.body))
	}
	if s := c.do("GET", base+"/snapshot", nil); s.status != 200 || len(s.body) == 0 {
		t.Errorf("streamed shard snapshot: %d, %d bytes", s.status, len(s.body))
	}

	c.ok("PUT", base+"/snapshots/recover", map[string]any{
		"location": c.base + base + "/snapshots/" + desc.Name, "priority": "snapshot", "checksum": desc.Checksum})
	bad := c.do("PUT", base+"/snapshots/recover", map[string]any{
		"location": c.base + base + "/snapshots/" + desc.Name, "checksum": strings.Repeat("0", 64)})
	if bad.status != 400 {
		t.Errorf("recover with a wrong checksum: %d %s", bad.status, bad.body)
	}

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("snapshot", desc.Name)
	fw.Write(data)
	mw.Close()
	up := c.send(context.Background(), "POST", base+"/snapshots/upload?priority=snapshot&checksum="+desc.Checksum,
		buf.Bytes(), http.Header{"Content-Type": {mw.FormDataContentType()}})
	if up.status != 200 {
		t.Errorf("upload: %d %s", up.status, up.body)
	}
	c.ok("DELETE", base+"/snapshots/"+desc.Name, nil)
	if r := c.do("DELETE", base+"/snapshots/"+desc.Name, nil); r.status != 404 {
		t.Errorf("deleting a deleted snapshot: %d", r.status)
	}

	var coll snapshotDescription
	c.do("POST", "/collections/items/snapshots", nil).decode(t, &coll)
	c.ok("GET", "/collections/items/snapshots", nil)
	if r := c.do("GET", "/collections/items/snapshots/"+coll.Name, nil); r.status != 200 || int64(len(r.body)) != coll.Size {
		t.Errorf("collection snapshot download: %d, %d bytes", r.status, len(r.body))
	}
	c.ok("DELETE", "/collections/items/snapshots/"+coll.Name, nil)
	if r := c.do("POST", "/collections/items/snapshots?wait=false", nil); r.status != http.StatusAccepted {
		t.Errorf("snapshot with wait=false: %d %s", r.status, r.body)
	}
}

func TestRESTContractRefusals(t *testing.T) {
	for _, version := range contractVersions {
		t.Run(version, func(t *testing.T) {
			sim := startSim(t, qdrantsim.Options{Peers: 1, Version: version})
			hc, _ := validatingClient(t, version)
			c := rest{t: t, client: hc}.on(sim.Peers()[0])
			c.ok("PUT", "/collections/items", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}})

			tests := []struct {
				name       string
				method     string
				path       string
				body       any
				wantStatus int
				wantPrefix string
			}{
				{name: "unknown route", method: "GET", path: "/collections/items/backup", wantStatus: 404},
				{name: "wrong method", method: "DELETE", path: "/aliases", wantStatus: 404},
				{name: "vector size as a string", method: "PUT", path: "/collections/bad",
					body: `{"vectors":{"size":"4","distance":"Cosine"}}`, wantStatus: 400, wantPrefix: "Format error in JSON body: "},
				{name: "body that is not JSON", method: "PUT", path: "/collections/bad",
					body: `{"vectors":`, wantStatus: 400, wantPrefix: "Format error in JSON body: "},
				{name: "vector size zero", method: "PUT", path: "/collections/bad",
					body: `{"vectors":{"size":0,"distance":"Cosine"}}`, wantStatus: 422, wantPrefix: "Validation error in JSON body: "},
				{name: "scroll limit zero", method: "POST", path: "/collections/items/points/scroll",
					body: `{"limit":0}`, wantStatus: 400, wantPrefix: "Bad request: Limit cannot be 0"},
				{name: "wait that is not a boolean", method: "PUT", path: "/collections/items/points?wait=maybe",
					body: `{"points":[{"id":1,"vector":[1,2]}]}`, wantStatus: 400},
				{name: "negative point id", method: "PUT", path: "/collections/items/points",
					body: `{"points":[{"id":-1,"vector":[1,2]}]}`, wantStatus: 400, wantPrefix: "Format error in JSON body: "},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := c
					c.t = t
					r := c.invalid(tt.method, tt.path, tt.body)
					if r.status != tt.wantStatus {
						t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, r.body)
					}
					if tt.wantPrefix != "" {
						if _, msg := r.envelope(t); !strings.HasPrefix(msg, tt.wantPrefix) {
							t.Errorf("message %q, want prefix %q", msg, tt.wantPrefix)
						}
					}
				})
			}
		})
	}
}

func TestRESTContractAuthentication(t *testing.T) {
	for _, version := range contractVersions {
		t.Run(version, func(t *testing.T) {
			sim := startSim(t, qdrantsim.Options{Peers: 1, Version: version, APIKey: "secret", ReadOnlyAPIKey: "reader"})
			hc, _ := validatingClient(t, version)
			anon := rest{t: t, client: hc}.on(sim.Peers()[0])
			if r := anon.do("GET", "/collections", nil); r.status != 401 || !strings.Contains(string(r.body), "Must provide an API key") {
				t.Errorf("no key: %d %q", r.status, r.body)
			}
			if r := anon.do("GET", "/", nil); r.status != 200 {
				t.Errorf("GET / without a key: %d", r.status)
			}
			wrong := anon
			wrong.key = "guess"
			if r := wrong.do("GET", "/collections", nil); r.status != 401 {
				t.Errorf("wrong key: %d %q", r.status, r.body)
			}
			reader := anon
			reader.key = "reader"
			reader.ok("GET", "/collections", nil)
			r := reader.do("PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}})
			if _, msg := r.envelope(t); r.status != 403 || !strings.HasPrefix(msg, "Forbidden: ") {
				t.Errorf("read-only key on a write: %d %q", r.status, msg)
			}
			writer := anon
			writer.key = "secret"
			writer.ok("PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 2, "distance": "Dot"}})
		})
	}
}
