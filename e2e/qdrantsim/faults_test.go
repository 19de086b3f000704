package qdrantsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func int64p(n int64) *int64 { return &n }

func TestFaultsBehaveAsConfigured(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	p := c.Peers()[0]
	cl := newClient(t, p)
	createCollection(t, cl, "c", 1, 1)
	upsertN(t, cl, "c", 50)
	const stream = "GET /collections/{collection_name}/shards/{shard_id}/snapshot"
	streamURL := p.URL() + "/collections/c/shards/0/snapshot"
	_, _, full := get(t, streamURL, nil)

	t.Run("latency delays the route only", func(t *testing.T) {
		p.SetFaults(Faults{Routes: []RouteFault{{Route: "GET /cluster", Latency: Duration(150 * time.Millisecond)}}})
		defer p.ClearFaults()
		start := time.Now()
		cl.ok("GET", "/cluster", nil, nil)
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("GET /cluster took %v", d)
		}
		start = time.Now()
		cl.ok("GET", "/collections", nil, nil)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("unaffected route took %v", d)
		}
	})
	t.Run("fixed status", func(t *testing.T) {
		p.SetFaults(Faults{Routes: []RouteFault{{Route: "GET /collections", Status: 503}}})
		defer p.ClearFaults()
		if msg := cl.errorOf("GET", "/collections", nil, 503); msg == "" {
			t.Error("no error message")
		}
	})
	t.Run("error rate", func(t *testing.T) {
		p.SetFaults(Faults{Routes: []RouteFault{{Route: "*", ErrorRate: 0.5}}})
		defer p.ClearFaults()
		fails := 0
		for i := 0; i < 200; i++ {
			if status, _ := cl.do("GET", "/collections", nil); status == 500 {
				fails++
			}
		}
		if fails < 50 || fails > 150 {
			t.Errorf("%d of 200 failed with rate 0.5", fails)
		}
	})
	t.Run("truncated stream", func(t *testing.T) {
		p.SetFaults(Faults{Routes: []RouteFault{{Route: stream, TruncateAfter: int64p(1000)}}})
		defer p.ClearFaults()
		resp, err := http.Get(streamURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || err == nil || len(b) != 1000 || !bytes.Equal(b, full[:1000]) {
			t.Errorf("status %d, %d bytes, err %v; want 200, 1000 bytes and a read error", resp.StatusCode, len(b), err)
		}
	})
	t.Run("stalled stream", func(t *testing.T) {
		p.SetFaults(Faults{Routes: []RouteFault{{Route: stream, StallAfter: int64p(512)}}})
		defer p.ClearFaults()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", streamURL, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if len(b) != 512 || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%d bytes, err %v; want 512 bytes then the client's deadline", len(b), err)
		}
	})
	t.Run("disk full on snapshot creation", func(t *testing.T) {
		p.SetFaults(Faults{SnapshotNoSpace: true})
		defer p.ClearFaults()
		msg := cl.errorOf("POST", "/collections/c/shards/0/snapshots", nil, 500)
		if !strings.HasPrefix(msg, "Service internal error: ") || !strings.Contains(msg, "No space left on device") {
			t.Errorf("message %q", msg)
		}
		var list []SnapshotDescription
		cl.ok("GET", "/collections/c/shards/0/snapshots", nil, &list)
		if len(list) != 0 {
			t.Errorf("failed creation left %+v", list)
		}
	})
	t.Run("slow snapshot creation", func(t *testing.T) {
		p.SetFaults(Faults{SnapshotDelay: Duration(200 * time.Millisecond)})
		defer p.ClearFaults()
		start := time.Now()
		cl.ok("POST", "/collections/c/snapshots", nil, nil)
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("creation took %v", d)
		}
	})
}

func TestAdminAPI(t *testing.T) {
	c := startCluster(t, Options{Peers: 2})
	addr, err := c.ServeAdmin(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admin := "http://" + addr
	call := func(method, path string, body any, out any) int {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, admin+path, rd)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	var peers []PeerEndpoint
	call("GET", "/peers", nil, &peers)
	if len(peers) != 2 || !peers[0].Running {
		t.Fatalf("peers %+v", peers)
	}
	id := peers[1].PeerID
	if call("POST", "/peers/"+itoa(int64(id))+"/stop", nil, nil) != 200 || c.Peer(id).Running() {
		t.Error("stop did not stop")
	}
	if call("POST", "/peers/"+itoa(int64(id))+"/start", nil, nil) != 200 || !c.Peer(id).Running() {
		t.Error("start did not start")
	}
	f := Faults{Routes: []RouteFault{{Route: "GET /collections", Status: 500}}, SnapshotNoSpace: true}
	if call("PUT", "/peers/"+itoa(int64(id))+"/faults", f, nil) != 200 || !c.Peer(id).Faults().SnapshotNoSpace {
		t.Error("faults not set")
	}
	call("DELETE", "/peers/"+itoa(int64(id))+"/faults", nil, nil)
	if c.Peer(id).Faults().SnapshotNoSpace {
		t.Error("faults not cleared")
	}
	var added PeerEndpoint
	call("POST", "/peers", nil, &added)
	if len(c.Peers()) != 3 || added.PeerID == 0 {
		t.Errorf("add: %+v", added)
	}
	call("DELETE", "/peers/"+itoa(int64(added.PeerID)), nil, nil)
	if len(c.Peers()) != 2 {
		t.Error("remove failed")
	}
	createCollection(t, newClient(t, c.Peers()[0]), "bulk", 1, 1)
	if status := call("POST", "/synthetic", SyntheticRequest{Collection: "bulk", ShardID: 0, Bytes: 1 << 20, Seed: 3}, nil); status != 200 {
		t.Errorf("synthetic: %d", status)
	}
	if call("POST", "/peers/42/stop", nil, nil) != 404 {
		t.Error("unknown peer accepted")
	}
}

func TestStalledClientAbortsStreamAfterIdleTimeout(t *testing.T) {
	c := startCluster(t, Options{Peers: 1, StreamIdleTimeout: 200 * time.Millisecond})
	p := c.Peers()[0]
	cl := newClient(t, p)
	createCollection(t, cl, "bulk", 1, 1)
	if err := c.SetSyntheticShard(context.Background(), "bulk", 0, 64<<20, 1); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(p.URL() + "/collections/bulk/shards/0/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(time.Second) // the client stalls; socket buffers fill up
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= 64<<20 {
		t.Errorf("stalled stream delivered %d bytes, err %v; want a truncated body", n, err)
	}
}
