package qdrantsim_test

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// startSim starts an in-process simulator with fast background timers.
func startSim(t *testing.T, opts qdrantsim.Options) *qdrantsim.Cluster {
	t.Helper()
	if opts.Seed == 0 {
		opts.Seed = 11
	}
	opts.Tick = 10 * time.Millisecond
	opts.TransferDelay = 100 * time.Millisecond
	c, err := qdrantsim.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// grpcClient connects the official Go client to one peer, as the product
// does.
func grpcClient(t *testing.T, p *qdrantsim.Peer, apiKey string) *qdrant.Client {
	t.Helper()
	host, portText, err := net.SplitHostPort(p.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	c, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: port, APIKey: apiKey, PoolSize: 1})
	if err != nil {
		t.Fatalf("connect to %s: %v", p.GRPCAddr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantCode(t *testing.T, err error, code codes.Code, msgPart string) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("error %v: code %s, want %s", err, got, code)
	}
	if msgPart != "" && !strings.Contains(status.Convert(errorsUnwrapAll(err)).Message(), msgPart) {
		t.Fatalf("error %v: message does not contain %q", err, msgPart)
	}
}

// errorsUnwrapAll digs out the gRPC status the client wraps.
func errorsUnwrapAll(err error) error {
	for {
		if _, ok := status.FromError(err); ok {
			return err
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

const uuidA = "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"
const uuidB = "0d1e8a4c-2b7f-4f44-9a55-3c1e0f7a9b10"

func TestOfficialGoClientAgainstSimulator(t *testing.T) {
	for _, version := range []string{"1.15.0", "1.19.0"} {
		t.Run(version, func(t *testing.T) {
			sim := startSim(t, qdrantsim.Options{Peers: 3, Version: version})
			peer := sim.Peers()[1]
			c := grpcClient(t, peer, "")
			ctx := context.Background()

			health, err := c.HealthCheck(ctx)
			if err != nil || health.GetVersion() != version || health.GetTitle() != "qdrant - vector search engine" {
				t.Fatalf("health check: %v, %v", health, err)
			}

			err = c.CreateCollection(ctx, &qdrant.CreateCollection{
				CollectionName: "items",
				VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
					"image": {Size: 4, Distance: qdrant.Distance_Cosine},
					"text":  {Size: 2, Distance: qdrant.Distance_Dot},
				}),
				ShardNumber:       qdrant.PtrOf(uint32(3)),
				ReplicationFactor: qdrant.PtrOf(uint32(2)),
			})
			if err != nil {
				t.Fatalf("create collection: %v", err)
			}
			err = c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "items",
				VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Cosine})})
			wantCode(t, err, codes.AlreadyExists, "Wrong input: Collection `items` already exists!")

			if ok, err := c.CollectionExists(ctx, "items"); err != nil || !ok {
				t.Fatalf("collection exists: %v, %v", ok, err)
			}
			if names, err := c.ListCollections(ctx); err != nil || !slices.Equal(names, []string{"items"}) {
				t.Fatalf("list collections: %v, %v", names, err)
			}
			info, err := c.GetCollectionInfo(ctx, "items")
			if err != nil {
				t.Fatalf("collection info: %v", err)
			}
			params := info.GetConfig().GetParams()
			if params.GetShardNumber() != 3 || params.GetReplicationFactor() != 2 || info.GetStatus() != qdrant.CollectionStatus_Green {
				t.Errorf("collection params: %v", params)
			}
			if m := params.GetVectorsConfig().GetParamsMap().GetMap(); m["image"].GetSize() != 4 || m["text"].GetDistance() != qdrant.Distance_Dot {
				t.Errorf("vectors config: %v", params.GetVectorsConfig())
			}

			// 20 numeric ids and two UUIDs, named vectors, payloads.
			var points []*qdrant.PointStruct
			for i := 1; i <= 20; i++ {
				points = append(points, &qdrant.PointStruct{
					Id: qdrant.NewIDNum(uint64(i)),
					Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
						"image": qdrant.NewVector(float32(i), 0, 0, 1),
						"text":  qdrant.NewVector(1, float32(i)),
					}),
					Payload: qdrant.NewValueMap(map[string]any{"n": i, "city": []string{"Berlin", "Paris"}[i%2], "ratio": 0.5}),
				})
			}
			for _, u := range []string{uuidA, uuidB} {
				points = append(points, &qdrant.PointStruct{
					Id: qdrant.NewID(u),
					Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
						"image": qdrant.NewVector(1, 2, 3, 4), "text": qdrant.NewVector(5, 6)}),
					Payload: qdrant.NewValueMap(map[string]any{"kind": "uuid", "nested": map[string]any{"ok": true}}),
				})
			}
			res, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "items", Wait: qdrant.PtrOf(true), Points: points})
			if err != nil || res.GetStatus() != qdrant.UpdateStatus_Completed {
				t.Fatalf("upsert: %v, %v", res, err)
			}
			_, err = c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "items", Points: []*qdrant.PointStruct{{
				Id: qdrant.NewIDNum(99), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"image": qdrant.NewVector(1, 2)})}}})
			wantCode(t, err, codes.InvalidArgument, "Vector dimension error")

			if n, err := c.Count(ctx, &qdrant.CountPoints{CollectionName: "items", Exact: qdrant.PtrOf(true)}); err != nil || n != 22 {
				t.Fatalf("count: %d, %v; want 22", n, err)
			}
			n, err := c.Count(ctx, &qdrant.CountPoints{CollectionName: "items", Exact: qdrant.PtrOf(true),
				Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatch("city", "Berlin")}}})
			if err != nil || n != 10 {
				t.Fatalf("count Berlin: %d, %v; want 10", n, err)
			}
			n, err = c.Count(ctx, &qdrant.CountPoints{CollectionName: "items",
				Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchInt("n", 7)}}})
			if err != nil || n != 1 {
				t.Fatalf("count n=7: %d, %v; want 1", n, err)
			}

			// Scroll pages in Qdrant's order: numeric ids, then UUIDs in byte order.
			var seen []string
			var offset *qdrant.PointId
			for page := 0; page < 5; page++ {
				got, next, err := c.ScrollAndOffset(ctx, &qdrant.ScrollPoints{CollectionName: "items", Limit: qdrant.PtrOf(uint32(8)),
					Offset: offset, WithPayload: qdrant.NewWithPayload(true), WithVectors: qdrant.NewWithVectors(true)})
				if err != nil {
					t.Fatalf("scroll: %v", err)
				}
				for _, p := range got {
					seen = append(seen, idText(p.GetId()))
					if p.GetVectors().GetVectors().GetVectors()["image"].GetDenseVector() == nil {
						t.Errorf("point %s came back without its image vector", idText(p.GetId()))
					}
				}
				if next == nil {
					break
				}
				offset = next
			}
			want := []string{}
			for i := 1; i <= 20; i++ {
				want = append(want, strconv.Itoa(i))
			}
			want = append(want, uuidB, uuidA)
			if !slices.Equal(seen, want) {
				t.Errorf("scrolled ids = %v\nwant %v", seen, want)
			}

			got, err := c.Get(ctx, &qdrant.GetPoints{CollectionName: "items",
				Ids:         []*qdrant.PointId{qdrant.NewIDNum(7), qdrant.NewID(uuidA), qdrant.NewIDNum(1234)},
				WithPayload: qdrant.NewWithPayload(true), WithVectors: qdrant.NewWithVectorsInclude("text")})
			if err != nil || len(got) != 2 {
				t.Fatalf("get: %v, %v; want 2 points", got, err)
			}
			if p := got[0]; p.GetPayload()["n"].GetIntegerValue() != 7 || p.GetPayload()["ratio"].GetDoubleValue() != 0.5 ||
				p.GetPayload()["city"].GetStringValue() != "Paris" {
				t.Errorf("payload of 7: %v", p.GetPayload())
			}
			if v := got[0].GetVectors().GetVectors().GetVectors(); len(v) != 1 || !slices.Equal(v["text"].GetDenseVector().GetData(), []float32{1, 7}) {
				t.Errorf("vectors of 7 with only text selected: %v", v)
			}
			if p := got[1]; idText(p.GetId()) != uuidA || !p.GetPayload()["nested"].GetStructValue().GetFields()["ok"].GetBoolValue() {
				t.Errorf("uuid point: %v", p)
			}

			if _, err := c.Delete(ctx, &qdrant.DeletePoints{CollectionName: "items", Wait: qdrant.PtrOf(true),
				Points: qdrant.NewPointsSelector(qdrant.NewIDNum(1), qdrant.NewID(uuidB))}); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if n, err := c.Count(ctx, &qdrant.CountPoints{CollectionName: "items"}); err != nil || n != 20 {
				t.Fatalf("count after delete: %d, %v; want 20", n, err)
			}

			// Aliases.
			if err := c.CreateAlias(ctx, "current", "items"); err != nil {
				t.Fatalf("create alias: %v", err)
			}
			if err := c.RenameAlias(ctx, "current", "live"); err != nil {
				t.Fatalf("rename alias: %v", err)
			}
			if names, err := c.ListCollectionAliases(ctx, "items"); err != nil || !slices.Equal(names, []string{"live"}) {
				t.Fatalf("collection aliases: %v, %v", names, err)
			}
			all, err := c.ListAliases(ctx)
			if err != nil || len(all) != 1 || all[0].GetAliasName() != "live" || all[0].GetCollectionName() != "items" {
				t.Fatalf("aliases: %v, %v", all, err)
			}
			if n, err := c.Count(ctx, &qdrant.CountPoints{CollectionName: "live"}); err != nil || n != 20 {
				t.Fatalf("count through alias: %d, %v", n, err)
			}
			if err := c.DeleteAlias(ctx, "live"); err != nil {
				t.Fatalf("delete alias: %v", err)
			}
			err = c.DeleteAlias(ctx, "live")
			wantCode(t, err, codes.NotFound, "")

			// Cluster view from the peer the client talks to.
			cl, err := c.GetCollectionClusterInfo(ctx, "items")
			if err != nil {
				t.Fatalf("cluster info: %v", err)
			}
			if cl.GetPeerId() != peer.ID() || cl.GetShardCount() != 3 || len(cl.GetLocalShards())+len(cl.GetRemoteShards()) != 6 {
				t.Errorf("cluster info: %v", cl)
			}
			for _, l := range cl.GetLocalShards() {
				if l.GetState() != qdrant.ReplicaState_Active {
					t.Errorf("local shard %d is %s", l.GetShardId(), l.GetState())
				}
			}

			_, err = c.GetCollectionInfo(ctx, "missing")
			wantCode(t, err, codes.NotFound, "Not found: Collection `missing` doesn't exist!")
			if err := c.DeleteCollection(ctx, "items"); err != nil {
				t.Fatalf("delete collection: %v", err)
			}
			if ok, err := c.CollectionExists(ctx, "items"); err != nil || ok {
				t.Fatalf("exists after delete: %v, %v", ok, err)
			}
		})
	}
}

