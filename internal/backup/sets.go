package backup

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
)

// storedSet is everything storage holds under one backup prefix.
type storedSet struct {
	cluster     string
	id          string
	manifestKey string // empty: no manifest (a failed or killed run, or one still running)
	// encryptedKey is the key of the encrypted manifest, empty when the
	// set has none.
	encryptedKey string
	keys         []string
	bytes        int64
	newest       time.Time
}

// scanSets lists the backup sets under prefix ("" for every cluster):
// objects are grouped by <cluster>/<backup-id>/; lock and journal objects
// and anything else that is not under a backup id are ignored.
func scanSets(ctx context.Context, store Store, prefix string) ([]*storedSet, error) {
	byPrefix := map[string]*storedSet{}
	err := store.List(ctx, prefix, func(o ObjectInfo) error {
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
			s = &storedSet{cluster: cluster, id: parts[1]}
			byPrefix[p] = s
		}
		s.keys = append(s.keys, o.Key)
		s.bytes += o.Size
		if o.ModTime.After(s.newest) {
			s.newest = o.ModTime
		}
		if c, id, ok := manifest.ParseManifestKey(o.Key); ok && c == cluster && id == s.id {
			s.manifestKey = o.Key
		}
		if o.Key == manifest.EncryptedManifestKey(cluster, s.id) {
			s.encryptedKey = o.Key
		}
		return nil
	})
	if err != nil {
		if prefix == "" {
			return nil, fmt.Errorf("list backups in storage: %w", err)
		}
		return nil, fmt.Errorf("list backups in storage under %s: %w", prefix, err)
	}
	out := make([]*storedSet, 0, len(byPrefix))
	for _, s := range byPrefix {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *storedSet) int { return cmp.Or(cmp.Compare(a.cluster, b.cluster), cmp.Compare(a.id, b.id)) })
	return out, nil
}
