package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/listing"
	"github.com/qbackup/qbackup/internal/manifest"
)

// Values of --read-from.
const (
	readAuto      = "auto"
	readSummaries = "summaries"
	readStorage   = "storage"
)

// clientFunc connects to the API server: the namespace's client.
type clientFunc func() (kubernetes.Interface, string, error)

// once connects at most once, however often it is called.
func (f clientFunc) once() clientFunc {
	var (
		mu sync.Mutex
		cs kubernetes.Interface
		ns string
		ok bool
	)
	return func() (kubernetes.Interface, string, error) {
		mu.Lock()
		defer mu.Unlock()
		if ok {
			return cs, ns, nil
		}
		c, n, err := f()
		if err != nil {
			return nil, "", err
		}
		cs, ns, ok = c, n, true
		return cs, ns, nil
	}
}

// summariesFirst says whether the backups are read from the summaries
// (when there are any, with auto): not when --storage names a store or
// --read-from=storage says so.
func (f storeFlags) summariesFirst() bool {
	switch f.ReadFrom {
	case readSummaries:
		return true
	case readStorage:
		return false
	}
	return f.Storage == nil
}

// summarySource names the summaries as a source, for -o wide and notes.
func summarySource(ns string) string {
	return fmt.Sprintf("backup summaries (configmaps -l %s in namespace %s)", kube.SummarySelector, ns)
}

// storageSource names storage (and the catalog) as a source.
func storageSource(src config.Source, rs *cli.ReadSide) string {
	s := "storage " + cli.StoreLocation(src)
	if rs != nil && rs.Catalog != nil {
		s += " and the catalog"
	}
	return s
}

// readSummaries lists the summaries of cluster ("" for all) in the store
// at location ("" for any); unreadable ones are said on warn.
func readSummaryList(ctx context.Context, cs kubernetes.Interface, ns, cluster, location string, warn io.Writer) ([]kube.SetSummary, error) {
	all, bad, err := kube.NewSummaries(cs, ns).List(ctx, cluster)
	if err != nil {
		return nil, err
	}
	for _, b := range bad {
		fmt.Fprintf(warn, "kubectl-qbackup: warning: configmap/%s cannot be read as a backup summary: %v\n", b.ConfigMap, b.Err)
	}
	out := all[:0]
	for _, s := range all {
		if location == "" || s.StorageLocation == "" || s.StorageLocation == location {
			out = append(out, s)
		}
	}
	return out, nil
}

// listBackups reads the backups where the flags and the installation say
// they are: those of the cluster, or of every cluster. With summaries in
// the namespace (and --read-from auto or summaries) they are the list,
// and no storage credentials are needed; else storage (and the
// catalog) is read. An unreadable set is a row of its own, not a
// failed listing; it is also said on warn. source names what was read.
func listBackups(ctx context.Context, sf storeFlags, client clientFunc, allClusters bool, warn io.Writer) (rows []listing.Backup, source string, err error) {
	client = client.once()
	src, _, err := sf.resolve(ctx, client)
	if err != nil {
		return nil, "", err
	}
	cluster := src.Cluster
	if allClusters {
		cluster = ""
	}
	if sf.summariesFirst() {
		cs, ns, err := client()
		if err != nil {
			return nil, "", err
		}
		sums, err := readSummaryList(ctx, cs, ns, cluster, cli.StoreLocation(src), warn)
		if err != nil {
			return nil, "", summaryReadError(err, sf)
		}
		if len(sums) > 0 || sf.ReadFrom == readSummaries {
			rows = make([]listing.Backup, 0, len(sums))
			for i := range sums {
				rows = append(rows, sums[i].Row())
			}
			return rows, summarySource(ns), nil
		}
	}
	rs, err := cli.OpenReadSide(ctx, src, nil)
	if err != nil {
		return nil, "", err
	}
	defer rs.Close()
	rows, err = inventory.List(ctx, rs.Store, rs.Index(), cluster)
	if err != nil {
		return nil, "", err
	}
	for _, b := range rows {
		if b.Status == inventory.StatusUnreadable {
			fmt.Fprintf(warn, "kubectl-qbackup: warning: backup %s of cluster %q cannot be read: %s\n", b.BackupID, b.Cluster, b.Reason)
		}
	}
	return rows, storageSource(src, rs), nil
}

// summaryReadError explains a failed read of the summaries: the API
// server's refusal already names the verb and resource, the plugin adds
// the way out.
func summaryReadError(err error, sf storeFlags) error {
	if sf.ReadFrom == readSummaries {
		return err
	}
	return fmt.Errorf("%w (or read the manifests in storage with --read-from=storage and the storage credentials)", err)
}

