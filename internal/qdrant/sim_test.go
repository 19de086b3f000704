package qdrant

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/e2e/qdrantsim/openapi"
)

// simCluster starts an in-process simulated cluster with an API key and
// returns it with one Client per peer. Every REST exchange goes through
// the OpenAPI-validating transport, so the client's requests are checked
// against Qdrant's published contract, not only against the simulator.
func simCluster(t *testing.T, version string, peers int) (*qdrantsim.Cluster, []*Client) {
	t.Helper()
	sim, err := qdrantsim.Start(context.Background(), qdrantsim.Options{
		Peers: peers, Version: version, APIKey: testKey, Seed: 11,
		Tick: 10 * time.Millisecond, TransferDelay: 50 * time.Millisecond,
		PeerDownDelay: 60 * time.Millisecond, AutoRecoveryDelay: 40 * time.Millisecond,
		Realism: qdrantsim.RealismOr(qdrantsim.RealismDefault),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	v, err := openapi.New(version)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: openapi.NewTransport(t, v, defaultHTTPClient().Transport)}
	var clients []*Client
	for _, p := range sim.Peers() {
		c, err := New(context.Background(), PeerAddr{REST: p.URL(), GRPC: p.GRPCAddr()}, Options{APIKey: testKey, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		clients = append(clients, c)
	}
	return sim, clients
}

// loadPoints creates "docs" (3 shards, replication 2, two named vectors)
// and upserts n points through the simulator.
func loadPoints(t *testing.T, sim *qdrantsim.Cluster, c *Client, n int) {
	t.Helper()
	body := json.RawMessage(`{"vectors":{"text":{"size":4,"distance":"Dot"},"image":{"size":2,"distance":"Euclid"}},"shard_number":3,"replication_factor":2}`)
	if err := c.CreateCollection(ctx(t), "docs", body); err != nil {
		t.Fatal(err)
	}
	var pts []qdrantsim.PointStruct
	for i := range n {
		vec := fmt.Sprintf(`{"text":[%d,0.5,-1,0.25],"image":[%d,1]}`, i, -i)
		pts = append(pts, qdrantsim.PointStruct{ID: qdrantsim.NumID(uint64(i + 1)), Vector: json.RawMessage(vec),
			Payload: map[string]any{"i": i, "city": []string{"Oslo", "Lima", "Pune"}[i%3], "nested": map[string]any{"ok": i%2 == 0}}})
	}
	if _, err := sim.Peers()[0].Upsert(ctx(t), "docs", qdrantsim.UpsertRequest{Points: pts}); err != nil {
		t.Fatal(err)
	}
}

func TestSimClusterStatusMapsEveryPeer(t *testing.T) {
	sim, clients := simCluster(t, "1.19.0", 3)
	for i, c := range clients {
		v, err := c.Version(ctx(t))
		if err != nil || v != "1.19.0" {
			t.Fatalf("version %q %v", v, err)
		}
		s, err := c.Cluster(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if s.PeerID != sim.Peers()[i].ID() || !s.ConsensusWorking() || len(s.Peers) != 3 {
			t.Fatalf("peer %d: %+v", i, s)
		}
		for _, p := range sim.Peers() {
			if s.Peers[p.ID()] != p.P2PURI() {
				t.Errorf("peer %d uri %q, want %q", p.ID(), s.Peers[p.ID()], p.P2PURI())
			}
		}
	}
}

func TestSimShardSnapshotsStreamStoreDownloadAndRecover(t *testing.T) {
	sim, clients := simCluster(t, "1.19.0", 3)
	loadPoints(t, sim, clients[0], 300)
	byID := map[uint64]*Client{}
	for i, p := range sim.Peers() {
		byID[p.ID()] = clients[i]
	}

	info, err := clients[1].CollectionInfo(ctx(t), "docs")
	if err != nil {
		t.Fatal(err)
	}
	if info.ShardNumber != 3 || info.ReplicationFactor != 2 || info.ShardingMethod != "auto" {
		t.Fatalf("info %+v", info)
	}
	cc, err := clients[0].CollectionCluster(ctx(t), "docs")
	if err != nil {
		t.Fatal(err)
	}
	// Pick an Active replica of shard 0 and a peer without one.
	var src, dst uint64
	holders := map[uint64]bool{}
	for _, r := range cc.Replicas() {
		if r.ShardID == 0 {
			holders[r.PeerID] = true
			if r.State == StateActive && src == 0 {
				src = r.PeerID
			}
		}
	}
	for _, p := range sim.Peers() {
		if !holders[p.ID()] {
			dst = p.ID()
		}
	}
	if src == 0 || dst == 0 {
		t.Fatalf("placement %+v", cc.Replicas())
	}

	// Streamed snapshot: hash on the fly.
	rc, err := byID[src].StreamShardSnapshot(ctx(t), "docs", 0)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || streamed == 0 {
		t.Fatalf("stream: %d bytes, %v", streamed, err)
	}

	// Stored snapshot: the downloaded bytes match the peer's checksum,
	// also when resumed from an offset.
	d, err := byID[src].CreateShardSnapshot(ctx(t), "docs", 0)
	if err != nil {
		t.Fatal(err)
	}
	list, err := byID[src].ListShardSnapshots(ctx(t), "docs", 0)
	if err != nil || len(list) != 1 || list[0].Name != d.Name {
		t.Fatalf("list %+v %v", list, err)
	}
	h := sha256.New()
	first, err := byID[src].DownloadShardSnapshot(ctx(t), "docs", 0, d.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	half := d.Size / 2
	if _, err := io.CopyN(h, first, half); err != nil {
		t.Fatal(err)
	}
	first.Close()
	rest, err := byID[src].DownloadShardSnapshot(ctx(t), "docs", 0, d.Name, half)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(h, rest)
	rest.Close()
	if err != nil || half+n != d.Size {
		t.Fatalf("resumed download: %d+%d of %d, %v", half, n, d.Size, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); d.Checksum != "" && got != d.Checksum {
		t.Fatalf("downloaded sha %s, peer says %s", got, d.Checksum)
	}

	// Recover from the stored file name on the same peer.
	if err := byID[src].RecoverShard(ctx(t), "docs", 0, RecoverRequest{Location: d.Name, Priority: PriorityReplica, Checksum: d.Checksum}); err != nil {
		t.Fatalf("recover from file name: %v", err)
	}
	if err := byID[src].DeleteShardSnapshot(ctx(t), "docs", 0, d.Name); err != nil {
		t.Fatal(err)
	}
	if err := byID[src].DeleteShardSnapshot(ctx(t), "docs", 0, d.Name); !IsNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}

	// Upload a streamed snapshot to a peer without the shard, with its
	// checksum: it gains a replica. Two streams of the same data differ
	// (tar headers carry times), so the test keeps this small one in
	// memory to know its checksum first.
	rc, err = byID[src].StreamShardSnapshot(ctx(t), "docs", 0)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	err = byID[dst].UploadShardSnapshot(ctx(t), "docs", 0, bytes.NewReader(snap), UploadOptions{Priority: PriorityNoSync, Checksum: sha256Hex(string(snap))})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	cc, err = byID[dst].CollectionCluster(ctx(t), "docs")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range cc.LocalShards {
		found = found || s.ShardID == 0
	}
	if !found {
		t.Fatalf("peer %d has no replica of shard 0 after the upload: %+v", dst, cc)
	}

	// A wrong checksum is refused before anything changes.
	rc, _ = byID[src].StreamShardSnapshot(ctx(t), "docs", 0)
	err = byID[dst].UploadShardSnapshot(ctx(t), "docs", 0, rc, UploadOptions{Checksum: sha256Hex("other")})
	rc.Close()
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("wrong checksum: %v", err)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestSimTruncatedStreamIsDetected(t *testing.T) {
	sim, clients := simCluster(t, "1.19.0", 1)
	loadPoints(t, sim, clients[0], 50)
	cut := int64(1000)
	sim.Peers()[0].SetFaults(qdrantsim.Faults{Routes: []qdrantsim.RouteFault{{
		Route: "GET /collections/{collection_name}/shards/{shard_id}/snapshot", TruncateAfter: &cut,
	}}})
	rc, err := clients[0].StreamShardSnapshot(ctx(t), "docs", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after %d bytes: %v, want io.ErrUnexpectedEOF", n, err)
	}
}

func TestSimWrongKeyIsUnauthorizedOnBothTransports(t *testing.T) {
	sim, _ := simCluster(t, "1.19.0", 1)
	p := sim.Peers()[0]
	c, err := New(ctx(t), PeerAddr{REST: p.URL(), GRPC: p.GRPCAddr()}, Options{APIKey: "nope"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Version(ctx(t)); err != nil {
		t.Fatalf("GET / needs no key: %v", err)
	}
	if _, err := c.Cluster(ctx(t)); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("REST: %v", err)
	}
	if _, err := c.ListCollections(ctx(t)); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("gRPC: %v", err)
	}
}

func TestSimGRPCReadsAliasesCountsAndScrollsIdenticallyOnEveryPeer(t *testing.T) {
	sim, clients := simCluster(t, "1.19.0", 3)
	loadPoints(t, sim, clients[0], 120)
	if err := clients[1].UpdateAliases(ctx(t), []AliasAction{CreateAlias("current", "docs")}); err != nil {
		t.Fatal(err)
	}
	al, err := clients[2].ListAliases(ctx(t))
	if err != nil || al["current"] != "docs" {
		t.Fatalf("aliases %v %v", al, err)
	}
	names, err := clients[2].ListCollections(ctx(t))
	if err != nil || len(names) != 1 || names[0] != "docs" {
		t.Fatalf("collections %v %v", names, err)
	}
	var sums []map[string]string
	for _, c := range clients {
		n, err := c.Count(ctx(t), "docs", true, nil)
		if err != nil || n != 120 {
			t.Fatalf("count %d %v", n, err)
		}
		sum := map[string]string{}
		var off *PointID
		for {
			pts, next, err := c.Scroll(ctx(t), "docs", 50, off, true, true)
			if err != nil {
				t.Fatal(err)
			}
			for i := range pts {
				if len(pts[i].Vectors) != 2 || pts[i].Payload["city"] == nil {
					t.Fatalf("point %+v", pts[i])
				}
				sum[pts[i].ID.String()] = ContentHash(&pts[i])
			}
			if next == nil {
				break
			}
			off = next
		}
		if len(sum) != 120 {
			t.Fatalf("scrolled %d points", len(sum))
		}
		sums = append(sums, sum)
	}
	for i := 1; i < len(sums); i++ {
		for id, h := range sums[0] {
			if sums[i][id] != h {
				t.Fatalf("point %s hashes differently on peer %d", id, i)
			}
		}
	}
}

func TestSimClusterSetupMovesAShard(t *testing.T) {
	sim, clients := simCluster(t, "1.19.0", 3)
	loadPoints(t, sim, clients[0], 30)
	cc, err := clients[0].CollectionCluster(ctx(t), "docs")
	if err != nil {
		t.Fatal(err)
	}
	holders := map[uint64]bool{}
	for _, r := range cc.Replicas() {
		if r.ShardID == 1 {
			holders[r.PeerID] = true
		}
	}
	var from, to uint64
	for _, p := range sim.Peers() {
		if holders[p.ID()] && from == 0 {
			from = p.ID()
		} else if !holders[p.ID()] {
			to = p.ID()
		}
	}
	if err := clients[0].ReplicateShard(ctx(t), "docs", 1, from, to); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cc, err := clients[0].CollectionCluster(ctx(t), "docs")
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for _, r := range cc.Replicas() {
			if r.ShardID == 1 && r.State == StateActive {
				active++
			}
		}
		if active == 3 && len(cc.ShardTransfers) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replication did not finish: %+v", cc)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := clients[1].DropReplica(ctx(t), "docs", 1, to); err != nil {
		t.Fatal(err)
	}
	if err := clients[1].MoveShard(ctx(t), "nope", 1, from, to); !IsNotFound(err) {
		t.Fatalf("move in a missing collection: %v", err)
	}
}

func TestSimWriteLockExistsOn115Only(t *testing.T) {
	_, old := simCluster(t, "1.15.0", 1)
	ok, err := old[0].WriteLockSupported(ctx(t))
	if err != nil || !ok {
		t.Fatalf("1.15: %v %v", ok, err)
	}
	if err := old[0].LockWrites(ctx(t), "qbackup"); err != nil {
		t.Fatal(err)
	}
	if locked, err := old[0].WritesLocked(ctx(t)); err != nil || !locked {
		t.Fatalf("locked %v %v", locked, err)
	}
	if err := old[0].UnlockWrites(ctx(t)); err != nil {
		t.Fatal(err)
	}
	_, cur := simCluster(t, "1.19.0", 1)
	// /locks is not in the 1.19 document: the probe is off-contract on purpose.
	ok, err = cur[0].WriteLockSupported(openapi.ExpectInvalidRequest(ctx(t)))
	if err != nil || ok {
		t.Fatalf("1.19: %v %v", ok, err)
	}
}

func TestSimRecordedConfigRecreatesTheSameCollection(t *testing.T) {
	for _, version := range []string{"1.15.0", "1.19.0"} {
		t.Run(version, func(t *testing.T) {
			_, clients := simCluster(t, version, 2)
			c := clients[0]
			orig := json.RawMessage(`{"vectors":{"text":{"size":8,"distance":"Cosine","on_disk":true},"image":{"size":4,"distance":"Dot"}},
				"sparse_vectors":{"kw":{"modifier":"idf"}},"shard_number":4,"replication_factor":2,"write_consistency_factor":2,
				"on_disk_payload":false,"hnsw_config":{"m":32,"ef_construct":200},"optimizers_config":{"indexing_threshold":5000},
				"wal_config":{"wal_capacity_mb":64},"quantization_config":{"scalar":{"type":"int8","quantile":0.95,"always_ram":true}}}`)
			if err := c.CreateCollection(ctx(t), "src", orig); err != nil {
				t.Fatal(err)
			}
			if err := c.CreatePayloadIndex(ctx(t), "src", "city", json.RawMessage(`"keyword"`)); err != nil {
				t.Fatalf("payload index: %v", err)
			}
			info, err := c.CollectionInfo(ctx(t), "src")
			if err != nil {
				t.Fatal(err)
			}
			body, dropped, err := CreateCollectionBody(info.Config, CreateOverrides{})
			if err != nil {
				t.Fatal(err)
			}
			if len(dropped) > 0 {
				t.Logf("not carried over: %v", dropped)
			}
			if err := clients[1].CreateCollection(ctx(t), "copy", body); err != nil {
				t.Fatal(err)
			}
			var schema map[string]json.RawMessage
			if err := json.Unmarshal(info.PayloadSchema, &schema); err != nil {
				t.Fatal(err)
			}
			for field, entry := range schema {
				s, err := PayloadIndexSchema(entry)
				if err != nil {
					t.Fatal(err)
				}
				if err := clients[1].CreatePayloadIndex(ctx(t), "copy", field, s); err != nil {
					t.Fatal(err)
				}
			}
			copied, err := c.CollectionInfo(ctx(t), "copy")
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, info.Config, copied.Config) {
				t.Fatalf("configs differ:\n%s\n%s", info.Config, copied.Config)
			}
			if !jsonEqual(t, info.PayloadSchema, copied.PayloadSchema) {
				t.Fatalf("payload schemas differ:\n%s\n%s", info.PayloadSchema, copied.PayloadSchema)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func TestSimReadOnlyKeyIsForbiddenToSnapshot(t *testing.T) {
	sim, err := qdrantsim.Start(context.Background(), qdrantsim.Options{Peers: 1, APIKey: testKey, ReadOnlyAPIKey: "ro-key", Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	p := sim.Peers()[0]
	admin, err := New(ctx(t), PeerAddr{REST: p.URL(), GRPC: p.GRPCAddr()}, Options{APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	loadPoints(t, sim, admin, 10)
	ro, err := New(ctx(t), PeerAddr{REST: p.URL(), GRPC: p.GRPCAddr()}, Options{APIKey: "ro-key"})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.CollectionCluster(ctx(t), "docs"); err != nil {
		t.Fatalf("a read-only key may read: %v", err)
	}
	_, err = ro.StreamShardSnapshot(ctx(t), "docs", 0)
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "read-only key") || strings.Contains(err.Error(), "ro-key") {
		t.Fatalf("stream with a read-only key: %v", err)
	}
}

func TestSimCustomShardingKeysCountAndScroll(t *testing.T) {
	sim, clients := simCluster(t, "1.19.0", 3)
	c := clients[0]
	body := json.RawMessage(`{"vectors":{"size":2,"distance":"Dot"},"sharding_method":"custom","shard_number":2,"replication_factor":1}`)
	if err := c.CreateCollection(ctx(t), "tenants", body); err != nil {
		t.Fatal(err)
	}
	keyA, key7 := StringKey("tenant-a"), NumberKey(7)
	var peers []uint64
	for _, p := range sim.Peers() {
		peers = append(peers, p.ID())
	}
	if err := c.CreateShardKey(ctx(t), "tenants", keyA, 2, 1, peers[:2]); err != nil {
		t.Fatal(err)
	}
	if err := clients[1].CreateShardKey(ctx(t), "tenants", key7, 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	for i, k := range []qdrantsim.ShardKey{{Str: "tenant-a"}, {Num: 7, IsNum: true}} {
		var pts []qdrantsim.PointStruct
		for j := range 10 * (i + 1) {
			pts = append(pts, qdrantsim.PointStruct{ID: qdrantsim.NumID(uint64(100*i + j + 1)), Vector: json.RawMessage(`[1,2]`)})
		}
		if _, err := sim.Peers()[0].Upsert(ctx(t), "tenants", qdrantsim.UpsertRequest{Points: pts, ShardKey: qdrantsim.ShardKeySelector{k}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		key  *ShardKey
		want uint64
	}{{&keyA, 10}, {&key7, 20}, {nil, 30}} {
		n, err := clients[2].Count(ctx(t), "tenants", true, tc.key)
		if err != nil || n != tc.want {
			t.Fatalf("count %v: %d %v, want %d", tc.key, n, err, tc.want)
		}
	}
	pts, _, err := clients[2].Scroll(ctx(t), "tenants", 100, nil, false, false)
	if err != nil || len(pts) != 30 {
		t.Fatalf("scroll %d %v", len(pts), err)
	}
	for _, p := range pts {
		want := keyA
		if p.ID.Num > 100 {
			want = key7
		}
		if p.ShardKey == nil || !p.ShardKey.Equal(want) {
			t.Fatalf("point %s shard key %v, want %v", p.ID, p.ShardKey, want)
		}
	}
	cc, err := c.CollectionCluster(ctx(t), "tenants")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, r := range cc.Replicas() {
		if r.ShardKey == nil {
			t.Fatalf("replica without shard key %+v", r)
		}
		keys[r.ShardKey.String()]++
	}
	if keys["tenant-a"] != 2 || keys["7"] != 1 || cc.ShardCount != 3 {
		t.Fatalf("replicas by key %v, shard count %d", keys, cc.ShardCount)
	}
}

// A scroll page above grpc-go's default 4 MiB receive limit arrives.
func TestSimGRPCScrollsPagesLargerThanFourMiB(t *testing.T) {
	sim, clients := simCluster(t, "1.19.0", 1)
	c := clients[0]
	const dim, n = 4096, 300 // 300 × 4096 float32 ≈ 4.9 MB of vectors
	body := json.RawMessage(fmt.Sprintf(`{"vectors":{"size":%d,"distance":"Dot"},"shard_number":1}`, dim))
	if err := c.CreateCollection(ctx(t), "big", body); err != nil {
		t.Fatal(err)
	}
	vec := make([]float32, dim)
	for i := range vec {
		vec[i] = float32(i) / dim
	}
	raw, _ := json.Marshal(vec)
	var pts []qdrantsim.PointStruct
	for i := range n {
		pts = append(pts, qdrantsim.PointStruct{ID: qdrantsim.NumID(uint64(i + 1)), Vector: json.RawMessage(raw)})
	}
	if _, err := sim.Peers()[0].Upsert(ctx(t), "big", qdrantsim.UpsertRequest{Points: pts}); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Scroll(ctx(t), "big", n, nil, true, false)
	if err != nil {
		t.Fatalf("scroll one page of %d points: %v", n, err)
	}
	if len(got) != n || len(got[0].Vectors[""].Dense) != dim {
		t.Fatalf("scrolled %d points, want %d of %d dimensions", len(got), n, dim)
	}
}
