package qdrant

import (
	"context"
	"fmt"
	"slices"

	qc "github.com/qdrant/go-client/qdrant"
)

// grpcClient returns the go-client, or an error when the Client was made
// without a gRPC address.
func (c *Client) grpcClient(op string) (*qc.Client, error) {
	if c.grpc == nil {
		return nil, fmt.Errorf("%s on %s: no gRPC address configured for this peer", op, c.peer())
	}
	return c.grpc, nil
}

// grpcPeer names the peer in gRPC errors.
func (c *Client) grpcPeer() string { return c.addr.GRPC }

// HealthCheck calls the gRPC health check and returns the peer's version.
func (c *Client) HealthCheck(ctx context.Context) (string, error) {
	const op = "gRPC health check"
	g, err := c.grpcClient(op)
	if err != nil {
		return "", err
	}
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	r, err := g.GetQdrantClient().HealthCheck(ctx, &qc.HealthCheckRequest{})
	if err != nil {
		return "", grpcError(ctx, op, c.grpcPeer(), err)
	}
	return r.GetVersion(), nil
}

// ListCollections returns the collection names, sorted.
func (c *Client) ListCollections(ctx context.Context) ([]string, error) {
	const op = "list collections"
	g, err := c.grpcClient(op)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	r, err := g.GetCollectionsClient().List(ctx, &qc.ListCollectionsRequest{})
	if err != nil {
		return nil, grpcError(ctx, op, c.grpcPeer(), err)
	}
	names := make([]string, 0, len(r.GetCollections()))
	for _, d := range r.GetCollections() {
		names = append(names, d.GetName())
	}
	slices.Sort(names)
	return names, nil
}

// ListAliases returns every alias mapped to its collection.
func (c *Client) ListAliases(ctx context.Context) (map[string]string, error) {
	const op = "list aliases"
	g, err := c.grpcClient(op)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	r, err := g.GetCollectionsClient().ListAliases(ctx, &qc.ListAliasesRequest{})
	if err != nil {
		return nil, grpcError(ctx, op, c.grpcPeer(), err)
	}
	out := make(map[string]string, len(r.GetAliases()))
	for _, a := range r.GetAliases() {
		out[a.GetAliasName()] = a.GetCollectionName()
	}
	return out, nil
}

// AliasAction is one change in UpdateAliases: create Alias → Collection,
// or delete Alias when Collection is empty.
type AliasAction struct {
	Alias      string
	Collection string
}

// CreateAlias points alias at collection (replacing an existing alias of
// that name, as Qdrant does).
func CreateAlias(alias, collection string) AliasAction {
	return AliasAction{Alias: alias, Collection: collection}
}

// DeleteAlias removes alias.
func DeleteAlias(alias string) AliasAction { return AliasAction{Alias: alias} }

// UpdateAliases applies the actions atomically, in order.
func (c *Client) UpdateAliases(ctx context.Context, actions []AliasAction) error {
	const op = "update aliases"
	g, err := c.grpcClient(op)
	if err != nil {
		return err
	}
	ops := make([]*qc.AliasOperations, 0, len(actions))
	for _, a := range actions {
		if a.Collection == "" {
			ops = append(ops, qc.NewAliasDelete(a.Alias))
		} else {
			ops = append(ops, qc.NewAliasCreate(a.Alias, a.Collection))
		}
	}
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	_, err = g.GetCollectionsClient().UpdateAliases(ctx, &qc.ChangeAliases{Actions: ops})
	return grpcError(ctx, op, c.grpcPeer(), err)
}

// Count counts the points of a collection (exact or estimated), limited to
// one shard key when shardKey is not nil.
func (c *Client) Count(ctx context.Context, collection string, exact bool, shardKey *ShardKey) (uint64, error) {
	op := fmt.Sprintf("count points of %q", collection)
	g, err := c.grpcClient(op)
	if err != nil {
		return 0, err
	}
	req := &qc.CountPoints{CollectionName: collection, Exact: &exact}
	if shardKey != nil {
		req.ShardKeySelector = &qc.ShardKeySelector{ShardKeys: []*qc.ShardKey{shardKey.proto()}}
	}
	// Exact counts of big collections take a while: caller's ctx only.
	r, err := g.GetPointsClient().Count(ctx, req)
	if err != nil {
		return 0, grpcError(ctx, op, c.grpcPeer(), err)
	}
	return r.GetResult().GetCount(), nil
}

