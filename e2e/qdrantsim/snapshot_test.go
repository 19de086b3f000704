package qdrantsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// uploadShard posts an archive to .../shards/{s}/snapshots/upload.
func uploadShard(t *testing.T, c client, coll string, shard uint32, data []byte, query string) (int, []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("snapshot", "shard.snapshot")
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/collections/%s/shards/%d/snapshots/upload?%s", c.base, coll, shard, query), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if c.key != "" {
		req.Header.Set("api-key", c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// get downloads a path and returns status, headers and body.
func get(t *testing.T, url string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, b
}

func peerByID(c *Cluster, id uint64) *Peer { return c.Peer(id) }

// snapshotShard takes a snapshot of shard from one of its holders, either
// streamed or stored then downloaded.
func snapshotShard(t *testing.T, c *Cluster, coll string, shard uint32, stored bool) []byte {
	t.Helper()
	p := peerByID(c, holders(c, coll, shard)[0])
	cl := newClient(t, p)
	if !stored {
		status, hdr, body := get(t, fmt.Sprintf("%s/collections/%s/shards/%d/snapshot", p.URL(), coll, shard), nil)
		if status != 200 || hdr.Get("Content-Length") != "" || !strings.HasPrefix(hdr.Get("Content-Disposition"), `attachment; filename="`+coll+"-shard-") {
			t.Fatalf("stream: status %d, headers %v", status, hdr)
		}
		return body
	}
	var d SnapshotDescription
	cl.ok("POST", fmt.Sprintf("/collections/%s/shards/%d/snapshots", coll, shard), nil, &d)
	status, _, body := get(t, fmt.Sprintf("%s/collections/%s/shards/%d/snapshots/%s", p.URL(), coll, shard, d.Name), nil)
	if status != 200 {
		t.Fatalf("download: %d", status)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != d.Checksum || int64(len(body)) != d.Size {
		t.Fatalf("download does not match description %+v", d)
	}
	return body
}

func TestShardSnapshotsRestoreIdenticalPointsIntoRecreatedCollection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stored bool
	}{{"streamed snapshots", false}, {"stored snapshots", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 3})
			cl := newClient(t, c.Peers()[0])
			createCollection(t, cl, "books", 3, 2)
			upsertN(t, cl, "books", 60)
			before := allPoints(t, cl, "books")
			snaps := map[uint32][]byte{}
			for s := uint32(0); s < 3; s++ {
				snaps[s] = snapshotShard(t, c, "books", s, tc.stored)
			}
			cl.ok("DELETE", "/collections/books", nil, nil)
			createCollection(t, cl, "books", 3, 2)
			if n := len(allPoints(t, cl, "books")); n != 0 {
				t.Fatalf("recreated collection has %d points", n)
			}
			for s, data := range snaps {
				target := peerByID(c, holders(c, "books", s)[0])
				sum := sha256.Sum256(data)
				status, body := uploadShard(t, newClient(t, target), "books", s, data, "priority=snapshot&checksum="+hex.EncodeToString(sum[:]))
				if status != 200 {
					t.Fatalf("upload shard %d: %d %s", s, status, body)
				}
			}
			waitFor(t, "all replicas Active", func() bool {
				for _, st := range replicaStates(t, cl, "books") {
					if st != StateActive {
						return false
					}
				}
				return true
			})
			after := allPoints(t, cl, "books")
			if !reflect.DeepEqual(canon(t, before), canon(t, after)) {
				t.Fatalf("points differ after restore:\nbefore %s\nafter  %s", before, after)
			}
			// Every replica, not only the restored one, holds the data.
			for _, p := range c.Peers() {
				var n struct{ Count int }
				newClient(t, p).ok("POST", "/collections/books/points/count", map[string]any{}, &n)
				if n.Count != 61 {
					t.Errorf("peer %d counts %d points, want 61", p.ID(), n.Count)
				}
			}
		})
	}
}

