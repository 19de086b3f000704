package qdrantsim_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/qdrant/go-client/qdrant"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// TestGRPCReportsResharding: the gRPC cluster info lists a running
// resharding and the new shard's Resharding replica, as
// lib/api/src/grpc/proto/collections.proto carries them.
func TestGRPCReportsResharding(t *testing.T) {
	sim := startSim(t, qdrantsim.Options{Peers: 2, ReshardingEnabled: true})
	p := sim.Peers()[0]
	ctx := context.Background()
	var req qdrantsim.CreateCollection
	if err := json.Unmarshal([]byte(`{"vectors":{"size":4,"distance":"Dot"},"shard_number":1}`), &req); err != nil {
		t.Fatal(err)
	}
	if err := p.CreateCollection(ctx, "items", req); err != nil {
		t.Fatal(err)
	}
	op := qdrantsim.ClusterOperation{StartResharding: json.RawMessage(`{"direction":"up"}`)}
	if err := p.UpdateCollectionCluster(ctx, "items", op); err != nil {
		t.Fatal(err)
	}
	cl, err := grpcClient(t, p, "").GetCollectionClusterInfo(ctx, "items")
	if err != nil {
		t.Fatal(err)
	}
	ops := cl.GetReshardingOperations()
	if len(ops) != 1 || ops[0].GetShardId() != 1 || ops[0].GetDirection() != qdrant.ReshardingDirection_Up {
		t.Fatalf("resharding_operations %v", ops)
	}
	states := map[uint32]qdrant.ReplicaState{}
	for _, l := range cl.GetLocalShards() {
		states[l.GetShardId()] = l.GetState()
	}
	for _, r := range cl.GetRemoteShards() {
		states[r.GetShardId()] = r.GetState()
	}
	if states[1] != qdrant.ReplicaState_Resharding || cl.GetShardCount() != 2 {
		t.Errorf("replica states %v, shard_count %d", states, cl.GetShardCount())
	}
}
