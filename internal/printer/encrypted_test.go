package printer

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/listing"
)

// TestEncryptedManifestRows: a set listed from storage without the key
// shows ? where only the manifest knows; one the backup recorded in the
// catalog keeps its counts; both say the manifest is encrypted.
func TestEncryptedManifestRows(t *testing.T) {
	start := time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC)
	rows := []listing.Backup{
		{Cluster: "prod", BackupID: "20261125T133000Z-3f9c", Status: catalog.StatusComplete, StartedAt: start, TotalBytes: 2048, ManifestEncrypted: true},
		{Cluster: "prod", BackupID: "20261124T133000Z-a1b2", Status: catalog.StatusComplete, StartedAt: start.Add(-24 * time.Hour),
			FinishedAt: start.Add(-24*time.Hour + time.Minute), CollectionCount: 3, ShardCount: 7, PointsCount: 99, TotalBytes: 4096, ManifestEncrypted: true},
		{Cluster: "prod", BackupID: "20261123T133000Z-c3d4", Status: catalog.StatusComplete, StartedAt: start.Add(-48 * time.Hour),
			FinishedAt: start.Add(-48*time.Hour + time.Minute), CollectionCount: 1, ShardCount: 2, TotalBytes: 10},
	}
	var b bytes.Buffer
	if err := Backups(&b, rows, true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("output:\n%s", b.String())
	}
	fields := func(i int) []string { return strings.Fields(lines[i]) }
	// CLUSTER ID STATUS VERIFIED COLLECTIONS SHARDS SIZE(2) DURATION SKEW POINTS ...
	if f := fields(1); f[4] != "?" || f[5] != "?" || f[9] != "?" || f[10] != "?" || !strings.HasSuffix(lines[1], "manifest encrypted") {
		t.Errorf("storage row without the key: %q", lines[1])
	}
	if f := fields(2); f[4] != "3" || f[5] != "7" || f[10] != "99" || !strings.HasSuffix(lines[2], "manifest encrypted") {
		t.Errorf("catalog row: %q", lines[2])
	}
	if strings.Contains(lines[3], "encrypted") || strings.Contains(lines[3], "?") {
		t.Errorf("readable row: %q", lines[3])
	}
}
