package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// readSide is the backup storage, and the catalogue when
// QBACKUP_CATALOG_DSN is set: the same sources as `qbackup list`. Secrets
// come from the environment only, never from flags.
type readSide struct {
	store storage.Backend
	cat   *catalog.Catalog
}

func openReadSide(ctx context.Context, src config.Source) (*readSide, error) {
	if src.S3MaxAttempts < 0 {
		return nil, config.Invalidf("--s3-max-attempts %d: must be 1 or more (0 for the default)", src.S3MaxAttempts)
	}
	secrets, err := config.LoadSecrets(ctx, nil)
	if err != nil {
		return nil, err
	}
	st, err := storage.Open(ctx, src.Storage, storage.Options{
		S3Endpoint: src.S3Endpoint, S3Region: src.S3Region, S3PathStyle: src.S3PathStyle, MaxAttempts: src.S3MaxAttempts,
	})
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	rs := &readSide{store: st}
	if secrets.CatalogDSN == "" {
		return rs, nil
	}
	cat, err := catalog.Open(ctx, secrets.CatalogDSN)
	if err != nil {
		if errors.Is(err, catalog.ErrInvalidDSN) {
			return nil, config.Invalid(err)
		}
		return nil, err
	}
	if err := cat.CheckSchema(ctx); err != nil {
		cat.Close()
		return nil, err
	}
	rs.cat = cat
	return rs, nil
}

func (r *readSide) index() inventory.Index {
	if r.cat == nil {
		return nil
	}
	return r.cat
}

func (r *readSide) close() {
	if r.cat != nil {
		r.cat.Close()
	}
}

// load resolves ref ("latest" or an id) and reads its manifest.
func (r *readSide) load(ctx context.Context, cluster, ref string) (*manifest.Manifest, error) {
	id, err := inventory.Resolve(ctx, r.store, r.index(), cluster, ref)
	if err != nil {
		return nil, config.Invalid(err)
	}
	return inventory.Load(ctx, r.store, cluster, id)
}
