package qdrantsim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersionSpecificEndpoints(t *testing.T) {
	for _, tc := range []struct {
		version    string
		locks      int
		shardKeys  int
		streamable int
	}{
		{"1.15.0", 200, 404, 200},
		{"1.17.0", 404, 404, 200},
		{"1.19.0", 404, 200, 200},
	} {
		t.Run(tc.version, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 1, Version: tc.version})
			cl := newClient(t, c.Peers()[0])
			createCollection(t, cl, "c", 1, 1)
			var root map[string]string
			status, body := cl.do("GET", "/", nil)
			if err := jsonUnmarshal(body, &root); err != nil || status != 200 || root["version"] != tc.version {
				t.Errorf("GET / = %d %s", status, body)
			}
			for _, r := range []struct {
				method, path string
				body         any
				want         int
			}{
				{"GET", "/locks", nil, tc.locks},
				{"POST", "/locks", map[string]any{"write": false}, tc.locks},
				{"GET", "/collections/c/shards", nil, tc.shardKeys},
				{"GET", "/collections/c/shards/0/snapshot", nil, tc.streamable},
			} {
				if got, body := cl.do(r.method, r.path, r.body); got != r.want {
					t.Errorf("%s %s = %d %s, want %d", r.method, r.path, got, body, r.want)
				}
			}
		})
	}
}

func TestWriteLockOn115(t *testing.T) {
	c := startCluster(t, Options{Peers: 1, Version: "1.15.0"})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 1)
	var prev LocksOption
	cl.ok("POST", "/locks", map[string]any{"write": true, "error_message": "backup running"}, &prev)
	if prev.Write {
		t.Error("lock was already set")
	}
	if msg := cl.errorOf("PUT", "/collections/c/points", map[string]any{"points": []map[string]any{{"id": 1, "vector": []float32{1, 2, 3, 4}}}}, 403); msg != "Storage locked: backup running" {
		t.Errorf("write under lock: %q", msg)
	}
	cl.ok("POST", "/collections/c/points/count", map[string]any{}, nil)
	cl.ok("POST", "/locks", map[string]any{"write": false}, &prev)
	if !prev.Write {
		t.Error("previous lock state not returned")
	}
	upsertN(t, cl, "c", 1)
}

func jsonUnmarshal(b []byte, v any) error { return jsonDecode(b, v) }

// TestCollectionRecoveryPerVersion checks §2.4: collection recovery
// creates a missing collection from the snapshot, refuses incompatible
// ones, confines file:// from 1.17.1, and leaves shards without data in
// Partial (<1.17) or ManualRecovery (1.17.0) but restores them later.
func TestCollectionRecoveryPerVersion(t *testing.T) {
	for _, tc := range []struct {
		version      string
		skippedState string
		outsideFile  int
	}{
		{"1.15.0", StatePartial, 400},
		{"1.17.0", StateManualRecovery, 400},
		{"1.17.1", StateActive, 403},
		{"1.19.0", StateActive, 403},
	} {
		t.Run(tc.version, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 2, Version: tc.version, AutoRecoveryDelay: 1 << 40})
			peers := c.Peers()
			cl := newClient(t, peers[0])
			createCollection(t, cl, "c", 2, 1)
			upsertN(t, cl, "c", 20)
			// A peer holding exactly one of the two shards.
			var p *Peer
			var local, other uint32
			for _, q := range peers {
				var info CollectionClusterInfo
				newClient(t, q).ok("GET", "/collections/c/cluster", nil, &info)
				if len(info.LocalShards) == 1 {
					p, local, other = q, info.LocalShards[0].ShardID, 1-info.LocalShards[0].ShardID
					break
				}
			}
			if p == nil {
				t.Fatal("no peer with exactly one shard")
			}
			pc := newClient(t, p)
			var d SnapshotDescription
			pc.ok("POST", "/collections/c/snapshots", nil, &d)
			file := filepath.Join(p.snapshotRoot(), "c", d.Name)

			// Into a missing collection: created from the snapshot config.
			pc.ok("PUT", "/collections/copy/snapshots/recover", map[string]any{"location": "file://" + file}, nil)
			var info CollectionInfo
			pc.ok("GET", "/collections/copy", nil, &info)
			if info.Config.Params.ShardNumber != 2 {
				t.Errorf("recreated collection has %d shards", info.Config.Params.ShardNumber)
			}
			if got := stateOf(c, "copy", local, p.ID()); got != StateActive {
				t.Errorf("restored shard %d on recovering peer: %q", local, got)
			}

			// A shard the snapshot has no data for, held by this peer.
			cl.ok("POST", "/collections/c/cluster", map[string]any{"replicate_shard": map[string]any{"shard_id": other,
				"from_peer_id": holders(c, "c", other)[0], "to_peer_id": p.ID()}}, nil)
			waitFor(t, "replication", func() bool { return stateOf(c, "c", other, p.ID()) == StateActive })
			pc.ok("PUT", "/collections/c/snapshots/recover", map[string]any{"location": "file://" + file, "priority": "no_sync"}, nil)
			if got := stateOf(c, "c", other, p.ID()); got != tc.skippedState {
				t.Errorf("shard without data in the snapshot: %q, want %q", got, tc.skippedState)
			}

			// Incompatible target.
			cl.ok("PUT", "/collections/three", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}, "shard_number": 3}, nil)
			msg := pc.errorOf("PUT", "/collections/three/snapshots/recover", map[string]any{"location": "file://" + file}, 400)
			if !strings.HasPrefix(msg, "Wrong input: Snapshot is not compatible with existing collection") {
				t.Errorf("incompatible: %q", msg)
			}

			// file:// outside the snapshots directory.
			outside := filepath.Join(t.TempDir(), "x.snapshot")
			data, _ := os.ReadFile(file)
			os.WriteFile(outside, data, 0o644)
			// Existence is checked before confinement (download.rs), so a
			// missing file is a 400 on every version and only an existing
			// one outside the directory is refused with 403.
			if status, body := pc.do("PUT", "/collections/other/snapshots/recover", map[string]any{"location": "file://" + outside + ".missing"}); status != 400 ||
				!strings.Contains(string(body), "does not exist") {
				t.Errorf("missing file outside snapshots dir: %d %s, want 400 does not exist", status, body)
			}
			target := outside + ".missing"
			if tc.outsideFile == 403 {
				target = outside
			}
			status, body := pc.do("PUT", "/collections/other/snapshots/recover", map[string]any{"location": "file://" + target})
			if want := map[int]int{400: 400, 403: 403}[tc.outsideFile]; status != want {
				t.Errorf("file outside snapshots dir: %d %s, want %d", status, body, want)
			}
			if tc.outsideFile == 403 && !strings.Contains(string(body), "Forbidden: Snapshot file path must be inside the snapshots directory") {
				t.Errorf("403 body %s", body)
			}
		})
	}
}

