package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/qbackup/qbackup/internal/catalogsync"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
)

type catalogCmd struct {
	Migrate catalogMigrateCmd `cmd:"" help:"Create or upgrade the catalog schema (needs QBACKUP_CATALOG_DSN)."`
	Sync    catalogSyncCmd    `cmd:"" help:"Rebuild the catalog from the manifests in storage."`
}

type catalogMigrateCmd struct{}

func (catalogMigrateCmd) Help() string {
	return `Creates the catalog tables, or applies the migrations a newer qbackup
needs. Idempotent.

Secrets come from the environment only (never flags):
  QBACKUP_CATALOG_DSN (or QBACKUP_CATALOG_DSN_FILE)
                           user:password@tcp(host:4000)/qbackup`
}

func (catalogMigrateCmd) Run(ctx context.Context, env *runEnv) error {
	secrets, err := config.LoadSecrets(ctx, nil)
	if err != nil {
		return err
	}
	if secrets.CatalogDSN == "" {
		return config.Invalidf("catalog migrate needs QBACKUP_CATALOG_DSN (or QBACKUP_CATALOG_DSN_FILE)")
	}
	cat, err := cli.OpenCatalog(ctx, secrets, 0, true, env.log)
	if err != nil {
		return err
	}
	defer cat.Close()
	_, err = fmt.Fprintln(env.stdout, "catalog schema is up to date")
	return err
}

type catalogSyncCmd struct {
	config.Source `embed:""`
}

func (c *catalogSyncCmd) Help() string {
	return `Rebuilds the catalog from the manifests in storage (storage is the
truth, the catalog an index). Idempotent: run it after restoring the
catalog database, or when a backup finished but could not be recorded.
A set whose manifest is encrypted (backup --encrypt-manifest) is recorded
in full with QBACKUP_AGE_IDENTITY(_FILE); without it, with what storage
tells (id, time, status, size), and a row the backup recorded stays.

` + config.StorageSecretsHelp
}

func (c *catalogSyncCmd) Run(ctx context.Context, env *runEnv) error {
	secrets, err := config.LoadSecrets(ctx, nil)
	if err != nil {
		return err
	}
	if secrets.CatalogDSN == "" {
		return config.Invalidf("catalog sync needs QBACKUP_CATALOG_DSN (or QBACKUP_CATALOG_DSN_FILE)")
	}
	store, err := cli.OpenStore(ctx, c.Source, secrets, true)
	if err != nil {
		return err
	}
	cat, err := cli.OpenCatalog(ctx, secrets, c.CatalogTimeout, false, env.log)
	if err != nil {
		return err
	}
	// The catalog's rows of this store only: stores sharing one
	// catalog and cluster name keep their sets apart.
	cat = cli.ScopeCatalog(cat, c.Source)
	defer cat.Close()
	rep, err := catalogsync.Run(ctx, store, cat, secrets.Identities)
	if err != nil {
		return err
	}
	// The summaries follow storage too: every cluster of the store.
	openSummaries(c.Source, env.log).pruned(ctx, nil, store, "")
	fmt.Fprintf(env.stdout, "catalog synced: %d manifests indexed, %d sets marked missing\n", len(rep.Synced), len(rep.Missing))
	for _, k := range rep.Missing {
		env.log.Warn("backup recorded in the catalog has no manifest in storage any more; marked missing", "backup", k)
	}
	if len(rep.Failed) > 0 {
		keys := make([]string, 0, len(rep.Failed))
		for k, why := range rep.Failed {
			keys = append(keys, k+": "+why)
		}
		sort.Strings(keys)
		return fmt.Errorf("%d manifests could not be indexed: %s", len(keys), strings.Join(keys, "; "))
	}
	return nil
}
