package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/storage"
)

// loadVectors creates "hybrid" (named dense, multivector and sparse
// vectors), "bm25" (sparse only) and "late" (an unnamed multivector),
// each with n points. Some points leave
// a vector out and one has an empty sparse vector, which a writer must
// still send as arrays.
func (s *simCluster) loadVectors(t *testing.T, shards, n int) {
	t.Helper()
	ctx := context.Background()
	create := func(name string, body map[string]any) {
		t.Helper()
		body["shard_number"] = shards
		raw, _ := json.Marshal(body)
		if err := s.any().CreateCollection(ctx, name, raw); err != nil {
			t.Fatal(err)
		}
		waitSimActive(t, s.any(), name)
	}
	create("hybrid", map[string]any{
		"vectors": map[string]any{
			"image":   map[string]any{"size": 3, "distance": "Cosine"},
			"colbert": map[string]any{"size": 2, "distance": "Dot", "multivector_config": map[string]any{"comparator": "max_sim"}},
		},
		"sparse_vectors": map[string]any{
			"text": map[string]any{"modifier": "idf"},
		},
	})
	create("bm25", map[string]any{
		"sparse_vectors": map[string]any{"bm25": map[string]any{"index": map[string]any{"on_disk": true}}},
	})
	create("late", map[string]any{
		"vectors": map[string]any{"size": 2, "distance": "Dot", "multivector_config": map[string]any{"comparator": "max_sim"}},
	})
	var hybrid, bm25, late []map[string]any
	for i := 1; i <= n; i++ {
		f := float32(i)
		vec := map[string]any{
			"colbert": [][]float32{{f, 0.5}, {f / 3, 2}}[:1+i%2],
			"text":    map[string]any{"indices": []uint32{uint32(i*7) % 50, uint32(i*7)%50 + 1}, "values": []float32{f / 10, 0.25}},
		}
		if i%3 != 0 {
			vec["image"] = []float32{f, f / 7, 1}
		}
		sparse := map[string]any{"indices": []uint32{uint32(i), uint32(i) + 1000}, "values": []float32{0.5, f}}
		if i == 5 {
			sparse = map[string]any{"indices": []uint32{}, "values": []float32{}}
		}
		hybrid = append(hybrid, map[string]any{"id": i, "vector": vec, "payload": map[string]any{"n": i}})
		bm25 = append(bm25, map[string]any{"id": i, "vector": map[string]any{"bm25": sparse}})
		late = append(late, map[string]any{"id": i, "vector": [][]float32{{f, 1}, {2, f}, {0.5, 0.25}}[:1+i%3]})
	}
	s.rest(t, http.MethodPut, "/collections/late/points?wait=true", map[string]any{"points": late})
	s.rest(t, http.MethodPut, "/collections/hybrid/points?wait=true", map[string]any{"points": hybrid})
	s.rest(t, http.MethodPut, "/collections/bm25/points?wait=true", map[string]any{"points": bm25})
}

// pointsByID scrolls a whole collection with vectors and payloads.
func pointsByID(t *testing.T, c *qdrant.Client, name string) map[string]qdrant.Point {
	t.Helper()
	out := map[string]qdrant.Point{}
	var offset *qdrant.PointID
	for {
		pts, next, err := c.Scroll(context.Background(), name, 16, offset, true, true)
		if err != nil {
			t.Fatalf("scroll %q: %v", name, err)
		}
		for _, p := range pts {
			p.ShardKey = nil
			out[p.ID.String()] = p
		}
		if next == nil {
			return out
		}
		offset = next
	}
}

func TestSparseAndMultiVectorsRoundTripOnTheSimulator(t *testing.T) {
	tests := []struct {
		name         string
		from, to     int
		fromV, toV   string
		opts         PlanOptions
		wantStrategy Strategy
	}{
		{"three pods restored onto three", 3, 3, "1.19.0", "1.19.0", PlanOptions{}, StrategyDirect},
		{"three pods consolidated onto two", 3, 2, "1.19.0", "1.19.0", PlanOptions{}, StrategyConsolidate},
		{"a new shard count copies every vector", 3, 2, "1.19.0", "1.19.0", PlanOptions{Shards: 5}, StrategyReshard},
		{"a 1.15 backup restored onto 1.19", 2, 2, "1.15.0", "1.19.0", PlanOptions{}, StrategyDirect},
		{"a 1.15 backup resharded on 1.15", 2, 1, "1.15.0", "1.15.0", PlanOptions{Shards: 3}, StrategyReshard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			src := startSim(t, tt.from, tt.fromV)
			src.loadVectors(t, tt.from, 40)
			store := storage.NewMemory()
			m := takeBackup(t, src, store, manifest.CompressionZstd)
			for _, c := range m.Collections {
				if len(c.Sample) == 0 {
					t.Errorf("backup of %q recorded no sample digests", c.Name)
				}
			}

			dst := startSim(t, tt.to, tt.toV)
			plan, err := Plan(m, dst.target(t), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if plan.Strategy != tt.wantStrategy {
				t.Errorf("strategy %s, want %s (%s)", plan.Strategy, tt.wantStrategy, plan.Reason)
			}
			deps := Deps{Peers: dst.peers(), Store: store, Journal: &StoreJournal{Store: store, Cluster: m.Cluster}, Logger: quietLogger(),
				Points: dst.any()}
			if _, err := Preflight(ctx, plan, deps, PreflightOptions{}); err != nil {
				t.Fatalf("preflight: %v", err)
			}
			if _, err := Execute(ctx, plan, deps, simExecOptions()); err != nil {
				t.Fatalf("execute: %v", err)
			}
			for _, c := range []string{"hybrid", "bm25", "late"} {
				want, got := pointsByID(t, src.any(), c), pointsByID(t, dst.any(), c)
				if len(got) != len(want) {
					t.Errorf("%q: %d points restored of %d", c, len(got), len(want))
				}
				for id, w := range want {
					if len(w.Vectors) == 0 {
						t.Errorf("%q point %s was read without vectors", c, id)
					}
					if g, ok := got[id]; !ok || !reflect.DeepEqual(g, w) {
						t.Errorf("%q point %s:\n got %+v\nwant %+v", c, id, vectorsText(g), vectorsText(w))
					}
				}
				si, err1 := src.any().CollectionInfo(ctx, c)
				di, err2 := dst.any().CollectionInfo(ctx, c)
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				if got, want := vectorConfig(t, di.Config), vectorConfig(t, si.Config); got != want {
					t.Errorf("%q vector config %s, want %s", c, got, want)
				}
				if tt.opts.Shards > 0 && di.ShardNumber != tt.opts.Shards {
					t.Errorf("%q has %d shards, want %d", c, di.ShardNumber, tt.opts.Shards)
				}
			}
		})
	}
}

