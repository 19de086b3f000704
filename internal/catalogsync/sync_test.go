package catalogsync

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/crypt/crypttest"
	"github.com/qbackup/qbackup/internal/inventory/inventorytest"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

func TestSyncCatalogRecordsEveryManifestAndIsIdempotent(t *testing.T) {
	store := storage.NewMemory()
	now := time.Now().UTC()
	a := inventorytest.WriteSet(t, store, "prod", now.Add(-2*time.Hour), catalog.StatusComplete, now)
	b := inventorytest.WriteSet(t, store, "prod", now.Add(-time.Hour), catalog.StatusPartial, now)
	c := inventorytest.WriteSet(t, store, "staging/eu", now.Add(-time.Hour), catalog.StatusComplete, now)
	inventorytest.WriteSet(t, store, "prod", now, catalog.StatusFailed, now) // no manifest: not a backup
	cat := inventorytest.NewCatalog()
	for range 2 {
		rep, err := Run(context.Background(), store, cat, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Synced) != 3 {
			t.Fatalf("synced %v", rep.Synced)
		}
	}
	rows, _ := cat.IndexRows(context.Background(), "")
	if len(rows) != 3 {
		t.Fatalf("rows %+v", rows)
	}
	for cluster, id := range map[string]string{"prod": a, "staging/eu": c} {
		if row, _, ok := cat.Row(cluster, id); !ok || row.Status != catalog.StatusComplete {
			t.Errorf("row %s/%s: %+v", cluster, id, row)
		}
	}
	if row, _, _ := cat.Row("prod", b); row.Status != catalog.StatusPartial {
		t.Errorf("partial set recorded as %s", row.Status)
	}
}

func TestSyncCatalogMarksSetsWhoseManifestIsGone(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	now := time.Now().UTC()
	kept := inventorytest.WriteSet(t, store, "prod", now.Add(-3*time.Hour), catalog.StatusComplete, now)
	gone := inventorytest.WriteSet(t, store, "prod", now.Add(-2*time.Hour), catalog.StatusComplete, now)
	gonePartial := inventorytest.WriteSet(t, store, "prod", now.Add(-time.Hour), catalog.StatusPartial, now)
	cat := inventorytest.NewCatalog()
	if _, err := Run(ctx, store, cat, nil); err != nil {
		t.Fatal(err)
	}
	// Deleted behind qbackup's back, and a failed run's row and a row of
	// unknown location: neither is this store's to mark.
	_ = store.Delete(ctx, manifest.ManifestKey("prod", gone))
	_ = store.Delete(ctx, manifest.ManifestKey("prod", gonePartial))
	failed := manifest.NewBackupID(now.Add(-4 * time.Hour))
	_ = cat.BackupFailed(ctx, "prod", failed, "peer down")
	legacy := manifest.NewBackupID(now.Add(-5 * time.Hour))
	cat.Put(catalog.IndexRow{Cluster: "prod", BackupID: legacy, Status: catalog.StatusComplete, Unlocated: true})
	// And a set in storage the catalog does not know yet.
	added := inventorytest.WriteSet(t, store, "prod", now, catalog.StatusComplete, now)

	rep, err := Run(ctx, store, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rep.Missing)
	if want := []string{"prod/" + gone, "prod/" + gonePartial}; !slices.Equal(rep.Missing, want) {
		t.Errorf("marked missing %v, want %v", rep.Missing, want)
	}
	for id, want := range map[string]string{kept: catalog.StatusComplete, gone: catalog.StatusMissing, gonePartial: catalog.StatusMissing,
		failed: catalog.StatusFailed, legacy: catalog.StatusComplete, added: catalog.StatusComplete} {
		if row, _, ok := cat.Row("prod", id); !ok || row.Status != want {
			t.Errorf("row %s: %+v (present %v), want status %s", id, row, ok, want)
		}
	}
	if _, reason, _ := cat.Row("prod", gone); reason == "" {
		t.Error("a missing set's row does not say why")
	}

	// A second sync changes nothing more: idempotent.
	rep, err = Run(ctx, store, cat, nil)
	if err != nil || len(rep.Missing) != 0 {
		t.Errorf("second sync marked %v, %v; want nothing", rep.Missing, err)
	}
}

func TestCatalogSyncOfEncryptedSets(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	rec, ids, _ := crypttest.Key(t)
	_, otherIDs, _ := crypttest.Key(t)
	ctx := context.Background()
	store := storage.NewMemory()
	complete := inventorytest.WriteEncryptedSet(t, store, rec, inventorytest.EncryptedSet{Cluster: "prod", At: now.Add(-2 * time.Hour), Mod: now})
	partial := inventorytest.WriteEncryptedSet(t, store, rec, inventorytest.EncryptedSet{Cluster: "prod", At: now.Add(-time.Hour), Mod: now, Partial: true})

	// Secrets without an identity may carry an empty set, not nil.
	for name, none := range map[string]*crypt.Identities{"nil": nil, "empty": {}} {
		t.Run("without the key ("+name+"): what storage tells", func(t *testing.T) {
			syncWithout(t, store, none, complete, partial)
		})
	}
	t.Run("with the key: the manifests", func(t *testing.T) {
		cat := inventorytest.NewCatalog()
		if _, err := Run(ctx, store, cat, ids); err != nil {
			t.Fatal(err)
		}
		if len(cat.Completed) != 2 || len(cat.Encrypted) != 0 || cat.Completed[0].Collections[0].Name != "docs" {
			t.Fatalf("recorded %d manifests and %d encrypted sets", len(cat.Completed), len(cat.Encrypted))
		}
	})
	t.Run("with another key: each set fails, named", func(t *testing.T) {
		cat := inventorytest.NewCatalog()
		rep, err := Run(ctx, store, cat, otherIDs)
		if !errors.Is(err, crypt.ErrWrongIdentity) || len(rep.Failed) != 2 || cat.Len() != 0 {
			t.Fatalf("sync: %+v, %v, %d rows", rep, err, cat.Len())
		}
	})
}

// syncWithout syncs the two encrypted sets without a key and checks the
// rows: their status, the id's time, their size.
func syncWithout(t *testing.T, store *storage.Memory, ids *crypt.Identities, complete, partial string) {
	t.Helper()
	ctx := context.Background()
	cat := inventorytest.NewCatalog()
	rep, err := Run(ctx, store, cat, ids)
	if err != nil || len(rep.Synced) != 2 {
		t.Fatalf("sync: %+v, %v", rep, err)
	}
	if len(cat.Completed) != 0 || len(cat.Encrypted) != 2 {
		t.Fatalf("recorded %d manifests and %d encrypted sets", len(cat.Completed), len(cat.Encrypted))
	}
	for id, st := range map[string]string{complete: catalog.StatusComplete, partial: catalog.StatusPartial} {
		row, _, ok := cat.Row("prod", id)
		if t0, _ := manifest.BackupIDTime(id); !ok || row.Status != st || !row.StartedAt.Equal(t0) {
			t.Errorf("row %s: %+v, want %s at the id's time", id, row, st)
		}
	}
	for _, s := range cat.Encrypted {
		if s.Bytes <= 0 {
			t.Errorf("set %s recorded with %d bytes", s.BackupID, s.Bytes)
		}
	}
}
