package restore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/e2e/qdrantsim/openapi"
	qbackup "github.com/qbackup/qbackup/internal/backup"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/storage"
)

// simCluster is a simulated Qdrant cluster with a client per peer.
type simCluster struct {
	http    *http.Client
	sim     *qdrantsim.Cluster
	topo    *discovery.Topology
	clients map[uint64]*qdrant.Client
}

func startSim(t *testing.T, peers int, version string) *simCluster {
	t.Helper()
	return startSimWith(t, qdrantsim.Options{Peers: peers, Version: version})
}

// startSimWith starts a simulator with fast timers unless opts sets them,
// on the default realism profile (asynchronous consensus, per-peer views,
// transfers that take time) unless opts or QDRANTSIM_REALISM says
// otherwise, with seed 11 unless opts sets one.
func startSimWith(t *testing.T, opts qdrantsim.Options) *simCluster {
	t.Helper()
	opts.Seed = cmp.Or(opts.Seed, 11)
	opts.Realism = cmp.Or(opts.Realism, qdrantsim.RealismOr(qdrantsim.RealismDefault))
	opts.Tick = cmp.Or(opts.Tick, 10*time.Millisecond)
	opts.PeerDownDelay = cmp.Or(opts.PeerDownDelay, 60*time.Millisecond)
	if opts.Realism == qdrantsim.RealismOff { // realism off because the caller or QDRANTSIM_REALISM=off asked for it
		// A realism profile rates transfers by bytes and paces automatic
		// recovery on Qdrant's consensus ticks; without one, fast fixed
		// timers.
		opts.TransferDelay = cmp.Or(opts.TransferDelay, 60*time.Millisecond)
		opts.AutoRecoveryDelay = cmp.Or(opts.AutoRecoveryDelay, 30*time.Millisecond)
	}
	sim, err := qdrantsim.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	sim.LogSeedOnFailure(t)
	return discoverSim(t, sim)
}

func discoverSim(t *testing.T, sim *qdrantsim.Cluster) *simCluster {
	t.Helper()
	ctx := context.Background()
	var urls []string
	for _, p := range sim.Peers() {
		urls = append(urls, p.URL()+"?grpc="+p.GRPCAddr())
	}
	// Every REST exchange is checked against Qdrant's official OpenAPI
	// document of the emulated version: a request Qdrant would refuse
	// fails the test even if the simulator is lenient.
	v, err := openapi.New(sim.Version())
	if err != nil {
		t.Fatal(err)
	}
	sc := &simCluster{sim: sim, clients: map[uint64]*qdrant.Client{},
		http: &http.Client{Transport: openapi.NewTransport(t, v, nil)}}
	clients := discovery.NewClients(qdrant.Options{Logger: quietLogger(), HTTPClient: sc.http})
	t.Cleanup(func() { clients.Close() })
	topo, err := discovery.Discover(ctx, &discovery.Static{URLs: urls}, clients.Dial, discovery.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("discover simulator: %v", err)
	}
	sc.topo = topo
	for _, p := range topo.Peers {
		if sc.clients[p.ID], err = clients.Client(p.Addr); err != nil {
			t.Fatal(err)
		}
	}
	return sc
}

func (s *simCluster) peers() map[uint64]Peer {
	out := map[uint64]Peer{}
	for id, c := range s.clients {
		out[id] = c
	}
	return out
}

func (s *simCluster) any() *qdrant.Client { return s.clients[s.topo.Peers[0].ID] }

