package qdrantsim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestUpstreamStrictModeCollectionSize: test_strictmode.py
// test_strict_mode_max_collection_size_upsert (and _batch),
// test_strict_mode_max_collection_payload_size_upsert (and _batch) and
// test_strict_mode_max_collection_point_count_upsert_batch, step by step.
// Each starts from basic_collection_setup, writes 32 batches without a
// limit, sets the limit, writes 32 batches that must all pass, then
// expects one of the next 32 to be refused with the limit's message.
//
// Qdrant's facts behind the sequences (strict_size.go): the size
// statistics are refreshed by every 32nd checked write
// (UPDATE_INTERVAL, lib/collection/src/common/collection_size_stats.rs),
// so the refusal comes exactly at the 32nd write of the third loop, not
// at the first past the limit; the payload storage is gridstore blocks of
// 128 bytes, and every rewrite of a point's payload takes a new block
// until a flush frees the old one, so a few points rewritten 100 times
// fill 45000 bytes (each payload here is one block).
func TestUpstreamStrictModeCollectionSize(t *testing.T) {
	cases := []struct {
		name   string
		limit  map[string]any
		batch  bool
		first  []int
		second []int
		third  []int
		// failAt is the 1-based write of loop 2 or 3 refused first
		// (0: none); inSecond says it is in loop 2.
		failAt   int
		inSecond bool
		want     string
		payload  map[string]any
	}{
		{name: "vector size, upsert", limit: map[string]any{"max_collection_vector_size_bytes": 240},
			first: []int{1, 2, 3, 4, 5}, second: []int{6, 7, 8, 9, 10}, third: []int{12, 13, 14, 15, 16},
			failAt: 32, want: "Bad request: Max vector storage size limit of 0.00022888184MB reached!", payload: map[string]any{}},
		{name: "vector size, batch", batch: true, limit: map[string]any{"max_collection_vector_size_bytes": 240},
			first: []int{1, 2, 3, 4, 5}, second: []int{6, 7, 8, 9, 10}, third: []int{12, 13, 14, 15, 16},
			failAt: 32, want: "Bad request: Max vector storage size limit of 0.00022888184MB reached!", payload: map[string]any{}},
		{name: "payload size, upsert", limit: map[string]any{"max_collection_payload_size_bytes": 45000},
			first: []int{1, 2, 3, 4, 5}, second: []int{6, 7, 8, 9, 10}, third: []int{12, 13, 14, 15, 16},
			failAt: 32, want: "Bad request: Max payload storage size limit of 0.042915344MB reached!", payload: map[string]any{"city": "Berlin"}},
		{name: "payload size, batch", batch: true, limit: map[string]any{"max_collection_payload_size_bytes": 45000},
			first: []int{1, 2, 3, 4, 5}, second: []int{6, 7, 8, 9, 10}, third: []int{12, 13, 14, 15, 16},
			failAt: 32, want: "Bad request: Max payload storage size limit of 0.042915344MB reached!", payload: map[string]any{"city": "Berlin"}},
		// The upstream test only prints loop 2's answers: its 32nd write
		// refreshes the statistics to the ten points of the fixture, so
		// it is the first refused, and loop 3 is refused from its start.
		{name: "point count, batch", batch: true, limit: map[string]any{"max_points_count": 10},
			first: []int{1, 2}, second: []int{3, 4}, third: []int{5, 6, 7, 8, 9, 10},
			failAt: 32, inSecond: true, want: "Bad request: Max points count limit of 10 reached!", payload: map[string]any{"city": "Berlin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := startCluster(t, Options{Peers: 1})
			c := newValidatedClient(t, cl.Peers()[0])
			const coll = "test_collection"
			basicCollectionSetup(t, c, coll)
			// Qdrant flushes every flush_interval_sec (5 s); the upstream
			// sequence assumes no flush frees blocks between its loops,
			// which a slow test machine could break here.
			c.ok("PATCH", "/collections/"+coll, map[string]any{"optimizers_config": map[string]any{"flush_interval_sec": 3600}}, nil)
			upsert := func(ids []int) (int, string) {
				t.Helper()
				var payloads, vectors []any
				for range ids {
					payloads = append(payloads, tc.payload)
					vectors = append(vectors, []float64{1, 2, 3, 5})
				}
				b := map[string]any{"batch": map[string]any{"ids": ids, "payloads": payloads, "vectors": vectors}}
				method, path, body := "PUT", "/collections/"+coll+"/points?wait=true", any(b)
				if tc.batch {
					method, path, body = "POST", "/collections/"+coll+"/points/batch?wait=true", map[string]any{"operations": []any{map[string]any{"upsert": b}}}
				}
				status, raw := c.do(method, path, body)
				if status == http.StatusOK {
					return status, ""
				}
				var env struct {
					Status struct {
						Error string `json:"error"`
					} `json:"status"`
				}
				if err := jsonDecode(raw, &env); err != nil {
					t.Fatalf("%s: %d %s", path, status, raw)
				}
				return status, env.Status.Error
			}
			for i := range 32 {
				if status, msg := upsert(tc.first); status != 200 {
					t.Fatalf("loop 1 write %d = %d %s", i+1, status, msg)
				}
			}
			limit := map[string]any{"enabled": true}
			for k, v := range tc.limit {
				limit[k] = v
			}
			c.ok("PATCH", "/collections/"+coll, map[string]any{"strict_mode_config": limit}, nil)
			refused := ""
			for loop, ids := range [][]int{tc.second, tc.third} {
				for i := range 32 {
					status, msg := upsert(ids)
					if status == 200 {
						continue
					}
					if status != 400 || msg != tc.want {
						t.Fatalf("loop %d write %d = %d %q, want 400 %q", loop+2, i+1, status, msg, tc.want)
					}
					if refused == "" {
						refused = fmt.Sprintf("loop %d write %d", loop+2, i+1)
					}
				}
			}
			wantLoop := 3
			if tc.inSecond {
				wantLoop = 2
			}
			if want := fmt.Sprintf("loop %d write %d", wantLoop, tc.failAt); refused != want {
				t.Errorf("first refusal at %q, want %s", refused, want)
			}
		})
	}
}

