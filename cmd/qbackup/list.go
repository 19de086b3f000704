package main

import (
	"context"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/listing"
	"github.com/qbackup/qbackup/internal/printer"
)

type listCmd struct {
	config.Source `embed:""`
	AllClusters   bool `name:"all-clusters" help:"List the backups of every cluster, not only --cluster."`
	// Its own -o: list alone also prints wide and name (kubectl's
	// formats, as the plugin's list does, through the same printer).
	Format string `name:"output" short:"o" env:"QBACKUP_OUTPUT" enum:"text,table,wide,name,json,yaml" default:"text" help:"Output format: text or table, wide (more columns), name (backup/<id> lines), json or yaml."`
}

func (c *listCmd) Help() string {
	return `Lists backups, newest first: from the catalog when QBACKUP_CATALOG_DSN is
set, else from the manifests in storage. A set whose manifest is encrypted
(backup --encrypt-manifest) is listed without the key: its id, time, status
and size, "?" for the rest, marked "manifest encrypted".

Examples:
  qbackup list
  qbackup list --all-clusters -o json
  qbackup list -o wide

` + config.StorageSecretsHelp
}

func (c *listCmd) Run(ctx context.Context, env *runEnv) error {
	rs, err := cli.OpenReadSide(ctx, c.Source, env.log)
	if err != nil {
		return err
	}
	defer rs.Close()
	cluster := c.Cluster
	if c.AllClusters {
		cluster = ""
	}
	all, err := inventory.List(ctx, rs.Store, rs.Index(), cluster)
	if err != nil {
		return err
	}
	// An unreadable set is a row of its own, not a failed listing; the
	// warning makes it visible in logs too.
	for _, b := range all {
		if b.Status == inventory.StatusUnreadable {
			env.log.Warn("backup manifest cannot be read", "cluster", b.Cluster, "backup_id", b.BackupID, "reason", b.Reason)
		}
	}
	switch c.Format {
	case printer.JSON, printer.YAML:
		if all == nil {
			all = []listing.Backup{}
		}
		return printer.Structured(env.stdout, c.Format, all)
	case printer.Name:
		return printer.BackupNames(env.stdout, all)
	}
	return printer.Backups(env.stdout, all, c.Format == printer.Wide)
}

type describeCmd struct {
	config.Source `embed:""`
	Backup        string `arg:"" name:"backup" help:"Backup id, or latest."`
	config.Output `embed:""`
}

func (c *describeCmd) Help() string {
	return `Shows one backup in full: peers, collections, shards, objects and checksums.
A set whose manifest is encrypted (backup --encrypt-manifest) needs the
matching QBACKUP_AGE_IDENTITY.

Examples:
  qbackup describe latest
  qbackup describe 20261125T133000Z-3f9c -o json

` + config.StorageSecretsHelp
}

func (c *describeCmd) Run(ctx context.Context, env *runEnv) error {
	rs, err := cli.OpenReadSide(ctx, c.Source, env.log)
	if err != nil {
		return err
	}
	defer rs.Close()
	m, err := rs.Load(ctx, c.Cluster, c.Backup)
	if err != nil {
		return err
	}
	rep := printer.Description{Manifest: m}
	if rs.Catalog != nil {
		rec, err := rs.Catalog.GetBackup(ctx, m.Cluster, m.BackupID)
		if err == nil {
			row := listing.FromCatalog(rec.BackupSummary)
			rep.Catalog = &row
		} else {
			env.log.Warn("backup is in storage but not in the catalog: run qbackup catalog sync", "backup_id", m.BackupID, "error", err)
		}
	}
	if c.Format == "json" || c.Format == "yaml" {
		return printer.Structured(env.stdout, c.Format, rep)
	}
	return printer.Describe(env.stdout, rep)
}
