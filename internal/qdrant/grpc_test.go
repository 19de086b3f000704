package qdrant

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// fakeGRPC is a gRPC peer built on the go-client's generated server
// interfaces. It checks the api-key metadata and records requests.
type fakeGRPC struct {
	mu        sync.Mutex
	setup     []*qc.UpdateCollectionClusterSetupRequest
	shardKeys []*qc.CreateShardKeyRequest
	aliases   []*qc.ChangeAliases
	counts    []*qc.CountPoints
	scrolls   []*qc.ScrollPoints
	upserts   []*qc.UpsertPoints
	// upsertLimit refuses larger upsert requests, as a server with a
	// request size limit does; 0 accepts any.
	upsertLimit int
}

type fakeCollections struct {
	qc.UnimplementedCollectionsServer
	*fakeGRPC
}

type fakePoints struct {
	qc.UnimplementedPointsServer
	*fakeGRPC
}

type fakeService struct {
	qc.UnimplementedQdrantServer
	*fakeGRPC
}

func (f *fakeGRPC) auth(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("api-key"); len(v) != 1 || v[0] != testKey {
		return status.Error(codes.Unauthenticated, "Invalid api-key")
	}
	return nil
}

func (f *fakeService) HealthCheck(ctx context.Context, _ *qc.HealthCheckRequest) (*qc.HealthCheckReply, error) {
	return &qc.HealthCheckReply{Title: "qdrant - vector search engine", Version: "1.19.0"}, nil
}

func (f *fakeCollections) List(ctx context.Context, _ *qc.ListCollectionsRequest) (*qc.ListCollectionsResponse, error) {
	if err := f.auth(ctx); err != nil {
		return nil, err
	}
	return &qc.ListCollectionsResponse{Collections: []*qc.CollectionDescription{{Name: "zeta"}, {Name: "alpha"}}}, nil
}

func (f *fakeCollections) ListAliases(ctx context.Context, _ *qc.ListAliasesRequest) (*qc.ListAliasesResponse, error) {
	if err := f.auth(ctx); err != nil {
		return nil, err
	}
	return &qc.ListAliasesResponse{Aliases: []*qc.AliasDescription{{AliasName: "current", CollectionName: "alpha"}}}, nil
}

