package inventory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// Set is everything storage holds under one backup prefix
// (<cluster>/<backup-id>/), committed or not.
type Set struct {
	Cluster string
	ID      string
	// ManifestKey is empty when the set has no manifest (a failed or
	// killed run, or one still running).
	ManifestKey string
	// EncryptedKey is the key of the encrypted manifest, empty when the
	// set has none.
	EncryptedKey string
	Keys         []string
	Bytes        int64
	Newest       time.Time
}

// Lister lists objects; every storage backend is one.
type Lister interface {
	List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error
}

// Scan lists the backup sets under prefix ("" for every cluster), sorted
// by cluster and id: objects are grouped by <cluster>/<backup-id>/; lock
// and journal objects and anything else that is not under a backup id are
// ignored.
func Scan(ctx context.Context, store Lister, prefix string) ([]*Set, error) {
	byPrefix := map[string]*Set{}
	err := store.List(ctx, prefix, func(o storage.ObjectInfo) error {
		parts := strings.SplitN(o.Key, "/", 3)
		if len(parts) < 3 || !manifest.IsBackupID(parts[1]) {
			return nil
		}
		cluster, err := manifest.UnescapeName(parts[0])
		if err != nil {
			return nil
		}
		p := parts[0] + "/" + parts[1]
		s := byPrefix[p]
		if s == nil {
			s = &Set{Cluster: cluster, ID: parts[1]}
			byPrefix[p] = s
		}
		s.Keys = append(s.Keys, o.Key)
		s.Bytes += o.Size
		if o.ModTime.After(s.Newest) {
			s.Newest = o.ModTime
		}
		if c, id, ok := manifest.ParseManifestKey(o.Key); ok && c == cluster && id == s.ID {
			s.ManifestKey = o.Key
		}
		if o.Key == manifest.EncryptedManifestKey(cluster, s.ID) {
			s.EncryptedKey = o.Key
		}
		return nil
	})
	if err != nil {
		if prefix == "" {
			return nil, fmt.Errorf("list backups in storage: %w", err)
		}
		return nil, fmt.Errorf("list backups in storage under %s: %w", prefix, err)
	}
	out := make([]*Set, 0, len(byPrefix))
	for _, s := range byPrefix {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Set) int { return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// CheckPublic checks that p, the readable part of an encrypted manifest
// found at s.ManifestKey, is the set's, and that the encrypted manifest
// is there.
func (s *Set) CheckPublic(p *manifest.Public) error {
	if p.Cluster != s.Cluster || p.BackupID != s.ID {
		return fmt.Errorf("manifest %s describes backup %s of cluster %q: %w", s.ManifestKey, p.BackupID, p.Cluster, manifest.ErrCorrupt)
	}
	if s.EncryptedKey == "" {
		return fmt.Errorf("manifest %s is the readable part of an encrypted manifest, and %s is missing: %w",
			s.ManifestKey, manifest.EncryptedManifestKey(s.Cluster, s.ID), manifest.ErrCorrupt)
	}
	return nil
}
