package backup

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/prune"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/verify"
)

// readManifest reads a committed set's manifest from any store.
func readManifest(t *testing.T, store Store, key string) *manifest.Manifest {
	t.Helper()
	m, _, err := manifest.ReadCommit(context.Background(), store, key)
	if err != nil || m == nil {
		t.Fatalf("read manifest %s: %v", key, err)
	}
	return m
}

// TestWorkersAgainstTheSimulator: three workers, each with its own handle
// on one file store as three pods would have, back up the simulated
// cluster at once into one set equal in content to a single run's; a
// worker killed half way leaves no committed set, and prune then leaves
// nothing.
func TestWorkersAgainstTheSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	fastSetPolling(t)
	env := startSim(t, "1.15.0")
	ctx := context.Background()
	openStore := func(t *testing.T, dir string) *storage.File {
		t.Helper()
		s, err := storage.NewFile(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	single := openStore(t, t.TempDir())
	one, err := Run(ctx, Options{Cluster: "sim", Holder: "single", Compression: manifest.CompressionZstd}, env.deps(single, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := readManifest(t, single, one.ManifestKey)

	simWorkers := func(t *testing.T, dir string, cat Catalog, wrap func(i int, s condStore) condStore, tweak func(o *Options)) []outcome {
		t.Helper()
		out := make([]outcome, 3)
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				var s condStore = openStore(t, dir)
				if wrap != nil {
					s = wrap(i, s)
				}
				o := Options{Cluster: "sim", Holder: "pod-" + string(rune('a'+i)), Workers: 3, WorkerIndex: i, SetID: "job-uid-1",
					Compression: manifest.CompressionZstd, PlanWait: time.Minute, PartsWait: time.Minute}
				if tweak != nil {
					tweak(&o)
				}
				out[i].res, out[i].err = Run(ctx, o, env.deps(s, cat))
			})
		}
		wg.Wait()
		return out
	}

	t.Run("three workers make one set equal to a single run's", func(t *testing.T) {
		dir, cat := t.TempDir(), newFakeCatalog()
		outs := simWorkers(t, dir, cat, nil, nil)
		for i, o := range outs {
			if o.err != nil {
				t.Fatalf("worker %d: %v", i, o.err)
			}
		}
		store := openStore(t, dir)
		sets, err := inventory.Scan(ctx, store, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(sets) != 1 || sets[0].ManifestKey == "" || len(cat.Completed) != 1 || cat.Len() != 1 {
			t.Fatalf("%d sets, %d catalog completions, %d rows: want one committed set", len(sets), len(cat.Completed), cat.Len())
		}
		got := readManifest(t, store, outs[0].res.ManifestKey)
		sameContent(t, want, got)
		if rep, err := verify.Run(ctx, store, got, nil); err != nil || !rep.OK() {
			t.Fatalf("verify: %v %+v", err, rep)
		}
		shards := 0
		for i := 1; i < 3; i++ {
			shards += outs[i].res.Part.Shards
		}
		if shards == 0 || shards >= got.ShardCount() {
			t.Fatalf("workers 1 and 2 stored %d of %d shards: the work was not shared", shards, got.ShardCount())
		}
	})

	t.Run("a killed worker leaves no set, and prune nothing", func(t *testing.T) {
		dir, cat := t.TempDir(), newFakeCatalog()
		var killed *workerStore
		outs := simWorkers(t, dir, cat, func(i int, s condStore) condStore {
			if i != 1 {
				return s
			}
			killed = &workerStore{condStore: s, killAfterSnapshot: true}
			return killed
		}, func(o *Options) { o.PartsWait = 500 * time.Millisecond })
		if outs[1].err == nil || !killed.killed.Load() {
			t.Fatalf("worker 1 was not killed: %v", outs[1].err)
		}
		if outs[0].err == nil || !strings.Contains(outs[0].err.Error(), "workers [1] wrote no part") {
			t.Fatalf("worker 0: %v", outs[0].err)
		}
		store := openStore(t, dir)
		sets, err := inventory.Scan(ctx, store, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sets {
			if s.ManifestKey != "" {
				t.Fatalf("set %s committed", s.ID)
			}
		}
		if len(cat.Completed) != 0 {
			t.Fatal("the catalog recorded a completion")
		}
		var left []string
		_ = store.List(ctx, "", func(o ObjectInfo) error { left = append(left, o.Key); return nil })
		if len(left) == 0 {
			t.Fatal("nothing left for prune to find: the test proves nothing")
		}
		if _, err := prune.Run(ctx, prune.Options{Cluster: "sim", OrphanGrace: prune.NoOrphanGrace, KeepLast: 1}, store, cat); err != nil {
			t.Fatal(err)
		}
		left = nil
		_ = store.List(ctx, "", func(o ObjectInfo) error { left = append(left, o.Key); return nil })
		if len(left) != 0 {
			t.Fatalf("left after prune: %v", left)
		}
	})
}
