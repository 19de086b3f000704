package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// OpenStore opens the backup storage named by src, with the server-side
// encryption of src and the SSE-C key of secrets. readOnly is for
// commands that only read backups: a file store's directory must then
// exist (a mistyped path is an error, and nothing is created); a backup
// creates it with its first object.
func OpenStore(ctx context.Context, src config.Source, secrets config.Secrets, readOnly bool) (storage.Backend, error) {
	// src was validated by the parser (config.Source.Validate); the
	// combination with the secrets is checked here, still before
	// anything is contacted.
	enc, err := config.StorageEncryption(src, secrets)
	if err != nil {
		return nil, err
	}
	st, err := storage.Open(ctx, src.Storage, storage.Options{
		Encryption:  enc,
		S3Endpoint:  src.S3Endpoint,
		S3Region:    src.S3Region,
		S3PathStyle: src.S3PathStyle,
		MaxAttempts: src.S3MaxAttempts,
		S3Timeout:   src.S3Timeout,
		MustExist:   readOnly,
	})
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	return st, nil
}

// OpenCatalog opens the catalog when a DSN is configured, and returns nil
// without one: storage alone is enough, the catalog is an index. The
// schema is migrated when asked, else checked, so an old schema fails
// before any work starts rather than halfway through.
//
// timeout bounds every statement (--catalog-timeout); 0 keeps the
// catalog's default.
func OpenCatalog(ctx context.Context, secrets config.Secrets, timeout time.Duration, migrate bool, log *slog.Logger) (*catalog.Catalog, error) {
	if secrets.CatalogDSN == "" {
		return nil, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cat, err := catalog.Open(ctx, secrets.CatalogDSN, catalog.WithLogger(log), catalog.WithTimeout(timeout))
	if err != nil {
		if errors.Is(err, catalog.ErrInvalidDSN) {
			return nil, config.Invalid(err)
		}
		return nil, err
	}
	if migrate {
		var applied []catalog.Migration
		applied, err = cat.Migrate(ctx)
		for _, m := range applied {
			log.Info("catalog migration applied", "version", m.Version, "name", m.Name)
		}
	} else {
		err = cat.CheckSchema(ctx)
	}
	if err != nil {
		cat.Close()
		return nil, err
	}
	return cat, nil
}

// StoreLocation is the canonical name of the store src names, as the
// catalog records it beside each set: file:///clean/path, or
// s3://bucket/prefix plus the endpoint's scheme and host for S3-compatible
// servers (two MinIOs may hold buckets of one name). It never holds
// credentials: storage URLs refuse them, and the endpoint keeps only its
// scheme and host. src must be valid (config.Source.Validate).
func StoreLocation(src config.Source) string {
	loc, err := storage.ParseURL(src.Storage)
	if err != nil {
		return ""
	}
	if loc.Scheme == "file" {
		return "file://" + path.Clean(loc.Path)
	}
	out := "s3://" + loc.Bucket
	if p := strings.Trim(loc.Prefix, "/"); p != "" {
		out += "/" + p
	}
	if src.S3Endpoint != "" {
		if u, err := url.Parse(src.S3Endpoint); err == nil && u.Host != "" {
			out += "?endpoint=" + url.QueryEscape(strings.ToLower(u.Scheme)+"://"+strings.ToLower(u.Host))
		}
	}
	return out
}

// ScopeCatalog scopes cat (nil: none) to the location of src: the sets it
// records, lists, finds and prunes are that store's only.
func ScopeCatalog(cat *catalog.Catalog, src config.Source) *catalog.Catalog {
	if cat == nil {
		return nil
	}
	return cat.At(StoreLocation(src))
}

// ReadSide is what list, describe, verify and restore read: storage, and
// the catalog when QBACKUP_CATALOG_DSN is set. Secrets come from the
// environment only.
type ReadSide struct {
	Store   storage.Backend
	Catalog *catalog.Catalog // nil without a catalog; scoped to the store's location
	// Log receives the warnings of resolving "latest" (sets skipped).
	Log *slog.Logger
	// Identities decrypt client-side encrypted sets (restore, verify);
	// nil without QBACKUP_AGE_IDENTITY(_FILE).
	Identities *crypt.Identities
}

// OpenReadSide opens storage and the optional catalog.
func OpenReadSide(ctx context.Context, src config.Source, log *slog.Logger) (*ReadSide, error) {
	secrets, err := config.LoadSecrets(ctx, nil)
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(ctx, src, secrets, true)
	if err != nil {
		return nil, err
	}
	cat, err := OpenCatalog(ctx, secrets, src.CatalogTimeout, false, log)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ReadSide{Store: store, Catalog: ScopeCatalog(cat, src), Log: log, Identities: secrets.Identities}, nil
}

// Index is the catalog as an inventory index, nil without one.
func (r *ReadSide) Index() inventory.Index {
	if r.Catalog == nil {
		return nil
	}
	return r.Catalog
}

// Close closes the catalog.
func (r *ReadSide) Close() {
	if r.Catalog != nil {
		r.Catalog.Close()
	}
}

// Load resolves ref ("latest" or an id) and reads its manifest from
// storage. "latest" skips sets whose manifest cannot be read, with a
// warning naming each; a set named by id is read or refused.
func (r *ReadSide) Load(ctx context.Context, cluster, ref string) (*manifest.Manifest, error) {
	// Errors keep their own exit code: no such backup is bad input, an
	// unreadable manifest named by id (or every candidate for "latest"
	// unreadable) is a corrupt backup.
	if ref == "latest" {
		return inventory.LoadLatest(ctx, r.Store, r.Index(), cluster, r.Identities, r.Log)
	}
	id, err := inventory.Resolve(ctx, r.Store, r.Index(), cluster, ref)
	if err != nil {
		return nil, err
	}
	return inventory.Load(ctx, r.Store, cluster, id, r.Identities)
}
