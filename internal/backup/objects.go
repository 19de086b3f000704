package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/qbackup/qbackup/internal/manifest"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// deletePrefix deletes every object under prefix, a manifest first: a set
// whose deletion stops half way must no longer pass for a backup. It
// returns how many objects it deleted.
func deletePrefix(ctx context.Context, store Store, prefix string) (int, error) {
	var keys []string
	if err := store.List(ctx, prefix, func(o ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("list %s: %w", prefix, err)
	}
	return deleteKeys(ctx, store, keys)
}

// deleteKeys deletes the keys, manifests first.
func deleteKeys(ctx context.Context, store Store, keys []string) (int, error) {
	ordered := manifest.ManifestsFirst(keys)
	for i, k := range ordered {
		if err := store.Delete(ctx, k); err != nil {
			return i, fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return len(ordered), nil
}
