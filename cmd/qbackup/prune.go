package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/printer"
	"github.com/qbackup/qbackup/internal/prune"
)

// retentionFlags are shared by `prune` and `backup --prune`.
type retentionFlags struct {
	KeepLast    int           `name:"keep-last" env:"QBACKUP_KEEP_LAST" default:"0" help:"Keep the newest N complete sets."`
	KeepDaily   int           `name:"keep-daily" env:"QBACKUP_KEEP_DAILY" default:"0" help:"Keep the newest complete set of each of the last N days."`
	KeepWeekly  int           `name:"keep-weekly" env:"QBACKUP_KEEP_WEEKLY" default:"0" help:"Keep the newest complete set of each of the last N weeks."`
	KeepMonthly int           `name:"keep-monthly" env:"QBACKUP_KEEP_MONTHLY" default:"0" help:"Keep the newest complete set of each of the last N months."`
	OrphanGrace time.Duration `name:"orphan-grace" env:"QBACKUP_ORPHAN_GRACE" default:"${default_orphan_grace}" help:"Objects of sets without a manifest are removed once their newest object is this old."`
}

// Validate runs before anything is contacted.
func (r retentionFlags) Validate() error {
	return config.All(
		config.IntAtLeast("keep-last", "QBACKUP_KEEP_LAST", r.KeepLast, 0, 0, ""),
		config.IntAtLeast("keep-daily", "QBACKUP_KEEP_DAILY", r.KeepDaily, 0, 0, ""),
		config.IntAtLeast("keep-weekly", "QBACKUP_KEEP_WEEKLY", r.KeepWeekly, 0, 0, ""),
		config.IntAtLeast("keep-monthly", "QBACKUP_KEEP_MONTHLY", r.KeepMonthly, 0, 0, ""),
		config.DurationAtLeast("orphan-grace", "QBACKUP_ORPHAN_GRACE", r.OrphanGrace, 0, "no grace"),
	)
}

func (r retentionFlags) pruneOptions(cluster string, dryRun bool, env *runEnv) prune.Options {
	// An explicit --orphan-grace=0 means no grace; the library reads a zero
	// value as its default.
	grace := r.OrphanGrace
	if grace == 0 {
		grace = prune.NoOrphanGrace
	}
	return prune.Options{
		Cluster: cluster, KeepLast: r.KeepLast, KeepDaily: r.KeepDaily, KeepWeekly: r.KeepWeekly, KeepMonthly: r.KeepMonthly,
		DryRun: dryRun, OrphanGrace: grace, Logger: env.log,
	}
}

type pruneCmd struct {
	config.Source  `embed:""`
	retentionFlags `embed:""`
	AllClusters    bool `name:"all-clusters" help:"Prune every cluster in storage, not only --cluster."`
	DryRun         bool `name:"dry-run" help:"List what would be removed and change nothing."`
	config.Output  `embed:""`
}

// Validate runs before anything is contacted; the embedded options'
// Validate methods run too.
func (c *pruneCmd) Validate() error { return c.retentionFlags.Validate() }

func (c *pruneCmd) Help() string {
	return `Applies the retention rules. Only complete sets count towards the keep
rules, and the newest complete set is never removed. Failed and partial sets,
and the objects of runs that died without a manifest, are removed too.
In a pod, the backup summaries of the namespace (the ConfigMaps kubectl
qbackup reads) follow: those of removed sets, and of sets whose manifest
is gone, are deleted; a set without one gets one.

Example:
  qbackup prune --keep-daily=7 --keep-weekly=4 --keep-monthly=6 --dry-run

` + config.StorageSecretsHelp
}

func (c *pruneCmd) Run(ctx context.Context, env *runEnv) error {
	env.report.Cluster = c.Cluster
	secrets, err := config.LoadSecrets(ctx, nil)
	if err != nil {
		return err
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
	var index prune.Catalog
	if cat != nil {
		defer cat.Close()
		index = cat
	}
	cluster := c.Cluster
	if c.AllClusters {
		cluster = ""
	}
	rep, err := prune.Run(ctx, c.pruneOptions(cluster, c.DryRun, env), store, index)
	if err != nil {
		return err
	}
	openSummaries(c.Source, env.log).pruned(ctx, rep, store, cluster)
	if !rep.DryRun {
		env.summary = fmt.Sprintf("pruned %d sets of cluster %q", len(rep.Removed()), cluster)
	}
	if c.Format == "json" || c.Format == "yaml" {
		return printer.Structured(env.stdout, c.Format, rep)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tBACKUP\tSTATUS\tACTION\tREASON")
	for _, it := range rep.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Cluster, it.BackupID, it.Status, it.Action, strings.Join(it.Reasons, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verb := "removed"
	if rep.DryRun {
		verb = "would remove"
	}
	_, err = fmt.Fprintf(env.stdout, "%s %d sets\n", verb, len(rep.Removed()))
	return err
}