func canon(t *testing.T, recs []json.RawMessage) []any {
	t.Helper()
	var out []any
	for _, r := range recs {
		var v any
		json.Unmarshal(r, &v)
		out = append(out, v)
	}
	return out
}

func TestChecksumMismatchLeavesShardUntouched(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 1)
	upsertN(t, cl, "c", 10)
	data := snapshotShard(t, c, "c", 0, false)
	cl.ok("POST", "/collections/c/points/delete?wait=true", map[string]any{"points": []int{1, 2, 3}}, nil)
	before := allPoints(t, cl, "c")
	wrong := strings.Repeat("ab", 32)

	status, body := uploadShard(t, cl, "c", 0, data, "checksum="+wrong)
	if status != 400 || !strings.Contains(string(body), "Checksum mismatch: expected "+wrong) {
		t.Errorf("upload with wrong checksum = %d %s", status, body)
	}
	var d SnapshotDescription
	cl.ok("POST", "/collections/c/shards/0/snapshots", nil, &d)
	msg := cl.errorOf("PUT", "/collections/c/shards/0/snapshots/recover", map[string]any{"location": d.Name, "checksum": wrong}, 400)
	if !strings.HasPrefix(msg, "Wrong input: Snapshot checksum mismatch: expected "+wrong+", got "+d.Checksum) {
		t.Errorf("recover with wrong checksum: %q", msg)
	}
	msg = cl.errorOf("PUT", "/collections/c/shards/0/snapshots/recover", map[string]any{"location": d.Name, "checksum": "abc"}, 422)
	if !strings.HasPrefix(msg, "Validation error in JSON body") {
		t.Errorf("malformed checksum: %q", msg)
	}
	if after := allPoints(t, cl, "c"); !reflect.DeepEqual(canon(t, before), canon(t, after)) {
		t.Fatalf("shard changed after refused recoveries")
	}
	if states := replicaStates(t, cl, "c"); states[fmt.Sprintf("0/%d", c.Peers()[0].ID())] != StateActive {
		t.Errorf("states after refused recoveries: %v", states)
	}
}

func TestRecoverOnPeerWithoutShardAddsReplicaAndResyncsOthers(t *testing.T) {
	c := startCluster(t, Options{Peers: 3})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 2)
	upsertN(t, cl, "c", 20)
	data := snapshotShard(t, c, "c", 0, false)
	// Diverge the live replicas from the snapshot: the snapshot must win.
	cl.ok("PUT", "/collections/c/points?wait=true", map[string]any{"points": []map[string]any{{"id": 500, "vector": []float32{0, 0, 0, 1}}}}, nil)
	old := holders(c, "c", 0)
	target := nonHolder(c, "c", 0)
	if target == nil {
		t.Fatal("every peer holds the shard")
	}
	// A stored file name on a peer without the shard is refused.
	tc := newClient(t, target)
	msg := tc.errorOf("PUT", "/collections/c/shards/0/snapshots/recover", map[string]any{"location": "x.snapshot"}, 400)
	if msg != "Wrong input: Shard 0 is not a local or queue proxy shard" {
		t.Errorf("recover by name without replica: %q", msg)
	}
	if msg := tc.errorOf("PUT", "/collections/c/shards/9/snapshots/recover", map[string]any{"location": "x.snapshot"}, 404); msg != "Not found: shard 9 not found" {
		t.Errorf("unknown shard: %q", msg)
	}
	if status, body := uploadShard(t, tc, "c", 0, data, ""); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	if got := stateOf(c, "c", 0, target.ID()); got != StateActive {
		t.Errorf("restored replica is %q, want Active", got)
	}
	for _, id := range old {
		if got := stateOf(c, "c", 0, id); got != StateDead && got != StateRecovery {
			t.Errorf("old replica on %d is %q right after recovery, want Dead (or already re-syncing)", id, got)
		}
	}
	if n := len(holders(c, "c", 0)); n != 3 {
		t.Errorf("shard has %d replicas, want 3 (one added)", n)
	}
	waitFor(t, "old replicas re-synced to Active", func() bool {
		for _, id := range old {
			if stateOf(c, "c", 0, id) != StateActive {
				return false
			}
		}
		return true
	})
	for _, p := range c.Peers() {
		var n struct{ Count int }
		pc := newClient(t, p)
		pc.ok("POST", "/collections/c/points/count", map[string]any{}, &n)
		if n.Count != 21 {
			t.Errorf("peer %d counts %d, want the snapshot's 21", p.ID(), n.Count)
		}
	}
}