// TestStrictPayloadSizeFlush: a flush frees the blocks of rewritten
// payloads (Gridstore::flusher, flush_free_blocks in lib/blobstore/src/
// blobstore/gridstore/mod.rs), so a payload limit reached by rewrites is
// no longer reached once optimizers_config.flush_interval_sec passed and
// the statistics were refreshed.
func TestStrictPayloadSizeFlush(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newClient(t, cl.Peers()[0])
	const coll = "flushed"
	c.ok("PUT", "/collections/"+coll, map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"},
		"optimizers_config": map[string]any{"flush_interval_sec": 3600}}, nil)
	// One point rewritten again and again: a block per write until a
	// flush.
	c.ok("PATCH", "/collections/"+coll, map[string]any{"strict_mode_config": map[string]any{"enabled": true, "max_collection_payload_size_bytes": 4000}}, nil)
	write := func() (int, []byte) {
		return c.do("PUT", "/collections/"+coll+"/points?wait=true", map[string]any{"points": []any{map[string]any{"id": 1, "vector": []float64{1, 2, 3, 4}, "payload": map[string]any{"n": 1}}}})
	}
	refusedAt := 0
	for i := 1; i <= 64 && refusedAt == 0; i++ {
		if status, raw := write(); status != 200 {
			if status != 400 || !strings.Contains(string(raw), "Max payload storage size limit of") {
				t.Fatalf("write %d = %d %s", i, status, raw)
			}
			refusedAt = i
		}
	}
	// Statistics refresh at the 32nd and 64th checked write; at the 32nd
	// the store holds 31 blocks (3968 bytes), at the 64th 63.
	if refusedAt != 64 {
		t.Fatalf("first refusal at write %d, want 64", refusedAt)
	}
	// A flush interval of a second has passed since the replica was
	// created once the sleep is over.
	c.ok("PATCH", "/collections/"+coll, map[string]any{"optimizers_config": map[string]any{"flush_interval_sec": 1}}, nil)
	time.Sleep(1100 * time.Millisecond)
	// Writes 65..95 read the cached statistics (still refused); the 96th
	// refreshes them after the flush: one live block.
	for i := 65; i < 96; i++ {
		if status, _ := write(); status != 400 {
			t.Fatalf("write %d = %d, want 400 from the cached statistics", i, status)
		}
	}
	if status, raw := write(); status != 200 {
		t.Fatalf("write 96, after a flush freed the rewritten blocks = %d %s, want 200", status, raw)
	}
}
