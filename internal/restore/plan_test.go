package restore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"

	"github.com/qbackup/qbackup/internal/golden"
)

// sourcePeers are pods qdrant-0..n-1 with peer ids 101, 102, ...
func sourcePeers(n int) []manifest.Peer {
	out := make([]manifest.Peer, n)
	for i := range out {
		out[i] = manifest.Peer{ID: uint64(101 + i), Pod: fmt.Sprintf("qdrant-%d", i), URI: fmt.Sprintf("http://10.0.0.%d:6333", i+1)}
	}
	return out
}

// targetPeers are pods qdrant-0..n-1 with fresh peer ids 201, 202, ...
func targetPeers(n int, version string) []TargetPeer {
	out := make([]TargetPeer, n)
	for i := range out {
		out[i] = TargetPeer{ID: uint64(201 + i), Pod: fmt.Sprintf("qdrant-%d", i), URI: fmt.Sprintf("http://10.1.0.%d:6333", i+1), Version: version}
	}
	return out
}

func sum(s string) string {
	return strings.Repeat(fmt.Sprintf("%02x", len(s)%256), 32)
}

// autoCollection spreads shards round-robin over the source peers, rf
// replicas each.
func autoCollection(name string, shards, rf int, peers []manifest.Peer, aliases ...string) manifest.Collection {
	c := manifest.Collection{
		Name: name, Config: json.RawMessage(`{"params":{"vectors":{"size":4,"distance":"Cosine"}}}`),
		ShardingMethod: "auto", ShardNumber: uint32(shards), ReplicationFactor: uint32(rf), WriteConsistencyFactor: 1,
		Aliases: aliases,
	}
	for i := range shards {
		s := manifest.Shard{
			ID: uint32(i), SourcePeer: peers[i%len(peers)].ID,
			Object:      fmt.Sprintf("prod/20261125T133000Z-3f9c/%s/%d.snapshot.zst", name, i),
			Compression: manifest.CompressionZstd, Size: int64(1000 + i), SHA256: sum(name + "x"), SnapshotSize: int64(4000 + i), SnapshotSHA256: sum(name),
			PointsCount: uint64(100 + i),
		}
		for r := range rf {
			s.Replicas = append(s.Replicas, manifest.Replica{PeerID: peers[(i+r)%len(peers)].ID, State: "Active"})
		}
		c.PointsCount += s.PointsCount
		c.Shards = append(c.Shards, s)
	}
	return c
}

func customCollection(name string, peers []manifest.Peer) manifest.Collection {
	c := manifest.Collection{
		Name: name, Config: json.RawMessage(`{"params":{"vectors":{"size":4,"distance":"Dot"},"sharding_method":"custom"}}`),
		ShardingMethod: "custom", ShardNumber: 1, ReplicationFactor: 1, WriteConsistencyFactor: 1,
	}
	keys := []manifest.ShardKeyValue{manifest.StringKey("tenant-b"), manifest.StringKey("tenant-a"), manifest.NumberKey(7)}
	for i, k := range keys {
		id := uint32(i + 1)
		c.ShardKeys = append(c.ShardKeys, manifest.ShardKey{Key: k, ShardIDs: []uint32{id}})
		kk := k
		c.Shards = append(c.Shards, manifest.Shard{
			ID: id, ShardKey: &kk, SourcePeer: peers[i%len(peers)].ID,
			Object:      fmt.Sprintf("prod/20261125T133000Z-3f9c/%s/%d.snapshot", name, id),
			Compression: manifest.CompressionNone, Size: 500, SHA256: sum(name), SnapshotSize: 500, SnapshotSHA256: sum(name),
			PointsCount: 10, Replicas: []manifest.Replica{{PeerID: peers[i%len(peers)].ID, State: "Active"}},
		})
		c.PointsCount += 10
	}
	return c
}

func backup(pods int, version string, cols ...func([]manifest.Peer) manifest.Collection) *manifest.Manifest {
	peers := sourcePeers(pods)
	t0 := time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC)
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: "20261125T133000Z-3f9c", Cluster: "prod",
		QdrantVersion: version, SnapshotMethod: manifest.MethodStream, StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		Peers: peers,
	}
	for _, c := range cols {
		m.Collections = append(m.Collections, c(peers))
	}
	return m
}

func auto(name string, shards, rf int, aliases ...string) func([]manifest.Peer) manifest.Collection {
	return func(p []manifest.Peer) manifest.Collection { return autoCollection(name, shards, rf, p, aliases...) }
}

func custom(name string) func([]manifest.Peer) manifest.Collection {
	return func(p []manifest.Peer) manifest.Collection { return customCollection(name, p) }
}