// loaded is one backup as describe and restore read it: from its
// summary, or from its manifest in storage.
type loaded struct {
	// Manifest is the set's manifest; from a summary, the parts it holds
	// (kube.SetSummary.Manifest).
	Manifest *manifest.Manifest
	// Summary is set when the backup was read from its summary.
	Summary *kube.SetSummary
	// Row is the catalog's view (from the catalog, or the summary) as a
	// listing row, nil without either.
	Row *listing.Backup
	// Source names what was read.
	Source string
}

// loadBackup reads ref, an id or latest, where the flags and the
// installation say: its summary when there is one (and --read-from
// allows), else its manifest in storage (and its catalog row).
// needShards says the caller needs every shard (the restore preview): a
// summary that dropped them (too large a set) is passed over for
// storage. Warnings go to env.stderr.
func loadBackup(ctx context.Context, env *runEnv, sf storeFlags, client clientFunc, ref string, needShards bool) (*loaded, error) {
	client = client.once()
	src, _, err := sf.resolve(ctx, client)
	if err != nil {
		return nil, err
	}
	if sf.summariesFirst() {
		l, err := loadSummary(ctx, env, sf, client, src, wantedBackup{ref: ref, needShards: needShards})
		if err != nil || l != nil {
			return l, err
		}
	}
	warn := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rs, err := cli.OpenReadSide(ctx, src, warn)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	m, err := rs.Load(ctx, src.Cluster, ref)
	if err != nil {
		return nil, err
	}
	l := &loaded{Manifest: m, Source: storageSource(src, rs)}
	if rs.Catalog != nil {
		if rec, err := rs.Catalog.GetBackup(ctx, m.Cluster, m.BackupID); err == nil {
			row := listing.FromCatalog(rec.BackupSummary)
			l.Row = &row
		} else {
			warn.Warn("backup is in storage but not in the catalog: run qbackup catalog sync", "backup_id", m.BackupID, "error", err)
		}
	}
	return l, nil
}

// wantedBackup is the backup a command asks for: ref, an id or latest,
// and whether it needs every shard.
type wantedBackup struct {
	ref        string
	needShards bool
}

// loadSummary finds the wanted backup among the summaries of the cluster:
// nil (and no error) when it is not there and auto may read storage
// instead.
func loadSummary(ctx context.Context, env *runEnv, sf storeFlags, client clientFunc, src config.Source, want wantedBackup) (*loaded, error) {
	ref, needShards := want.ref, want.needShards
	cs, ns, err := client()
	if err != nil {
		return nil, err
	}
	sums, err := readSummaryList(ctx, cs, ns, src.Cluster, cli.StoreLocation(src), env.stderr)
	if err != nil {
		return nil, summaryReadError(err, sf)
	}
	var found *kube.SetSummary
	for i, s := range sums {
		if ref == "latest" && s.Status == catalog.StatusComplete && s.VerifyStatus != catalog.VerifyCorrupt || s.BackupID == ref {
			found = &sums[i]
			break
		}
	}
	strict := sf.ReadFrom == readSummaries
	switch {
	case found == nil && strict && ref == "latest":
		return nil, fmt.Errorf("cluster %q has no complete backup among the %s (list them with %s; --read-from=storage reads the manifests): %w",
			src.Cluster, summarySource(ns), inventory.ListCommand, inventory.ErrNoBackup)
	case found == nil && strict:
		return nil, fmt.Errorf("backup %s of cluster %q has no summary in namespace %s (list them with %s; --read-from=storage reads the manifests): %w",
			ref, src.Cluster, ns, inventory.ListCommand, inventory.ErrNoBackup)
	case found == nil:
		return nil, nil
	case found.Status == catalog.StatusFailed:
		return nil, fmt.Errorf("backup %s of cluster %q failed (%s): it has no manifest (list backups with %s): %w",
			found.BackupID, found.Cluster, found.Reason, inventory.ListCommand, inventory.ErrNoBackup)
	}
	m, full := found.Manifest()
	if needShards && !full {
		if strict && found.ManifestEncrypted {
			return nil, config.Invalidf("the manifest of backup %s is encrypted, so its summary holds no shards: preview it from storage with --read-from=storage and QBACKUP_AGE_IDENTITY", found.BackupID)
		}
		if strict {
			return nil, config.Invalidf("the summary of backup %s holds no shards (%d shards did not fit in %d bytes): preview it from storage with --read-from=storage",
				found.BackupID, found.ShardCount, kube.MaxSummaryBytes)
		}
		return nil, nil
	}
	row := found.Row()
	return &loaded{Manifest: m, Summary: found, Row: &row, Source: summarySource(ns)}, nil
}