func TestRecoverPriorities(t *testing.T) {
	for _, tc := range []struct {
		priority     string
		restored     string
		others       string
		eventualSelf string
	}{
		{"replica", StateDead, StateActive, StateActive},
		{"no_sync", StateActive, StateActive, StateActive},
	} {
		t.Run(tc.priority, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 2, AutoRecoveryDelay: time.Hour})
			cl := newClient(t, c.Peers()[0])
			createCollection(t, cl, "c", 1, 1)
			upsertN(t, cl, "c", 5)
			data := snapshotShard(t, c, "c", 0, false)
			owner := holders(c, "c", 0)[0]
			target := nonHolder(c, "c", 0)
			if status, body := uploadShard(t, newClient(t, target), "c", 0, data, "priority="+tc.priority); status != 200 {
				t.Fatalf("upload: %d %s", status, body)
			}
			if got := stateOf(c, "c", 0, target.ID()); got != tc.restored {
				t.Errorf("restored replica %q, want %q", got, tc.restored)
			}
			if got := stateOf(c, "c", 0, owner); got != tc.others {
				t.Errorf("other replica %q, want %q", got, tc.others)
			}
		})
	}
}

func TestInvalidSnapshotIsRefused(t *testing.T) {
	c := startCluster(t, Options{Peers: 2})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 2, 1)
	// A collection snapshot from a peer is not a shard archive.
	var d SnapshotDescription
	cl.ok("POST", "/collections/c/snapshots", nil, &d)
	_, _, coll := get(t, c.Peers()[0].URL()+"/collections/c/snapshots/"+d.Name, nil)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"collection archive", coll, "Bad request: Invalid snapshot"},
		{"garbage", []byte("not a tar at all, not even close............................................"), "Bad request: Invalid snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := uploadShard(t, cl, "c", 0, tc.data, "")
			if status != 400 || !strings.Contains(string(body), tc.want) {
				t.Errorf("upload = %d %s, want 400 %q", status, body, tc.want)
			}
		})
	}
	if msg := cl.errorOf("PUT", "/collections/c/shards/0/snapshots/recover", map[string]any{"location": "file:///etc/passwd"}, 400); !strings.Contains(msg, "URLs with file scheme are not supported") {
		t.Errorf("file:// shard recovery: %q", msg)
	}
}

func TestShardRecoverFromURLSendsAPIKey(t *testing.T) {
	src := startCluster(t, Options{Peers: 1, APIKey: "secret"})
	dst := startCluster(t, Options{Peers: 1})
	sc := newClient(t, src.Peers()[0])
	sc.key = "secret"
	createCollection(t, sc, "c", 1, 1)
	upsertN(t, sc, "c", 8)
	var d SnapshotDescription
	sc.ok("POST", "/collections/c/shards/0/snapshots", nil, &d)
	url := src.Peers()[0].URL() + "/collections/c/shards/0/snapshots/" + d.Name
	dc := newClient(t, dst.Peers()[0])
	createCollection(t, dc, "c", 1, 1)
	msg := dc.errorOf("PUT", "/collections/c/shards/0/snapshots/recover", map[string]any{"location": url}, 400)
	if !strings.HasPrefix(msg, "Wrong input: Failed to download tar from "+url+": status - 401") {
		t.Errorf("without api_key: %q", msg)
	}
	dc.ok("PUT", "/collections/c/shards/0/snapshots/recover", map[string]any{"location": url, "api_key": "secret", "checksum": strings.ToUpper(d.Checksum)}, nil)
	if n := len(allPoints(t, dc, "c")); n != 9 {
		t.Errorf("recovered %d points, want 9", n)
	}
}