func idText(id *qdrant.PointId) string {
	if u := id.GetUuid(); u != "" {
		return u
	}
	return strconv.FormatUint(id.GetNum(), 10)
}

func TestGRPCShardKeysAndClusterSetup(t *testing.T) {
	sim := startSim(t, qdrantsim.Options{Peers: 3, Version: "1.19.0"})
	peers := sim.Peers()
	c := grpcClient(t, peers[0], "")
	ctx := context.Background()

	err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "tenants",
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Euclid}),
		ShardingMethod: qdrant.ShardingMethod_Custom.Enum(), ShardNumber: qdrant.PtrOf(uint32(1))})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	placement := []uint64{peers[2].ID()}
	if err := c.CreateShardKey(ctx, "tenants", &qdrant.CreateShardKey{ShardKey: qdrant.NewShardKey("acme"), Placement: placement}); err != nil {
		t.Fatalf("create shard key: %v", err)
	}
	if err := c.CreateShardKey(ctx, "tenants", &qdrant.CreateShardKey{ShardKey: qdrant.NewShardKeyNum(7)}); err != nil {
		t.Fatalf("create numeric shard key: %v", err)
	}
	_, err = c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "tenants", Wait: qdrant.PtrOf(true),
		Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(1, 2)}}})
	wantCode(t, err, codes.InvalidArgument, "Shard key not specified")
	_, err = c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "tenants", Wait: qdrant.PtrOf(true),
		ShardKeySelector: &qdrant.ShardKeySelector{ShardKeys: []*qdrant.ShardKey{qdrant.NewShardKey("acme")}},
		Points:           []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(1, 2)}, {Id: qdrant.NewIDNum(2), Vectors: qdrant.NewVectors(3, 4)}}})
	if err != nil {
		t.Fatalf("upsert with shard key: %v", err)
	}
	n, err := c.Count(ctx, &qdrant.CountPoints{CollectionName: "tenants",
		ShardKeySelector: &qdrant.ShardKeySelector{ShardKeys: []*qdrant.ShardKey{qdrant.NewShardKeyNum(7)}}})
	if err != nil || n != 0 {
		t.Fatalf("count in key 7: %d, %v; want 0", n, err)
	}
	pts, err := c.Scroll(ctx, &qdrant.ScrollPoints{CollectionName: "tenants"})
	if err != nil || len(pts) != 2 || pts[0].GetShardKey().GetKeyword() != "acme" {
		t.Fatalf("scroll: %v, %v; want 2 points with shard key acme", pts, err)
	}
	keys, err := c.ListShardKeys(ctx, "tenants")
	if err != nil || len(keys) != 2 {
		t.Fatalf("list shard keys: %v, %v", keys, err)
	}

	cl, err := c.GetCollectionClusterInfo(ctx, "tenants")
	if err != nil {
		t.Fatal(err)
	}
	var acme *qdrant.RemoteShardInfo
	for _, r := range cl.GetRemoteShards() {
		if r.GetShardKey().GetKeyword() == "acme" {
			acme = r
		}
	}
	if acme == nil || acme.GetPeerId() != peers[2].ID() {
		t.Fatalf("shard of acme not on the placed peer: %v", cl)
	}

	// Replicate acme's shard to peer 1 and watch the transfer finish.
	err = c.UpdateClusterCollectionSetup(ctx, qdrant.NewUpdateCollectionClusterReplicateShard("tenants", &qdrant.ReplicateShard{
		ShardId: acme.GetShardId(), FromPeerId: peers[2].ID(), ToPeerId: peers[1].ID()}))
	if err != nil {
		t.Fatalf("replicate shard: %v", err)
	}
	err = c.UpdateClusterCollectionSetup(ctx, qdrant.NewUpdateCollectionClusterReplicateShard("tenants", &qdrant.ReplicateShard{
		ShardId: 999, FromPeerId: peers[2].ID(), ToPeerId: peers[1].ID()}))
	wantCode(t, err, codes.InvalidArgument, "does not exist")
	deadline := time.Now().Add(5 * time.Second)
	for {
		cl, err = grpcClient(t, peers[1], "").GetCollectionClusterInfo(ctx, "tenants")
		if err != nil {
			t.Fatal(err)
		}
		active := false
		for _, l := range cl.GetLocalShards() {
			active = active || (l.GetShardId() == acme.GetShardId() && l.GetState() == qdrant.ReplicaState_Active && l.GetPointsCount() == 2)
		}
		if active && len(cl.GetShardTransfers()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica never became Active on peer %d: %v", peers[1].ID(), cl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	err = c.UpdateClusterCollectionSetup(ctx, qdrant.NewUpdateCollectionClusterDropReplica("tenants", &qdrant.Replica{
		ShardId: acme.GetShardId(), PeerId: peers[2].ID()}))
	if err != nil {
		t.Fatalf("drop replica: %v", err)
	}
	if err := c.DeleteShardKey(ctx, "tenants", &qdrant.DeleteShardKey{ShardKey: qdrant.NewShardKeyNum(7)}); err != nil {
		t.Fatalf("delete shard key: %v", err)
	}
	if keys, err := c.ListShardKeys(ctx, "tenants"); err != nil || len(keys) != 1 {
		t.Fatalf("shard keys after delete: %v, %v", keys, err)
	}
}

