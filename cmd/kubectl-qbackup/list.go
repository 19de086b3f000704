package main

import (
	"context"
	"fmt"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/listing"
	"github.com/qbackup/qbackup/internal/printer"
)

type listCmd struct {
	storeFlags  `embed:""`
	AllClusters bool   `name:"all-clusters" help:"List the backups of every cluster, not only --qdrant-cluster."`
	Output      string `name:"output" short:"o" enum:"table,wide,name,json,yaml" default:"table" help:"Output format: table, wide (more columns), name (backup/<id> lines), json or yaml."`
}

func (c *listCmd) Help() string {
	return `Lists backups, newest first. With kubectl access alone: the backup Jobs
record a summary of each set in a ConfigMap of the namespace, and list
reads those (no storage or catalog credentials needed). Without
summaries in the namespace (or with --read-from=storage, or --storage):
from the catalog when QBACKUP_CATALOG_DSN is set, else from the
manifests in storage, with credentials from the environment only (AWS_*,
QBACKUP_CATALOG_DSN). Where the backups are (storage, cluster name) comes
from the installation in the namespace — the ConfigMap of cronjob/qbackup
— unless a flag says otherwise. -o wide says on stderr which was read.

Examples:
  kubectl qbackup -n qdrant list
  kubectl qbackup list -o json
  kubectl qbackup list -o wide
  kubectl qbackup list -o name
  kubectl qbackup list --storage s3://backups/qdrant --qdrant-cluster=prod

` + config.StorageSecretsHelp
}

func (c *listCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	all, source, err := listBackups(ctx, c.storeFlags, k.client, c.AllClusters, env.stderr)
	if err != nil {
		return err
	}
	if c.Output == printer.Wide {
		fmt.Fprintf(env.stderr, "Read from %s.\n", source)
	}
	switch c.Output {
	case printer.JSON, printer.YAML:
		if all == nil {
			all = []listing.Backup{}
		}
		return printer.Structured(env.stdout, c.Output, all)
	case printer.Name:
		return printer.BackupNames(env.stdout, all)
	}
	return printer.Backups(env.stdout, all, c.Output == printer.Wide)
}
