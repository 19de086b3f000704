package restore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// clusterState is everything a refused restore must leave untouched.
func clusterState(t *testing.T, s *simCluster) string {
	t.Helper()
	ctx := context.Background()
	names, err := s.any().ListCollections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	aliases, _ := s.any().ListAliases(ctx)
	state := map[string]any{"collections": names, "aliases": aliases}
	for _, n := range names {
		cc, err := s.any().CollectionCluster(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		state[n] = map[string]any{"replicas": cc.Replicas(), "points": allPoints(t, s.any(), n)}
	}
	b, _ := json.Marshal(state)
	return string(b)
}

func rewrite(t *testing.T, store storage.Backend, key string, edit func([]byte) []byte) {
	t.Helper()
	ctx := context.Background()
	r, err := store.Open(ctx, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if err := store.Put(ctx, key, bytes.NewReader(edit(b))); err != nil {
		t.Fatal(err)
	}
}

func TestRefusedRestoresChangeNothingOnTheSimulator(t *testing.T) {
	tests := []struct {
		name    string
		version string
		setup   func(t *testing.T, dst *simCluster, store storage.Backend, m *manifest.Manifest)
		want    error
		// verifyFirst reads every object before the restore begins;
		// duringRun: the refusal comes while objects stream, and what the
		// restore created is removed again.
		verifyFirst, duringRun bool
		// zstd takes the backup compressed.
		zstd bool
	}{
		{
			name: "a compressed object damaged in its first frame, found while it streams", version: "1.19.0", zstd: true,
			setup: func(t *testing.T, dst *simCluster, store storage.Backend, m *manifest.Manifest) {
				rewrite(t, store, m.Collections[0].Shards[0].Object, func(b []byte) []byte { b[0] ^= 1; return b })
			},
			want: ErrObjectChecksum, duringRun: true,
		},
		{
			name: "a corrupted object, found while it streams", version: "1.19.0",
			setup: func(t *testing.T, dst *simCluster, store storage.Backend, m *manifest.Manifest) {
				rewrite(t, store, m.Collections[0].Shards[0].Object, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
			},
			want: ErrObjectChecksum, duringRun: true,
		},
		{
			name: "a corrupted object, read first with VerifyObjects", version: "1.19.0", verifyFirst: true,
			setup: func(t *testing.T, dst *simCluster, store storage.Backend, m *manifest.Manifest) {
				rewrite(t, store, m.Collections[0].Shards[0].Object, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
			},
			want: ErrObjectChecksum,
		},
		{
			name: "a corrupted object whose manifest checksum was edited to match", version: "1.19.0",
			setup: func(t *testing.T, dst *simCluster, store storage.Backend, m *manifest.Manifest) {
				s := &m.Collections[0].Shards[0]
				rewrite(t, store, s.Object, func(b []byte) []byte {
					b[len(b)/2] ^= 1
					sum := sha256.Sum256(b)
					s.SHA256 = hex.EncodeToString(sum[:])
					return b
				})
			},
			// Our hash now agrees; Qdrant's check of the snapshot
			// against snapshot_sha256 refuses it.
			want: ErrObjectChecksum, duringRun: true,
		},
		{
			name: "a missing object", version: "1.19.0",
			setup: func(t *testing.T, dst *simCluster, store storage.Backend, m *manifest.Manifest) {
				if err := store.Delete(context.Background(), m.Collections[0].Shards[1].Object); err != nil {
					t.Fatal(err)
				}
			},
			want: ErrObjectMissing,
		},
		{
			name: "an existing target collection", version: "1.19.0",
			setup: func(t *testing.T, dst *simCluster, store storage.Backend, m *manifest.Manifest) {
				dst.load(t, "docs", 1, 1, 5)
			},
			want: ErrCollectionExists,
		},
		{
			name: "a target older than the backup", version: "1.17.0",
			want: ErrTargetTooOld,
		},
		{
			name: "a transfer in progress", version: "1.19.0",
			setup: func(t *testing.T, dst *simCluster, store storage.Backend, m *manifest.Manifest) {
				dst.load(t, "live", 1, 1, 5)
				cc, err := dst.any().CollectionCluster(context.Background(), "live")
				if err != nil {
					t.Fatal(err)
				}
				from := cc.Replicas()[0].PeerID
				to := dst.topo.Peers[0].ID
				if to == from {
					to = dst.topo.Peers[1].ID
				}
				if err := dst.any().ReplicateShard(context.Background(), "live", 0, from, to); err != nil {
					t.Fatal(err)
				}
			},
			want: ErrTransferInProgress,
		},
		{
			name: "a peer that stopped answering", version: "1.19.0",
			setup: func(t *testing.T, dst *simCluster, store storage.Backend, m *manifest.Manifest) {
				dst.sim.Peer(dst.topo.Peers[1].ID).Stop()
			},
			want: ErrPeerNotReady,
		},
	}
	ctx := context.Background()
	src := startSim(t, 2, "1.19.0")
	src.load(t, "docs", 2, 1, 20)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := storage.NewMemory()
			compression := manifest.CompressionNone
			if tt.zstd {
				compression = manifest.CompressionZstd
			}
			m := takeBackup(t, src, store, compression)
			dst := startSimWith(t, qdrantsim.Options{Peers: 2, Version: tt.version, TransferDelay: time.Minute, TransferRate: 1})
			if tt.setup != nil {
				tt.setup(t, dst, store, m)
			}
			before := ""
			if tt.want != ErrPeerNotReady {
				before = clusterState(t, dst)
			}
			res, err := dst.restore(ctx, t, m, store, PlanOptions{}, func(ro *RunOptions, _ *RunDeps) {
				ro.Preflight.VerifyObjects = tt.verifyFirst
			})
			if !errors.Is(err, tt.want) || (res.Report != nil) != tt.duringRun {
				t.Fatalf("restore error = %v (execution began: %t), want %v (during the run: %t)", err, res.Report != nil, tt.want, tt.duringRun)
			}
			t.Logf("refused: %v", err)
			if before != "" && clusterState(t, dst) != before {
				t.Error("the refused restore changed the cluster")
			}
		})
	}
}

func TestRestoreResumesAfterACrashOnTheSimulator(t *testing.T) {
	ctx := context.Background()
	src := startSim(t, 3, "1.19.0")
	src.load(t, "docs", 6, 1, 60)
	store := storage.NewMemory()
	m := takeBackup(t, src, store, manifest.CompressionZstd)
	dst := startSim(t, 2, "1.19.0")
	runCtx, kill := context.WithCancel(ctx)
	_, err := dst.restore(runCtx, t, m, store, PlanOptions{}, func(o *RunOptions, d *RunDeps) {
		d.Progress = &cancelAfter{n: 2, cancel: kill}
		o.Exec.Parallel = 1
	})
	if err == nil {
		t.Fatal("the killed run succeeded")
	}
	// A new process: new journal object reader, same restore id.
	res, err := dst.restore(ctx, t, m, store, PlanOptions{})
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	rep := res.Report
	if rep.ShardsSkipped < 2 || rep.ShardsSkipped+rep.ShardsRecovered != 6 {
		t.Errorf("rerun skipped %d and recovered %d of 6 shards", rep.ShardsSkipped, rep.ShardsRecovered)
	}
	want, got := allPoints(t, src.any(), "docs"), allPoints(t, dst.any(), "docs")
	if len(got) != len(want) {
		t.Fatalf("%d points restored of %d", len(got), len(want))
	}
	for id, h := range want {
		if got[id] != h {
			t.Errorf("point %s differs", id)
		}
	}
}

func TestRestoreStopsWhenAPeerStaysDownAndTheRerunFinishes(t *testing.T) {
	ctx := context.Background()
	src := startSim(t, 2, "1.19.0")
	src.load(t, "docs", 4, 1, 40)
	store := storage.NewMemory()
	m := takeBackup(t, src, store, manifest.CompressionNone)
	dst := startSim(t, 2, "1.19.0")
	plan, err := Plan(m, dst.target(t), PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	failing := dst.sim.Peer(plan.Collections[0].Shards[1].Primary)
	failing.SetFaults(qdrantsim.Faults{Routes: []qdrantsim.RouteFault{{
		Route: "POST /collections/{collection_name}/shards/{shard_id}/snapshots/upload", Status: http.StatusServiceUnavailable,
	}}})
	journal := &StoreJournal{Store: store, Cluster: m.Cluster}
	_, err = dst.restore(ctx, t, m, store, PlanOptions{})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("error = %v, want the peer's 503 after retries", err)
	}
	progress, _ := journal.Shards(ctx, RestoreID(plan))
	failed := 0
	for _, p := range progress {
		if p.State == ShardFailed {
			failed++
		}
	}
	if failed == 0 {
		t.Errorf("no shard recorded as failed: %+v", progress)
	}

	failing.ClearFaults()
	if _, err := dst.restore(ctx, t, m, store, PlanOptions{}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if got, want := len(allPoints(t, dst.any(), "docs")), 40; got != want {
		t.Errorf("%d points after the rerun, want %d", got, want)
	}
}

func TestRenameRestoresBesideLiveDataOnTheSimulator(t *testing.T) {
	ctx := context.Background()
	src := startSim(t, 2, "1.19.0")
	src.load(t, "docs", 2, 1, 20)
	store := storage.NewMemory()
	m := takeBackup(t, src, store, manifest.CompressionNone)
	dst := startSim(t, 2, "1.19.0")
	dst.load(t, "docs", 3, 1, 7)
	live := allPoints(t, dst.any(), "docs")
	if _, err := dst.restore(ctx, t, m, store, PlanOptions{Rename: Rename{Suffix: "-drill"}}); err != nil {
		t.Fatal(err)
	}
	if got := allPoints(t, dst.any(), "docs"); len(got) != len(live) {
		t.Errorf("the live collection changed: %d points, had %d", len(got), len(live))
	}
	want, got := allPoints(t, src.any(), "docs"), allPoints(t, dst.any(), "docs-drill")
	if len(got) != len(want) {
		t.Fatalf("%d points restored of %d", len(got), len(want))
	}
	for id, h := range want {
		if got[id] != h {
			t.Errorf("point %s differs", id)
		}
	}
}