func TestGRPCAuthentication(t *testing.T) {
	sim := startSim(t, qdrantsim.Options{Peers: 1, Version: "1.19.0", APIKey: "secret", ReadOnlyAPIKey: "reader"})
	p := sim.Peers()[0]
	ctx := context.Background()
	create := &qdrant.CreateCollection{CollectionName: "c",
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}

	tests := []struct {
		name string
		key  string
		call func(c *qdrant.Client) error
		code codes.Code
		msg  string
	}{
		{name: "health check needs no key", call: func(c *qdrant.Client) error { _, err := c.HealthCheck(ctx); return err }, code: codes.OK},
		{name: "missing key is unauthenticated", call: func(c *qdrant.Client) error { _, err := c.ListCollections(ctx); return err },
			code: codes.Unauthenticated, msg: "Must provide an API key"},
		{name: "wrong key is unauthenticated", key: "guess", call: func(c *qdrant.Client) error { _, err := c.ListCollections(ctx); return err },
			code: codes.Unauthenticated, msg: "Invalid API key or JWT"},
		{name: "read-only key may read", key: "reader", call: func(c *qdrant.Client) error { _, err := c.ListCollections(ctx); return err }, code: codes.OK},
		{name: "read-only key may not write", key: "reader", call: func(c *qdrant.Client) error { return c.CreateCollection(ctx, create) },
			code: codes.PermissionDenied, msg: "Forbidden: "},
		{name: "full key may write", key: "secret", call: func(c *qdrant.Client) error { return c.CreateCollection(ctx, create) }, code: codes.OK},
		{name: "read-only key may not upsert", key: "reader", call: func(c *qdrant.Client) error {
			_, err := c.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(1, 2)}}})
			return err
		}, code: codes.PermissionDenied},
		{name: "read-only key may count", key: "reader", call: func(c *qdrant.Client) error {
			_, err := c.Count(ctx, &qdrant.CountPoints{CollectionName: "c"})
			return err
		}, code: codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(grpcClient(t, p, tt.key))
			if tt.code == codes.OK {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			wantCode(t, err, tt.code, tt.msg)
		})
	}
}

