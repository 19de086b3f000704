//go:build integration

package catalog

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// ids lists the backup ids of rows, in order.
func ids(rows []BackupSummary) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.BackupID)
	}
	return out
}

func TestStoreLocationsSharingOneCatalogStayApart(t *testing.T) {
	ctx := t.Context()
	base := openMigrated(t)
	const locA, locB = "file:///backups/a", "s3://bucket/b?endpoint=http%3A%2F%2Fminio%3A9000"
	a, b := base.At(locA), base.At(locB)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	inA := testManifest("prod", t0)
	inB := testManifest("prod", t0.Add(time.Hour)) // newer, in the other store
	if err := a.BackupCompleted(ctx, inA); err != nil {
		t.Fatal(err)
	}
	if err := b.BackupCompleted(ctx, inB); err != nil {
		t.Fatal(err)
	}
	// A row recorded before locations were kept.
	legacy := testManifest("prod", t0.Add(-time.Hour))
	if err := base.BackupCompleted(ctx, legacy); err != nil {
		t.Fatal(err)
	}

	rowsA, err := a.ListBackups(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(rowsA), []string{inA.BackupID, legacy.BackupID}; !slices.Equal(got, want) {
		t.Errorf("store A lists %v, want its own set and the unlocated one %v", got, want)
	}
	if rowsA[0].StorageLocation != locA || rowsA[1].StorageLocation != "" {
		t.Errorf("locations %q, %q; want %q and none", rowsA[0].StorageLocation, rowsA[1].StorageLocation, locA)
	}
	// Prune and sync see the unlocated row as such; the unscoped
	// catalog judges no row by location.
	if idx, err := a.IndexRows(ctx, "prod"); err != nil || len(idx) != 2 || idx[0].Unlocated || !idx[1].Unlocated {
		t.Errorf("store A's index rows %+v, %v; want its own set located and the old one unlocated", idx, err)
	}
	if idx, _ := base.IndexRows(ctx, ""); len(idx) != 3 || idx[0].Unlocated || idx[1].Unlocated || idx[2].Unlocated {
		t.Errorf("the unscoped catalog's index rows %+v; want none unlocated", idx)
	}
	if all, _ := base.ListBackups(ctx, ""); len(all) != 3 {
		t.Errorf("the unscoped catalog lists %d rows, want all 3", len(all))
	}
	latest, err := a.LatestComplete(ctx, "prod")
	if err != nil || latest.BackupID != inA.BackupID {
		t.Errorf("store A's latest = %v, %v; want its own %s, not B's newer set", latest, err, inA.BackupID)
	}
	if _, err := a.GetBackup(ctx, "prod", inB.BackupID); !errors.Is(err, ErrNotFound) {
		t.Errorf("store A finds B's set: %v", err)
	}

	// Nothing done through A touches B's row.
	if err := a.DeleteBackup(ctx, "prod", inB.BackupID); !errors.Is(err, ErrNotFound) {
		t.Errorf("store A deleting B's set = %v, want ErrNotFound", err)
	}
	if err := a.SetVerifyStatus(ctx, "prod", inB.BackupID, VerifyCorrupt, "x"); err == nil {
		t.Error("store A marked B's set corrupt")
	}
	if err := a.MarkBackupMissing(ctx, "prod", inB.BackupID, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := a.SyncManifest(ctx, inB); !errors.Is(err, ErrOtherLocation) {
		t.Errorf("store A syncing a copy of B's set = %v, want ErrOtherLocation", err)
	}
	if got, err := b.GetBackup(ctx, "prod", inB.BackupID); err != nil || got.Status != StatusComplete || got.VerifyStatus != VerifyUnverified || got.StorageLocation != locB {
		t.Errorf("B's row after A's attempts: %+v, %v", got, err)
	}

	// Missing is only ever this location's own complete row.
	if err := a.MarkBackupMissing(ctx, "prod", legacy.BackupID, "gone"); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.GetBackup(ctx, "prod", legacy.BackupID); got.Status != StatusComplete {
		t.Errorf("an unlocated row was marked %s", got.Status)
	}
	if err := a.MarkBackupMissing(ctx, "prod", inA.BackupID, "manifest deleted"); err != nil {
		t.Fatal(err)
	}
	got, _ := a.GetBackup(ctx, "prod", inA.BackupID)
	if got.Status != StatusMissing || got.Reason != "manifest deleted" {
		t.Errorf("A's set after MarkBackupMissing: status %s, reason %q", got.Status, got.Reason)
	}
	if latest, err := a.LatestComplete(ctx, "prod"); err != nil || latest.BackupID != legacy.BackupID {
		t.Errorf("latest after A's set went missing = %v, %v; want the unlocated %s", latest, err, legacy.BackupID)
	}
	// The manifest found again makes it complete again.
	if err := a.SyncManifest(ctx, inA); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.GetBackup(ctx, "prod", inA.BackupID); got.Status != StatusComplete {
		t.Errorf("re-synced set is %s, want complete", got.Status)
	}

	// Syncing claims an unlocated row for the store that holds the set.
	if err := a.SyncManifest(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	if got, _ := base.GetBackup(ctx, "prod", legacy.BackupID); got.StorageLocation != locA {
		t.Errorf("synced unlocated row has location %q, want %q", got.StorageLocation, locA)
	}
	if rowsB, _ := b.ListBackups(ctx, "prod"); !slices.Equal(ids(rowsB), []string{inB.BackupID}) {
		t.Errorf("store B lists %v after A claimed the old row, want only its own", ids(rowsB))
	}

	// Deleting through its own location works.
	if err := b.DeleteBackup(ctx, "prod", inB.BackupID); err != nil {
		t.Fatal(err)
	}
	if _, err := base.GetBackup(ctx, "prod", inB.BackupID); !errors.Is(err, ErrNotFound) {
		t.Errorf("B's row after B deleted it: %v", err)
	}
}

func TestRunningAndFailedRowsCarryTheirLocation(t *testing.T) {
	ctx := t.Context()
	base := openMigrated(t)
	a, b := base.At("file:///a"), base.At("file:///b")
	started := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	m := testManifest("prod", started)
	if err := a.BackupStarted(ctx, "prod", m.BackupID, "job-1", started); err != nil {
		t.Fatal(err)
	}
	if rows, _ := b.ListBackups(ctx, "prod"); len(rows) != 0 {
		t.Errorf("store B sees A's running set: %v", ids(rows))
	}
	// B cannot fail A's run; A can.
	_ = b.BackupFailed(ctx, "prod", m.BackupID, "not mine")
	if got, _ := a.GetBackup(ctx, "prod", m.BackupID); got.Status != StatusRunning {
		t.Errorf("B failed A's running set: %s", got.Status)
	}
	if err := a.BackupFailed(ctx, "prod", m.BackupID, "peer down"); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.GetBackup(ctx, "prod", m.BackupID); got.Status != StatusFailed || got.StorageLocation != "file:///a" {
		t.Errorf("A's failed set: %+v", got)
	}
	other := testManifest("prod", started.Add(time.Minute))
	if err := b.BackupFailed(ctx, "prod", other.BackupID, "died before starting"); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.GetBackup(ctx, "prod", other.BackupID); got.StorageLocation != "file:///b" {
		t.Errorf("a failed row recorded without a start has location %q", got.StorageLocation)
	}
}