func TestPlanMatchesGoldenFiles(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		m      *manifest.Manifest
		target Target
		opts   PlanOptions
	}{
		{
			name: "three pods restored onto three pods go direct", golden: "direct-3-to-3",
			m:      backup(3, "1.19.0", auto("docs", 3, 1, "docs-live"), auto("replicated", 3, 2)),
			target: Target{Peers: targetPeers(3, "1.19.0")},
		},
		{
			name: "three pods restored onto two pods consolidate", golden: "consolidate-3-to-2",
			m:      backup(3, "1.19.0", auto("docs", 3, 1), auto("replicated", 6, 2)),
			target: Target{Peers: targetPeers(2, "1.19.0")},
		},
		{
			name: "three pods restored onto one pod reduce the replication factor with a warning", golden: "consolidate-3-to-1",
			m:      backup(3, "1.19.0", auto("docs", 3, 1), auto("replicated", 3, 2)),
			target: Target{Peers: targetPeers(1, "1.19.0")},
		},
		{
			name: "target node consolidates onto one pod of three", golden: "target-node",
			m:      backup(3, "1.19.0", auto("docs", 3, 2)),
			target: Target{Peers: targetPeers(3, "1.19.0")},
			opts:   PlanOptions{TargetNode: "qdrant-1"},
		},
		{
			name: "two pods restored onto four pods redistribute", golden: "redistribute-2-to-4",
			m:      backup(2, "1.19.0", auto("docs", 4, 1), auto("replicated", 2, 2)),
			target: Target{Peers: targetPeers(4, "1.19.0")},
		},
		{
			name: "custom sharding creates its shard keys first", golden: "custom-shard-keys",
			m:      backup(3, "1.19.0", custom("tenants")),
			target: Target{Peers: targetPeers(2, "1.19.0")},
		},
		{
			name: "rename restores beside the live collections and keeps live aliases", golden: "rename",
			m: backup(2, "1.15.2", auto("docs", 2, 1, "docs-alias", "search"), auto("users", 2, 1)),
			target: Target{
				Peers:       targetPeers(2, "1.19.0"),
				Collections: []string{"docs", "users"},
				Aliases:     map[string]string{"search": "docs"},
			},
			opts: PlanOptions{Rename: Rename{Suffix: "-drill", Map: map[string]string{"users": "users-copy"}}},
		},
		{
			name: "filter restores only the named collections", golden: "filter",
			m:      backup(2, "1.19.0", auto("docs", 2, 1), auto("users", 2, 1), auto("logs", 2, 1)),
			target: Target{Peers: targetPeers(2, "1.19.0")},
			opts:   PlanOptions{Collections: []string{"users", "docs"}},
		},
		{
			name: "shards option reshards through a staging collection", golden: "reshard",
			m:      backup(2, "1.19.0", auto("docs", 2, 1), custom("tenants")),
			target: Target{Peers: targetPeers(2, "1.19.0")},
			opts:   PlanOptions{Shards: 4},
		},
		{
			name: "overwrite replaces an existing collection and repoints its alias", golden: "overwrite",
			m: backup(2, "1.19.0", auto("docs", 2, 1, "search")),
			target: Target{
				Peers:       targetPeers(2, "1.19.0"),
				Collections: []string{"docs", "old-docs"},
				Aliases:     map[string]string{"search": "old-docs", "docs-v1": "docs"},
			},
			opts: PlanOptions{Overwrite: true, ReplicationFactor: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Plan(tt.m, tt.target, tt.opts)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			got, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden.Check(t, filepath.Join("testdata", "plan-"+tt.golden+".json"), got)
			checkInvariants(t, p)
		})
	}
}

// checkInvariants holds for every plan whatever the strategy.
func checkInvariants(t *testing.T, p *RestorePlan) {
	t.Helper()
	peers := map[uint64]bool{}
	for _, q := range p.Peers {
		peers[q.ID] = true
	}
	for _, c := range p.Collections {
		src := p.Manifest.Collection(c.Source)
		if c.ShardingMethod == "auto" && uint32(len(c.Shards)) != src.ShardNumber {
			t.Errorf("%s: %d shards planned, backup has %d", c.Source, len(c.Shards), src.ShardNumber)
		}
		for _, s := range c.Shards {
			if len(s.Replicas) == 0 || s.Replicas[0] != s.Primary && !contains(s.Replicas, s.Primary) {
				t.Errorf("%s shard %d: primary %d not among replicas %v", c.Source, s.ID, s.Primary, s.Replicas)
			}
			for _, set := range [][]uint64{s.Replicas, s.Final} {
				seen := map[uint64]bool{}
				for _, q := range set {
					if !peers[q] || seen[q] {
						t.Errorf("%s shard %d: bad replica set %v", c.Source, s.ID, set)
					}
					seen[q] = true
				}
			}
			want := int(c.ReplicationFactor)
			for _, k := range c.ShardKeys {
				// A key recorded with a factor of its own keeps it
				// (TestPlanRestoresEachShardKeyWithItsReplicationFactor).
				if s.ShardKey != nil && s.ShardKey.Equal(k.Key) && k.RecordedReplicationFactor > 0 {
					want = -1
				}
			}
			if want >= 0 && len(s.Final) != want {
				t.Errorf("%s shard %d: %d final replicas, replication factor %d", c.Source, s.ID, len(s.Final), want)
			}
		}
	}
}

