package qdrantsim

import (
	"context"
	"encoding/json"
	"time"

	"github.com/qdrant/go-client/qdrant"
)

// grpcCollections is the Collections service over the peer's methods.
type grpcCollections struct {
	qdrant.UnimplementedCollectionsServer
	p *Peer
}

func (s grpcCollections) Get(ctx context.Context, r *qdrant.GetCollectionInfoRequest) (*qdrant.GetCollectionInfoResponse, error) {
	start := time.Now()
	info, err := s.p.CollectionInfo(ctx, r.GetCollectionName())
	if err != nil {
		return nil, grpcError(err)
	}
	out, err := collectionInfoToProto(info)
	if err != nil {
		return nil, grpcError(err)
	}
	return &qdrant.GetCollectionInfoResponse{Result: out, Time: since(start)}, nil
}

func (s grpcCollections) List(ctx context.Context, _ *qdrant.ListCollectionsRequest) (*qdrant.ListCollectionsResponse, error) {
	start := time.Now()
	names, err := s.p.ListCollections(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &qdrant.ListCollectionsResponse{Collections: []*qdrant.CollectionDescription{}}
	for _, n := range names {
		out.Collections = append(out.Collections, &qdrant.CollectionDescription{Name: n})
	}
	out.Time = since(start)
	return out, nil
}

func (s grpcCollections) Create(ctx context.Context, r *qdrant.CreateCollection) (*qdrant.CollectionOperationResponse, error) {
	start := time.Now()
	req, err := createCollectionFromProto(r)
	if err != nil {
		return nil, grpcError(err)
	}
	if err := s.p.CreateCollection(ctx, r.GetCollectionName(), req); err != nil {
		return nil, grpcError(err)
	}
	return &qdrant.CollectionOperationResponse{Result: true, Time: since(start)}, nil
}

func (s grpcCollections) Update(ctx context.Context, r *qdrant.UpdateCollection) (*qdrant.CollectionOperationResponse, error) {
	start := time.Now()
	req, err := updateCollectionFromProto(r)
	if err != nil {
		return nil, grpcError(err)
	}
	if err := s.p.UpdateCollection(ctx, r.GetCollectionName(), req); err != nil {
		return nil, grpcError(err)
	}
	return &qdrant.CollectionOperationResponse{Result: true, Time: since(start)}, nil
}

// updateCollectionFromProto maps UpdateCollection to the PATCH body. The
// core reads params as JSON numbers, hence float64.
func updateCollectionFromProto(r *qdrant.UpdateCollection) (UpdateCollection, error) {
	var u UpdateCollection
	if p := r.Params; p != nil {
		u.Params = map[string]any{}
		if p.ReplicationFactor != nil {
			u.Params["replication_factor"] = float64(*p.ReplicationFactor)
		}
		if p.WriteConsistencyFactor != nil {
			u.Params["write_consistency_factor"] = float64(*p.WriteConsistencyFactor)
		}
		if p.ReadFanOutFactor != nil {
			u.Params["read_fan_out_factor"] = float64(*p.ReadFanOutFactor)
		}
		if p.OnDiskPayload != nil {
			u.Params["on_disk_payload"] = *p.OnDiskPayload
		}
	}
	u.HnswConfig = hnswJSON(r.HnswConfig)
	u.OptimizersConfig = optimizersJSON(r.OptimizersConfig)
	diff := func(d *qdrant.VectorParamsDiff) map[string]any {
		m := map[string]any{}
		if d.OnDisk != nil {
			m["on_disk"] = *d.OnDisk
		}
		if d.HnswConfig != nil {
			m["hnsw_config"] = hnswJSON(d.HnswConfig)
		}
		return m
	}
	switch x := r.GetVectorsConfig().GetConfig().(type) {
	case *qdrant.VectorsConfigDiff_Params:
		u.Vectors = map[string]map[string]any{"": diff(x.Params)}
	case *qdrant.VectorsConfigDiff_ParamsMap:
		u.Vectors = map[string]map[string]any{}
		for name, d := range x.ParamsMap.GetMap() {
			u.Vectors[name] = diff(d)
		}
	}
	switch x := r.GetQuantizationConfig().GetQuantization().(type) {
	case nil:
	case *qdrant.QuantizationConfigDiff_Disabled:
		u.QuantizationConfig = json.RawMessage(`"Disabled"`)
	case *qdrant.QuantizationConfigDiff_Scalar:
		u.QuantizationConfig, _ = quantizationJSON(qdrant.NewQuantizationScalar(x.Scalar))
	case *qdrant.QuantizationConfigDiff_Product:
		u.QuantizationConfig, _ = quantizationJSON(qdrant.NewQuantizationProduct(x.Product))
	case *qdrant.QuantizationConfigDiff_Binary:
		u.QuantizationConfig, _ = quantizationJSON(qdrant.NewQuantizationBinary(x.Binary))
	}
	u.StrictModeConfig = strictModeFromProto(r.StrictModeConfig)
	if r.Metadata != nil {
		u.Metadata = payloadFromProto(r.Metadata)
	}
	return u, nil
}

func (s grpcCollections) Delete(ctx context.Context, r *qdrant.DeleteCollection) (*qdrant.CollectionOperationResponse, error) {
	start := time.Now()
	ok, err := s.p.DeleteCollection(ctx, r.GetCollectionName())
	if err != nil {
		return nil, grpcError(err)
	}
	return &qdrant.CollectionOperationResponse{Result: ok, Time: since(start)}, nil
}

func (s grpcCollections) UpdateAliases(ctx context.Context, r *qdrant.ChangeAliases) (*qdrant.CollectionOperationResponse, error) {
	start := time.Now()
	// The REST body is the common form; building it as JSON keeps this
	// independent of how the core declares its action types.
	var actions []map[string]any
	for _, a := range r.GetActions() {
		switch x := a.GetAction().(type) {
		case *qdrant.AliasOperations_CreateAlias:
			actions = append(actions, map[string]any{"create_alias": map[string]string{
				"collection_name": x.CreateAlias.GetCollectionName(), "alias_name": x.CreateAlias.GetAliasName()}})
		case *qdrant.AliasOperations_DeleteAlias:
			actions = append(actions, map[string]any{"delete_alias": map[string]string{
				"alias_name": x.DeleteAlias.GetAliasName()}})
		case *qdrant.AliasOperations_RenameAlias:
			actions = append(actions, map[string]any{"rename_alias": map[string]string{
				"old_alias_name": x.RenameAlias.GetOldAliasName(), "new_alias_name": x.RenameAlias.GetNewAliasName()}})
		default:
			return nil, grpcError(errf(KindBadInput, "Malformed AliasOperation type"))
		}
	}
	b, _ := json.Marshal(actions)
	var parsed []AliasAction
	if err := json.Unmarshal(b, &parsed); err != nil {
		return nil, grpcError(errf(KindServiceError, "alias actions: %v", err))
	}
	if err := s.p.UpdateAliases(ctx, parsed); err != nil {
		return nil, grpcError(err)
	}
	return &qdrant.CollectionOperationResponse{Result: true, Time: since(start)}, nil
}

func aliasesToProto(list []AliasDescription, start time.Time) *qdrant.ListAliasesResponse {
	out := &qdrant.ListAliasesResponse{Aliases: []*qdrant.AliasDescription{}}
	for _, a := range list {
		out.Aliases = append(out.Aliases, &qdrant.AliasDescription{AliasName: a.AliasName, CollectionName: a.CollectionName})
	}
	out.Time = since(start)
	return out
}

func (s grpcCollections) ListCollectionAliases(ctx context.Context, r *qdrant.ListCollectionAliasesRequest) (*qdrant.ListAliasesResponse, error) {
	start := time.Now()
	list, err := s.p.CollectionAliases(ctx, r.GetCollectionName())
	if err != nil {
		return nil, grpcError(err)
	}
	return aliasesToProto(list, start), nil
}

func (s grpcCollections) ListAliases(ctx context.Context, _ *qdrant.ListAliasesRequest) (*qdrant.ListAliasesResponse, error) {
	start := time.Now()
	list, err := s.p.ListAliases(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	return aliasesToProto(list, start), nil
}

func (s grpcCollections) CollectionExists(ctx context.Context, r *qdrant.CollectionExistsRequest) (*qdrant.CollectionExistsResponse, error) {
	start := time.Now()
	ok, err := s.p.CollectionExists(ctx, r.GetCollectionName())
	if err != nil {
		return nil, grpcError(err)
	}
	return &qdrant.CollectionExistsResponse{Result: &qdrant.CollectionExists{Exists: ok}, Time: since(start)}, nil
}

func (s grpcCollections) CollectionClusterInfo(ctx context.Context, r *qdrant.CollectionClusterInfoRequest) (*qdrant.CollectionClusterInfoResponse, error) {
	info, err := s.p.CollectionClusterInfo(ctx, r.GetCollectionName())
	if err != nil {
		return nil, grpcError(err)
	}
	return clusterInfoToProto(info), nil
}

func (s grpcCollections) UpdateCollectionClusterSetup(ctx context.Context, r *qdrant.UpdateCollectionClusterSetupRequest) (*qdrant.UpdateCollectionClusterSetupResponse, error) {
	op, err := clusterOperationFromProto(r)
	if err != nil {
		return nil, grpcError(err)
	}
	if err := s.p.UpdateCollectionCluster(ctx, r.GetCollectionName(), op); err != nil {
		return nil, grpcError(err)
	}
	return &qdrant.UpdateCollectionClusterSetupResponse{Result: true}, nil
}

func (s grpcCollections) CreateShardKey(ctx context.Context, r *qdrant.CreateShardKeyRequest) (*qdrant.CreateShardKeyResponse, error) {
	req, err := createShardKeyFromProto(r.GetRequest())
	if err != nil {
		return nil, grpcError(err)
	}
	if err := s.p.CreateShardKey(ctx, r.GetCollectionName(), req); err != nil {
		return nil, grpcError(err)
	}
	return &qdrant.CreateShardKeyResponse{Result: true}, nil
}

func (s grpcCollections) DeleteShardKey(ctx context.Context, r *qdrant.DeleteShardKeyRequest) (*qdrant.DeleteShardKeyResponse, error) {
	if r.GetRequest().GetShardKey() == nil {
		return nil, grpcError(errf(KindBadInput, "Shard key is not specified"))
	}
	key, err := shardKeyFromProto(r.GetRequest().GetShardKey())
	if err != nil {
		return nil, grpcError(err)
	}
	if err := s.p.DropShardKey(ctx, r.GetCollectionName(), key); err != nil {
		return nil, grpcError(err)
	}
	return &qdrant.DeleteShardKeyResponse{Result: true}, nil
}

// ListShardKeys exists from 1.18, like GET /collections/{c}/shards.
func (s grpcCollections) ListShardKeys(ctx context.Context, r *qdrant.ListShardKeysRequest) (*qdrant.ListShardKeysResponse, error) {
	if !s.p.c.ver.hasShardKeysList() {
		return s.UnimplementedCollectionsServer.ListShardKeys(ctx, r)
	}
	start := time.Now()
	res, err := s.p.ListShardKeys(ctx, r.GetCollectionName())
	if err != nil {
		return nil, grpcError(err)
	}
	out := &qdrant.ListShardKeysResponse{ShardKeys: []*qdrant.ShardKeyDescription{}}
	for _, k := range res.ShardKeys {
		out.ShardKeys = append(out.ShardKeys, &qdrant.ShardKeyDescription{Key: shardKeyToProto(&k.Key)})
	}
	out.Time = since(start)
	return out, nil
}
