package qdrantsim

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// syntheticArchive returns a streamed snapshot of a synthetic shard of
// size bytes.
func syntheticArchive(t *testing.T, size int64) []byte {
	t.Helper()
	src := startCluster(t, Options{Peers: 1})
	p := src.Peers()[0]
	createCollection(t, newClient(t, p), "bulk", 1, 1)
	if err := src.SetSyntheticShard(context.Background(), "bulk", 0, size, 5); err != nil {
		t.Fatal(err)
	}
	status, _, body := get(t, p.URL()+"/collections/bulk/shards/0/snapshot", nil)
	if status != 200 {
		t.Fatalf("stream: %d", status)
	}
	return body
}

// TestUploadIsSpooledBeforeUnpacking checks the disk accounting of an
// upload (disk.go): the archive is written whole to the peer's disk, then
// unpacked beside it, so recovering needs about twice its size; a disk
// too small for the spool or for the unpacking fails with "No space left
// on device" and leaves the replica alone.
func TestUploadIsSpooledBeforeUnpacking(t *testing.T) {
	data := syntheticArchive(t, 8<<20)
	size := int64(len(data))
	cases := []struct {
		name     string
		capacity int64
		status   int
		want     string
	}{
		{"spool does not fit", size / 2, http.StatusInternalServerError, "File I/O error: No space left on device (os error 28)"},
		{"unpacking does not fit", size * 3 / 2, http.StatusInternalServerError, "Service internal error: failed to unpack snapshot: No space left on device (os error 28)"},
		{"fits twice", size*2 + 1<<20, http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 1, DiskCapacity: tc.capacity})
			p := c.Peers()[0]
			cl := newClient(t, p)
			createCollection(t, cl, "bulk", 1, 1)
			status, body := uploadShard(t, cl, "bulk", 0, data, "")
			if status != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("upload: %d %s, want %d %q", status, body, tc.status, tc.want)
			}
			u := p.DiskUsage()
			if u.Files != 0 {
				t.Errorf("%d bytes of files left behind", u.Files)
			}
			if tc.status != http.StatusOK {
				if u.Replicas != 0 {
					t.Errorf("failed upload changed the replica: %d bytes", u.Replicas)
				}
				return
			}
			if u.Peak < 2*size-1<<20 {
				t.Errorf("peak usage %d while recovering a %d-byte archive, want about twice", u.Peak, size)
			}
			if u.Replicas != 8<<20 || u.Unpacking != 0 {
				t.Errorf("after recovery: %+v", u)
			}
		})
	}
}

// TestDiskFullFaultUsesTheAccounting checks that the disk-full fault and a
// small capacity refuse snapshot creation and uploads alike.
func TestDiskFullFaultUsesTheAccounting(t *testing.T) {
	data := syntheticArchive(t, 2<<20)
	c := startCluster(t, Options{Peers: 1})
	p := c.Peers()[0]
	cl := newClient(t, p)
	createCollection(t, cl, "bulk", 1, 1)
	if status, body := uploadShard(t, cl, "bulk", 0, data, ""); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	p.SetFaults(Faults{SnapshotNoSpace: true})
	if status, body := uploadShard(t, cl, "bulk", 0, data, ""); status != 500 || !strings.Contains(string(body), "No space left on device") {
		t.Errorf("upload on a full disk: %d %s", status, body)
	}
	p.ClearFaults()
	// The replica takes 2 MiB; a snapshot of it needs 2 MiB more.
	p.SetDiskCapacity(3 << 20)
	if msg := cl.errorOf("POST", "/collections/bulk/shards/0/snapshots", nil, 500); msg != "Service internal error: failed to create snapshot: No space left on device (os error 28)" {
		t.Errorf("snapshot on a small disk: %q", msg)
	}
	p.SetDiskCapacity(5 << 20)
	cl.ok("POST", "/collections/bulk/shards/0/snapshots", nil, nil)
}