func contains(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestPlanIsDeterministic(t *testing.T) {
	m := backup(3, "1.19.0", auto("b", 5, 2), auto("a", 7, 3), custom("c"))
	target := Target{Peers: targetPeers(5, "1.19.0")}
	first, err := Plan(m, target, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(first)
	for range 20 {
		// Peers in another order must not change the plan.
		target.Peers[0], target.Peers[4] = target.Peers[4], target.Peers[0]
		p, err := Plan(m, target, PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := json.Marshal(p); !bytes.Equal(got, want) {
			t.Fatalf("plan changed between runs:\n%s\n%s", got, want)
		}
	}
}

func TestPlanSpreadsABackupWithoutRecordedPeers(t *testing.T) {
	m := backup(2, "1.19.0", auto("docs", 4, 1))
	m.Peers = nil
	p, err := Plan(m, Target{Peers: targetPeers(2, "1.19.0")}, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, p)
}

func TestPlanBalancesRedistributedShards(t *testing.T) {
	m := backup(2, "1.19.0", auto("docs", 8, 2))
	p, err := Plan(m, Target{Peers: targetPeers(4, "1.19.0")}, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	load := map[uint64]int{}
	for _, s := range p.Collections[0].Shards {
		for _, q := range s.Final {
			load[q]++
		}
	}
	for _, q := range p.Peers {
		if load[q.ID] != 4 {
			t.Errorf("peer %d holds %d replicas, want 4 of 16 on 4 pods: %v", q.ID, load[q.ID], load)
		}
	}
}

func TestPlanRefusesImpossibleOptions(t *testing.T) {
	m := backup(3, "1.19.0", auto("docs", 3, 1), auto("users", 3, 1))
	tests := []struct {
		name   string
		target Target
		opts   PlanOptions
		want   error
	}{
		{"a direct restore onto fewer pods is refused", Target{Peers: targetPeers(2, "1.19.0")}, PlanOptions{Strategy: StrategyDirect}, ErrTooFewPods},
		{"an unknown collection filter is refused", Target{Peers: targetPeers(3, "1.19.0")}, PlanOptions{Collections: []string{"nope"}}, ErrUnknownCollection},
		{"an unknown renamed collection is refused", Target{Peers: targetPeers(3, "1.19.0")}, PlanOptions{Rename: Rename{Map: map[string]string{"nope": "x"}}}, ErrUnknownCollection},
		{"an unknown target node is refused", Target{Peers: targetPeers(3, "1.19.0")}, PlanOptions{TargetNode: "qdrant-9"}, ErrUnknownTargetNode},
		{"a target node with a direct plan is refused", Target{Peers: targetPeers(3, "1.19.0")}, PlanOptions{TargetNode: "qdrant-0", Strategy: StrategyDirect}, ErrInvalidOptions},
		{"two collections renamed to one name are refused", Target{Peers: targetPeers(3, "1.19.0")}, PlanOptions{Rename: Rename{Map: map[string]string{"docs": "x", "users": "x"}}}, ErrInvalidOptions},
		{"a cluster without peers is refused", Target{}, PlanOptions{}, ErrNoPeers},
		// Qdrant refuses these names only when the collection is created,
		// after the ones before it: the plan refuses them first.
		{"a suffix making a name longer than Qdrant allows is refused", Target{Peers: targetPeers(3, "1.19.0")}, PlanOptions{Rename: Rename{Suffix: strings.Repeat("s", 252)}}, ErrInvalidOptions},
		{"a rename target Qdrant refuses is refused", Target{Peers: targetPeers(3, "1.19.0")}, PlanOptions{Rename: Rename{Map: map[string]string{"users": "a/b"}}}, ErrInvalidOptions},
		{"a reshard whose staging name would be too long is refused", Target{Peers: targetPeers(3, "1.19.0")}, PlanOptions{Shards: 6, Rename: Rename{Map: map[string]string{"docs": strings.Repeat("d", 250)}}}, ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plan(m, tt.target, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Plan error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseRenameReadsSuffixAndPairs(t *testing.T) {
	r, err := ParseRename([]string{"-drill", "a=b"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Target("a") != "b" || r.Target("c") != "c-drill" {
		t.Fatalf("got %+v", r)
	}
	for _, bad := range [][]string{{"x", "y"}, {"=b"}, {"a="}, {""}, {"_drill/1"}, {"a=b:c"}, {"a=" + strings.Repeat("n", 256)}} {
		if _, err := ParseRename(bad); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("ParseRename(%q) error = %v, want ErrInvalidOptions", bad, err)
		}
	}
}
