//go:build integration

package catalog

import (
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
)

// TestSyncEncryptedSet: a set whose manifest is encrypted, synced without
// the key, gets a row with its status, the id's time, its size and the
// manifest's key; a row the backup recorded from the manifest stays as it
// is; a missing or running row becomes the set's status again, keeping
// what it knew.
func TestSyncEncryptedSet(t *testing.T) {
	ctx := t.Context()
	c := openMigrated(t)
	started := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)

	t.Run("a set the catalog does not know", func(t *testing.T) {
		id := manifest.NewBackupID(started)
		if err := c.SyncEncryptedSet(ctx, EncryptedSet{Cluster: "prod", BackupID: id, Partial: true, Bytes: 4242}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetBackup(ctx, "prod", id)
		if err != nil {
			t.Fatal(err)
		}
		t0, _ := manifest.BackupIDTime(id)
		if got.Status != StatusPartial || !got.StartedAt.Equal(t0) || got.TotalBytes != 4242 || !got.ManifestEncrypted ||
			got.ManifestKey != manifest.EncryptedManifestKey("prod", id) || got.CollectionCount != 0 || len(got.Shards) != 0 {
			t.Fatalf("row %+v", got.BackupSummary)
		}
		// Twice is once.
		if err := c.SyncEncryptedSet(ctx, EncryptedSet{Cluster: "prod", BackupID: id, Partial: true, Bytes: 4242}); err != nil {
			t.Fatal(err)
		}
	})

	m := testManifest("prod", started.Add(time.Hour))
	m.Encryption = &manifest.Encryption{Scheme: manifest.EncryptionAge, Recipients: []string{"age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"}}
	m.ManifestEncrypted = true
	if err := c.BackupCompleted(ctx, m); err != nil {
		t.Fatal(err)
	}
	recorded, err := c.GetBackup(ctx, "prod", m.BackupID)
	if err != nil {
		t.Fatal(err)
	}
	if recorded.ManifestKey != m.Key() || !recorded.ManifestEncrypted {
		t.Fatalf("the backup recorded manifest key %s (encrypted %v), want %s", recorded.ManifestKey, recorded.ManifestEncrypted, m.Key())
	}
	t.Run("a row the backup recorded stays", func(t *testing.T) {
		if err := c.SyncEncryptedSet(ctx, EncryptedSet{Cluster: "prod", BackupID: m.BackupID, Bytes: 1}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetBackup(ctx, "prod", m.BackupID)
		if err != nil {
			t.Fatal(err)
		}
		if got.CollectionCount != recorded.CollectionCount || got.TotalBytes != recorded.TotalBytes || len(got.Shards) != len(recorded.Shards) || !got.UpdatedAt.Equal(recorded.UpdatedAt) {
			t.Fatalf("row changed: %+v\nwas %+v", got.BackupSummary, recorded.BackupSummary)
		}
	})
	t.Run("a missing row is the set's again, with what it knew", func(t *testing.T) {
		if err := c.MarkBackupMissing(ctx, "prod", m.BackupID, "gone"); err != nil {
			t.Fatal(err)
		}
		if err := c.SyncEncryptedSet(ctx, EncryptedSet{Cluster: "prod", BackupID: m.BackupID, Bytes: 1}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetBackup(ctx, "prod", m.BackupID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusComplete || got.Reason != "" || got.CollectionCount != recorded.CollectionCount || got.TotalBytes != recorded.TotalBytes {
			t.Fatalf("row %+v", got.BackupSummary)
		}
	})
	t.Run("a running row the backup could not complete", func(t *testing.T) {
		id := manifest.NewBackupID(started.Add(2 * time.Hour))
		if err := c.BackupStarted(ctx, "prod", id, "pod-a", started.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := c.SyncEncryptedSet(ctx, EncryptedSet{Cluster: "prod", BackupID: id, Bytes: 77}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetBackup(ctx, "prod", id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusComplete || got.TotalBytes != 77 || !got.ManifestEncrypted {
			t.Fatalf("row %+v", got.BackupSummary)
		}
	})
}