// Scroll reads up to limit points in id order starting at offset (nil for
// the start) and returns them with the offset of the next page (nil on
// the last page).
func (c *Client) Scroll(ctx context.Context, collection string, limit uint32, offset *PointID, withVectors, withPayload bool) ([]Point, *PointID, error) {
	op := fmt.Sprintf("scroll points of %q", collection)
	g, err := c.grpcClient(op)
	if err != nil {
		return nil, nil, err
	}
	if limit == 0 {
		return nil, nil, fmt.Errorf("%s: limit must be positive", op)
	}
	req := &qc.ScrollPoints{
		CollectionName: collection,
		Limit:          &limit,
		WithPayload:    qc.NewWithPayload(withPayload),
		WithVectors:    qc.NewWithVectors(withVectors),
	}
	if offset != nil {
		req.Offset = offset.proto()
	}
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	r, err := g.GetPointsClient().Scroll(ctx, req)
	if err != nil {
		return nil, nil, grpcError(ctx, op, c.grpcPeer(), err)
	}
	pts := make([]Point, 0, len(r.GetResult()))
	for _, p := range r.GetResult() {
		pt, err := pointFromProto(p)
		if err != nil {
			return nil, nil, fmt.Errorf("%s on %s: %w", op, c.grpcPeer(), err)
		}
		pts = append(pts, pt)
	}
	var next *PointID
	if n := r.GetNextPageOffset(); n != nil {
		id := pointIDFromProto(n)
		next = &id
	}
	return pts, next, nil
}

// CreateShardKey creates a shard key of a custom-sharded collection with
// shardsNumber shards of replicationFactor replicas (0 = Qdrant's default
// for either) placed on the given peers (nil = any peer).
func (c *Client) CreateShardKey(ctx context.Context, collection string, key ShardKey, shardsNumber, replicationFactor uint32, placement []uint64) error {
	op := fmt.Sprintf("create shard key %s of %q", key, collection)
	g, err := c.grpcClient(op)
	if err != nil {
		return err
	}
	sk := &qc.CreateShardKey{ShardKey: key.proto(), Placement: placement}
	if shardsNumber > 0 {
		sk.ShardsNumber = &shardsNumber
	}
	if replicationFactor > 0 {
		sk.ReplicationFactor = &replicationFactor
	}
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	_, err = g.GetCollectionsClient().CreateShardKey(ctx, &qc.CreateShardKeyRequest{CollectionName: collection, Request: sk})
	return grpcError(ctx, op, c.grpcPeer(), err)
}

// MoveShard starts moving a replica from one peer to another. It returns
// once consensus accepted the operation; the transfer itself runs in the
// background (watch CollectionCluster.ShardTransfers).
func (c *Client) MoveShard(ctx context.Context, collection string, shard uint32, from, to uint64) error {
	return c.clusterSetup(ctx, fmt.Sprintf("move shard %d of %q from peer %d to %d", shard, collection, from, to),
		qc.NewUpdateCollectionClusterMoveShard(collection, &qc.MoveShard{ShardId: shard, FromPeerId: from, ToPeerId: to}))
}

// ReplicateShard starts copying a replica to another peer (asynchronous,
// like MoveShard).
func (c *Client) ReplicateShard(ctx context.Context, collection string, shard uint32, from, to uint64) error {
	return c.clusterSetup(ctx, fmt.Sprintf("replicate shard %d of %q from peer %d to %d", shard, collection, from, to),
		qc.NewUpdateCollectionClusterReplicateShard(collection, &qc.ReplicateShard{ShardId: shard, FromPeerId: from, ToPeerId: to}))
}

// DropReplica removes the replica of a shard held by peer. Qdrant refuses
// to drop the last (active) replica.
func (c *Client) DropReplica(ctx context.Context, collection string, shard uint32, peer uint64) error {
	return c.clusterSetup(ctx, fmt.Sprintf("drop replica of shard %d of %q on peer %d", shard, collection, peer),
		qc.NewUpdateCollectionClusterDropReplica(collection, &qc.Replica{ShardId: shard, PeerId: peer}))
}

// AbortTransfer aborts a running shard transfer.
func (c *Client) AbortTransfer(ctx context.Context, collection string, shard uint32, from, to uint64) error {
	return c.clusterSetup(ctx, fmt.Sprintf("abort transfer of shard %d of %q from peer %d to %d", shard, collection, from, to),
		qc.NewUpdateCollectionClusterAbortTransfer(collection, &qc.AbortShardTransfer{ShardId: shard, FromPeerId: from, ToPeerId: to}))
}

func (c *Client) clusterSetup(ctx context.Context, op string, req *qc.UpdateCollectionClusterSetupRequest) error {
	g, err := c.grpcClient(op)
	if err != nil {
		return err
	}
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	r, err := g.GetCollectionsClient().UpdateCollectionClusterSetup(ctx, req)
	if err != nil {
		return grpcError(ctx, op, c.grpcPeer(), err)
	}
	if !r.GetResult() {
		return fmt.Errorf("%s on %s: Qdrant answered false", op, c.grpcPeer())
	}
	return nil
}
