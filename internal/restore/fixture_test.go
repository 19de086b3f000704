package restore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// spec describes one collection of a generated backup.
type spec struct {
	name     string
	shards   int
	rf       int
	keys     []string // custom sharding: one shard per key
	zstd     bool
	aliases  []string
	indexes  map[string]string
	perShard int
	// strict is the recorded strict_mode_config; nil: none.
	strict map[string]any
}

// makeBackup writes snapshot objects for the specs into store and returns
// their manifest, as the backup engine would have.
func makeBackup(t *testing.T, store *memStore, pods int, version string, specs ...spec) *manifest.Manifest {
	t.Helper()
	m := backup(pods, version)
	for ci, sp := range specs {
		c := manifest.Collection{
			Name: sp.name, ShardingMethod: "auto", ShardNumber: uint32(sp.shards), ReplicationFactor: uint32(sp.rf),
			WriteConsistencyFactor: 1, Aliases: sp.aliases,
		}
		params := map[string]any{"vectors": map[string]any{"size": 2, "distance": "Cosine"}, "shard_number": sp.shards, "replication_factor": sp.rf}
		ids := make([]uint32, sp.shards)
		var keys []*manifest.ShardKeyValue
		for i := range ids {
			ids[i] = uint32(i)
			keys = append(keys, nil)
		}
		if len(sp.keys) > 0 {
			c.ShardingMethod, c.ShardNumber = "custom", 1
			params["sharding_method"], params["shard_number"] = "custom", 1
			ids, keys = nil, nil
			for i, k := range sp.keys {
				kv := manifest.StringKey(k)
				id := uint32(2 * i) // gaps, as after a dropped key
				c.ShardKeys = append(c.ShardKeys, manifest.ShardKey{Key: kv, ShardIDs: []uint32{id}})
				ids, keys = append(ids, id), append(keys, &kv)
			}
		}
		recorded := map[string]any{
			"params":           params,
			"hnsw_config":      map[string]any{"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
			"optimizer_config": map[string]any{"deleted_threshold": 0.2, "max_optimization_threads": nil},
			"wal_config":       map[string]any{"wal_capacity_mb": 32},
		}
		if sp.strict != nil {
			recorded["strict_mode_config"] = sp.strict
		}
		cfg, _ := json.Marshal(recorded)
		c.Config = cfg
		if len(sp.indexes) > 0 {
			schema := map[string]any{}
			for f, typ := range sp.indexes {
				schema[f] = map[string]any{"data_type": typ, "points": 0}
			}
			c.PayloadSchema, _ = json.Marshal(schema)
		}
		per := sp.perShard
		if per == 0 {
			per = 5
		}
		for i, id := range ids {
			var pts []qdrant.Point
			for j := range per {
				pts = append(pts, qdrant.Point{
					ID:       qdrant.PointID{Num: uint64(ci*100000 + int(id)*1000 + j)},
					ShardKey: qdrantKeyPtr(keys[i]),
					Vectors:  map[string]qdrant.Vector{"": {Dense: []float32{float32(j), 0.5}}},
					Payload:  map[string]any{"n": float64(j), "tag": fmt.Sprintf("%s-%d", sp.name, id)},
				})
			}
			snap, _ := json.Marshal(pts)
			obj := snap
			comp := manifest.CompressionNone
			if sp.zstd {
				enc, _ := zstd.NewWriter(nil)
				obj = enc.EncodeAll(snap, nil)
				comp = manifest.CompressionZstd
			}
			key := manifest.ShardObjectKey(m.Cluster, m.BackupID, sp.name, id, comp)
			store.objects[key] = obj
			src := m.Peers[i%len(m.Peers)].ID
			s := manifest.Shard{
				ID: id, ShardKey: keys[i], SourcePeer: src, Object: key, Compression: comp,
				Size: int64(len(obj)), SHA256: hexSum(obj), SnapshotSize: int64(len(snap)), SnapshotSHA256: hexSum(snap),
				PointsCount: uint64(per), StartedAt: time.Unix(0, 0).UTC(), FinishedAt: time.Unix(0, 0).UTC(),
			}
			for r := range sp.rf {
				s.Replicas = append(s.Replicas, manifest.Replica{PeerID: m.Peers[(i+r)%len(m.Peers)].ID, State: "Active"})
			}
			c.Shards = append(c.Shards, s)
			c.PointsCount += uint64(per)
			c.Sample = append(c.Sample, sampleDigest(&pts[0]))
		}
		m.Collections = append(m.Collections, c)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("generated manifest is invalid: %v", err)
	}
	return m
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// targetOf describes a fake cluster as the planner sees it.
func targetOf(f *fakeCluster, pods []string) Target {
	t := Target{Aliases: map[string]string{}}
	for i, p := range f.peers {
		t.Peers = append(t.Peers, TargetPeer{ID: p, Pod: pods[i], Version: f.version[p]})
	}
	for n := range f.colls {
		t.Collections = append(t.Collections, n)
	}
	for a, c := range f.aliases {
		t.Aliases[a] = c
	}
	return t
}

func podNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("qdrant-%d", i)
	}
	return out
}

func peerIDs(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(201 + i)
	}
	return out
}

// sameContent reports every difference between the points a backup holds
// and the points a restored collection holds.
func sameContent(t *testing.T, store *memStore, c manifest.Collection, got []qdrant.Point) {
	t.Helper()
	var want []qdrant.Point
	for _, s := range c.Shards {
		data := store.objects[s.Object]
		if s.Compression == manifest.CompressionZstd {
			dec, _ := zstd.NewReader(nil)
			data, _ = dec.DecodeAll(data, nil)
		}
		var pts []qdrant.Point
		if err := json.Unmarshal(data, &pts); err != nil {
			t.Fatal(err)
		}
		want = append(want, pts...)
	}
	if len(got) != len(want) {
		t.Fatalf("collection %q: %d points restored, backup has %d", c.Name, len(got), len(want))
	}
	byID := map[uint64]qdrant.Point{}
	for _, p := range want {
		byID[p.ID.Num] = p
	}
	for _, p := range got {
		w, ok := byID[p.ID.Num]
		if !ok || qdrant.ContentHash(&w) != qdrant.ContentHash(&p) {
			t.Errorf("collection %q: point %d differs from the backup", c.Name, p.ID.Num)
		}
	}
}

// qdrantKeyPtr is a recorded shard key as the Qdrant client has it.
func qdrantKeyPtr(k *manifest.ShardKeyValue) *qdrant.ShardKey {
	if k == nil {
		return nil
	}
	q := qdrantKey(*k)
	return &q
}

// sampleDigest is the manifest record of a sampled point, as a backup
// writes it.
func sampleDigest(p *qdrant.Point) manifest.PointDigest {
	d := qdrant.DigestOf(p)
	id, _ := d.ID.MarshalJSON()
	out := manifest.PointDigest{ID: id, SHA256: d.SHA256}
	if d.ShardKey != nil {
		out.ShardKey = &manifest.ShardKeyValue{Str: d.ShardKey.Str, Num: d.ShardKey.Num, IsNum: d.ShardKey.IsNum}
	}
	return out
}
