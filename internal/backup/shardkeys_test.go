package backup

import (
	"testing"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// A shard key's replication factor is the most replicas any of its shards
// has, in any state, not counting the receiving end of a running move.
func TestShardKeysRecordTheReplicationFactor(t *testing.T) {
	eu, us := qdrant.StringKey("eu"), qdrant.StringKey("us")
	remote := func(shard uint32, key qdrant.ShardKey, peer uint64, state string) qdrant.RemoteShard {
		return qdrant.RemoteShard{ShardID: shard, ShardKey: &key, PeerID: peer, State: state}
	}
	tests := []struct {
		name      string
		remote    []qdrant.RemoteShard
		transfers []qdrant.ShardTransfer
		want      map[string]uint32
	}{
		{"one replica per shard", []qdrant.RemoteShard{
			remote(1, eu, 2, qdrant.StateActive), remote(2, eu, 3, qdrant.StateActive),
		}, nil, map[string]uint32{"eu": 1}},
		{"two keys with different factors", []qdrant.RemoteShard{
			remote(1, eu, 2, qdrant.StateActive), remote(1, eu, 3, qdrant.StateActive),
			remote(2, us, 3, qdrant.StateActive),
		}, nil, map[string]uint32{"eu": 2, "us": 1}},
		{"a dead replica still counts", []qdrant.RemoteShard{
			remote(1, eu, 2, qdrant.StateActive), remote(1, eu, 3, qdrant.StateDead),
			remote(2, eu, 2, qdrant.StateActive),
		}, nil, map[string]uint32{"eu": 2}},
		{"the target of a running move does not", []qdrant.RemoteShard{
			remote(1, eu, 2, qdrant.StateActive), remote(1, eu, 3, qdrant.StatePartial),
		}, []qdrant.ShardTransfer{{ShardID: 1, From: 2, To: 3}}, map[string]uint32{"eu": 1}},
		{"the target of a replication does", []qdrant.RemoteShard{
			remote(1, eu, 2, qdrant.StateActive), remote(1, eu, 3, qdrant.StatePartial),
		}, []qdrant.ShardTransfer{{ShardID: 1, From: 2, To: 3, Sync: true}}, map[string]uint32{"eu": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view := &qdrant.CollectionCluster{PeerID: 1, RemoteShards: tt.remote, ShardTransfers: tt.transfers}
			info := &qdrant.CollectionInfo{ShardingMethod: "custom"}
			shards := mergeViews("tenants", info, []*qdrant.CollectionCluster{view}, map[uint64]bool{1: true, 2: true, 3: true})
			got := map[string]uint32{}
			for _, k := range shardKeys(shards) {
				got[k.Key.String()] = k.ReplicationFactor
			}
			if len(got) != len(tt.want) {
				t.Fatalf("keys %v, want %v", got, tt.want)
			}
			for k, n := range tt.want {
				if got[k] != n {
					t.Errorf("key %s: replication factor %d, want %d", k, got[k], n)
				}
			}
		})
	}
}
