package qdrantsim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestURLRecoveryRefusedBeforeShardLookup checks snapshot_api.rs: with
// enable_snapshot_url_recovery=false (1.18+) an http(s) location is
// refused with 403 before the collection is looked up; 1.17 ignores the
// setting.
func TestURLRecoveryRefusedBeforeShardLookup(t *testing.T) {
	const want = "Forbidden: Snapshot recovery from remote URLs is disabled in the configuration"
	body := map[string]any{"location": "http://127.0.0.1:1/x.snapshot"}
	// Without the setting the shard recovery looks the collection up (404)
	// and the collection recovery tries the download (400).
	for _, tc := range []struct {
		version           string
		shard, collection int
	}{{"1.17.1", 404, 400}, {"1.18.0", 403, 403}, {"1.19.0", 403, 403}} {
		t.Run(tc.version, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 1, Version: tc.version, DisableSnapshotURLRecovery: true})
			cl := newClient(t, c.Peers()[0])
			for path, status := range map[string]int{"/collections/missing/shards/0/snapshots/recover": tc.shard, "/collections/missing/snapshots/recover": tc.collection} {
				msg := cl.errorOf("PUT", path, body, status)
				if status == 403 && msg != want {
					t.Errorf("%s: %q", path, msg)
				}
			}
			if tc.shard == 403 {
				// With wait=false the refusal happens after the 202.
				if st, raw := cl.do("PUT", "/collections/missing/shards/0/snapshots/recover?wait=false", body); st != http.StatusAccepted {
					t.Errorf("wait=false: %d %s", st, raw)
				}
			}
		})
	}
}

// TestStreamIdleTimeoutFrom1182 checks that the idle abort of streamed
// snapshots (common/timeout_writer.rs) exists from 1.18.2 only.
func TestStreamIdleTimeoutFrom1182(t *testing.T) {
	for _, tc := range []struct {
		version string
		aborted bool
	}{{"1.18.1", false}, {"1.18.2", true}} {
		t.Run(tc.version, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 1, Version: tc.version, StreamIdleTimeout: 200 * time.Millisecond})
			p := c.Peers()[0]
			createCollection(t, newClient(t, p), "bulk", 1, 1)
			if err := c.SetSyntheticShard(context.Background(), "bulk", 0, 32<<20, 1); err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(p.URL() + "/collections/bulk/shards/0/snapshot")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			time.Sleep(time.Second)
			n, err := io.Copy(io.Discard, resp.Body)
			if aborted := err != nil || n < 32<<20; aborted != tc.aborted {
				t.Errorf("stalled stream: %d bytes, err %v; aborted=%v, want %v", n, err, aborted, tc.aborted)
			}
		})
	}
}

// TestUploadChecksumCheckedBeforeLookup checks that every version hashes
// the spooled upload first: a wrong checksum is reported even for a
// missing collection.
func TestUploadChecksumCheckedBeforeLookup(t *testing.T) {
	for _, v := range []string{"1.15.0", "1.19.0"} {
		c := startCluster(t, Options{Peers: 1, Version: v})
		cl := newClient(t, c.Peers()[0])
		status, body := uploadShard(t, cl, "missing", 0, []byte("not an archive"), "checksum="+strings.Repeat("a", 64))
		if status != 400 || !strings.Contains(string(body), "Checksum mismatch: expected "+strings.Repeat("a", 64)) {
			t.Errorf("%s: %d %s", v, status, body)
		}
	}
}

// TestConcurrentShardRecoveriesSerialisedFrom119 checks the shard
// recovery lock of 1.19 (collection/snapshots.rs start_shard_recovery):
// an upload of a shard waits while a URL recovery of the same shard is
// still downloading; 1.18 runs them side by side.
func TestConcurrentShardRecoveriesSerialisedFrom119(t *testing.T) {
	data := syntheticArchive(t, 1<<20)
	for _, tc := range []struct {
		version string
		waits   bool
	}{{"1.18.3", false}, {"1.19.0", true}} {
		t.Run(tc.version, func(t *testing.T) {
			release := make(chan struct{})
			started := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				started <- struct{}{}
				<-release
				w.Write(data)
			}))
			defer srv.Close()
			c := startCluster(t, Options{Peers: 1, Version: tc.version})
			cl := newClient(t, c.Peers()[0])
			createCollection(t, cl, "bulk", 1, 1)
			urlDone := make(chan int, 1)
			go func() {
				st, _ := cl.do("PUT", "/collections/bulk/shards/0/snapshots/recover", map[string]any{"location": srv.URL + "/s.snapshot"})
				urlDone <- st
			}()
			<-started
			uploadDone := make(chan int, 1)
			go func() {
				st, _ := uploadShard(t, cl, "bulk", 0, data, "")
				uploadDone <- st
			}()
			select {
			case st := <-uploadDone:
				if tc.waits {
					t.Errorf("upload finished (%d) while another recovery of the shard was running", st)
				}
			case <-time.After(500 * time.Millisecond):
				if !tc.waits {
					t.Error("upload waited for the other recovery")
				}
			}
			close(release)
			if st := <-urlDone; st != 200 {
				t.Errorf("URL recovery: %d", st)
			}
			if tc.waits {
				if st := <-uploadDone; st != 200 {
					t.Errorf("upload: %d", st)
				}
			}
		})
	}
}