func TestGRPCStoppedPeerRefusesConnections(t *testing.T) {
	sim := startSim(t, qdrantsim.Options{Peers: 2, Version: "1.17.0"})
	p := sim.Peers()[1]
	c := grpcClient(t, p, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.ListCollections(ctx); err != nil {
		t.Fatalf("before stop: %v", err)
	}
	p.Stop()
	if _, err := c.ListCollections(ctx); status.Code(err) != codes.Unavailable {
		t.Fatalf("after stop: %v, want Unavailable", err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The client reconnects to the same address once the peer is back.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.ListCollections(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGRPCAndRESTSeeTheSamePoints writes over each protocol and reads over
// the other: ids, vectors and payload values (integers, doubles, nested
// objects, lists, null) must round-trip unchanged.
func TestGRPCAndRESTSeeTheSamePoints(t *testing.T) {
	sim := startSim(t, qdrantsim.Options{Peers: 2, Version: "1.19.0"})
	peer := sim.Peers()[0]
	g := grpcClient(t, peer, "")
	hc, _ := validatingClient(t, "1.19.0")
	r := rest{t: t, client: hc}.on(peer)
	ctx := context.Background()

	r.ok("PUT", "/collections/mixed", map[string]any{"vectors": map[string]any{"size": 3, "distance": "Cosine"}, "shard_number": 2})
	payload := map[string]any{"int": 42, "float": 1.25, "text": "x", "flag": true, "none": nil,
		"list": []any{1, "two", 3.5}, "obj": map[string]any{"deep": map[string]any{"n": -7}}}
	if _, err := g.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "mixed", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(0.5, 0.25, 0.125), Payload: qdrant.NewValueMap(payload)},
	}}); err != nil {
		t.Fatalf("grpc upsert: %v", err)
	}
	r.ok("PUT", "/collections/mixed/points?wait=true", map[string]any{"points": []any{
		map[string]any{"id": uuidA, "vector": []float32{1, 2, 3}, "payload": payload}}})

	var viaREST struct {
		ID      any            `json:"id"`
		Vector  []float32      `json:"vector"`
		Payload map[string]any `json:"payload"`
	}
	r.do("GET", "/collections/mixed/points/1", nil).decode(t, &viaREST)
	wantPayload, _ := json.Marshal(payload)
	gotPayload, _ := json.Marshal(viaREST.Payload)
	if string(gotPayload) != string(wantPayload) || !slices.Equal(viaREST.Vector, []float32{0.5, 0.25, 0.125}) {
		t.Errorf("written over gRPC, read over REST: vector %v payload %s\nwant payload %s", viaREST.Vector, gotPayload, wantPayload)
	}

	got, err := g.Get(ctx, &qdrant.GetPoints{CollectionName: "mixed", Ids: []*qdrant.PointId{qdrant.NewID(uuidA)},
		WithPayload: qdrant.NewWithPayload(true), WithVectors: qdrant.NewWithVectors(true)})
	if err != nil || len(got) != 1 {
		t.Fatalf("grpc get: %v, %v", got, err)
	}
	p := got[0]
	pl := p.GetPayload()
	if pl["int"].GetIntegerValue() != 42 || pl["float"].GetDoubleValue() != 1.25 || pl["text"].GetStringValue() != "x" ||
		!pl["flag"].GetBoolValue() || len(pl["list"].GetListValue().GetValues()) != 3 ||
		pl["obj"].GetStructValue().GetFields()["deep"].GetStructValue().GetFields()["n"].GetIntegerValue() != -7 {
		t.Errorf("written over REST, read over gRPC: payload %v", pl)
	}
	if v := p.GetVectors().GetVector().GetDenseVector().GetData(); !slices.Equal(v, []float32{1, 2, 3}) {
		t.Errorf("written over REST, read over gRPC: vector %v", v)
	}
	if _, ok := pl["none"].GetKind().(*qdrant.Value_NullValue); !ok {
		t.Errorf("null payload value came back as %v", pl["none"])
	}

	r.ok("PUT", "/collections/mixed/index?wait=true", map[string]any{"field_name": "text", "field_schema": "keyword"})
	info, err := g.GetCollectionInfo(ctx, "mixed")
	if err != nil {
		t.Fatal(err)
	}
	if idx := info.GetPayloadSchema()["text"]; idx.GetDataType() != qdrant.PayloadSchemaType_Keyword || idx.GetPoints() != 2 {
		t.Errorf("payload index seen over gRPC: %v", idx)
	}
}

func TestGRPCUpdateCollection(t *testing.T) {
	sim := startSim(t, qdrantsim.Options{Peers: 2, Version: "1.19.0"})
	c := grpcClient(t, sim.Peers()[0], "")
	ctx := context.Background()
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "u",
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 3, Distance: qdrant.Distance_Cosine})}); err != nil {
		t.Fatal(err)
	}
	err := c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: "u",
		Params:           &qdrant.CollectionParamsDiff{ReplicationFactor: qdrant.PtrOf(uint32(2))},
		HnswConfig:       &qdrant.HnswConfigDiff{M: qdrant.PtrOf(uint64(32))},
		OptimizersConfig: &qdrant.OptimizersConfigDiff{IndexingThreshold: qdrant.PtrOf(uint64(5000))},
		VectorsConfig: &qdrant.VectorsConfigDiff{Config: &qdrant.VectorsConfigDiff_Params{
			Params: &qdrant.VectorParamsDiff{OnDisk: qdrant.PtrOf(true)}}},
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	info, err := c.GetCollectionInfo(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.GetConfig()
	if cfg.GetParams().GetReplicationFactor() != 2 || cfg.GetHnswConfig().GetM() != 32 ||
		cfg.GetOptimizerConfig().GetIndexingThreshold() != 5000 || !cfg.GetParams().GetVectorsConfig().GetParams().GetOnDisk() {
		t.Errorf("config after update: %v", cfg)
	}
	err = c.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: "missing",
		Params: &qdrant.CollectionParamsDiff{ReplicationFactor: qdrant.PtrOf(uint32(2))}})
	wantCode(t, err, codes.NotFound, "Not found: Collection `missing` doesn't exist!")
}
