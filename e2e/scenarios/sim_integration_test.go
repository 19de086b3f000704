//go:build integration

package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// snapshotRoute is the streaming shard snapshot route, where faults are
// injected.
const snapshotRoute = "GET /collections/{collection_name}/shards/{shard_id}/snapshot"

// sim is a simulated Qdrant cluster on loopback.
type sim struct {
	c *qdrantsim.Cluster
}

// fastSim are simulator options for scenarios: the default realism profile
// (asynchronous consensus, transfers rated by bytes) unless
// QDRANTSIM_REALISM says otherwise, with short ticks; without realism,
// short fixed transfers.
func fastSim(peers int) qdrantsim.Options {
	o := qdrantsim.Options{
		Peers: peers, Tick: 10 * time.Millisecond, PeerDownDelay: 60 * time.Millisecond,
		Realism: qdrantsim.RealismOr(qdrantsim.RealismDefault),
	}
	if o.Realism == qdrantsim.RealismOff { // realism off because QDRANTSIM_REALISM=off asked for it: fixed short transfers stand in for byte-rated ones
		o.TransferDelay, o.AutoRecoveryDelay = 50*time.Millisecond, 50*time.Millisecond
	}
	return o
}

func startSim(t *testing.T, opts qdrantsim.Options) *sim {
	t.Helper()
	c, err := qdrantsim.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &sim{c: c}
}

// podAddressBase returns a loopback base address for simulators on the
// fixed Qdrant ports (as Kubernetes discovery needs), distinct per process
// and per slot so parallel tests and test binaries do not collide. The
// second octet stays in 200-249, apart from other packages' simulators on
// fixed ports (internal/discovery uses 100-199). Slots 0-15 fill the
// last octet; slots 16-31 use second octets 250-255 the same way, apart
// from the first sixteen and still distinct per process.
func podAddressBase(slot int) string {
	pid := os.Getpid()
	if slot >= 16 {
		return fmt.Sprintf("127.%d.%d.%d", 250+pid%6, pid/6%250, 2+(slot-16)*16)
	}
	return fmt.Sprintf("127.%d.%d.%d", 200+pid%50, pid/50%250, 2+slot*16)
}

func (s *sim) peer0() *qdrantsim.Peer { return s.c.Peers()[0] }

// staticURLs are the --qdrant-url values of every peer (REST port, gRPC
// port in the query).
func (s *sim) staticURLs() []string {
	var out []string
	for _, p := range s.c.Peers() {
		out = append(out, p.URL()+"?grpc="+p.GRPCAddr())
	}
	return out
}

// discovery are the flags that find this cluster without Kubernetes.
func (s *sim) discovery() []string {
	out := []string{"--discovery=static"}
	for _, u := range s.staticURLs() {
		out = append(out, "--qdrant-url="+u)
	}
	return out
}

// recordedDiscovery is discovery through a proxy per peer that records
// every REST request, so a test can tell what the cluster was asked.
func (s *sim) recordedDiscovery(t *testing.T) ([]string, *recorder) {
	t.Helper()
	rec := &recorder{}
	out := []string{"--discovery=static"}
	for _, p := range s.c.Peers() {
		target, _ := url.Parse(p.URL())
		proxy := httputil.NewSingleHostReverseProxy(target)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec.add(r.Method + " " + r.URL.Path)
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		out = append(out, "--qdrant-url="+srv.URL+"?grpc="+p.GRPCAddr())
	}
	return out, rec
}

type recorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, s)
}

func (r *recorder) matching(substr string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.reqs {
		if strings.Contains(s, substr) {
			out = append(out, s)
		}
	}
	return out
}

func (s *sim) create(t *testing.T, name, body string) {
	t.Helper()
	var req qdrantsim.CreateCollection
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	if err := s.peer0().CreateCollection(context.Background(), name, req); err != nil {
		t.Fatalf("create collection %s: %v", name, err)
	}
}

// upsert writes n points from id `from` on; vector(i) is the point's
// vector as JSON.
func (s *sim) upsert(t *testing.T, coll string, from, n int, key *qdrantsim.ShardKey, vector func(i int) string) {
	t.Helper()
	var pts []qdrantsim.PointStruct
	for i := from; i < from+n; i++ {
		pts = append(pts, qdrantsim.PointStruct{ID: qdrantsim.NumID(uint64(i)), Vector: json.RawMessage(vector(i)),
			Payload: map[string]any{"i": i, "tag": fmt.Sprintf("t%d", i%5), "coll": coll}})
	}
	req := qdrantsim.UpsertRequest{Points: pts}
	if key != nil {
		req.ShardKey = qdrantsim.ShardKeySelector{*key}
	}
	if _, err := s.peer0().Upsert(context.Background(), coll, req); err != nil {
		t.Fatalf("upsert into %s: %v", coll, err)
	}
}

func (s *sim) shardKey(t *testing.T, coll string, key qdrantsim.ShardKey, shards, rf uint32) {
	t.Helper()
	err := s.peer0().CreateShardKey(context.Background(), coll, qdrantsim.CreateShardingKey{ShardKey: key, ShardsNumber: &shards, ReplicationFactor: &rf})
	if err != nil {
		t.Fatalf("create shard key %s of %s: %v", key, coll, err)
	}
}

func (s *sim) alias(t *testing.T, alias, coll string) {
	t.Helper()
	var actions []qdrantsim.AliasAction
	body := fmt.Sprintf(`[{"create_alias":{"collection_name":%q,"alias_name":%q}}]`, coll, alias)
	if err := json.Unmarshal([]byte(body), &actions); err != nil {
		t.Fatal(err)
	}
	if err := s.peer0().UpdateAliases(context.Background(), actions); err != nil {
		t.Fatalf("create alias %s: %v", alias, err)
	}
}

