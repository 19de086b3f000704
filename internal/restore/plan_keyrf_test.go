package restore

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/manifest"
)

// tenantsCollection is a custom-sharded collection with replication
// factor 2 whose key "eu" (one shard) has 2 replicas and whose key 7 (two
// shards) was created with replication factor 1, both of its shards on
// the first peer, as Qdrant's random placement may leave them. keyRF
// false records no per-key factors, as sets of older versions.
func tenantsCollection(keyRF bool) func([]manifest.Peer) manifest.Collection {
	return func(peers []manifest.Peer) manifest.Collection {
		c := manifest.Collection{
			Name: "tenants", Config: []byte(`{"params":{"vectors":{"size":4,"distance":"Dot"},"sharding_method":"custom"}}`),
			ShardingMethod: "custom", ShardNumber: 1, ReplicationFactor: 2, WriteConsistencyFactor: 1,
		}
		eu, seven := manifest.StringKey("eu"), manifest.NumberKey(7)
		c.ShardKeys = []manifest.ShardKey{{Key: eu, ShardIDs: []uint32{1}}, {Key: seven, ShardIDs: []uint32{2, 3}}}
		if keyRF {
			c.ShardKeys[0].ReplicationFactor, c.ShardKeys[1].ReplicationFactor = 2, 1
		}
		holders := map[uint32][]uint64{1: {peers[0].ID, peers[1%len(peers)].ID}, 2: {peers[0].ID}, 3: {peers[0].ID}}
		for _, id := range []uint32{1, 2, 3} {
			k := seven
			if id == 1 {
				k = eu
			}
			s := manifest.Shard{
				ID: id, ShardKey: &k, SourcePeer: holders[id][0],
				Object:      fmt.Sprintf("prod/20261125T133000Z-3f9c/tenants/%d.snapshot", id),
				Compression: manifest.CompressionNone, Size: 500, SHA256: sum("t"), SnapshotSize: 500, SnapshotSHA256: sum("t"), PointsCount: 10,
			}
			for _, p := range slices.Compact(holders[id]) {
				s.Replicas = append(s.Replicas, manifest.Replica{PeerID: p, State: "Active"})
			}
			c.Shards = append(c.Shards, s)
			c.PointsCount += 10
		}
		return c
	}
}

// skewed is an auto-sharded collection whose shards all sat on the first
// peer at backup time.
func skewed(name string, shards, rf int) func([]manifest.Peer) manifest.Collection {
	return func(peers []manifest.Peer) manifest.Collection {
		c := autoCollection(name, shards, rf, peers)
		for i := range c.Shards {
			c.Shards[i].SourcePeer = peers[0].ID
			c.Shards[i].Replicas = nil
			for r := range rf {
				c.Shards[i].Replicas = append(c.Shards[i].Replicas, manifest.Replica{PeerID: peers[r%len(peers)].ID, State: "Active"})
			}
		}
		return c
	}
}

