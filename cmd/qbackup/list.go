package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/manifest"
)

type listCmd struct {
	config.Source `embed:""`
	AllClusters   bool `name:"all-clusters" help:"List the backups of every cluster, not only --cluster."`
	config.Output `embed:""`
}

func (c *listCmd) Help() string {
	return `Lists backups, newest first: from the catalogue when QBACKUP_CATALOG_DSN is
set, else from the manifests in storage.

Examples:
  qbackup list
  qbackup list --all-clusters -o json

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
	if c.Format == "json" || c.Format == "yaml" {
		if all == nil {
			all = []catalog.BackupSummary{}
		}
		return printStructured(env.stdout, c.Format, all)
	}
	return printBackupTable(env.stdout, all)
}

func printBackupTable(w io.Writer, all []catalog.BackupSummary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tBACKUP ID\tSTATUS\tVERIFIED\tCOLLECTIONS\tSHARDS\tSIZE\tDURATION\tSKEW\tREASON")
	for _, b := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", b.Cluster, b.BackupID, b.Status, dash(b.VerifyStatus),
			b.CollectionCount, b.ShardCount, humanBytes(b.TotalBytes), durationOrDash(b.Duration()),
			(time.Duration(b.SkewMillis) * time.Millisecond).String(), dash(oneLine(b.Reason)))
	}
	return tw.Flush()
}

// oneLine keeps a table row on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func durationOrDash(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Second).String()
}

type describeCmd struct {
	config.Source `embed:""`
	Backup        string `arg:"" name:"backup" help:"Backup id, or latest."`
	config.Output `embed:""`
}

func (c *describeCmd) Help() string {
	return `Shows one backup in full: peers, collections, shards, objects and checksums.

Examples:
  qbackup describe latest
  qbackup describe 20261125T133000Z-3f9c -o json

` + config.StorageSecretsHelp
}

// describeReport is the JSON contract of `describe -o json`: the manifest,
// plus the catalogue's view when there is one.
type describeReport struct {
	Manifest *manifest.Manifest     `json:"manifest"`
	Catalog  *catalog.BackupSummary `json:"catalog,omitempty"`
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
	rep := describeReport{Manifest: m}
	if rs.Catalog != nil {
		rec, err := rs.Catalog.GetBackup(ctx, m.Cluster, m.BackupID)
		if err == nil {
			rep.Catalog = &rec.BackupSummary
		} else {
			env.log.Warn("backup is in storage but not in the catalog: run qbackup catalog sync", "backup_id", m.BackupID, "error", err)
		}
	}
	if c.Format == "json" || c.Format == "yaml" {
		return printStructured(env.stdout, c.Format, rep)
	}
	return printManifest(env.stdout, rep)
}

func printManifest(w io.Writer, rep describeReport) error {
	m := rep.Manifest
	status := "complete"
	if m.Partial {
		status = "partial"
	}
	verify := "unknown (no catalog)"
	if rep.Catalog != nil {
		verify = rep.Catalog.VerifyStatus
	}
	fmt.Fprintf(w, "Backup:          %s\nCluster:         %s\nStatus:          %s\nVerified:        %s\n", m.BackupID, m.Cluster, status, verify)
	fmt.Fprintf(w, "Qdrant version:  %s\nSnapshot method: %s\nStarted:         %s\nFinished:        %s (%s)\n",
		m.QdrantVersion, m.SnapshotMethod, m.StartedAt.Format(time.RFC3339), m.FinishedAt.Format(time.RFC3339), m.FinishedAt.Sub(m.StartedAt).Round(time.Millisecond))
	fmt.Fprintf(w, "Snapshot skew:   %s\nSize:            %s in %d shards\n", time.Duration(m.Window.SkewMillis)*time.Millisecond, humanBytes(m.TotalSize()), m.ShardCount())
	if e := m.Encryption; e != nil {
		// Which secret key a restore needs, without needing it to ask.
		fmt.Fprintf(w, "Encrypted:       %s for %s (restore and verify need one of their identities in QBACKUP_AGE_IDENTITY)\n", e.Scheme, strings.Join(e.Recipients, ", "))
	}
	fmt.Fprintf(w, "Peers:\n")
	ptw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(ptw, "  PEER ID\tPOD\tURI")
	for _, p := range m.Peers {
		fmt.Fprintf(ptw, "  %d\t%s\t%s\n", p.ID, dash(p.Pod), p.URI)
	}
	if err := ptw.Flush(); err != nil {
		return err
	}
	for _, col := range m.Collections {
		fmt.Fprintf(w, "\nCollection %q: %s sharding, %d shards, replication factor %d, %d points",
			col.Name, col.ShardingMethod, col.ShardNumber, col.ReplicationFactor, col.PointsCount)
		if len(col.Aliases) > 0 {
			fmt.Fprintf(w, ", aliases %v", col.Aliases)
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SHARD\tKEY\tSOURCE PEER\tPOINTS\tSIZE\tSHA-256\tOBJECT")
		for _, s := range col.Shards {
			key := "-"
			if s.ShardKey != nil {
				key = s.ShardKey.String()
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%s\t%s\t%s\n", s.ID, key, strconv.FormatUint(s.SourcePeer, 10), s.PointsCount, humanBytes(s.Size), s.SHA256[:16]+"…", s.Object)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
