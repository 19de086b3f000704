package backup

import (
	"context"
	"errors"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
)

// CatalogAdapter lets the catalog serve as Catalog and IndexCatalog: it
// turns the catalog's lease and lock errors into this package's, and its
// rows into CatalogEntry values.
type CatalogAdapter struct{ c *catalog.Catalog }

// NewCatalog adapts an open catalog.
func NewCatalog(c *catalog.Catalog) *CatalogAdapter { return &CatalogAdapter{c: c} }

var (
	_ Catalog      = (*CatalogAdapter)(nil)
	_ IndexCatalog = (*CatalogAdapter)(nil)
)

// AcquireLease takes a lease; a held one gives a *LockHeldError.
func (a *CatalogAdapter) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	return lease.FromCatalog(a.c).AcquireLease(ctx, name, holder, ttl)
}

// BackupStarted records a running set.
func (a *CatalogAdapter) BackupStarted(ctx context.Context, cluster, id, holder string, startedAt time.Time) error {
	return a.c.BackupStarted(ctx, cluster, id, holder, startedAt)
}

// BackupCompleted records a committed set.
func (a *CatalogAdapter) BackupCompleted(ctx context.Context, m *manifest.Manifest) error {
	return a.c.BackupCompleted(ctx, m)
}

// BackupFailed marks a set failed.
func (a *CatalogAdapter) BackupFailed(ctx context.Context, cluster, id, reason string) error {
	return a.c.BackupFailed(ctx, cluster, id, reason)
}

// SyncManifest upserts a set from its manifest.
func (a *CatalogAdapter) SyncManifest(ctx context.Context, m *manifest.Manifest) error {
	return a.c.SyncManifest(ctx, m)
}

// SyncEncryptedSet records an encrypted set read without the key.
func (a *CatalogAdapter) SyncEncryptedSet(ctx context.Context, s catalog.EncryptedSet) error {
	return a.c.SyncEncryptedSet(ctx, s)
}

// DeleteBackup deletes a row; a missing row is not an error.
func (a *CatalogAdapter) DeleteBackup(ctx context.Context, cluster, id string) error {
	if err := a.c.DeleteBackup(ctx, cluster, id); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	return nil
}

// MarkBackupMissing marks a set whose manifest is gone from storage.
func (a *CatalogAdapter) MarkBackupMissing(ctx context.Context, cluster, id, reason string) error {
	return a.c.MarkBackupMissing(ctx, cluster, id, reason)
}

// ListBackups lists the rows of a cluster, or of all clusters for "".
func (a *CatalogAdapter) ListBackups(ctx context.Context, cluster string) ([]CatalogEntry, error) {
	rows, err := a.c.ListBackups(ctx, cluster)
	if err != nil {
		return nil, err
	}
	out := make([]CatalogEntry, len(rows))
	for i, r := range rows {
		out[i] = CatalogEntry{Cluster: r.Cluster, BackupID: r.BackupID, Status: r.Status, StartedAt: r.StartedAt, VerifyStatus: r.VerifyStatus,
			Unlocated: a.c.Location() != "" && r.StorageLocation == ""}
	}
	return out, nil
}