// loadMixed creates the collections every backup scenario carries: plain
// vectors with replication factor 2 and an alias, named vectors, and custom
// sharding with a string and a number shard key.
func (s *sim) loadMixed(t *testing.T) {
	t.Helper()
	s.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":3,"replication_factor":2}`)
	s.upsert(t, "docs", 1, 120, nil, func(i int) string { return fmt.Sprintf(`[%d,1,0.5,-1]`, i) })
	s.alias(t, "current", "docs")
	s.create(t, "images", `{"vectors":{"image":{"size":3,"distance":"Dot"},"text":{"size":2,"distance":"Euclid"}},"shard_number":2}`)
	s.upsert(t, "images", 1, 60, nil, func(i int) string { return fmt.Sprintf(`{"image":[%d,2,3],"text":[1,%d]}`, i, -i) })
	s.create(t, "tenants", `{"vectors":{"size":2,"distance":"Dot"},"sharding_method":"custom","shard_number":1,"replication_factor":2}`)
	eu, seven := qdrantsim.ShardKey{Str: "eu"}, qdrantsim.ShardKey{Num: 7, IsNum: true}
	s.shardKey(t, "tenants", eu, 1, 2)
	s.shardKey(t, "tenants", seven, 2, 1)
	s.upsert(t, "tenants", 1, 30, &eu, func(i int) string { return fmt.Sprintf(`[1,%d]`, i) })
	s.upsert(t, "tenants", 100, 40, &seven, func(i int) string { return fmt.Sprintf(`[%d,4]`, i) })
}

// points returns every point of coll (id → vector, payload and shard key
// as JSON), read by scrolling.
func (s *sim) points(t *testing.T, coll string) map[string]string {
	t.Helper()
	out := map[string]string{}
	limit := 100
	req := qdrantsim.ScrollRequest{Limit: &limit, WithPayload: json.RawMessage("true"), WithVector: json.RawMessage("true")}
	for {
		res, err := s.peer0().Scroll(context.Background(), coll, req)
		if err != nil {
			t.Fatalf("scroll %s: %v", coll, err)
		}
		for _, p := range res.Points {
			key := ""
			if p.ShardKey != nil {
				key = p.ShardKey.String()
			}
			var vec any
			_ = json.Unmarshal(p.Vector, &vec)
			b, _ := json.Marshal(map[string]any{"vector": vec, "payload": p.Payload, "shard_key": key})
			out[p.ID.String()] = string(b)
		}
		if res.NextPageOffset == nil {
			return out
		}
		req.Offset = res.NextPageOffset
	}
}

func (s *sim) collections(t *testing.T) []string {
	t.Helper()
	names, err := s.peer0().ListCollections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

// replica is one replica of a shard as consensus sees it.
type replica struct {
	Shard uint32 `json:"shard"`
	Key   string `json:"key,omitempty"`
	Peer  uint64 `json:"peer"`
	State string `json:"state"`
}

// replicas lists every replica of coll, sorted.
func (s *sim) replicas(t *testing.T, coll string) []replica {
	t.Helper()
	info, err := s.peer0().CollectionClusterInfo(context.Background(), coll)
	if err != nil {
		t.Fatalf("cluster info of %s: %v", coll, err)
	}
	var out []replica
	keyOf := func(k *qdrantsim.ShardKey) string {
		if k == nil {
			return ""
		}
		return k.String()
	}
	for _, l := range info.LocalShards {
		out = append(out, replica{Shard: l.ShardID, Key: keyOf(l.ShardKey), Peer: info.PeerID, State: l.State})
	}
	for _, r := range info.RemoteShards {
		out = append(out, replica{Shard: r.ShardID, Key: keyOf(r.ShardKey), Peer: r.PeerID, State: r.State})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Shard != out[j].Shard {
			return out[i].Shard < out[j].Shard
		}
		return out[i].Peer < out[j].Peer
	})
	return out
}

// state is everything a refused restore must leave as it was:
// collections, aliases, replica placement and states, every point.
func (s *sim) state(t *testing.T) string {
	t.Helper()
	aliases, err := s.peer0().ListAliases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(aliases, func(i, j int) bool { return aliases[i].AliasName < aliases[j].AliasName })
	st := map[string]any{"aliases": aliases}
	names := s.collections(t)
	st["collections"] = names
	for _, n := range names {
		st["replicas/"+n] = s.replicas(t, n)
		st["points/"+n] = s.points(t, n)
	}
	b, _ := json.Marshal(st)
	return string(b)
}

// assertSamePoints compares every point of two collections.
func assertSamePoints(t *testing.T, want, got map[string]string, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d points, want %d", what, len(got), len(want))
	}
	bad := 0
	for id, w := range want {
		if g, ok := got[id]; !ok || g != w {
			if bad < 3 {
				t.Errorf("%s: point %s is %s, want %s", what, id, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d points differ", what, bad, len(want))
	}
}

type routeFault = qdrantsim.RouteFault

// faultOn is a fault on one route, set up by set.
func faultOn(route string, set func(*routeFault)) qdrantsim.Faults {
	f := routeFault{Route: route}
	set(&f)
	return qdrantsim.Faults{Routes: []routeFault{f}}
}

func duration(d time.Duration) qdrantsim.Duration { return qdrantsim.Duration(d) }
