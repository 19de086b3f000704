package manifest

import (
	"context"
	"fmt"
	"io"
)

// Opener is the read side of the backup storage; every storage backend
// implements it.
type Opener interface {
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
}

// Read opens and decodes the manifest at key. Errors from the store are
// wrapped, so callers can still tell a missing object with errors.Is.
func Read(ctx context.Context, store Opener, key string) (*Manifest, error) {
	r, err := store.Open(ctx, key, 0)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", key, err)
	}
	defer r.Close()
	m, err := Decode(r)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", key, err)
	}
	return m, nil
}
