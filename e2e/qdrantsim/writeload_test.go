package qdrantsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

// loadCount counts the write load's points in coll exactly.
func loadCount(t *testing.T, cl client, coll string) int {
	t.Helper()
	var n struct{ Count int }
	cl.ok("POST", "/collections/"+coll+"/points/count", map[string]any{"exact": true,
		"filter": map[string]any{"must": []map[string]any{{"key": "write_load", "match": map[string]any{"value": true}}}}}, &n)
	return n.Count
}

// TestWriteLoadWritesThroughPeers checks the live writes: upserts,
// overwrites and deletes spread over every collection, visible through the
// API, counted, and stopped by Close.
func TestWriteLoadWritesThroughPeers(t *testing.T) {
	c := startCluster(t, Options{Peers: 3})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "a", 2, 2)
	cl.ok("PUT", "/collections/b", map[string]any{"vectors": map[string]any{"x": map[string]any{"size": 3, "distance": "Dot"}}}, nil)
	upsertN(t, cl, "a", 5)
	c.SetWriteLoad(WriteLoad{Rate: 1000})
	waitFor(t, "all kinds of writes on both collections", func() bool {
		s := c.WriteStats()
		return s.Upserts > 50 && s.Overwrites > 0 && s.Deletes > 0 && s.PerCollection["a"] > 0 && s.PerCollection["b"] > 0
	})
	c.SetWriteLoad(WriteLoad{})
	s := c.WriteStats()
	if s.Failed != 0 {
		t.Errorf("%d failed writes: %s", s.Failed, s.LastError)
	}
	got := loadCount(t, cl, "a") + loadCount(t, cl, "b")
	if want := int(s.Upserts - s.Deletes); got != want {
		t.Errorf("%d load points stored, want upserts-deletes = %d", got, want)
	}
	// Product data is never touched.
	var rec []Record
	cl.ok("POST", "/collections/a/points", map[string]any{"ids": []int{1, 2, 3, 4, 5}}, &rec)
	if len(rec) != 5 {
		t.Errorf("product points left: %d", len(rec))
	}
	time.Sleep(3 * writeLoadTick)
	if after := c.WriteStats(); !reflect.DeepEqual(after, s) {
		t.Errorf("writes continued after stopping: %+v -> %+v", s, after)
	}
}

// TestWriteLoadNamedCollectionsAdminAndClose checks --write-collections
// through the admin API and that Close stops the load.
func TestWriteLoadNamedCollectionsAdminAndClose(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "a", 1, 1)
	createCollection(t, cl, "b", 1, 1)
	admin := httptest.NewServer(c.AdminHandler())
	defer admin.Close()
	body, _ := json.Marshal(WriteLoad{Rate: 2000, Collections: []string{"b"}})
	req, _ := http.NewRequest("PUT", admin.URL+"/write-load", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT /write-load: %v %v", resp, err)
	}
	resp.Body.Close()
	waitFor(t, "writes", func() bool { return c.WriteStats().Upserts > 100 })
	var got struct {
		Load  WriteLoad  `json:"load"`
		Stats WriteStats `json:"stats"`
	}
	resp, err = http.Get(admin.URL + "/write-load")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Load.Rate != 2000 || got.Stats.Upserts == 0 {
		t.Errorf("GET /write-load: %+v", got)
	}
	if s := c.WriteStats(); s.PerCollection["a"] != 0 || loadCount(t, cl, "a") != 0 {
		t.Errorf("collection a was written: %+v", s)
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the write load")
	}
	s := c.WriteStats()
	time.Sleep(3 * writeLoadTick)
	if after := c.WriteStats(); !reflect.DeepEqual(after, s) {
		t.Error("writes continued after Close")
	}
}

// TestWriteLoadIsSeeded checks that the operations are drawn from the
// seed: the same seed gives the same sequence, another one does not.
func TestWriteLoadIsSeeded(t *testing.T) {
	draw := func(seed uint64) []writeOp {
		var s writeLoadState
		s.rng, s.live, s.next = newWriteLoadState(seed)
		var out []writeOp
		for range 20 {
			out = append(out, s.drawLocked([]string{"a", "b", "c"}, 10)...)
		}
		return out
	}
	if !reflect.DeepEqual(draw(3), draw(3)) {
		t.Error("same seed, different operations")
	}
	if reflect.DeepEqual(draw(3), draw(4)) {
		t.Error("different seeds, same operations")
	}
	kinds := map[string]int{}
	for _, op := range draw(3) {
		switch {
		case op.delete:
			kinds["delete"]++
		case op.overwrite:
			kinds["overwrite"]++
		default:
			kinds["upsert"]++
		}
	}
	if kinds["delete"] == 0 || kinds["overwrite"] == 0 || kinds["upsert"] < kinds["delete"] {
		t.Errorf("operation mix %v", kinds)
	}
}
