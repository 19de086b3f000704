package main

import (
	"context"
	"fmt"
	"io"

	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/printer"
)

type listCmd struct {
	storeFlags  `embed:""`
	AllClusters bool   `name:"all-clusters" help:"List the backups of every cluster, not only --qdrant-cluster."`
	Output      string `name:"output" short:"o" enum:"table,wide,name,json,yaml" default:"table" help:"Output format: table, wide (more columns), name (backup/<id> lines), json or yaml."`
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
  kubectl qbackup list -o wide
  kubectl qbackup list -o name
  kubectl qbackup list --storage s3://backups/qdrant --qdrant-cluster=prod

` + config.StorageSecretsHelp
}

func (c *listCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	all, err := listBackups(ctx, c.storeFlags, k.client, c.AllClusters, env.stderr)
	if err != nil {
		return err
	}
	switch c.Output {
	case printer.JSON, printer.YAML:
		if all == nil {
			all = []catalog.BackupSummary{}
		}
		return printer.Structured(env.stdout, c.Output, all)
	case printer.Name:
		return printer.BackupNames(env.stdout, all)
	}
	return printer.Backups(env.stdout, all, c.Output == printer.Wide)
}

// listBackups reads the backups where the flags and the installation say
// they are: those of the cluster, or of every cluster. An unreadable set
// is a row of its own, not a failed listing; it is also said on warn.
func listBackups(ctx context.Context, sf storeFlags, client func() (kubernetes.Interface, string, error), allClusters bool, warn io.Writer) ([]catalog.BackupSummary, error) {
	src, _, err := sf.resolve(ctx, client)
	if err != nil {
		return nil, err
	}
	rs, err := cli.OpenReadSide(ctx, src, nil)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	cluster := src.Cluster
	if allClusters {
		cluster = ""
	}
	all, err := inventory.List(ctx, rs.Store, rs.Index(), cluster)
	if err != nil {
		return nil, err
	}
	for _, b := range all {
		if b.Status == inventory.StatusUnreadable {
			fmt.Fprintf(warn, "kubectl-qbackup: warning: backup %s of cluster %q cannot be read: %s\n", b.BackupID, b.Cluster, b.Reason)
		}
	}
	return all, nil
}
