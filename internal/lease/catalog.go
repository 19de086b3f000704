package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
)

// catalogLeases adapts the catalog: its lease errors become this
// package's.
type catalogLeases struct{ c *catalog.Catalog }

// FromCatalog adapts an open catalog to Catalog; nil gives nil, so
// Options.Catalog stays unset without a catalog.
func FromCatalog(c *catalog.Catalog) Catalog {
	if c == nil {
		return nil
	}
	return catalogLeases{c}
}

func (a catalogLeases) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lock, error) {
	l, err := a.c.AcquireLease(ctx, name, holder, ttl)
	if err != nil {
		var held *catalog.LockHeldError
		if errors.As(err, &held) {
			return nil, &HeldError{Lock: held.Name, Holder: held.Holder, Since: held.Since, Expires: held.Expires, Err: err}
		}
		return nil, err
	}
	return catalogLease{l}, nil
}

type catalogLease struct{ l *catalog.Lease }

func (l catalogLease) Renew(ctx context.Context) error {
	err := l.l.Renew(ctx)
	if errors.Is(err, catalog.ErrLeaseLost) {
		return fmt.Errorf("%w: %w", ErrLost, err)
	}
	return err
}

func (l catalogLease) Release(ctx context.Context) error {
	err := l.l.Release(ctx)
	if errors.Is(err, catalog.ErrLeaseLost) {
		// Already released or taken over after expiring: not ours any more.
		return nil
	}
	return err
}
