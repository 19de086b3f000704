package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/prune"
	"github.com/qbackup/qbackup/internal/retention"
	"github.com/qbackup/qbackup/internal/workerset"
)

// DefaultOrphanGrace is how old the newest object of a set without a
// manifest must be before prune treats the set as dead. A running backup
// writes its manifest last, so its objects look orphaned until then; a
// shard upload can take long, hence a generous default.
const DefaultOrphanGrace = 24 * time.Hour

// NoOrphanGrace as PruneOptions.OrphanGrace removes the objects of sets
// without a manifest at once (`prune --orphan-grace=0`), except a set whose
// run holds the storage lock.
const NoOrphanGrace time.Duration = -1

// PruneOptions select what Prune keeps.
type PruneOptions struct {
	// Cluster limits the prune to one cluster; "" prunes every cluster in
	// storage.
	Cluster string
	// Retention counts (see package retention); they count complete sets
	// only, and the newest complete set is always kept.
	KeepLast, KeepDaily, KeepWeekly, KeepMonthly int
	// DryRun reports what would go and changes nothing.
	DryRun bool
	// Now is the current time (default time.Now).
	Now time.Time
	// OrphanGrace (zero means DefaultOrphanGrace, NoOrphanGrace none)
	// protects sets without a manifest whose newest object is younger.
	OrphanGrace time.Duration
	Logger      *slog.Logger
}

// Prune outcomes (prune.Action as text).
const (
	PruneKeep   = string(prune.Keep)
	PruneRemove = string(prune.Remove)
	PruneSkip   = string(prune.Skip) // not decided on: possibly running, or unreadable
)

// PruneItem is the verdict on one set.
type PruneItem struct {
	Cluster  string `json:"cluster"`
	BackupID string `json:"backup_id"`
	// Status is complete, partial, corrupt, failed (no manifest, or a
	// failed catalog row), running or unreadable.
	Status  string   `json:"status"`
	Action  string   `json:"action"`
	Reasons []string `json:"reasons"`
	// Objects and Bytes are what storage holds for the set.
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// InCatalog: the catalog has a row for the set.
	InCatalog bool `json:"in_catalog"`
}

// PruneReport lists every set Prune looked at, newest first per cluster.
type PruneReport struct {
	DryRun bool        `json:"dry_run"`
	Items  []PruneItem `json:"items"`
}

// Removed returns the items removed (or, in a dry run, to be removed).
func (r *PruneReport) Removed() []PruneItem {
	var out []PruneItem
	for _, it := range r.Items {
		if it.Action == PruneRemove {
			out = append(out, it)
		}
	}
	return out
}

