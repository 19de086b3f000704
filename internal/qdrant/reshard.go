package qdrant

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Resharding through Qdrant's own API (Qdrant v1.19.0). Open-source Qdrant
// refuses start_resharding with "resharding is only supported in Qdrant
// Cloud" unless the node runs with cluster.resharding_enabled
// (src/common/collections.rs, src/settings.rs); telemetry reports the
// setting as cluster.resharding_enabled from 1.17. Qdrant does not drive a
// resharding itself (the driver is commented out in
// lib/collection/src/collection/resharding.rs): the caller runs each step
// as a cluster operation, the later ones hidden from the OpenAPI document
// (lib/collection/src/operations/cluster_ops.rs).

// Resharding directions.
const (
	ReshardUp   = "up"
	ReshardDown = "down"
)

// MethodReshardingStreamRecords is the transfer method that migrates the
// points a resharding moves from one shard into another.
const MethodReshardingStreamRecords = "resharding_stream_records"

// ReshardingOperation is one entry of resharding_operations in
// GET /collections/{c}/cluster. Qdrant does not report the stage.
type ReshardingOperation struct {
	UUID      string    `json:"uuid,omitempty"`
	Direction string    `json:"direction"`
	ShardID   uint32    `json:"shard_id"`
	PeerID    uint64    `json:"peer_id"`
	ShardKey  *ShardKey `json:"shard_key,omitempty"`
}

// Resharding decodes the resharding operations the peer reports; none
// when no resharding runs.
func (cc *CollectionCluster) Resharding() ([]ReshardingOperation, error) {
	if isNull(cc.ReshardingOperations) {
		return nil, nil
	}
	var out []ReshardingOperation
	if err := json.Unmarshal(cc.ReshardingOperations, &out); err != nil {
		return nil, fmt.Errorf("decode resharding_operations: %w", err)
	}
	return out, nil
}

// ReshardingEnabled reads cluster.resharding_enabled from the peer's
// telemetry. known is false when the peer does not report it (Qdrant
// before 1.17, or an API key without access to the cluster telemetry).
func (c *Client) ReshardingEnabled(ctx context.Context) (enabled, known bool, err error) {
	const op = "read telemetry"
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	var t struct {
		Cluster *struct {
			ReshardingEnabled *bool `json:"resharding_enabled"`
		} `json:"cluster"`
	}
	if err := c.callJSON(ctx, jsonCall{op: op, method: http.MethodGet, path: "/telemetry", query: url.Values{"details_level": {"1"}}, out: &t}); err != nil {
		return false, false, err
	}
	if t.Cluster == nil || t.Cluster.ReshardingEnabled == nil {
		return false, false, nil
	}
	return *t.Cluster.ReshardingEnabled, true, nil
}

// ClusterOperation sends one operation to POST /collections/{c}/cluster:
// op is the operation's JSON object, e.g.
// {"start_resharding": {"direction": "up"}}. It returns once the
// receiving peer applied it.
func (c *Client) ClusterOperation(ctx context.Context, collection string, op any) error {
	name := fmt.Sprintf("cluster operation on collection %q", collection)
	if b, err := json.Marshal(op); err == nil {
		name = fmt.Sprintf("cluster operation %s on collection %q", b, collection)
	}
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	var ok bool
	return c.callJSON(ctx, jsonCall{op: name, method: http.MethodPost, path: collPath(collection) + "/cluster", body: op, out: &ok})
}

// CleanupShard deletes from this peer's replica of a shard the points the
// hash ring places on other shards (POST
// /collections/{c}/shards/{id}/cleanup?wait=true,
// src/actix/api/local_shard_api.rs): after a resharding up, the shards the
// points migrated out of still hold them.
func (c *Client) CleanupShard(ctx context.Context, collection string, shard uint32) error {
	op := fmt.Sprintf("clean up shard %d of %q", shard, collection)
	var res json.RawMessage
	return c.callJSON(ctx, jsonCall{op: op, method: http.MethodPost, path: shardPath(collection, shard) + "/cleanup", query: waitQuery(), out: &res})
}
