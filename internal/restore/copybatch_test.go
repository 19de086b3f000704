package restore

import (
	"slices"
	"testing"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// The reshard copy sizes its pages by bytes: with a small byte budget,
// scroll pages and upserts shrink to what fits, and every point arrives.
func TestReshardCopySizesBatchesByBytes(t *testing.T) {
	store := newMemStore()
	m := makeBackup(t, store, 2, "1.19.0", spec{name: "docs", shards: 2, rf: 1, perShard: 60})
	f := newFakeCluster(peerIDs(2), "1.19.0")
	point := qdrant.Point{ID: qdrant.PointID{Num: 100001}, Vectors: map[string]qdrant.Vector{"": {Dense: []float32{1, 0.5}}},
		Payload: map[string]any{"n": 1.0, "tag": "docs-0"}}
	// The budget is about twenty points as an upsert encodes them; the
	// shards hold 60.
	one := qdrant.UpsertSize(&point)
	budget := 20 * one
	res, err := runOnto(t, m, f, store, nil, PlanOptions{Shards: 3}, func(o *RunOptions, _ *RunDeps) { o.Exec.CopyBytes = budget })
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	checkRestored(t, res.Plan, f, store)
	// Points differ a little in size (ids, payload): allow one more.
	if len(f.upserts) == 0 || slices.Max(f.upserts) > 21 {
		t.Errorf("upserts of %v points, want at most about 20 (%d bytes of %d-byte points)", f.upserts, budget, one)
	}
	if len(f.scrolls) < 2 || slices.Max(f.scrolls[1:]) > 21 {
		t.Errorf("scroll limits %v: pages after the first should fit the byte budget", f.scrolls)
	}
}
