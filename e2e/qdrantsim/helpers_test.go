package qdrantsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim/openapi"
)

// startCluster starts a cluster with fast background timers for tests.
func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	if opts.Seed == 0 {
		opts.Seed = 7
	}
	// The profile defaults to off because each of the simulator's own tests
	// checks one behaviour and switches on exactly the realism it is about
	// (consensus delays, transfer rates, approximate counts are each tested
	// with their profile in realism_test.go, consensus_test.go, ...); the
	// profiles' random delays would make every other test slow and its
	// outcome depend on timing. QDRANTSIM_REALISM is for product tests.
	if opts.Realism == "" {
		opts.Realism = RealismOff // realism off because each test switches on only the realism it is about (see above)
	}
	setDefault(&opts.Tick, 10*time.Millisecond)
	setDefault(&opts.TransferDelay, 150*time.Millisecond)
	setDefault(&opts.PeerDownDelay, 60*time.Millisecond)
	setDefault(&opts.AutoRecoveryDelay, 40*time.Millisecond)
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.LogSeedOnFailure(t)
	return c
}

// client is a tiny REST client for one peer.
type client struct {
	t    *testing.T
	base string
	key  string
	// hc, when set, is the client requests go through (the validating
	// transport of newValidatedClient); http.DefaultClient otherwise.
	hc *http.Client
}

// newValidatedClient is newClient whose traffic is checked against
// Qdrant's 1.19.0 OpenAPI document: a request or response off the
// document fails the test.
func newValidatedClient(t *testing.T, p *Peer) client {
	t.Helper()
	v, err := openapi.New("1.19.0")
	if err != nil {
		t.Fatal(err)
	}
	return client{t: t, base: p.URL(), hc: &http.Client{Transport: openapi.NewTransport(t, v, nil), Timeout: 30 * time.Second}}
}

func newClient(t *testing.T, p *Peer) client { return client{t: t, base: p.URL()} }

// do sends a request; body may be nil, []byte or a value to marshal.
func (c client) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("api-key", c.key)
	}
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// ok sends a request that must succeed and decodes its result into out.
func (c client) ok(method, path string, body, out any) {
	c.t.Helper()
	status, raw := c.do(method, path, body)
	if status != http.StatusOK {
		c.t.Fatalf("%s %s = %d %s", method, path, status, raw)
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Status string          `json:"status"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Status != "ok" {
		c.t.Fatalf("%s %s: bad envelope %s (%v)", method, path, raw, err)
	}
	if out != nil {
		if err := json.Unmarshal(env.Result, out); err != nil {
			c.t.Fatalf("%s %s: decode result: %v", method, path, err)
		}
	}
}

// errorOf sends a request that must fail with status and returns the
// envelope's error message.
func (c client) errorOf(method, path string, body any, status int) string {
	c.t.Helper()
	got, raw := c.do(method, path, body)
	if got != status {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, got, raw, status)
	}
	var env struct {
		Status struct {
			Error string `json:"error"`
		} `json:"status"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		c.t.Fatalf("%s %s: error body %q is not the JSON envelope", method, path, raw)
	}
	return env.Status.Error
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// createCollection creates a collection of 4-dim vectors.
func createCollection(t *testing.T, c client, name string, shards, rf int) {
	t.Helper()
	c.ok("PUT", "/collections/"+name, map[string]any{
		"vectors": map[string]any{"size": 4, "distance": "Dot"}, "shard_number": shards, "replication_factor": rf}, nil)
}

// upsertN upserts n points with ids 1..n, and a few UUID ids.
func upsertN(t *testing.T, c client, coll string, n int) {
	t.Helper()
	var pts []map[string]any
	for i := 1; i <= n; i++ {
		pts = append(pts, map[string]any{"id": i, "vector": []float32{float32(i), 1, 2, 3},
			"payload": map[string]any{"n": i, "group": fmt.Sprintf("g%d", i%3)}})
	}
	pts = append(pts, map[string]any{"id": "550e8400-e29b-41d4-a716-446655440000", "vector": []float32{1, 1, 1, 1}})
	c.ok("PUT", "/collections/"+coll+"/points?wait=true", map[string]any{"points": pts}, nil)
}

// allPoints scrolls the whole collection with payloads and vectors.
func allPoints(t *testing.T, c client, coll string) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	var offset any
	for {
		var page struct {
			Points         []json.RawMessage `json:"points"`
			NextPageOffset any               `json:"next_page_offset"`
		}
		c.ok("POST", "/collections/"+coll+"/points/scroll", map[string]any{"limit": 7, "offset": offset, "with_vector": true}, &page)
		out = append(out, page.Points...)
		if page.NextPageOffset == nil {
			return out
		}
		offset = page.NextPageOffset
	}
}

// replicaStates maps "shard/peer" to the state in p's cluster view.
func replicaStates(t *testing.T, c client, coll string) map[string]string {
	t.Helper()
	var info CollectionClusterInfo
	c.ok("GET", "/collections/"+coll+"/cluster", nil, &info)
	out := map[string]string{}
	for _, l := range info.LocalShards {
		out[fmt.Sprintf("%d/%d", l.ShardID, info.PeerID)] = l.State
	}
	for _, r := range info.RemoteShards {
		out[fmt.Sprintf("%d/%d", r.ShardID, r.PeerID)] = r.State
	}
	return out
}

// holders returns the peers holding a replica of shard, sorted.
func holders(c *Cluster, coll string, shard uint32) []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := c.colls[coll].shards[shard].peerIDs()
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// nonHolder returns a peer without a replica of shard, or nil.
func nonHolder(c *Cluster, coll string, shard uint32) *Peer {
	have := map[uint64]bool{}
	for _, id := range holders(c, coll, shard) {
		have[id] = true
	}
	for _, p := range c.Peers() {
		if !have[p.ID()] {
			return p
		}
	}
	return nil
}

// stateOf returns the consensus state of a replica ("" if absent).
func stateOf(c *Cluster, coll string, shard uint32, peer uint64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	col := c.colls[coll]
	if col == nil || col.shards[shard] == nil || col.shards[shard].replicas[peer] == nil {
		return ""
	}
	return col.shards[shard].replicas[peer].state
}

func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }

// uploadCollection posts an archive to /collections/{c}/snapshots/upload.
func uploadCollection(t *testing.T, c client, coll, filename string, data []byte, query string) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("snapshot", filename)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", c.base+"/collections/"+coll+"/snapshots/upload?"+query, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}
