package backup

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
)

func TestSyncCatalogMarksSetsWhoseManifestIsGone(t *testing.T) {
	ctx := context.Background()
	store := newFakeStore()
	now := time.Now().UTC()
	kept := storedBackup(t, store, "prod", now.Add(-3*time.Hour), StatusComplete, now)
	gone := storedBackup(t, store, "prod", now.Add(-2*time.Hour), StatusComplete, now)
	gonePartial := storedBackup(t, store, "prod", now.Add(-time.Hour), StatusPartial, now)
	cat := newFakeCatalog()
	if _, err := SyncCatalog(ctx, store, cat, nil); err != nil {
		t.Fatal(err)
	}
	// Deleted behind qbackup's back, and a failed run's row and a row of
	// unknown location: neither is this store's to mark.
	_ = store.Delete(ctx, manifest.ManifestKey("prod", gone))
	_ = store.Delete(ctx, manifest.ManifestKey("prod", gonePartial))
	failed := manifest.NewBackupID(now.Add(-4 * time.Hour))
	_ = cat.BackupFailed(ctx, "prod", failed, "peer down")
	legacy := manifest.NewBackupID(now.Add(-5 * time.Hour))
	cat.rows["prod/"+legacy] = &CatalogEntry{Cluster: "prod", BackupID: legacy, Status: StatusComplete, Unlocated: true}
	// And a set in storage the catalog does not know yet.
	added := storedBackup(t, store, "prod", now, StatusComplete, now)

	rep, err := SyncCatalog(ctx, store, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rep.Missing)
	if want := []string{"prod/" + gone, "prod/" + gonePartial}; !slices.Equal(rep.Missing, want) {
		t.Errorf("marked missing %v, want %v", rep.Missing, want)
	}
	for id, want := range map[string]string{kept: StatusComplete, gone: StatusMissing, gonePartial: StatusMissing,
		failed: StatusFailed, legacy: StatusComplete, added: StatusComplete} {
		if row, _, ok := cat.row("prod", id); !ok || row.Status != want {
			t.Errorf("row %s: %+v (present %v), want status %s", id, row, ok, want)
		}
	}
	if _, reason, _ := cat.row("prod", gone); reason == "" {
		t.Error("a missing set's row does not say why")
	}

	// A second sync changes nothing more: idempotent.
	rep, err = SyncCatalog(ctx, store, cat, nil)
	if err != nil || len(rep.Missing) != 0 {
		t.Errorf("second sync marked %v, %v; want nothing", rep.Missing, err)
	}
}

func TestPruneLeavesRowsOfUnknownLocationAlone(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	store := newFakeStore()
	cat := newFakeCatalog()
	newest := storedBackup(t, store, "prod", now.Add(-time.Hour), StatusComplete, now.Add(-time.Hour))
	if err := cat.SyncManifest(ctx, mustManifest(t, store, "prod", newest)); err != nil {
		t.Fatal(err)
	}
	// Rows with nothing in this store: one recorded before locations were
	// (it may be another store's), one of this store whose set was deleted.
	legacy := manifest.NewBackupID(now.Add(-48 * time.Hour))
	cat.rows["prod/"+legacy] = &CatalogEntry{Cluster: "prod", BackupID: legacy, Status: StatusComplete, StartedAt: now.Add(-48 * time.Hour), Unlocated: true}
	missing := manifest.NewBackupID(now.Add(-72 * time.Hour))
	cat.rows["prod/"+missing] = &CatalogEntry{Cluster: "prod", BackupID: missing, Status: StatusMissing, StartedAt: now.Add(-72 * time.Hour)}

	rep, err := Prune(ctx, PruneOptions{Cluster: "prod", KeepLast: 1, Now: now}, store, cat)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{}
	for _, it := range rep.Items {
		actions[it.BackupID] = it.Action
	}
	if actions[legacy] != PruneSkip || actions[missing] != PruneRemove || actions[newest] != PruneKeep {
		t.Errorf("actions %v; want the unlocated row skipped, the missing one removed, the newest kept", actions)
	}
	if _, _, ok := cat.row("prod", legacy); !ok {
		t.Error("prune deleted a row of unknown location")
	}
	if _, _, ok := cat.row("prod", missing); ok {
		t.Error("prune kept the row of a set gone from its store")
	}
}

func mustManifest(t *testing.T, store *fakeStore, cluster, id string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Read(context.Background(), store, manifest.ManifestKey(cluster, id))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
