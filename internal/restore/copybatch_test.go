package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
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
	// The budget is about ten points in this encoding, about twenty in
	// the more compact REST form the writer sends; the shards hold 60.
	one, _ := json.Marshal(point)
	budget := 10 * len(one)
	res, err := runOnto(t, m, f, store, nil, PlanOptions{Shards: 3}, func(o *RunOptions, _ *RunDeps) { o.Exec.CopyBytes = budget })
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	checkRestored(t, res.Plan, f, store)
	if len(f.upserts) == 0 || slices.Max(f.upserts) > 25 {
		t.Errorf("upserts of %v points, want at most about %d (%d bytes of %d-byte points)", f.upserts, 2*budget/len(one), budget, len(one))
	}
	if len(f.scrolls) < 2 || slices.Max(f.scrolls[1:]) > 25 {
		t.Errorf("scroll limits %v: pages after the first should fit the byte budget", f.scrolls)
	}
}

// The REST point writer splits a batch whose body exceeds the request
// limit, so that each request is accepted.
func TestRESTPointWriterSplitsLargeBatches(t *testing.T) {
	const limit = 4 << 10
	var (
		mu       sync.Mutex
		received []uint64
		bodies   []int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if len(raw) > limit {
			http.Error(w, `{"status":{"error":"Payload too large"}}`, http.StatusRequestEntityTooLarge)
			return
		}
		var body struct {
			Points []struct {
				ID uint64 `json:"id"`
			} `json:"points"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, p := range body.Points {
			received = append(received, p.ID)
		}
		bodies = append(bodies, len(raw))
		mu.Unlock()
		fmt.Fprint(w, `{"result":{"status":"completed"},"status":"ok"}`)
	}))
	t.Cleanup(srv.Close)
	var pts []qdrant.Point
	for i := range 200 {
		pts = append(pts, qdrant.Point{ID: qdrant.PointID{Num: uint64(i)}, Vectors: map[string]qdrant.Vector{"": {Dense: []float32{float32(i), 0.25, -1}}},
			Payload: map[string]any{"text": fmt.Sprintf("point number %d", i)}})
	}
	w := &RESTPointWriter{BaseURL: srv.URL, MaxBodyBytes: limit}
	if err := w.UpsertPoints(context.Background(), "docs", pts); err != nil {
		t.Fatalf("upsert: %v", err)
	}
	slices.Sort(received)
	if len(received) != len(pts) || received[0] != 0 || received[len(received)-1] != 199 || len(slices.Compact(received)) != len(pts) {
		t.Errorf("received %d distinct points of %d", len(slices.Compact(received)), len(pts))
	}
	if len(bodies) < 2 {
		t.Errorf("%d requests, want the batch split", len(bodies))
	}
}