// Prune applies the retention policy to the sets in storage (the truth)
// and the catalog (may be nil): it gathers what storage, the storage
// locks and the catalog say, lets package prune decide (see
// prune.Decide for the rules), and carries the plan out. Storage objects
// are deleted first — each set's manifest before its other objects, so a
// half-deleted set is no longer a backup — then stale multipart uploads
// are aborted, then the catalog rows go (the rows of sets without a
// manifest are marked failed instead). Errors on one set do not stop the
// others; they are returned joined.
func Prune(ctx context.Context, opts PruneOptions, store Store, cat IndexCatalog) (*PruneReport, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.OrphanGrace == 0 {
		opts.OrphanGrace = DefaultOrphanGrace
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prefix := ""
	if opts.Cluster != "" {
		prefix = manifest.ClusterPrefix(opts.Cluster)
	}
	in, stored, locked, err := gatherPruneInput(ctx, opts, prefix, store, cat)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	plan := prune.Decide(in)

	rep := &PruneReport{DryRun: opts.DryRun}
	for _, it := range plan.Items {
		if it.Lock != nil {
			log.Info("backup kept: its objects are under object lock", "cluster", it.Cluster, "backup_id", it.BackupID,
				"mode", it.Lock.Mode, "retain_until", it.Lock.RetainUntil.UTC().Format(time.RFC3339), "reasons", it.Reasons)
		}
		rep.Items = append(rep.Items, PruneItem{Cluster: it.Cluster, BackupID: it.BackupID, Status: it.Status, Action: string(it.Action),
			Reasons: it.Reasons, Objects: it.Objects, Bytes: it.Bytes, InCatalog: it.InCatalog})
	}
	if opts.DryRun {
		return rep, nil
	}
	return rep, errors.Join(executePrune(ctx, plan, opts, prefix, stored, locked, store, cat, log),
		workerset.Prune(ctx, store, workerset.PruneOptions{Prefix: prefix, Now: opts.Now, Grace: opts.OrphanGrace, Logger: log}))
}

// gatherPruneInput reads what a prune decides by: the sets under prefix
// with what their manifests say, the live storage lock of each cluster
// found, and the catalog's rows. It returns the sets found (by
// cluster/id) and the locks read, for the executor.
func gatherPruneInput(ctx context.Context, opts PruneOptions, prefix string, store Store, cat IndexCatalog) (prune.Input, map[string]*storedSet, map[string]string, error) {
	in := prune.Input{
		Policy:      retention.Policy{KeepLast: opts.KeepLast, KeepDaily: opts.KeepDaily, KeepWeekly: opts.KeepWeekly, KeepMonthly: opts.KeepMonthly},
		Now:         opts.Now,
		OrphanGrace: opts.OrphanGrace,
		Locked:      map[string]string{}, // cluster → backup id under a live storage lock ("" none)
	}
	sets, err := scanSets(ctx, store, prefix)
	if err != nil {
		return prune.Input{}, nil, nil, err
	}
	byKey := map[string]*storedSet{}
	for _, st := range sets {
		byKey[st.cluster+"/"+st.id] = st
		if _, seen := in.Locked[st.cluster]; !seen {
			in.Locked[st.cluster] = ""
			if rec, err := lease.ReadRecord(ctx, store, st.cluster); err == nil && opts.Now.Before(rec.Expires) {
				in.Locked[st.cluster] = rec.BackupID
			}
		}
		s := prune.StoredSet{Cluster: st.cluster, BackupID: st.id, Objects: len(st.keys), Bytes: st.bytes, Newest: st.newest,
			HasManifest: st.manifestKey != ""}
		if s.HasManifest {
			facts, err := readPruneFacts(ctx, store, st)
			if err != nil {
				s.ReadError = err.Error()
			}
			s.StartedAt, s.Partial, s.Lock = facts.startedAt, facts.partial, facts.lock
		}
		in.Stored = append(in.Stored, s)
	}
	if cat != nil {
		rows, err := cat.ListBackups(ctx, opts.Cluster)
		if err != nil {
			return prune.Input{}, nil, nil, err
		}
		for _, r := range rows {
			in.Catalog = append(in.Catalog, prune.CatalogRow{Cluster: r.Cluster, BackupID: r.BackupID, Status: r.Status,
				StartedAt: r.StartedAt, Corrupt: r.VerifyStatus == VerifyCorrupt, Unlocated: r.Unlocated})
		}
	}
	return in, byKey, in.Locked, nil
}

// executePrune carries a plan out: the objects of the sets to remove,
// stale multipart uploads, then the catalog rows of the sets whose
// objects are gone.
func executePrune(ctx context.Context, plan prune.Plan, opts PruneOptions, prefix string, stored map[string]*storedSet, locked map[string]string,
	store Store, cat IndexCatalog, log *slog.Logger) error {
	var errs []error
	failedStorage := map[string]bool{}
	for _, it := range plan.Items {
		st := stored[it.Cluster+"/"+it.BackupID]
		if it.Action != prune.Remove || st == nil {
			continue
		}
		if _, err := deleteKeys(ctx, store, st.keys); err != nil {
			errs = append(errs, fmt.Errorf("prune backup %s/%s: %w", it.Cluster, it.BackupID, err))
			failedStorage[it.Cluster+"/"+it.BackupID] = true
			continue
		}
		log.Info("pruned backup objects", "cluster", it.Cluster, "backup_id", it.BackupID, "status", it.Status,
			"objects", it.Objects, "bytes", it.Bytes, "reasons", it.Reasons)
	}
	lockedSet := func(cluster string) string {
		id, seen := locked[cluster]
		if !seen {
			if rec, err := lease.ReadRecord(ctx, store, cluster); err == nil && opts.Now.Before(rec.Expires) {
				id = rec.BackupID
			}
			locked[cluster] = id
		}
		return id
	}
	if err := abortStaleUploads(ctx, store, prefix, opts.Now, opts.OrphanGrace, lockedSet, log); err != nil {
		errs = append(errs, fmt.Errorf("prune incomplete uploads: %w", err))
	}
	if cat != nil {
		for _, it := range plan.Items {
			if it.Action != prune.Remove || failedStorage[it.Cluster+"/"+it.BackupID] {
				continue
			}
			var err error
			if it.Orphaned {
				// Keep the row, as failed, so the killed run shows in the
				// list; a later prune removes it like any failed set.
				err = cat.BackupFailed(ctx, it.Cluster, it.BackupID, "no manifest: the run failed or was killed; prune removed its objects")
			} else if it.InCatalog {
				err = cat.DeleteBackup(ctx, it.Cluster, it.BackupID)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("prune backup %s/%s from the catalog: %w", it.Cluster, it.BackupID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// pruneFacts are what prune judges a committed set by.
type pruneFacts struct {
	startedAt time.Time // zero: the backup id's time
	partial   bool
	lock      *manifest.ObjectLock
}

// readPruneFacts reads them from the set's manifest or, when the
// manifest is encrypted, from its readable part: prune needs no key, so
// an encrypted set is timed by its backup id.
func readPruneFacts(ctx context.Context, store Store, st *storedSet) (pruneFacts, error) {
	m, p, err := manifest.ReadCommit(ctx, store, st.manifestKey)
	if err != nil {
		return pruneFacts{}, err
	}
	if m != nil {
		return pruneFacts{startedAt: m.StartedAt, partial: m.Partial, lock: m.ObjectLock}, nil
	}
	if err := checkPublic(st, p); err != nil {
		return pruneFacts{}, err
	}
	return pruneFacts{partial: p.Partial, lock: p.ObjectLock}, nil
}

// checkPublic checks that the readable part of an encrypted manifest is
// the set's, and that the encrypted manifest is there.
func checkPublic(st *storedSet, p *manifest.Public) error {
	if p.Cluster != st.cluster || p.BackupID != st.id {
		return fmt.Errorf("manifest %s describes backup %s of cluster %q: %w", st.manifestKey, p.BackupID, p.Cluster, manifest.ErrCorrupt)
	}
	if st.encryptedKey == "" {
		return fmt.Errorf("manifest %s is the readable part of an encrypted manifest, and %s is missing: %w",
			st.manifestKey, manifest.EncryptedManifestKey(st.cluster, st.id), manifest.ErrCorrupt)
	}
	return nil
}