// Each shard key comes back with the replication factor the backup
// recorded for it, capped at the pods, whatever the strategy; a set
// without per-key factors gives every key the collection's.
func TestPlanRestoresEachShardKeyWithItsReplicationFactor(t *testing.T) {
	tests := []struct {
		name     string
		from, to int
		keyRF    bool
		opts     PlanOptions
		strategy Strategy
		want     map[string]int // replicas per shard of each key, after redistribution
	}{
		{"direct", 3, 3, true, PlanOptions{}, StrategyDirect, map[string]int{"eu": 2, "7": 1}},
		{"consolidate", 3, 2, true, PlanOptions{}, StrategyConsolidate, map[string]int{"eu": 2, "7": 1}},
		{"redistribute", 3, 4, true, PlanOptions{}, StrategyRedistribute, map[string]int{"eu": 2, "7": 1}},
		{"redistribute from fewer pods", 1, 3, true, PlanOptions{}, StrategyRedistribute, map[string]int{"eu": 2, "7": 1}},
		{"target node", 3, 3, true, PlanOptions{TargetNode: "qdrant-1"}, StrategyConsolidate, map[string]int{"eu": 1, "7": 1}},
		{"replication factor option overrides every key", 3, 3, true, PlanOptions{ReplicationFactor: 3}, StrategyDirect, map[string]int{"eu": 3, "7": 3}},
		{"older sets give every key the collection's factor", 3, 3, false, PlanOptions{}, StrategyDirect, map[string]int{"eu": 2, "7": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := backup(tt.from, "1.19.0", tenantsCollection(tt.keyRF))
			p, err := Plan(m, Target{Peers: targetPeers(tt.to, "1.19.0")}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Strategy != tt.strategy {
				t.Fatalf("strategy %s, want %s", p.Strategy, tt.strategy)
			}
			checkInvariants(t, p)
			c := p.Collections[0]
			for _, s := range c.Shards {
				if w := tt.want[s.ShardKey.String()]; len(s.Final) != w {
					t.Errorf("key %s shard %d: final replicas %v, want %d", s.ShardKey, s.ID, s.Final, w)
				}
			}
			for _, k := range c.ShardKeys {
				var n int
				for _, s := range c.Shards {
					if s.ShardKey.Equal(k.Key) {
						n = max(n, len(s.Replicas))
					}
				}
				if int(k.ReplicationFactor) != n || n == 0 {
					t.Errorf("key %s created with replication factor %d, its shards get %d replicas on recovery", k.Key, k.ReplicationFactor, n)
				}
			}
		})
	}
}

// Every replica of a direct restore is placed so that each collection's
// replicas per pod differ by at most one, and so do all the plan's: a
// recorded placement that was uneven (shards a key placed on one peer) or
// replicas the backup did not have (a higher factor) no longer land
// wherever they fit, shard by shard.
func TestPlanBalancesEveryReplicaOfADirectRestore(t *testing.T) {
	tests := []struct {
		name string
		cols []func([]manifest.Peer) manifest.Collection
		opts PlanOptions
	}{
		{"shard keys with their factors", []func([]manifest.Peer) manifest.Collection{tenantsCollection(true)}, PlanOptions{}},
		{"shard keys of an older set", []func([]manifest.Peer) manifest.Collection{tenantsCollection(false)}, PlanOptions{}},
		{"shards recorded on one peer", []func([]manifest.Peer) manifest.Collection{skewed("docs", 3, 1), skewed("more", 4, 2)}, PlanOptions{}},
		{"a higher replication factor", []func([]manifest.Peer) manifest.Collection{skewed("docs", 3, 1), auto("even", 3, 1)}, PlanOptions{ReplicationFactor: 2}},
		{"odd replicas of several collections", []func([]manifest.Peer) manifest.Collection{auto("a", 1, 1), auto("b", 1, 1), auto("c", 1, 1), auto("d", 1, 1)}, PlanOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := backup(3, "1.19.0", tt.cols...)
			p, err := Plan(m, Target{Peers: targetPeers(3, "1.19.0")}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Strategy != StrategyDirect {
				t.Fatalf("strategy %s", p.Strategy)
			}
			checkInvariants(t, p)
			all := map[uint64]int{}
			for _, c := range p.Collections {
				load := map[uint64]int{}
				for _, s := range c.Shards {
					if !slices.Equal(s.Replicas, s.Final) {
						t.Errorf("%s shard %d: a direct restore moves replicas: %v then %v", c.Source, s.ID, s.Replicas, s.Final)
					}
					for _, q := range s.Replicas {
						load[q]++
						all[q]++
					}
				}
				if lo, hi := spread(p, load); hi-lo > 1 {
					t.Errorf("%s: replicas per pod %v, not balanced", c.Source, load)
				}
			}
			if lo, hi := spread(p, all); hi-lo > 1 {
				t.Errorf("replicas per pod over the plan %v, not balanced", all)
			}
		})
	}
}

func spread(p *RestorePlan, load map[uint64]int) (lo, hi int) {
	lo = 1 << 30
	for _, q := range p.Peers {
		lo, hi = min(lo, load[q.ID]), max(hi, load[q.ID])
	}
	return lo, hi
}

// A key whose recorded factor exceeds the pods is capped, with a
// warning naming the key.
func TestPlanWarnsWhenAShardKeyGetsFewerReplicas(t *testing.T) {
	m := backup(3, "1.19.0", tenantsCollection(true))
	m.Collections[0].ShardKeys[1].ReplicationFactor = 3 // key 7
	p, err := Plan(m, Target{Peers: targetPeers(2, "1.19.0")}, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Collections[0].Shards {
		if s.ShardKey.String() == "7" && len(s.Final) != 2 {
			t.Errorf("key 7 shard %d: final replicas %v, want 2", s.ID, s.Final)
		}
	}
	want := `collection "tenants": shard key 7: replication factor 3 reduced to 2 (2 pods)`
	if !slices.Contains(p.Collections[0].Warnings, want) {
		t.Errorf("warnings %q, want %q", p.Collections[0].Warnings, want)
	}
	for _, w := range p.Collections[0].Warnings {
		if strings.Contains(w, "shard key eu") {
			t.Errorf("warning for key eu, whose factor fits: %q", w)
		}
	}
}