// target describes the cluster as the planner sees it.
func (s *simCluster) target(t *testing.T) Target {
	t.Helper()
	tg, err := ReadTarget(context.Background(), s.topo, s.any())
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// rest sends one REST request that must succeed.
func (s *simCluster) rest(t *testing.T, method, path string, body any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.topo.Peers[0].Addr.REST+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		out, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
}

// load creates a collection and fills it with n points.
func (s *simCluster) load(t *testing.T, name string, shards, rf, n int, keys ...string) {
	t.Helper()
	ctx := context.Background()
	body := map[string]any{
		"vectors":            map[string]any{"size": 3, "distance": "Cosine"},
		"shard_number":       shards,
		"replication_factor": rf,
		"optimizers_config":  map[string]any{"deleted_threshold": 0.3},
	}
	if len(keys) > 0 {
		body["sharding_method"] = "custom"
		body["shard_number"] = 1
	}
	raw, _ := json.Marshal(body)
	if err := s.any().CreateCollection(ctx, name, raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := s.any().CreateShardKey(ctx, name, qdrant.StringKey(k), 1, uint32(rf), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.any().CreatePayloadIndex(ctx, name, "group", json.RawMessage(`"keyword"`)); err != nil {
		t.Fatal(err)
	}
	if err := s.any().CreatePayloadIndex(ctx, name, "n", json.RawMessage(`{"type":"integer","range":true,"lookup":false}`)); err != nil {
		t.Fatal(err)
	}
	waitSimActive(t, s.any(), name)
	batches := []string{""}
	if len(keys) > 0 {
		batches = keys
	}
	id := 1
	for _, k := range batches {
		var pts []map[string]any
		for i := 0; i < n/len(batches); i++ {
			pts = append(pts, map[string]any{
				"id":      id,
				"vector":  []float32{float32(id), float32(i) / 7, 1},
				"payload": map[string]any{"group": fmt.Sprintf("g%d", id%4), "n": id, "nested": map[string]any{"k": k, "x": 1.5}},
			})
			id++
		}
		req := map[string]any{"points": pts}
		if k != "" {
			req["shard_key"] = k
		}
		s.rest(t, http.MethodPut, "/collections/"+name+"/points?wait=true", req)
	}
}

func waitSimActive(t *testing.T, c *qdrant.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cc, err := c.CollectionCluster(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		ok := len(cc.ShardTransfers) == 0
		for _, r := range cc.Replicas() {
			ok = ok && r.State == qdrant.StateActive
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("collection %q never settled: %+v", name, cc)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// allPoints scrolls a whole collection with vectors and payloads.
func allPoints(t *testing.T, c *qdrant.Client, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var offset *qdrant.PointID
	for {
		pts, next, err := c.Scroll(context.Background(), name, 100, offset, true, true)
		if err != nil {
			t.Fatalf("scroll %q: %v", name, err)
		}
		for i := range pts {
			out[pts[i].ID.String()] = qdrant.ContentHash(&pts[i])
		}
		if next == nil {
			return out
		}
		offset = next
	}
}

// takeBackup backs the whole source cluster up with the backup engine.
func takeBackup(t *testing.T, src *simCluster, store storage.Backend, compression string) *manifest.Manifest {
	t.Helper()
	peers := map[uint64]qbackup.Peer{}
	for id, c := range src.clients {
		peers[id] = c
	}
	res, err := qbackup.Run(context.Background(), qbackup.Options{Cluster: "prod", Compression: compression},
		qbackup.Deps{Topology: src.topo, Peers: peers, Store: store, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return res.Manifest
}

func simExecOptions() ExecOptions {
	return ExecOptions{Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond, WaitTimeout: 20 * time.Second, TransferTimeout: 20 * time.Second}
}

// restore restores m onto the simulated cluster through Run, with a
// storage journal and the point writer; edit adjusts the inputs.
func (s *simCluster) restore(ctx context.Context, t *testing.T, m *manifest.Manifest, store Store, opts PlanOptions, edit ...func(*RunOptions, *RunDeps)) (*RunResult, error) {
	t.Helper()
	ro := RunOptions{Manifest: m, Plan: opts, Exec: simExecOptions()}
	rd := RunDeps{Deps: Deps{Peers: s.peers(), Store: store, Logger: quietLogger(), Journal: &StoreJournal{Store: store, Cluster: m.Cluster},
		Points: s.any()}, Topology: s.topo}
	for _, e := range edit {
		e(&ro, &rd)
	}
	return Run(ctx, ro, rd)
}

func TestRestoreRoundTripsOnTheSimulator(t *testing.T) {
	tests := []struct {
		name         string
		from, to     int
		fromV, toV   string
		opts         PlanOptions
		wantStrategy Strategy
	}{
		{"three pods restored onto three", 3, 3, "1.19.0", "1.19.0", PlanOptions{}, StrategyDirect},
		{"three pods consolidated onto two", 3, 2, "1.19.0", "1.19.0", PlanOptions{}, StrategyConsolidate},
		{"three pods consolidated onto one", 3, 1, "1.19.0", "1.19.0", PlanOptions{}, StrategyConsolidate},
		{"two pods restored onto four and redistributed", 2, 4, "1.19.0", "1.19.0", PlanOptions{}, StrategyRedistribute},
		{"a 1.15 backup restored onto 1.19", 3, 3, "1.15.0", "1.19.0", PlanOptions{}, StrategyDirect},
		{"a 1.15 backup consolidated onto 1.15", 3, 2, "1.15.0", "1.15.0", PlanOptions{}, StrategyConsolidate},
		{"a 1.17 backup redistributed onto 1.17", 2, 3, "1.17.0", "1.17.0", PlanOptions{}, StrategyRedistribute},
		{"a target node takes every shard", 3, 3, "1.19.0", "1.19.0", PlanOptions{TargetNode: "second peer"}, StrategyConsolidate},
		{"a new shard count copies every point", 3, 2, "1.19.0", "1.19.0", PlanOptions{Shards: 5}, StrategyReshard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			src := startSim(t, tt.from, tt.fromV)
			src.load(t, "docs", tt.from, 1, 60)
			src.load(t, "replicated", 2, 2, 40)
			src.load(t, "tenants", 1, 1, 30, "acme", "globex")
			if err := src.any().UpdateAliases(ctx, []qdrant.AliasAction{qdrant.CreateAlias("search", "docs")}); err != nil {
				t.Fatal(err)
			}
			store := storage.NewMemory()
			m := takeBackup(t, src, store, manifest.CompressionZstd)

			dst := startSim(t, tt.to, tt.toV)
			if tt.opts.TargetNode != "" {
				// Static discovery has no pod names: name the peer by id.
				tt.opts.TargetNode = fmt.Sprint(dst.topo.Peers[1].ID)
			}
			res, err := dst.restore(ctx, t, m, store, tt.opts)
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			plan, rep := res.Plan, res.Report
			if plan.Strategy != tt.wantStrategy {
				t.Errorf("strategy %s, want %s (%s)", plan.Strategy, tt.wantStrategy, plan.Reason)
			}
			for _, c := range []string{"docs", "replicated", "tenants"} {
				si, err1 := src.any().CollectionInfo(ctx, c)
				di, err2 := dst.any().CollectionInfo(ctx, c)
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				if got, want := indexesOf(t, di.PayloadSchema), indexesOf(t, si.PayloadSchema); got != want {
					t.Errorf("%q payload indexes %s, want %s", c, got, want)
				}
			}
			checkSimRestored(t, src, dst, "docs", "replicated", "tenants")
			if tt.opts.Shards > 0 {
				info, err := dst.any().CollectionInfo(ctx, "docs")
				if err != nil || info.ShardNumber != tt.opts.Shards {
					t.Errorf("resharded docs: %+v, %v", info, err)
				}
			}
			if tt.opts.TargetNode != "" {
				for _, c := range []string{"docs", "replicated", "tenants"} {
					cc, _ := dst.any().CollectionCluster(ctx, c)
					for _, r := range cc.Replicas() {
						if fmt.Sprint(r.PeerID) != tt.opts.TargetNode {
							t.Errorf("%q shard %d has a replica on peer %d", c, r.ShardID, r.PeerID)
						}
					}
				}
			}
			aliases, _ := dst.any().ListAliases(ctx)
			if aliases["search"] != "docs" {
				t.Errorf("aliases after restore: %v", aliases)
			}
			t.Logf("%s: %s; phases %v total %s", plan.Strategy, plan.Reason, rep.Phases, rep.Total)
		})
	}
}

// presigningStore serves its objects over HTTP, as an S3 presigned URL
// would.
type presigningStore struct {
	storage.Backend
	base string
}

func (p presigningStore) Presign(_ context.Context, key string, _ time.Duration) (string, error) {
	return p.base + "/" + key + "?X-Signature=secret", nil
}

func TestPresignedTransferLetsPeersPullSnapshots(t *testing.T) {
	ctx := context.Background()
	src := startSim(t, 2, "1.19.0")
	src.load(t, "docs", 2, 2, 30)
	mem := storage.NewMemory()
	m := takeBackup(t, src, mem, manifest.CompressionNone)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc, err := mem.Open(r.Context(), strings.TrimPrefix(r.URL.Path, "/"), 0)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer rc.Close()
		io.Copy(w, rc)
	}))
	t.Cleanup(srv.Close)
	store := presigningStore{Backend: mem, base: srv.URL}

	dst := startSim(t, 3, "1.19.0")
	if _, err := dst.restore(ctx, t, m, store, PlanOptions{}, func(o *RunOptions, _ *RunDeps) { o.Exec.Transfer = TransferPresigned }); err != nil {
		t.Fatal(err)
	}
	checkSimRestored(t, src, dst, "docs")
}

// indexesOf renders a payload schema without its point counts.
func indexesOf(t *testing.T, schema json.RawMessage) string {
	t.Helper()
	var fields map[string]map[string]any
	if err := json.Unmarshal(schema, &fields); err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		delete(f, "points")
	}
	b, _ := json.Marshal(fields)
	return string(b)
}
