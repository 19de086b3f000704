package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/inventory"
)

type listCmd struct {
	storeFlags  `embed:""`
	AllClusters bool   `name:"all-clusters" help:"List the backups of every cluster, not only --qdrant-cluster."`
	Output      string `name:"output" short:"o" enum:"table,json,yaml" default:"table" help:"Output format: table, json or yaml."`
}

func (c *listCmd) Help() string {
	return `Lists backups, newest first: from the catalogue when QBACKUP_CATALOG_DSN is
set, else from the manifests in storage. Where the backups are (storage,
cluster name) comes from the installation in the namespace — the ConfigMap
of cronjob/qbackup — unless a flag says otherwise; credentials come from
the environment only (AWS_*, QBACKUP_CATALOG_DSN).

Examples:
  kubectl qbackup -n qdrant list
  kubectl qbackup list -o json
  kubectl qbackup list --storage s3://backups/qdrant --qdrant-cluster=prod

` + config.StorageSecretsHelp
}

func (c *listCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	src, _, err := c.resolve(ctx, k.client)
	if err != nil {
		return err
	}
	rs, err := cli.OpenReadSide(ctx, src, nil)
	if err != nil {
		return err
	}
	defer rs.Close()
	cluster := src.Cluster
	if c.AllClusters {
		cluster = ""
	}
	all, err := inventory.List(ctx, rs.Store, rs.Index(), cluster)
	if err != nil {
		return err
	}
	// An unreadable set is a row of its own, not a failed listing; say so
	// on stderr too.
	for _, b := range all {
		if b.Status == inventory.StatusUnreadable {
			fmt.Fprintf(env.stderr, "kubectl-qbackup: warning: backup %s of cluster %q cannot be read: %s\n", b.BackupID, b.Cluster, b.Reason)
		}
	}
	if all == nil {
		all = []catalog.BackupSummary{}
	}
	if c.Output == "json" || c.Output == "yaml" {
		return writeStructured(env.stdout, c.Output, all)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tBACKUP ID\tSTATUS\tVERIFIED\tCOLLECTIONS\tSHARDS\tBYTES\tFINISHED\tREASON")
	for _, b := range all {
		verified, finished := b.VerifyStatus, "-"
		if verified == "" {
			verified = "-"
		}
		if !b.FinishedAt.IsZero() {
			finished = b.FinishedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		reason := strings.Join(strings.Fields(b.Reason), " ")
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", b.Cluster, b.BackupID, b.Status, verified,
			b.CollectionCount, b.ShardCount, b.TotalBytes, finished, reason)
	}
	return tw.Flush()
}
