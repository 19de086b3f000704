package inventory

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

func putManifest(t *testing.T, st storage.Backend, cluster, id string, partial bool) {
	t.Helper()
	sum := strings.Repeat("0", 64)
	ts, err := manifest.BackupIDTime(id)
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: id, Cluster: cluster, QdrantVersion: "1.19.0",
		SnapshotMethod: manifest.MethodStream, Partial: partial, StartedAt: ts, FinishedAt: ts.Add(time.Minute),
		Collections: []manifest.Collection{{
			Name: "docs", Config: []byte(`{}`), ShardingMethod: "auto", ShardNumber: 1, PointsCount: 7,
			Shards: []manifest.Shard{{ID: 0, Object: manifest.ShardObjectKey(cluster, id, "docs", 0, "none"), Compression: "none", Size: 5, SHA256: sum, SnapshotSize: 5, SnapshotSHA256: sum}},
		}},
	}
	b, err := manifest.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Put(ctx, m.Collections[0].Shards[0].Object, strings.NewReader("12345")); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, manifest.ManifestKey(cluster, id), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func TestListFromStorageNewestFirst(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMemory()
	putManifest(t, st, "prod", "20261101T000000Z-aaaa", false)
	putManifest(t, st, "prod", "20261103T000000Z-cccc", true)
	putManifest(t, st, "test", "20261102T000000Z-bbbb", false)
	// A run that died: objects, no manifest.
	if err := st.Put(ctx, manifest.ShardObjectKey("prod", "20261104T000000Z-dddd", "docs", 0, "none"), strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	all, err := List(ctx, st, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range all {
		got = append(got, b.Cluster+"/"+b.BackupID+"="+b.Status)
	}
	want := "prod/20261104T000000Z-dddd=incomplete prod/20261103T000000Z-cccc=partial test/20261102T000000Z-bbbb=complete prod/20261101T000000Z-aaaa=complete"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	prod, err := List(ctx, st, nil, "prod")
	if err != nil || len(prod) != 3 {
		t.Fatalf("prod: %d sets, %v", len(prod), err)
	}
	if prod[2].PointsCount != 7 || prod[2].TotalBytes != 5 || prod[2].ShardCount != 1 {
		t.Fatalf("summary lost numbers: %+v", prod[2])
	}
}

type fakeIndex []catalog.BackupSummary

func (f fakeIndex) ListBackups(context.Context, string) ([]catalog.BackupSummary, error) {
	return f, nil
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMemory()
	putManifest(t, st, "prod", "20261101T000000Z-aaaa", false)
	putManifest(t, st, "prod", "20261103T000000Z-cccc", true)
	tests := []struct {
		name    string
		idx     Index
		ref     string
		want    string
		wantErr string
	}{
		{name: "latest skips partial sets", ref: "latest", want: "20261101T000000Z-aaaa"},
		{name: "an id is taken as is", ref: "20261103T000000Z-cccc", want: "20261103T000000Z-cccc"},
		{name: "a malformed id is refused", ref: "yesterday", wantErr: "not a backup id"},
		{name: "latest skips corrupt sets of the catalog", idx: fakeIndex{
			{BackupID: "20261105T000000Z-eeee", Status: catalog.StatusComplete, VerifyStatus: catalog.VerifyCorrupt},
			{BackupID: "20261104T000000Z-dddd", Status: catalog.StatusFailed},
			{BackupID: "20261102T000000Z-bbbb", Status: catalog.StatusComplete, VerifyStatus: catalog.VerifyVerified},
		}, ref: "latest", want: "20261102T000000Z-bbbb"},
		{name: "latest without a complete set is an error", idx: fakeIndex{}, ref: "latest", wantErr: "no complete backup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(ctx, st, tt.idx, "prod", tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrNoBackup) {
					t.Fatalf("got %q, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestLoadRefusesUnknownFormatsAndIDs(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMemory()
	id := "20261101T000000Z-aaaa"
	future := []byte(`{"format_version": 99, "backup_id": "` + id + `", "cluster": "prod"}`)
	if err := st.Put(ctx, manifest.ManifestKey("prod", id), bytes.NewReader(future)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, st, "prod", id, nil); !errors.Is(err, manifest.ErrUnsupportedFormat) || !strings.Contains(err.Error(), "upgrade qbackup") {
		t.Errorf("a manifest of a newer format: error = %v", err)
	}
	if _, err := Load(ctx, st, "prod", "20261125T140000Z-0000", nil); !errors.Is(err, ErrNoBackup) || !strings.Contains(err.Error(), "qbackup list") {
		t.Errorf("an unknown id: error = %v", err)
	}
	putManifest(t, st, "test", "20261102T000000Z-bbbb", false)
	if _, err := Load(ctx, st, "test", "20261102T000000Z-bbbb", nil); err != nil {
		t.Errorf("a good manifest: %v", err)
	}
}
