package backup

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
)

// TestRunMemoryDoesNotGrowWithSnapshotSize streams 4 × 64 MiB through the
// engine (with zstd) and checks the heap stays within the documented
// per-shard budget, far below the data size.
func TestRunMemoryDoesNotGrowWithSnapshotSize(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("moves 256 MiB; memory figures mean nothing under the race detector")
	}
	c := newFakeCluster()
	c.addCollection("big", 1, [][]uint64{{1}, {2}, {3}, {1}})
	c.bigStream = 64 << 20
	store := &discardStore{fakeStore: newFakeStore()}
	store.sizes = map[string]int64{}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	res, err := Run(context.Background(), Options{Cluster: "prod", Concurrency: 4, Compression: manifest.CompressionZstd, SampleSize: -1},
		testDeps(c, store, nil))
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Manifest.Collection("big").Shards[0].SnapshotSize; got != 64<<20 {
		t.Fatalf("snapshot size %d", got)
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	const budget = 4 * 24 << 20 // 4 shards × (zstd ~20 MiB + buffers), no upload buffers here
	t.Logf("heap grew by %d MiB for 256 MiB of snapshots", grew>>20)
	if grew > budget {
		t.Fatalf("heap grew by %d MiB, budget %d MiB", grew>>20, budget>>20)
	}
}
