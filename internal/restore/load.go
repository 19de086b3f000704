package restore

import (
	"context"
	"errors"
	"fmt"

	"github.com/qbackup/qbackup/internal/manifest"
)

// ErrUnknownBackup is a backup id without a manifest in storage.
var ErrUnknownBackup = errors.New("unknown backup")

// LoadManifest reads and validates the manifest of one backup set from
// storage, the source of truth. A manifest of a format this build does
// not know fails with manifest.ErrUnsupportedFormat; a set without a
// manifest (never finished, or no such id) with ErrUnknownBackup.
func LoadManifest(ctx context.Context, store Store, cluster, backupID string, notFound func(error) bool) (*manifest.Manifest, error) {
	if !manifest.IsBackupID(backupID) {
		return nil, fmt.Errorf("backup id %q is malformed (want e.g. 20261125T133000Z-3f9c): %w", backupID, ErrUnknownBackup)
	}
	key := manifest.ManifestKey(cluster, backupID)
	r, err := store.Open(ctx, key, 0)
	if err != nil {
		d := Deps{NotFound: notFound}
		if d.notFound(err) {
			return nil, fmt.Errorf("backup %s of cluster %q: no manifest at %s: %w", backupID, cluster, key, ErrUnknownBackup)
		}
		return nil, fmt.Errorf("read manifest %s: %w", key, err)
	}
	defer r.Close()
	m, err := manifest.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", key, err)
	}
	if m.Cluster != cluster || m.BackupID != backupID {
		return nil, fmt.Errorf("manifest %s describes backup %s of cluster %q", key, m.BackupID, m.Cluster)
	}
	return m, nil
}
