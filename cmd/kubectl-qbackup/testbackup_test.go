package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

const backupID = "20261125T133000Z-3f9c"

// fileBackup writes the manifest of a two-pod backup into a file store
// and returns its URL.
func fileBackup(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := storage.Open(ctx, "file://"+dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("0", 64)
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: backupID, Cluster: "default", QdrantVersion: "1.19.0",
		SnapshotMethod: manifest.MethodStream, StartedAt: time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC),
		FinishedAt: time.Date(2026, 11, 25, 13, 31, 0, 0, time.UTC),
		Peers:      []manifest.Peer{{ID: 11, Pod: "qdrant-0", URI: "http://10.0.0.1:6335"}, {ID: 12, Pod: "qdrant-1", URI: "http://10.0.0.2:6335"}},
	}
	col := manifest.Collection{Name: "docs", Config: []byte(`{}`), ShardingMethod: "auto", ShardNumber: 2, ReplicationFactor: 1}
	for i := range uint32(2) {
		obj := manifest.ShardObjectKey("default", backupID, "docs", i, "none")
		col.Shards = append(col.Shards, manifest.Shard{ID: i, SourcePeer: uint64(11 + i), Object: obj, Compression: "none",
			Size: 5, SHA256: sum, SnapshotSize: 5, SnapshotSHA256: sum})
		if err := st.Put(ctx, obj, strings.NewReader("12345")); err != nil {
			t.Fatal(err)
		}
	}
	m.Collections = []manifest.Collection{col}
	b, err := manifest.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, manifest.ManifestKey("default", backupID), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return "file://" + filepath.ToSlash(dir)
}
