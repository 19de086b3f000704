package backup

import (
	"context"
	"errors"
	"fmt"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/manifest"
)

// SyncReport lists what SyncCatalog did.
type SyncReport struct {
	// Synced are the manifest keys recorded.
	Synced []string
	// Missing are the sets ("cluster/id") the catalog had as complete or
	// partial whose manifest storage no longer holds; they are now marked
	// missing.
	Missing []string
	// Failed maps manifest keys to why they were not recorded.
	Failed map[string]string
}

// SyncCatalog reconciles the catalog with storage both ways (storage is
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
func SyncCatalog(ctx context.Context, store Store, cat IndexCatalog, ids *crypt.Identities) (*SyncReport, error) {
	sets, err := scanSets(ctx, store, "")
	if err != nil {
		return nil, fmt.Errorf("catalog sync: %w", err)
	}
	rep := &SyncReport{Failed: map[string]string{}}
	var errs []error
	for _, s := range sets {
		if s.manifestKey == "" {
			continue
		}
		m, p, err := manifest.ReadCommit(ctx, store, s.manifestKey)
		switch {
		case err != nil:
		case p != nil:
			err = syncEncrypted(ctx, store, cat, s, p, ids)
		default:
			err = cat.SyncManifest(ctx, m)
		}
		if err != nil {
			rep.Failed[s.manifestKey] = err.Error()
			errs = append(errs, fmt.Errorf("catalog sync of %s: %w", s.manifestKey, err))
			continue
		}
		rep.Synced = append(rep.Synced, s.manifestKey)
	}

	// The other way: rows whose manifest storage no longer has.
	inStorage := map[string]bool{}
	for _, s := range sets {
		if s.manifestKey != "" {
			inStorage[s.cluster+"/"+s.id] = true
		}
	}
	rows, err := cat.ListBackups(ctx, "")
	if err != nil {
		return rep, errors.Join(append(errs, fmt.Errorf("catalog sync: %w", err))...)
	}
	for _, r := range rows {
		k := r.Cluster + "/" + r.BackupID
		if r.Unlocated || inStorage[k] || (r.Status != StatusComplete && r.Status != StatusPartial) {
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
func syncEncrypted(ctx context.Context, store Store, cat IndexCatalog, s *storedSet, p *manifest.Public, ids *crypt.Identities) error {
	if err := checkPublic(s, p); err != nil {
		return err
	}
	if len(ids.Keys()) == 0 {
		// (Secrets may hold an empty, non-nil set.)
		return cat.SyncEncryptedSet(ctx, catalog.EncryptedSet{Cluster: s.cluster, BackupID: s.id, Partial: p.Partial, Bytes: s.bytes})
	}
	m, err := manifest.ReadEncrypted(ctx, store, s.encryptedKey, ids)
	if err != nil {
		return err
	}
	if m.Cluster != s.cluster || m.BackupID != s.id {
		return fmt.Errorf("manifest %s describes backup %s of cluster %q: %w", s.encryptedKey, m.BackupID, m.Cluster, manifest.ErrCorrupt)
	}
	return cat.SyncManifest(ctx, m)
}