func TestCollectionSnapshotUploadAndList(t *testing.T) {
	src := startCluster(t, Options{Peers: 1})
	sc := newClient(t, src.Peers()[0])
	createCollection(t, sc, "c", 2, 1)
	upsertN(t, sc, "c", 15)
	var d SnapshotDescription
	sc.ok("POST", "/collections/c/snapshots", nil, &d)
	if want := fmt.Sprintf("c-%d-", src.Peers()[0].ID()); !strings.HasPrefix(d.Name, want) {
		t.Errorf("name %q, want prefix %q", d.Name, want)
	}
	_, _, data := get(t, src.Peers()[0].URL()+"/collections/c/snapshots/"+d.Name, nil)

	dst := startCluster(t, Options{Peers: 1})
	dc := newClient(t, dst.Peers()[0])
	status, body := uploadCollection(t, dc, "restored", d.Name, data, "checksum="+d.Checksum)
	if status != http.StatusOK {
		t.Fatalf("upload: %d %s", status, body)
	}
	if n := len(allPoints(t, dc, "restored")); n != 16 {
		t.Errorf("restored %d points, want 16", n)
	}
	var list []SnapshotDescription
	dc.ok("GET", "/collections/restored/snapshots", nil, &list)
	if len(list) != 1 || list[0].Name != d.Name {
		t.Errorf("uploaded snapshot is listed: %+v", list)
	}
	status, body = uploadCollection(t, dc, "restored", "x.snapshot", data, "checksum="+strings.Repeat("0", 64))
	if status != 400 || !strings.Contains(string(body), "Checksum mismatch: expected") {
		t.Errorf("upload with wrong checksum: %d %s", status, body)
	}
}

func TestCollectionRecoveryMarksLocalReplicasWhileReading(t *testing.T) {
	for _, tc := range []struct{ version, during string }{{"1.15.0", StatePartial}, {"1.19.0", StateManualRecovery}} {
		t.Run(tc.version, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 1, Version: tc.version})
			p := c.Peers()[0]
			cl := newClient(t, p)
			createCollection(t, cl, "c", 1, 1)
			upsertN(t, cl, "c", 5)
			var d SnapshotDescription
			cl.ok("POST", "/collections/c/snapshots", nil, &d)
			_, _, data := get(t, p.URL()+"/collections/c/snapshots/"+d.Name, nil)
			release := make(chan struct{})
			src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write(data[:1024])
				w.(http.Flusher).Flush()
				<-release
				w.Write(data[1024:])
			}))
			defer src.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				cl.ok("PUT", "/collections/c/snapshots/recover", map[string]any{"location": src.URL + "/s.snapshot"}, nil)
			}()
			waitFor(t, "recovering state", func() bool { return stateOf(c, "c", 0, p.ID()) == tc.during })
			close(release)
			<-done
			if got := stateOf(c, "c", 0, p.ID()); got != StateActive {
				t.Errorf("after recovery: %q", got)
			}
		})
	}
}

func TestSnapshotURLRecoveryCanBeDisabledFrom118(t *testing.T) {
	for _, tc := range []struct {
		version string
		status  int
	}{{"1.17.0", 400}, {"1.18.0", 403}} {
		t.Run(tc.version, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 1, Version: tc.version, DisableSnapshotURLRecovery: true})
			cl := newClient(t, c.Peers()[0])
			createCollection(t, cl, "c", 1, 1)
			// The URL answers 404: allowed recoveries fail to download (400).
			loc := c.Peers()[0].URL() + "/collections/c/shards/0/snapshots/none.snapshot"
			msg := cl.errorOf("PUT", "/collections/c/shards/0/snapshots/recover", map[string]any{"location": loc}, tc.status)
			if tc.status == 403 && msg != "Forbidden: Snapshot recovery from remote URLs is disabled in the configuration" {
				t.Errorf("message %q", msg)
			}
			cl.errorOf("PUT", "/collections/c/snapshots/recover", map[string]any{"location": loc}, tc.status)
		})
	}
}