func (f *fakeCollections) UpdateAliases(ctx context.Context, r *qc.ChangeAliases) (*qc.CollectionOperationResponse, error) {
	if err := f.auth(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.aliases = append(f.aliases, r)
	f.mu.Unlock()
	return &qc.CollectionOperationResponse{Result: true}, nil
}

func (f *fakeCollections) CreateShardKey(ctx context.Context, r *qc.CreateShardKeyRequest) (*qc.CreateShardKeyResponse, error) {
	if err := f.auth(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.shardKeys = append(f.shardKeys, r)
	f.mu.Unlock()
	return &qc.CreateShardKeyResponse{Result: true}, nil
}

func (f *fakeCollections) UpdateCollectionClusterSetup(ctx context.Context, r *qc.UpdateCollectionClusterSetupRequest) (*qc.UpdateCollectionClusterSetupResponse, error) {
	if err := f.auth(ctx); err != nil {
		return nil, err
	}
	if r.GetCollectionName() == "missing" {
		return nil, status.Error(codes.NotFound, "Not found: Collection `missing` doesn't exist!")
	}
	if d := r.GetDropReplica(); d != nil && d.GetPeerId() == 99 {
		return nil, status.Error(codes.InvalidArgument, "Bad request: Peer 99 has no replica of shard 0")
	}
	f.mu.Lock()
	f.setup = append(f.setup, r)
	f.mu.Unlock()
	return &qc.UpdateCollectionClusterSetupResponse{Result: true}, nil
}

func (f *fakePoints) Count(ctx context.Context, r *qc.CountPoints) (*qc.CountResponse, error) {
	if err := f.auth(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.counts = append(f.counts, r)
	f.mu.Unlock()
	return &qc.CountResponse{Result: &qc.CountResult{Count: 42}}, nil
}

func (f *fakePoints) Scroll(ctx context.Context, r *qc.ScrollPoints) (*qc.ScrollResponse, error) {
	if err := f.auth(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.scrolls = append(f.scrolls, r)
	f.mu.Unlock()
	named := &qc.VectorsOutput{VectorsOptions: &qc.VectorsOutput_Vectors{Vectors: &qc.NamedVectorsOutput{Vectors: map[string]*qc.VectorOutput{
		"text":    {Vector: &qc.VectorOutput_Dense{Dense: &qc.DenseVector{Data: []float32{0.5, -1}}}},
		"kw":      {Vector: &qc.VectorOutput_Sparse{Sparse: &qc.SparseVector{Indices: []uint32{7, 2}, Values: []float32{0.7, 0.2}}}},
		"colbert": {Vector: &qc.VectorOutput_MultiDense{MultiDense: &qc.MultiDenseVector{Vectors: []*qc.DenseVector{{Data: []float32{1, 2}}, {Data: []float32{3, 4}}}}}},
		// The deprecated flat form older servers send.
		"legacy": {Data: []float32{1, 2, 3, 4}, VectorsCount: ptr(uint32(2))},
	}}}}
	return &qc.ScrollResponse{
		Result: []*qc.RetrievedPoint{
			{Id: qc.NewIDNum(1), Payload: qc.NewValueMap(map[string]any{"city": "Oslo", "n": 3, "tags": []any{"a", true}, "geo": map[string]any{"lat": 59.9}}),
				Vectors: &qc.VectorsOutput{VectorsOptions: &qc.VectorsOutput_Vector{Vector: &qc.VectorOutput{Vector: &qc.VectorOutput_Dense{Dense: &qc.DenseVector{Data: []float32{0.1, 0.2}}}}}}},
			{Id: qc.NewIDUUID("5c56c793-69f3-4fbf-87e6-c4bf54c28c26"), ShardKey: qc.NewShardKey("tenant-a"), Vectors: named},
		},
		NextPageOffset: qc.NewIDNum(3),
	}, nil
}

func (f *fakePoints) Upsert(ctx context.Context, r *qc.UpsertPoints) (*qc.PointsOperationResponse, error) {
	if err := f.auth(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.upsertLimit > 0 && proto.Size(r) > f.upsertLimit {
		return nil, status.Errorf(codes.ResourceExhausted, "request of %d bytes above %d", proto.Size(r), f.upsertLimit)
	}
	f.upserts = append(f.upserts, r)
	return &qc.PointsOperationResponse{Result: &qc.UpdateResult{Status: qc.UpdateStatus_Completed}}, nil
}

func ptr[T any](v T) *T { return &v }

// grpcPeer starts the fake on a loopback port and returns a Client whose
// REST side is unused; edit adjusts the client's options.
func grpcPeer(t *testing.T, key string, edit ...func(*Options)) (*Client, *fakeGRPC) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGRPC{}
	s := grpc.NewServer()
	qc.RegisterCollectionsServer(s, &fakeCollections{fakeGRPC: f})
	qc.RegisterPointsServer(s, &fakePoints{fakeGRPC: f})
	qc.RegisterQdrantServer(s, &fakeService{fakeGRPC: f})
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	opts := Options{APIKey: key, RequestTimeout: 10 * time.Second}
	for _, e := range edit {
		e(&opts)
	}
	c, err := New(context.Background(), PeerAddr{REST: "http://127.0.0.1:1", GRPC: lis.Addr().String()}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, f
}

func TestGRPCListsCollectionsAndAliasesWithTheKey(t *testing.T) {
	c, _ := grpcPeer(t, testKey)
	names, err := c.ListCollections(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "alpha,zeta" {
		t.Fatalf("names %v", names)
	}
	al, err := c.ListAliases(ctx(t))
	if err != nil || al["current"] != "alpha" {
		t.Fatalf("aliases %v %v", al, err)
	}
	v, err := c.HealthCheck(ctx(t))
	if err != nil || v != "1.19.0" {
		t.Fatalf("health %q %v", v, err)
	}
}

func TestGRPCStatusCodesMapToTheSentinels(t *testing.T) {
	bad, _ := grpcPeer(t, "wrong-key")
	_, err := bad.ListCollections(ctx(t))
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "QBACKUP_QDRANT_API_KEY") || strings.Contains(err.Error(), "wrong-key") {
		t.Fatalf("unauthenticated: %v", err)
	}
	c, _ := grpcPeer(t, testKey)
	err = c.MoveShard(ctx(t), "missing", 0, 1, 2)
	if !IsNotFound(err) {
		t.Fatalf("not found: %v", err)
	}
	err = c.DropReplica(ctx(t), "docs", 0, 99)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != codes.InvalidArgument || !strings.Contains(err.Error(), "has no replica") {
		t.Fatalf("bad request: %v", err)
	}
}

func TestGRPCClusterSetupOperations(t *testing.T) {
	c, f := grpcPeer(t, testKey)
	steps := []error{
		c.MoveShard(ctx(t), "docs", 1, 10, 20),
		c.ReplicateShard(ctx(t), "docs", 2, 10, 30),
		c.DropReplica(ctx(t), "docs", 3, 10),
		c.AbortTransfer(ctx(t), "docs", 4, 10, 20),
		c.CreateShardKey(ctx(t), "docs", StringKey("tenant-a"), 2, 3, []uint64{10, 20}),
		c.CreateShardKey(ctx(t), "docs", NumberKey(7), 0, 0, nil),
		c.UpdateAliases(ctx(t), []AliasAction{DeleteAlias("old"), CreateAlias("current", "docs")}),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if m := f.setup[0].GetMoveShard(); m.GetShardId() != 1 || m.GetFromPeerId() != 10 || m.GetToPeerId() != 20 {
		t.Errorf("move %v", f.setup[0])
	}
	if r := f.setup[1].GetReplicateShard(); r.GetShardId() != 2 || r.GetToPeerId() != 30 {
		t.Errorf("replicate %v", f.setup[1])
	}
	if d := f.setup[2].GetDropReplica(); d.GetShardId() != 3 || d.GetPeerId() != 10 {
		t.Errorf("drop %v", f.setup[2])
	}
	if a := f.setup[3].GetAbortTransfer(); a.GetShardId() != 4 || a.GetFromPeerId() != 10 {
		t.Errorf("abort %v", f.setup[3])
	}
	k := f.shardKeys[0].GetRequest()
	if k.GetShardKey().GetKeyword() != "tenant-a" || k.GetShardsNumber() != 2 || k.GetReplicationFactor() != 3 || len(k.GetPlacement()) != 2 {
		t.Errorf("shard key %v", k)
	}
	k = f.shardKeys[1].GetRequest()
	if k.GetShardKey().GetNumber() != 7 || k.ShardsNumber != nil || k.ReplicationFactor != nil {
		t.Errorf("numeric shard key with defaults %v", k)
	}
	acts := f.aliases[0].GetActions()
	if acts[0].GetDeleteAlias().GetAliasName() != "old" || acts[1].GetCreateAlias().GetCollectionName() != "docs" {
		t.Errorf("aliases %v", acts)
	}
}

func TestGRPCCountAndScrollConvertPoints(t *testing.T) {
	c, f := grpcPeer(t, testKey)
	key := StringKey("tenant-a")
	n, err := c.Count(ctx(t), "docs", true, &key)
	if err != nil || n != 42 {
		t.Fatalf("count %d %v", n, err)
	}
	if r := f.counts[0]; !r.GetExact() || r.GetShardKeySelector().GetShardKeys()[0].GetKeyword() != "tenant-a" {
		t.Errorf("count request %v", r)
	}
	start := PointID{Num: 1}
	pts, next, err := c.Scroll(ctx(t), "docs", 2, &start, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if r := f.scrolls[0]; r.GetLimit() != 2 || r.GetOffset().GetNum() != 1 || !r.GetWithPayload().GetEnable() || !r.GetWithVectors().GetEnable() {
		t.Errorf("scroll request %v", r)
	}
	if next == nil || next.Num != 3 || len(pts) != 2 {
		t.Fatalf("next %v points %d", next, len(pts))
	}
	p := pts[0]
	if p.ID.Num != 1 || p.Payload["city"] != "Oslo" || p.Payload["n"] != int64(3) || p.Vectors[""].Dense[1] != 0.2 {
		t.Fatalf("point 1 %+v", p)
	}
	if tags := p.Payload["tags"].([]any); tags[0] != "a" || tags[1] != true {
		t.Fatalf("tags %v", tags)
	}
	if geo := p.Payload["geo"].(map[string]any); geo["lat"] != 59.9 {
		t.Fatalf("geo %v", geo)
	}
	q := pts[1]
	if q.ID.UUID != "5c56c793-69f3-4fbf-87e6-c4bf54c28c26" || q.ShardKey == nil || q.ShardKey.Str != "tenant-a" {
		t.Fatalf("point 2 id %v key %v", q.ID, q.ShardKey)
	}
	if s := q.Vectors["kw"].Sparse; s == nil || s.Indices[0] != 7 || s.Values[1] != 0.2 {
		t.Fatalf("sparse %+v", q.Vectors["kw"])
	}
	if m := q.Vectors["colbert"].Multi; len(m) != 2 || m[1][0] != 3 {
		t.Fatalf("multi %+v", m)
	}
	if m := q.Vectors["legacy"].Multi; len(m) != 2 || m[1][1] != 4 {
		t.Fatalf("legacy multi %+v", q.Vectors["legacy"])
	}
	if _, _, err := c.Scroll(ctx(t), "docs", 0, nil, false, false); err == nil {
		t.Fatal("limit 0 accepted")
	}
}

func TestGRPCCallsWithoutAGRPCAddressFailClearly(t *testing.T) {
	c, err := New(ctx(t), PeerAddr{REST: "http://127.0.0.1:1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListCollections(ctx(t)); err == nil || !strings.Contains(err.Error(), "no gRPC address") {
		t.Fatalf("%v", err)
	}
}
