//go:build integration

package catalog

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
)

// The control-plane goals, each reported by its benchmark as goal-share
// (measured time / goal; below 1 is met).
const (
	listGoal   = 200 * time.Millisecond // list 10,000 sets
	recordGoal = 5 * time.Second        // record one set of 10,000 shards
)

// BenchmarkListBackups lists a cluster of 10,000 recorded sets, as
// `qbackup list` does with a catalog.
func BenchmarkListBackups(b *testing.B) {
	const sets = 10_000
	c := openMigrated(b)
	seedBackups(b, c, "big", sets)
	b.ResetTimer()
	for b.Loop() {
		got, err := c.ListBackups(b.Context(), "big")
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != sets {
			b.Fatalf("listed %d sets, want %d", len(got), sets)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/listGoal.Seconds(), "goal-share")
}

// BenchmarkRecordLargeSet records the manifest of one set of 10,000
// shards (100 collections × 100 shards), as a backup does at its end.
func BenchmarkRecordLargeSet(b *testing.B) {
	const collections, shards = 100, 100
	c := openMigrated(b)
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	i, first := 0, ""
	for b.Loop() {
		b.StopTimer()
		m := largeManifest("big", start.Add(time.Duration(i)*time.Hour), collections, shards)
		if i == 0 {
			first = m.BackupID
		}
		i++
		b.StartTimer()
		if err := c.BackupCompleted(b.Context(), m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	rec, err := c.GetBackup(b.Context(), "big", first)
	if err != nil {
		b.Fatal(err)
	}
	if len(rec.Shards) != collections*shards {
		b.Fatalf("recorded %d shards, want %d", len(rec.Shards), collections*shards)
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/recordGoal.Seconds(), "goal-share")
}

// seedBackups inserts n complete sets of cluster directly, 500 rows a
// statement: recording them one by one would take longer than the
// benchmark itself and measures nothing the list depends on.
func seedBackups(b *testing.B, c *Catalog, cluster string, n int) {
	b.Helper()
	const batch = 500
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for from := 0; from < n; from += batch {
		var rows []string
		var args []any
		for i := from; i < min(from+batch, n); i++ {
			t := start.Add(time.Duration(i) * time.Hour)
			id := manifest.NewBackupID(t)
			rows = append(rows, "(?, ?, 'complete', 'unverified', '1.19.0', 'bench', 'stream', ?, ?, ?, ?, 3, 36, 42, 123456789, 100000, ?, '', UTC_TIMESTAMP(6))")
			args = append(args, cluster, id, t, t.Add(time.Minute), t, t.Add(40*time.Millisecond),
				manifest.ManifestKey(cluster, id))
		}
		q := "INSERT INTO backups (cluster, backup_id, status, verify_status, qdrant_version, tool_version, snapshot_method, " +
			"started_at, finished_at, window_first_start, window_last_start, skew_ms, collections_count, shards_count, " +
			"total_bytes, points_count, manifest_key, storage_location, updated_at) VALUES " + strings.Join(rows, ", ")
		if _, err := c.db.ExecContext(b.Context(), q, args...); err != nil {
			b.Fatalf("seed backups: %v", err)
		}
	}
}

func largeManifest(cluster string, started time.Time, collections, shards int) *manifest.Manifest {
	id := manifest.NewBackupID(started)
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: id, Cluster: cluster,
		QdrantVersion: "1.19.0", ToolVersion: "bench", SnapshotMethod: manifest.MethodStream,
		StartedAt: started, FinishedAt: started.Add(time.Minute),
		Window: manifest.Window{FirstStart: started, LastStart: started.Add(50 * time.Millisecond), SkewMillis: 50},
		Peers:  []manifest.Peer{{ID: 1, URI: "http://10.0.0.1:6333"}, {ID: 2, URI: "http://10.0.0.2:6333"}, {ID: 3, URI: "http://10.0.0.3:6333"}},
	}
	for c := range collections {
		col := manifest.Collection{
			Name: fmt.Sprintf("col-%03d", c), Config: json.RawMessage(`{}`), ShardingMethod: "auto",
			ShardNumber: uint32(shards), ReplicationFactor: 1, WriteConsistencyFactor: 1,
		}
		for s := range shards {
			peer := uint64(1 + (c+s)%3)
			col.Shards = append(col.Shards, manifest.Shard{
				ID: uint32(s), SourcePeer: peer, Replicas: []manifest.Replica{{PeerID: peer, State: "Active"}},
				Object:      manifest.ShardObjectKey(cluster, id, col.Name, uint32(s), manifest.CompressionZstd),
				Compression: manifest.CompressionZstd, Size: 1 << 20, SHA256: fmt.Sprintf("%064x", s),
				SnapshotSize: 4 << 20, SnapshotSHA256: fmt.Sprintf("%064x", s+1), PointsCount: 1000,
				StartedAt: started, FinishedAt: started.Add(time.Second),
			})
			col.PointsCount += 1000
		}
		m.Collections = append(m.Collections, col)
	}
	return m
}