// vectorsText renders a point's vectors for a failure message.
func vectorsText(p qdrant.Point) string {
	out := ""
	for name, v := range p.Vectors {
		switch {
		case v.Sparse != nil:
			out += fmt.Sprintf(" %s=sparse%v:%v", name, v.Sparse.Indices, v.Sparse.Values)
		case v.Multi != nil:
			out += fmt.Sprintf(" %s=multi%v", name, v.Multi)
		default:
			out += fmt.Sprintf(" %s=%v", name, v.Dense)
		}
	}
	return fmt.Sprintf("%s%s payload %v", p.ID, out, p.Payload)
}

// vectorConfig renders params.vectors and params.sparse_vectors of a
// collection config.
func vectorConfig(t *testing.T, cfg json.RawMessage) string {
	t.Helper()
	var c struct {
		Params struct {
			Vectors       any `json:"vectors"`
			SparseVectors any `json:"sparse_vectors"`
		} `json:"params"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c.Params)
	return string(b)
}

// TestVerificationCatchesAChangedSparseOrMultiVector restores a backup
// whose recorded sample was taken after one vector of point 1 changed:
// the shard data and the sample disagree only in that vector, so the
// restore must fail verification naming the point.
func TestVerificationCatchesAChangedSparseOrMultiVector(t *testing.T) {
	for _, tt := range []struct {
		name   string
		vector map[string]any
	}{
		{"a sparse value", map[string]any{"text": map[string]any{"indices": []uint32{7, 8}, "values": []float32{0.1, 0.5}}}},
		{"a sparse index", map[string]any{"text": map[string]any{"indices": []uint32{7, 9}, "values": []float32{0.1, 0.25}}}},
		{"a multivector value", map[string]any{"colbert": [][]float32{{1, 0.5}, {0.5, 2}}}},
		{"a multivector with a vector fewer", map[string]any{"colbert": [][]float32{{1, 0.5}}}},
		// The control: point 1 written again as loaded verifies.
		{"nothing", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			src := startSim(t, 1, "1.19.0")
			src.loadVectors(t, 1, 10)
			store := storage.NewMemory()
			m := takeBackup(t, src, store, manifest.CompressionNone)

			// Point 1 as loadVectors writes it; change one vector and
			// record a new sample.
			vec := map[string]any{
				"image":   []float32{1, float32(1) / 7, 1},
				"colbert": [][]float32{{1, 0.5}, {float32(1) / 3, 2}},
				"text":    map[string]any{"indices": []uint32{7, 8}, "values": []float32{0.1, 0.25}},
			}
			for k, v := range tt.vector {
				vec[k] = v
			}
			src.rest(t, http.MethodPut, "/collections/hybrid/points?wait=true", map[string]any{"points": []any{
				map[string]any{"id": 1, "vector": vec, "payload": map[string]any{"n": 1}}}})
			m2 := takeBackup(t, src, storage.NewMemory(), manifest.CompressionNone)
			changed := false
			for i, c := range m.Collections {
				if c.Name != "hybrid" {
					continue
				}
				for _, c2 := range m2.Collections {
					if c2.Name == "hybrid" {
						changed = !reflect.DeepEqual(c.Sample, c2.Sample)
						m.Collections[i].Sample = c2.Sample
					}
				}
			}
			if changed != (tt.vector != nil) {
				t.Fatalf("the backup's sample digests changed = %v, want %v", changed, tt.vector != nil)
			}

			dst := startSim(t, 1, "1.19.0")
			plan, err := Plan(m, dst.target(t), PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			deps := Deps{Peers: dst.peers(), Store: store, Journal: &StoreJournal{Store: store, Cluster: m.Cluster}, Logger: quietLogger()}
			_, err = Execute(ctx, plan, deps, simExecOptions())
			if tt.vector == nil {
				if err != nil {
					t.Fatalf("restore of an unchanged point: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "sampled point 1 differs from the backup") {
				t.Fatalf("restore = %v, want a verification failure for point 1", err)
			}
			if strings.Contains(err.Error(), "bm25") {
				t.Errorf("the unchanged collection failed verification too: %v", err)
			}
		})
	}
}
