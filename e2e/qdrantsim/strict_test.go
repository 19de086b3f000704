package qdrantsim

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func strictCollection(t *testing.T, cl client, name string, strict map[string]any) {
	t.Helper()
	cl.ok("PUT", "/collections/"+name, map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"},
		"shard_number": 1, "replication_factor": 1, "strict_mode_config": strict}, nil)
}

// TestStrictModeRequestChecks checks operations/verification/*.rs with
// Qdrant's messages over REST: exact counts, scroll limits and upsert
// batch sizes, only while strict mode is enabled.
func TestStrictModeRequestChecks(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	cl := newClient(t, c.Peers()[0])
	strictCollection(t, cl, "s", map[string]any{"enabled": true, "search_allow_exact": false, "max_query_limit": 5, "upsert_max_batchsize": 3})
	upsert := func(n int) map[string]any {
		var pts []map[string]any
		for i := 1; i <= n; i++ {
			pts = append(pts, map[string]any{"id": i, "vector": []float32{1, 2, 3, 4}})
		}
		return map[string]any{"points": pts}
	}
	cases := []struct {
		name, method, path string
		body               any
		want               string
	}{
		{"exact count by default", "POST", "/collections/s/points/count", map[string]any{}, "Bad request: Exact search disabled!. Help: Set exact=false."},
		{"exact count", "POST", "/collections/s/points/count", map[string]any{"exact": true}, "Bad request: Exact search disabled!. Help: Set exact=false."},
		{"scroll limit", "POST", "/collections/s/points/scroll", map[string]any{"limit": 6},
			`Bad request: Limit exceeded 6 > 5 for "limit". Help: Reduce the "limit" parameter to or below 5.`},
		{"upsert batch", "PUT", "/collections/s/points?wait=true", upsert(4),
			`Bad request: Limit exceeded 4 > 3 for "upsert limit". Help: Reduce the "upsert limit" parameter to or below 3.`},
	}
	for _, tc := range cases {
		if got := cl.errorOf(tc.method, tc.path, tc.body, http.StatusBadRequest); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	cl.ok("PUT", "/collections/s/points?wait=true", upsert(3), nil)
	cl.ok("POST", "/collections/s/points/count", map[string]any{"exact": false}, nil)
	cl.ok("POST", "/collections/s/points/scroll", map[string]any{"limit": 5}, nil)
	cl.ok("POST", "/collections/s/points/scroll", map[string]any{}, nil)

	// PATCH turns it off: the same requests pass.
	cl.ok("PATCH", "/collections/s", map[string]any{"strict_mode_config": map[string]any{"enabled": false}}, nil)
	cl.ok("POST", "/collections/s/points/count", map[string]any{"exact": true}, nil)
	cl.ok("PUT", "/collections/s/points?wait=true", upsert(4), nil)
	// And on again with a new limit.
	cl.ok("PATCH", "/collections/s", map[string]any{"strict_mode_config": map[string]any{"enabled": true, "max_query_limit": 2}}, nil)
	cl.errorOf("POST", "/collections/s/points/scroll", map[string]any{"limit": 3}, http.StatusBadRequest)
}

// TestStrictModeRateLimits checks common/rate_limiting.rs: a bucket of
// read_rate_limit / write_rate_limit tokens per minute per local shard,
// 429 with Retry-After when empty; PATCH rebuilds the buckets.
func TestStrictModeRateLimits(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	cl := newClient(t, c.Peers()[0])
	strictCollection(t, cl, "r", map[string]any{"enabled": true, "read_rate_limit": 2, "write_rate_limit": 3})
	cl.ok("PUT", "/collections/r/points?wait=true", pointBody(1), nil)
	cl.ok("PUT", "/collections/r/points?wait=true", map[string]any{"points": []map[string]any{
		{"id": 2, "vector": []float32{1, 2, 3, 4}}, {"id": 3, "vector": []float32{1, 2, 3, 4}}}}, nil)
	st, raw := cl.do("PUT", "/collections/r/points?wait=true", pointBody(4))
	if st != http.StatusTooManyRequests {
		t.Fatalf("fourth point: %d %s, want 429", st, raw)
	}
	cl.ok("POST", "/collections/r/points/count", map[string]any{"exact": true}, nil)
	cl.ok("POST", "/collections/r/points/scroll", map[string]any{}, nil)
	resp, err := http.Post(cl.base+"/collections/r/points/scroll", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third read: %d, want 429", resp.StatusCode)
	}
	// 2 tokens per minute: one token comes back after 30 s.
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 29 || ra > 30 {
		t.Errorf("Retry-After %q, want about 30", resp.Header.Get("Retry-After"))
	}
	want := "Rate limiting exceeded: Read rate limit exceeded: Operation requires 1 tokens but only 0.0 were available. Retry after 30s"
	if got := cl.errorOf("POST", "/collections/r/points/count", map[string]any{"exact": true}, http.StatusTooManyRequests); got != want {
		t.Errorf("read limit message %q, want %q", got, want)
	}
	if got := cl.errorOf("PUT", "/collections/r/points", map[string]any{"points": []map[string]any{
		{"id": 7, "vector": []float32{1, 2, 3, 4}}, {"id": 8, "vector": []float32{1, 2, 3, 4}}, {"id": 9, "vector": []float32{1, 2, 3, 4}},
		{"id": 10, "vector": []float32{1, 2, 3, 4}}}}, http.StatusTooManyRequests); got != "Rate limiting exceeded: Write rate limit exceeded, request larger than rate limiter capacity, please try to split your request" {
		t.Errorf("oversized write: %q", got)
	}
	// A refused write changed nothing.
	var n struct{ Count int }
	cl.ok("PATCH", "/collections/r", map[string]any{"strict_mode_config": map[string]any{"read_rate_limit": 100}}, nil)
	cl.ok("POST", "/collections/r/points/count", map[string]any{"exact": true}, &n)
	if n.Count != 3 {
		t.Errorf("count %d, want 3", n.Count)
	}
}

// TestStrictModeOverGRPC checks the same rules over gRPC: the config is
// taken from CreateCollection, strict errors are InvalidArgument and rate
// limits ResourceExhausted with retry-after metadata
// (content_manager/conversions.rs).
func TestStrictModeOverGRPC(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	p := c.Peers()[0]
	conn, err := grpc.NewClient(p.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	colls, points := qdrant.NewCollectionsClient(conn), qdrant.NewPointsClient(conn)
	f := false
	one, lim := uint32(1), uint32(1)
	_, err = colls.Create(ctx, &qdrant.CreateCollection{CollectionName: "g", ShardNumber: &one,
		VectorsConfig:    qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Dot}),
		StrictModeConfig: &qdrant.StrictModeConfig{Enabled: qdrant.PtrOf(true), SearchAllowExact: &f, ReadRateLimit: &lim}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = points.Count(ctx, &qdrant.CountPoints{CollectionName: "g", Exact: qdrant.PtrOf(true)})
	if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != "Bad request: Exact search disabled!. Help: Set exact=false." {
		t.Errorf("exact count: %v", err)
	}
	if _, err := points.Count(ctx, &qdrant.CountPoints{CollectionName: "g", Exact: &f}); err != nil {
		t.Fatal(err)
	}
	var trailer metadata.MD
	_, err = points.Count(ctx, &qdrant.CountPoints{CollectionName: "g", Exact: &f}, grpc.Trailer(&trailer))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second read: %v, want ResourceExhausted", err)
	}
	if got := trailer.Get("retry-after"); len(got) != 1 || got[0] != "60" {
		t.Errorf("retry-after %v, want [60]", got)
	}
}

// TestWriteRateLimitedReplicaIsDeactivated checks update_impl's handling
// of a replica refusing an update with RateLimitExceeded (not transient,
// replica_set/update.rs): when another replica completed the update
// (wait=true) the refusing replica is marked Dead; with wait=false it
// stays Active and silently misses the update.
func TestWriteRateLimitedReplicaIsDeactivated(t *testing.T) {
	two := func(a, b int) map[string]any {
		return map[string]any{"points": []map[string]any{{"id": a, "vector": []float32{1, 2, 3, 4}}, {"id": b, "vector": []float32{1, 2, 3, 4}}}}
	}
	for _, wait := range []bool{true, false} {
		t.Run(strconv.FormatBool(wait), func(t *testing.T) {
			c := startCluster(t, Options{Peers: 2})
			peers := c.Peers()
			a, b := newClient(t, peers[0]), newClient(t, peers[1])
			a.ok("PUT", "/collections/r", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"},
				"shard_number": 1, "replication_factor": 2, "strict_mode_config": map[string]any{"enabled": true, "write_rate_limit": 3}}, nil)
			a.ok("PUT", "/collections/r/points?wait=true", two(1, 2), nil) // both buckets: 1 token left
			// Recovering B's replica gives it a new local shard, with a
			// full bucket.
			data := snapshotShard(t, c, "r", 0, true)
			if st, body := uploadShard(t, b, "r", 0, data, "priority=no_sync"); st != 200 {
				t.Fatalf("upload: %d %s", st, body)
			}
			a.ok("PUT", "/collections/r/points?wait="+strconv.FormatBool(wait), two(3, 4), nil)
			wantA := StateActive
			if wait {
				wantA = StateDead
			}
			if got := stateOf(c, "r", 0, peers[0].ID()); got != wantA {
				t.Errorf("rate-limited replica is %s, want %s", got, wantA)
			}
			if got := stateOf(c, "r", 0, peers[1].ID()); got != StateActive {
				t.Errorf("other replica is %s", got)
			}
			if !wait {
				if n := countOf(t, a, "r", map[string]any{"exact": true}); n != 2 {
					t.Errorf("rate-limited replica holds %d points, want 2 (missed the update)", n)
				}
				if n := countOf(t, b, "r", map[string]any{"exact": true}); n != 4 {
					t.Errorf("other replica holds %d points, want 4", n)
				}
			}
		})
	}
}
