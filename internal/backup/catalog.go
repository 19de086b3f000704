package backup

import (
	"context"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
)

// CatalogAdapter lets the catalog serve as Catalog: it hands out the
// catalog's leases as this package's.
type CatalogAdapter struct{ c *catalog.Catalog }

// NewCatalog adapts an open catalog.
func NewCatalog(c *catalog.Catalog) *CatalogAdapter { return &CatalogAdapter{c: c} }

var _ Catalog = (*CatalogAdapter)(nil)

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
