package printer

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/listing"

	"github.com/qbackup/qbackup/internal/golden"
)

// backups are a complete, verified set and a partial one whose reason
// spans lines, as the catalog returns them.
func backups() []listing.Backup {
	start := time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC)
	return listing.FromCatalogRows([]catalog.BackupSummary{
		{Cluster: "prod", BackupID: "20261125T133000Z-3f9c", Status: catalog.StatusComplete, VerifyStatus: catalog.VerifyVerified,
			QdrantVersion: "1.19.0", SnapshotMethod: "stream", StartedAt: start, FinishedAt: start.Add(95 * time.Second),
			SkewMillis: 1234, CollectionCount: 2, ShardCount: 12, TotalBytes: 3 << 30, PointsCount: 1_500_000},
		{Cluster: "prod", BackupID: "20261124T133000Z-a1b2", Status: catalog.StatusPartial, StartedAt: start.Add(-24 * time.Hour),
			Reason: "shard 3 of \"docs\":\n  peer 12 unreachable", CollectionCount: 2, ShardCount: 11, TotalBytes: 512},
	})
}

func TestBackupFormats(t *testing.T) {
	for _, tc := range []struct {
		golden string
		print  func(*bytes.Buffer) error
	}{
		{"backups.table", func(b *bytes.Buffer) error { return Backups(b, backups(), false) }},
		{"backups.wide", func(b *bytes.Buffer) error { return Backups(b, backups(), true) }},
		{"backups.name", func(b *bytes.Buffer) error { return BackupNames(b, backups()) }},
		{"backups.json", func(b *bytes.Buffer) error { return Structured(b, JSON, backups()) }},
		{"backups.yaml", func(b *bytes.Buffer) error { return Structured(b, YAML, backups()) }},
		{"empty.table", func(b *bytes.Buffer) error { return Backups(b, nil, false) }},
	} {
		var b bytes.Buffer
		if err := tc.print(&b); err != nil {
			t.Fatalf("%s: %v", tc.golden, err)
		}
		golden.Check(t, filepath.Join("testdata", tc.golden), b.Bytes())
	}
}

func TestHumanUnits(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Bytes(0), "0 B"}, {Bytes(1023), "1023 B"}, {Bytes(1024), "1.0 KiB"}, {Bytes(3 << 30), "3.0 GiB"}, {Bytes(1536 << 20), "1.5 GiB"},
		{Duration(0), "-"}, {Duration(-time.Second), "-"}, {Duration(1499 * time.Millisecond), "1s"}, {Duration(95 * time.Second), "1m35s"},
		{Time(time.Time{}), "-"}, {Time(time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))), "2026-01-02T02:04:05Z"},
		{Dash(""), "-"}, {OneLine("a\n  b\tc"), "a b c"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
