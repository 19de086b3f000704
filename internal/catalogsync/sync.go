// Package catalogsync rebuilds the catalog from storage: storage is the
// truth and the catalog an index of it, so every manifest in storage is
// recorded and every row whose manifest is gone is marked missing.
package catalogsync

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// Store is the object storage the catalog indexes; every storage backend
// is one.
type Store interface {
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error
}

// Catalog is what a sync needs from the catalog; *catalog.Catalog is one.
type Catalog interface {
	// IndexRows lists the rows of one cluster, or of all clusters for "".
	IndexRows(ctx context.Context, cluster string) ([]catalog.IndexRow, error)
	SyncManifest(ctx context.Context, m *manifest.Manifest) error
	// SyncEncryptedSet records a set whose manifest is encrypted from
	// what storage tells without the key.
	SyncEncryptedSet(ctx context.Context, s catalog.EncryptedSet) error
	// MarkBackupMissing records that a complete or partial set of this
	// store has no manifest in storage any more (never "latest" again).
	MarkBackupMissing(ctx context.Context, cluster, id, reason string) error
}

// Report lists what Run did.
type Report struct {
	// Synced are the manifest keys recorded.
	Synced []string
	// Missing are the sets ("cluster/id") the catalog had as complete or
	// partial whose manifest storage no longer holds; they are now marked
	// missing.
	Missing []string
	// Failed maps manifest keys to why they were not recorded.
	Failed map[string]string
}

// Run reconciles the catalog with storage both ways (storage is
// the truth, the catalog an index rebuilt from it): every manifest in
// storage is recorded (upserting, so running it twice changes nothing),
// and every set the catalog has as complete or partial in this store
// whose manifest is gone is marked missing, so "latest" no longer picks
// it. Rows recorded before the catalog kept storage locations are never
// marked: they may be another store's. A manifest that cannot be read or
// recorded does not stop the others; the errors are returned joined.
//
// An encrypted manifest is decrypted with ids and recorded in full (ids
// that do not open it fail the set); without a key (ids nil or empty)
// the set is recorded with what storage tells (see
// catalog.SyncEncryptedSet), and a row the backup recorded from the
// manifest stays as it is.
func Run(ctx context.Context, store Store, cat Catalog, ids *crypt.Identities) (*Report, error) {
	sets, err := inventory.Scan(ctx, store, "")
	if err != nil {
		return nil, fmt.Errorf("catalog sync: %w", err)
	}
	rep := &Report{Failed: map[string]string{}}
	var errs []error
	for _, s := range sets {
		if s.ManifestKey == "" {
			continue
		}
		m, p, err := manifest.ReadCommit(ctx, store, s.ManifestKey)
		switch {
		case err != nil:
		case p != nil:
			err = syncEncrypted(ctx, store, cat, s, p, ids)
		default:
			err = cat.SyncManifest(ctx, m)
		}
		if err != nil {
			rep.Failed[s.ManifestKey] = err.Error()
			errs = append(errs, fmt.Errorf("catalog sync of %s: %w", s.ManifestKey, err))
			continue
		}
		rep.Synced = append(rep.Synced, s.ManifestKey)
	}

	// The other way: rows whose manifest storage no longer has.
	inStorage := map[string]bool{}
	for _, s := range sets {
		if s.ManifestKey != "" {
			inStorage[s.Cluster+"/"+s.ID] = true
		}
	}
	rows, err := cat.IndexRows(ctx, "")
	if err != nil {
		return rep, errors.Join(append(errs, fmt.Errorf("catalog sync: %w", err))...)
	}
	for _, r := range rows {
		k := r.Cluster + "/" + r.BackupID
		if r.Unlocated || inStorage[k] || (r.Status != catalog.StatusComplete && r.Status != catalog.StatusPartial) {
			continue
		}
		reason := fmt.Sprintf("catalog sync found no manifest at %s: the set was deleted from storage outside qbackup", manifest.ManifestKey(r.Cluster, r.BackupID))
		if err := cat.MarkBackupMissing(ctx, r.Cluster, r.BackupID, reason); err != nil {
			rep.Failed[k] = err.Error()
			errs = append(errs, fmt.Errorf("catalog sync of %s: %w", k, err))
			continue
		}
		rep.Missing = append(rep.Missing, k)
	}
	return rep, errors.Join(errs...)
}

// syncEncrypted records a set whose manifest is encrypted (p is its
// readable part): in full when ids hold a key (one must open it), else
// with what storage tells.
func syncEncrypted(ctx context.Context, store Store, cat Catalog, s *inventory.Set, p *manifest.Public, ids *crypt.Identities) error {
	if err := s.CheckPublic(p); err != nil {
		return err
	}
	if len(ids.Keys()) == 0 {
		// (Secrets may hold an empty, non-nil set.)
		return cat.SyncEncryptedSet(ctx, catalog.EncryptedSet{Cluster: s.Cluster, BackupID: s.ID, Partial: p.Partial, Bytes: s.Bytes})
	}
	m, err := manifest.ReadEncrypted(ctx, store, s.EncryptedKey, ids)
	if err != nil {
		return err
	}
	if m.Cluster != s.Cluster || m.BackupID != s.ID {
		return fmt.Errorf("manifest %s describes backup %s of cluster %q: %w", s.EncryptedKey, m.BackupID, m.Cluster, manifest.ErrCorrupt)
	}
	return cat.SyncManifest(ctx, m)
}
