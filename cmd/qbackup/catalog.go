package main

import (
	"context"
	"fmt"

	"github.com/qbackup/qbackup/internal/config"
)

type catalogCmd struct {
	Migrate catalogMigrateCmd `cmd:"" help:"Create or upgrade the catalogue schema (needs QBACKUP_CATALOG_DSN)."`
}

type catalogMigrateCmd struct{}

func (catalogMigrateCmd) Run(ctx context.Context, env *runEnv) error {
	secrets, err := config.LoadSecrets(ctx, nil)
	if err != nil {
		return err
	}
	if secrets.CatalogDSN == "" {
		return config.Invalidf("catalog migrate needs QBACKUP_CATALOG_DSN (or QBACKUP_CATALOG_DSN_FILE)")
	}
	cat, err := openCatalog(ctx, secrets, true, env.log)
	if err != nil {
		return err
	}
	defer cat.Close()
	_, err = fmt.Fprintln(env.stdout, "catalog schema is up to date")
	return err
}
