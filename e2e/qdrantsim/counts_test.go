package qdrantsim

import (
	"testing"
	"time"
)

// countOf counts points over REST with the given body.
func countOf(t *testing.T, cl client, coll string, body map[string]any) int {
	t.Helper()
	var n struct{ Count int }
	cl.ok("POST", "/collections/"+coll+"/points/count", body, &n)
	return n.Count
}

// localPointsCount sums local_shards[].points_count in p's cluster info.
func localPointsCount(t *testing.T, cl client, coll string) int {
	t.Helper()
	var info CollectionClusterInfo
	cl.ok("GET", "/collections/"+coll+"/cluster", nil, &info)
	n := 0
	for _, l := range info.LocalShards {
		n += int(l.PointsCount)
	}
	return n
}

// TestWaitFalseUpdatesLagAllReads checks the update worker lag
// (local_shard/shard_ops.rs): with ApproximateCounts a wait=false upsert
// is acknowledged before it is applied, so counts — exact or not — and
// cluster info lag it; a wait=true write applies the queue first. Deleted
// points are never counted.
func TestWaitFalseUpdatesLagAllReads(t *testing.T) {
	c := startCluster(t, Options{Peers: 1, ApproximateCounts: true, UpdateApplyDelay: 300 * time.Millisecond})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 1)
	upsertN(t, cl, "c", 10) // wait=true: 11 points at once
	var res UpdateResult
	cl.ok("PUT", "/collections/c/points?wait=false", pointBody(100), &res)
	if res.Status != "acknowledged" {
		t.Errorf("status %q", res.Status)
	}
	if n := countOf(t, cl, "c", map[string]any{"exact": true}); n != 11 {
		t.Errorf("exact count right after a wait=false upsert = %d, want 11 (not applied yet)", n)
	}
	if n := localPointsCount(t, cl, "c"); n != 11 {
		t.Errorf("cluster info points_count = %d, want 11", n)
	}
	waitFor(t, "the update worker", func() bool { return countOf(t, cl, "c", map[string]any{"exact": true}) == 12 })
	if n := localPointsCount(t, cl, "c"); n != 12 {
		t.Errorf("cluster info after apply = %d, want 12", n)
	}

	// Queue a delete, then a wait=true upsert: the delete is applied first.
	cl.ok("POST", "/collections/c/points/delete?wait=false", map[string]any{"points": []int{100}}, nil)
	cl.ok("PUT", "/collections/c/points?wait=true", pointBody(101), nil)
	if n := countOf(t, cl, "c", map[string]any{"exact": false}); n != 12 {
		t.Errorf("count after queued delete and wait=true upsert = %d, want 12", n)
	}
	// Deleted points are not counted (the id tracker drops them at once).
	cl.ok("POST", "/collections/c/points/delete?wait=true", map[string]any{"points": []int{1, 2, 3}}, nil)
	if n := localPointsCount(t, cl, "c"); n != 9 {
		t.Errorf("points_count after deleting 3 = %d, want 9", n)
	}
}

// TestApproximateFilteredCount checks estimate_cardinality: a non-exact
// count with a filter on an unindexed field is half the points; with a
// payload index it follows the matches; exact=true always counts them.
func TestApproximateFilteredCount(t *testing.T) {
	c := startCluster(t, Options{Peers: 1, ApproximateCounts: true})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 1)
	upsertN(t, cl, "c", 30) // payload group g0,g1,g2 (10 each) on 30 of 31 points
	g1 := map[string]any{"must": []map[string]any{{"key": "group", "match": map[string]any{"value": "g1"}}}}
	if n := countOf(t, cl, "c", map[string]any{"exact": true, "filter": g1}); n != 10 {
		t.Errorf("exact = %d, want 10", n)
	}
	if n := countOf(t, cl, "c", map[string]any{"exact": false, "filter": g1}); n != 31/2 {
		t.Errorf("estimate without index = %d, want %d", n, 31/2)
	}
	notG1 := map[string]any{"must_not": []map[string]any{{"key": "group", "match": map[string]any{"value": "g1"}}}}
	if n := countOf(t, cl, "c", map[string]any{"exact": false, "filter": notG1}); n != 31-31/2 {
		t.Errorf("must_not estimate = %d, want %d", n, 31-31/2)
	}
	cl.ok("PUT", "/collections/c/index?wait=true", map[string]any{"field_name": "group", "field_schema": "keyword"}, nil)
	if n := countOf(t, cl, "c", map[string]any{"exact": false, "filter": g1}); n != 10 {
		t.Errorf("estimate with index = %d, want 10", n)
	}
	// must of an indexed and an unindexed condition: 10/31 * 15/31 * 31.
	both := map[string]any{"must": []map[string]any{{"key": "group", "match": map[string]any{"value": "g1"}},
		{"key": "n", "range": map[string]any{"gte": 5}}}}
	if n := countOf(t, cl, "c", map[string]any{"exact": false, "filter": both}); n != 5 {
		t.Errorf("combined estimate = %d, want 5", n)
	}
	// Without ApproximateCounts the simulator counts exactly.
	c2 := startCluster(t, Options{Peers: 1})
	cl2 := newClient(t, c2.Peers()[0])
	createCollection(t, cl2, "c", 1, 1)
	upsertN(t, cl2, "c", 30)
	if n := countOf(t, cl2, "c", map[string]any{"exact": false, "filter": g1}); n != 10 {
		t.Errorf("exact simulator = %d, want 10", n)
	}
}
