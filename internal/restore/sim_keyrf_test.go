package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/storage"
)

// loadKeys creates a custom-sharded collection with replication factor
// 2 and shard keys created with their own factors (0: the collection's),
// n points per key.
func (s *simCluster) loadKeys(t *testing.T, name string, keys map[string][2]uint32, n int) {
	t.Helper()
	ctx := context.Background()
	body, _ := json.Marshal(map[string]any{"vectors": map[string]any{"size": 3, "distance": "Cosine"},
		"sharding_method": "custom", "shard_number": 1, "replication_factor": 2})
	if err := s.any().CreateCollection(ctx, name, body); err != nil {
		t.Fatal(err)
	}
	id := 1
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		shape := keys[k]
		if err := s.any().CreateShardKey(ctx, name, qdrant.StringKey(k), shape[0], shape[1], nil); err != nil {
			t.Fatal(err)
		}
		var pts []map[string]any
		for range n {
			pts = append(pts, map[string]any{"id": id, "vector": []float32{float32(id), 1, 2}, "payload": map[string]any{"k": k}})
			id++
		}
		s.rest(t, http.MethodPut, "/collections/"+name+"/points?wait=true", map[string]any{"points": pts, "shard_key": k})
	}
	waitSimActive(t, s.any(), name)
}

// replicasByKey counts the replicas of each shard, by shard key, and the
// replicas per peer, as the cluster reports them.
func (s *simCluster) replicasByKey(t *testing.T, name string) (map[string][]int, map[uint64]int) {
	t.Helper()
	cc, err := s.any().CollectionCluster(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	perShard, key, perPeer := map[uint32]int{}, map[uint32]string{}, map[uint64]int{}
	for _, r := range cc.Replicas() {
		perShard[r.ShardID]++
		perPeer[r.PeerID]++
		if r.ShardKey != nil {
			key[r.ShardID] = r.ShardKey.String()
		}
	}
	out := map[string][]int{}
	for id, n := range perShard {
		out[key[id]] = append(out[key[id]], n)
	}
	return out, perPeer
}

// A shard key created with fewer replicas than its collection's factor
// comes back with that many, one created with more with as many as the
// pods allow, whatever the strategy, and the replicas are spread evenly.
func TestShardKeysKeepTheirReplicationFactorOnTheSimulator(t *testing.T) {
	tests := []struct {
		name     string
		from, to int
		strategy Strategy
		want     map[string]int
	}{
		{"direct", 3, 3, StrategyDirect, map[string]int{"eu": 2, "one": 1, "three": 3}},
		{"consolidate", 3, 2, StrategyConsolidate, map[string]int{"eu": 2, "one": 1, "three": 2}},
		{"redistribute", 3, 4, StrategyRedistribute, map[string]int{"eu": 2, "one": 1, "three": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			src := startSim(t, tt.from, "1.19.0")
			// eu: the collection's factor; one: 1 replica, two shards;
			// three: more than the collection's.
			src.loadKeys(t, "tenants", map[string][2]uint32{"eu": {1, 0}, "one": {2, 1}, "three": {1, 3}}, 20)
			before, _ := src.replicasByKey(t, "tenants")
			if fmt.Sprint(before) != fmt.Sprint(map[string][]int{"eu": {2}, "one": {1, 1}, "three": {3}}) {
				t.Fatalf("source replicas per shard %v", before)
			}
			store := storage.NewMemory()
			m := takeBackup(t, src, store, manifest.CompressionNone)
			for _, k := range m.Collection("tenants").ShardKeys {
				if want := map[string]uint32{"eu": 2, "one": 1, "three": 3}[k.Key.String()]; k.ReplicationFactor != want {
					t.Errorf("backup recorded key %s with replication factor %d, want %d", k.Key, k.ReplicationFactor, want)
				}
			}
			dst := startSim(t, tt.to, "1.19.0")
			res, err := dst.restore(ctx, t, m, store, PlanOptions{})
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			if res.Plan.Strategy != tt.strategy {
				t.Fatalf("strategy %s, want %s", res.Plan.Strategy, tt.strategy)
			}
			checkSimRestored(t, src, dst, "tenants")
			got, perPeer := dst.replicasByKey(t, "tenants")
			for k, n := range tt.want {
				if len(got[k]) != len(before[k]) {
					t.Errorf("key %s: shards %v, the backup had %v", k, got[k], before[k])
				}
				for _, g := range got[k] {
					if g != n {
						t.Errorf("key %s: replicas per shard %v, want %d", k, got[k], n)
					}
				}
			}
			lo, hi := 1<<30, 0
			for _, p := range dst.topo.Peers {
				lo, hi = min(lo, perPeer[p.ID]), max(hi, perPeer[p.ID])
			}
			if hi-lo > 1 {
				t.Errorf("replicas per peer %v: not balanced", perPeer)
			}
		})
	}
}
