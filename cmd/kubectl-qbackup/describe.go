package main

import (
	"context"
	"log/slog"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/printer"
)

type describeCmd struct {
	storeFlags `embed:""`
	Backup     string `arg:"" name:"backup" optional:"" default:"latest" help:"Backup id, or latest (the newest complete set)."`
	Output     string `name:"output" short:"o" enum:"text,json,yaml" default:"text" help:"Output format: text, json or yaml."`
}

func (c *describeCmd) Help() string {
	return `Shows one backup in full, as qbackup describe does (the same printer):
status, verification, Qdrant version, skew, size, the peers, each
collection and its shards. Where the backups are comes from the
installation in the namespace, as for list.

Examples:
  kubectl qbackup -n qdrant describe latest
  kubectl qbackup describe 20261125T133000Z-3f9c -o json

` + config.StorageSecretsHelp
}

// Validate runs before the API server or storage is contacted.
func (c *describeCmd) Validate() error {
	if err := c.storeFlags.Validate(); err != nil {
		return err
	}
	if c.Backup != "latest" && !manifest.IsBackupID(c.Backup) {
		return config.Invalidf("%q is not a backup id (e.g. 20261125T133000Z-3f9c) or latest: see kubectl qbackup list", c.Backup)
	}
	return nil
}

func (c *describeCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	src, _, err := c.resolve(ctx, k.client)
	if err != nil {
		return err
	}
	m, rs, err := loadBackup(ctx, env, src, c.Backup)
	if err != nil {
		return err
	}
	defer rs.Close()
	rep := printer.Description{Manifest: m}
	if rs.Catalog != nil {
		if rec, err := rs.Catalog.GetBackup(ctx, m.Cluster, m.BackupID); err == nil {
			rep.Catalog = &rec.BackupSummary
		} else {
			slog.New(slog.NewTextHandler(env.stderr, nil)).Warn("backup is in storage but not in the catalog: run qbackup catalog sync", "backup_id", m.BackupID, "error", err)
		}
	}
	if c.Output == printer.JSON || c.Output == printer.YAML {
		return printer.Structured(env.stdout, c.Output, rep)
	}
	return printer.Describe(env.stdout, rep)
}
