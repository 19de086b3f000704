package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/prune"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/verify"
)

// simEnv is a simulated 3-peer cluster with data, discovered like the
// command does it, and a client per peer.
type simEnv struct {
	sim     *qdrantsim.Cluster
	topo    *discovery.Topology
	clients map[uint64]Peer
	counts  map[string]uint64 // collection → points
}

func startSim(t *testing.T, version string) *simEnv {
	t.Helper()
	ctx := context.Background()
	sim, err := qdrantsim.Start(ctx, qdrantsim.Options{Peers: 3, Version: version, Seed: 7, Tick: 10 * time.Millisecond,
		Realism: qdrantsim.RealismOr(qdrantsim.RealismDefault)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })

	byAddr := map[string]*qdrant.Client{}
	dial := func(addr qdrant.PeerAddr) (discovery.ClusterReader, error) {
		c, err := qdrant.New(ctx, addr, qdrant.Options{})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { _ = c.Close() })
		byAddr[addr.REST] = c
		return c, nil
	}
	var urls []string
	for _, p := range sim.Peers() {
		urls = append(urls, fmt.Sprintf("%s?grpc=%s", p.URL(), p.GRPCAddr()))
	}
	topo, err := discovery.Discover(ctx, &discovery.Static{URLs: urls}, dial, discovery.Options{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	env := &simEnv{sim: sim, topo: topo, clients: map[uint64]Peer{}, counts: map[string]uint64{}}
	for _, p := range topo.Peers {
		env.clients[p.ID] = byAddr[p.Addr.REST]
	}
	admin := byAddr[topo.Peers[0].Addr.REST]
	peer0 := sim.Peers()[0]

	create := func(name, body string) {
		t.Helper()
		if err := admin.CreateCollection(ctx, name, json.RawMessage(body)); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	upsert := func(name string, from, n int, key *qdrantsim.ShardKey, vector func(i int) string) {
		t.Helper()
		var pts []qdrantsim.PointStruct
		for i := from; i < from+n; i++ {
			pts = append(pts, qdrantsim.PointStruct{ID: qdrantsim.NumID(uint64(i)), Vector: json.RawMessage(vector(i)),
				Payload: map[string]any{"i": i, "tag": fmt.Sprintf("t%d", i%4)}})
		}
		req := qdrantsim.UpsertRequest{Points: pts}
		if key != nil {
			req.ShardKey = qdrantsim.ShardKeySelector{*key}
		}
		if _, err := peer0.Upsert(ctx, name, req); err != nil {
			t.Fatalf("upsert into %s: %v", name, err)
		}
		env.counts[name] += uint64(n)
	}
	create("docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":3,"replication_factor":2}`)
	upsert("docs", 1, 300, nil, func(i int) string { return fmt.Sprintf(`[%d,1,0.5,-1]`, i) })
	create("images", `{"vectors":{"image":{"size":3,"distance":"Dot"},"text":{"size":2,"distance":"Euclid"}},"shard_number":2}`)
	upsert("images", 1, 120, nil, func(i int) string { return fmt.Sprintf(`{"image":[%d,2,3],"text":[1,%d]}`, i, -i) })
	create("tenants", `{"vectors":{"size":2,"distance":"Dot"},"sharding_method":"custom","shard_number":1,"replication_factor":2}`)
	if err := admin.CreateShardKey(ctx, "tenants", qdrant.StringKey("eu"), 1, 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateShardKey(ctx, "tenants", qdrant.NumberKey(7), 2, 1, nil); err != nil {
		t.Fatal(err)
	}
	upsert("tenants", 1, 40, &qdrantsim.ShardKey{Str: "eu"}, func(i int) string { return `[1,2]` })
	upsert("tenants", 100, 60, &qdrantsim.ShardKey{Num: 7, IsNum: true}, func(i int) string { return `[3,4]` })
	if err := admin.UpdateAliases(ctx, []qdrant.AliasAction{qdrant.CreateAlias("current", "docs")}); err != nil {
		t.Fatal(err)
	}
	return env
}

func (e *simEnv) deps(store Store, cat Catalog) Deps {
	return Deps{Topology: e.topo, Peers: e.clients, Store: store, Catalog: cat}
}

func TestRunAgainstTheSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	env := startSim(t, "1.15.0")
	cases := []struct {
		name string
		opts Options
	}{
		{"streamed snapshots", Options{}},
		{"stored snapshots, zstd and the write lock", Options{SnapshotMethod: manifest.MethodStored, Compression: manifest.CompressionZstd, WriteLock: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store, cat := newFakeStore(), newFakeCatalog()
			tc.opts.Cluster = "sim"
			res, err := Run(context.Background(), tc.opts, env.deps(store, cat))
			if err != nil {
				t.Fatal(err)
			}
			m := decodeManifest(t, store, res.ManifestKey)
			if store.puts[len(store.puts)-1] != res.ManifestKey {
				t.Errorf("manifest not written last")
			}
			if len(cat.Completed) != 1 || cat.Completed[0].BackupID != m.BackupID || cat.Completed[0].ShardCount() != m.ShardCount() {
				t.Errorf("catalog and manifest disagree")
			}
			if rep, err := verify.Run(context.Background(), store, m, nil); err != nil || !rep.OK() {
				t.Fatalf("verify: %v", err)
			}
			wantShards := map[string]int{"docs": 3, "images": 2, "tenants": 3}
			for _, c := range m.Collections {
				if len(c.Shards) != wantShards[c.Name] {
					t.Errorf("%s: %d shards, want %d", c.Name, len(c.Shards), wantShards[c.Name])
				}
				if c.PointsCount != env.counts[c.Name] {
					t.Errorf("%s: %d points recorded, the cluster has %d", c.Name, c.PointsCount, env.counts[c.Name])
				}
				if len(c.Sample) == 0 {
					t.Errorf("%s: no sample", c.Name)
				}
				for _, s := range c.Shards {
					left, err := env.clients[s.SourcePeer].(*qdrant.Client).ListShardSnapshots(context.Background(), c.Name, s.ID)
					if err != nil || len(left) != 0 {
						t.Errorf("%s shard %d: snapshots left on peer %d: %v %v", c.Name, s.ID, s.SourcePeer, left, err)
					}
					obj := store.get(t, s.Object)
					if sha(obj) != s.SHA256 {
						t.Errorf("%s shard %d: hash mismatch", c.Name, s.ID)
					}
					if s.Compression == manifest.CompressionZstd {
						zr, _ := zstd.NewReader(nil)
						plain, err := zr.DecodeAll(obj, nil)
						zr.Close()
						if err != nil || sha(plain) != s.SnapshotSHA256 {
							t.Errorf("%s shard %d: decompressed snapshot differs (%v)", c.Name, s.ID, err)
						}
					}
				}
			}
			if d := m.Collection("docs"); len(d.Aliases) != 1 || d.Aliases[0] != "current" || d.ReplicationFactor != 2 {
				t.Errorf("docs: aliases %v rf %d", d.Aliases, d.ReplicationFactor)
			}
			if tn := m.Collection("tenants"); tn.ShardingMethod != "custom" || len(tn.ShardKeys) != 2 {
				t.Errorf("tenants: %s, keys %+v", tn.ShardingMethod, tn.ShardKeys)
			}
			if im := m.Collection("images"); !json.Valid(im.Config) || !strings.Contains(string(im.Config), `"image"`) || !strings.Contains(string(im.Config), `"text"`) {
				t.Errorf("images config lost its named vectors: %s", im.Config)
			}
		})
	}
}

func TestRunAgainstTheSimulatorFailsCleanlyOnATruncatedStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	env := startSim(t, "1.19.0")
	cut := int64(3000)
	for _, p := range env.sim.Peers() {
		p.SetFaults(qdrantsim.Faults{Routes: []qdrantsim.RouteFault{{
			Route: "GET /collections/{collection_name}/shards/{shard_id}/snapshot", TruncateAfter: &cut}}})
	}
	store, cat := newFakeStore(), newFakeCatalog()
	_, err := Run(context.Background(), Options{Cluster: "sim"}, env.deps(store, cat))
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrTruncated) {
		t.Fatalf("error %v, want a truncation", err)
	}
	assertNoSetObjects(t, store)
	assertFailedRow(t, cat, "sim")
}

func TestRunAgainstTheSimulatorFailsCleanlyWhenAPeerGoesDownMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	env := startSim(t, "1.19.0")
	victim := env.sim.Peers()[1]
	stall := int64(2000)
	victim.SetFaults(qdrantsim.Faults{Routes: []qdrantsim.RouteFault{{
		Route: "GET /collections/{collection_name}/shards/{shard_id}/snapshot", StallAfter: &stall}}})
	store, cat := newFakeStore(), newFakeCatalog()
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), Options{Cluster: "sim"}, env.deps(store, cat))
		done <- err
	}()
	// Wait until the stalled streams hold the run, then take the peer down.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if rows, _ := cat.IndexRows(context.Background(), "sim"); len(rows) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	victim.Stop()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the run succeeded without the peer")
		}
		t.Logf("run failed as expected: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the run hangs after its peer went down")
	}
	assertNoSetObjects(t, store)
	assertFailedRow(t, cat, "sim")
	rep, err := prune.Run(context.Background(), prune.Options{Cluster: "sim", OrphanGrace: time.Nanosecond}, store, cat)
	if err != nil || len(store.keys()) != 0 {
		t.Fatalf("prune: %+v %v, objects %v", rep, err, store.keys())
	}
}

func TestRunAgainstTheSimulatorRefusesTheWriteLockOnQdrantWithoutIt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	env := startSim(t, "1.19.0")
	store, cat := newFakeStore(), newFakeCatalog()
	_, err := Run(context.Background(), Options{Cluster: "sim", WriteLock: true}, env.deps(store, cat))
	if !errors.Is(err, qdrant.ErrNotSupported) || !strings.Contains(err.Error(), "removed in 1.16") {
		t.Fatalf("error %v, want a clear refusal", err)
	}
	assertNoSetObjects(t, store)
	if rows, _ := cat.IndexRows(context.Background(), ""); len(rows) != 0 || len(cat.leases) != 0 {
		t.Errorf("catalog touched before the refusal: %v, %d leases", rows, len(cat.leases))
	}
}