func TestStoredSnapshotDownloadHonoursRange(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	p := c.Peers()[0]
	cl := newClient(t, p)
	createCollection(t, cl, "c", 1, 1)
	upsertN(t, cl, "c", 30)
	var d SnapshotDescription
	cl.ok("POST", "/collections/c/shards/0/snapshots", nil, &d)
	url := p.URL() + "/collections/c/shards/0/snapshots/" + d.Name
	_, hdr, full := get(t, url, nil)
	if hdr.Get("Accept-Ranges") != "bytes" || hdr.Get("Content-Length") != fmt.Sprint(len(full)) || hdr.Get("ETag") == "" {
		t.Errorf("headers %v", hdr)
	}
	status, hdr, part := get(t, url, map[string]string{"Range": "bytes=100-"})
	if status != http.StatusPartialContent || !bytes.Equal(part, full[100:]) {
		t.Errorf("range: %d, %d bytes, want 206 and %d bytes", status, len(part), len(full)-100)
	}
	if !strings.HasPrefix(hdr.Get("Content-Range"), fmt.Sprintf("bytes 100-%d/%d", len(full)-1, len(full))) {
		t.Errorf("Content-Range %q", hdr.Get("Content-Range"))
	}
	var list []SnapshotDescription
	cl.ok("GET", "/collections/c/shards/0/snapshots", nil, &list)
	if len(list) != 1 || list[0].Name != d.Name || list[0].Checksum != d.Checksum {
		t.Errorf("list = %+v", list)
	}
	if !strings.HasPrefix(d.Name, "c-shard-0-") || !strings.HasSuffix(d.Name, ".snapshot") || d.CreationTime == nil || len(*d.CreationTime) != 19 {
		t.Errorf("description %+v", d)
	}
	for _, name := range []string{"nope.snapshot", "..%2Fx"} {
		if msg := cl.errorOf("GET", "/collections/c/shards/0/snapshots/"+name, nil, 404); !strings.HasPrefix(msg, "Not found: Snapshot ") {
			t.Errorf("missing snapshot %s: %q", name, msg)
		}
	}
	cl.ok("DELETE", "/collections/c/shards/0/snapshots/"+d.Name, nil, nil)
	cl.ok("GET", "/collections/c/shards/0/snapshots", nil, &list)
	if len(list) != 0 {
		t.Errorf("after delete: %+v", list)
	}
}

func TestSnapshotCreationWithoutWaitIsAccepted(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 1)
	status, body := cl.do("POST", "/collections/c/snapshots?wait=false", nil)
	var env map[string]any
	json.Unmarshal(body, &env)
	if status != http.StatusAccepted || env["status"] != "accepted" || env["result"] != nil {
		t.Fatalf("wait=false = %d %s", status, body)
	}
	waitFor(t, "snapshot listed", func() bool {
		var list []SnapshotDescription
		cl.ok("GET", "/collections/c/snapshots", nil, &list)
		return len(list) == 1
	})
}

func TestShardSnapshotIgnoresReplicaState(t *testing.T) {
	c := startCluster(t, Options{Peers: 2, AutoRecoveryDelay: time.Hour})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 2)
	upsertN(t, cl, "c", 5)
	data := snapshotShard(t, c, "c", 0, false)
	hs := holders(c, "c", 0)
	if status, body := uploadShard(t, newClient(t, c.Peer(hs[0])), "c", 0, data, "priority=snapshot"); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	if got := stateOf(c, "c", 0, hs[1]); got != StateDead {
		t.Fatalf("other replica %q, want Dead", got)
	}
	// Qdrant snapshots a Dead replica without complaint; the tool must check.
	newClient(t, c.Peer(hs[1])).ok("POST", "/collections/c/shards/0/snapshots", nil, nil)
	if status, _, _ := get(t, c.Peer(hs[1]).URL()+"/collections/c/shards/0/snapshot", nil); status != 200 {
		t.Errorf("streaming a Dead replica: %d", status)
	}
}
