package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

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
	src, err := c.resolve(ctx, k.client)
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
	if all == nil {
		all = []catalog.BackupSummary{}
	}
	switch c.Output {
	case "json", "yaml":
		b, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			return err
		}
		if c.Output == "yaml" {
			if b, err = yaml.JSONToYAML(b); err != nil {
				return err
			}
			_, err = env.stdout.Write(b)
			return err
		}
		_, err = fmt.Fprintf(env.stdout, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tBACKUP ID\tSTATUS\tVERIFIED\tCOLLECTIONS\tSHARDS\tBYTES\tFINISHED")
	for _, b := range all {
		verified, finished := b.VerifyStatus, "-"
		if verified == "" {
			verified = "-"
		}
		if !b.FinishedAt.IsZero() {
			finished = b.FinishedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", b.Cluster, b.BackupID, b.Status, verified,
			b.CollectionCount, b.ShardCount, b.TotalBytes, finished)
	}
	return tw.Flush()
}
