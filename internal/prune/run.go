package prune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/retention"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/workerset"
)

// DefaultOrphanGrace is how old the newest object of a set without a
// manifest must be before prune treats the set as dead. A running backup
// writes its manifest last, so its objects look orphaned until then; a
// shard upload can take long, hence a generous default.
const DefaultOrphanGrace = 24 * time.Hour

// NoOrphanGrace as Options.OrphanGrace removes the objects of sets
// without a manifest at once (`prune --orphan-grace=0`), except a set whose
// run holds the storage lock.
const NoOrphanGrace time.Duration = -1

// Store is the object storage pruned; every storage backend is one.
type Store interface {
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error
	Delete(ctx context.Context, key string) error
	// Put is there for lease.Store, which reads the storage lock.
	Put(ctx context.Context, key string, r io.Reader) error
}

// Catalog is what a prune needs from the catalog; *catalog.Catalog is
// one.
type Catalog interface {
	// IndexRows lists the rows of one cluster, or of all clusters for "".
	IndexRows(ctx context.Context, cluster string) ([]catalog.IndexRow, error)
	BackupFailed(ctx context.Context, cluster, id, reason string) error
	// DeleteBackup deletes a row; an error matching catalog.ErrNotFound
	// (no row) is not a failure.
	DeleteBackup(ctx context.Context, cluster, id string) error
}

// Options select what Run keeps.
type Options struct {
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

// ReportItem is the verdict on one set, as `prune -o json` prints it.
type ReportItem struct {
	Cluster  string `json:"cluster"`
	BackupID string `json:"backup_id"`
	// Status is complete, partial, corrupt, failed (no manifest, or a
	// failed catalog row), running or unreadable.
	Status  string   `json:"status"`
	Action  Action   `json:"action"`
	Reasons []string `json:"reasons"`
	// Objects and Bytes are what storage holds for the set.
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// InCatalog: the catalog has a row for the set.
	InCatalog bool `json:"in_catalog"`
}

// Report lists every set Run looked at, newest first per cluster.
type Report struct {
	DryRun bool         `json:"dry_run"`
	Items  []ReportItem `json:"items"`
}

// Removed returns the items removed (or, in a dry run, to be removed).
func (r *Report) Removed() []ReportItem {
	var out []ReportItem
	for _, it := range r.Items {
		if it.Action == Remove {
			out = append(out, it)
		}
	}
	return out
}

// Run applies the retention policy to the sets in storage (the truth)
// and the catalog (may be nil): it gathers what storage, the storage
// locks and the catalog say, lets Decide decide, and carries the plan
// out. Storage objects are deleted first — each set's manifest before its
// other objects, so a half-deleted set is no longer a backup — then stale
// multipart uploads are aborted, then the catalog rows go (the rows of
// sets without a manifest are marked failed instead). Errors on one set
// do not stop the others; they are returned joined.
func Run(ctx context.Context, opts Options, store Store, cat Catalog) (*Report, error) {
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
	in, stored, err := gather(ctx, opts, prefix, store, cat)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	plan := Decide(in)

	rep := &Report{DryRun: opts.DryRun}
	for _, it := range plan.Items {
		if it.Lock != nil {
			log.Info("backup kept: its objects are under object lock", "cluster", it.Cluster, "backup_id", it.BackupID,
				"mode", it.Lock.Mode, "retain_until", it.Lock.RetainUntil.UTC().Format(time.RFC3339), "reasons", it.Reasons)
		}
		rep.Items = append(rep.Items, ReportItem{Cluster: it.Cluster, BackupID: it.BackupID, Status: it.Status, Action: it.Action,
			Reasons: it.Reasons, Objects: it.Objects, Bytes: it.Bytes, InCatalog: it.InCatalog})
	}
	if opts.DryRun {
		return rep, nil
	}
	x := &executor{opts: opts, prefix: prefix, stored: stored, locked: in.Locked, store: store, cat: cat, log: log}
	// The records multi-worker backups leave beside their sets go once
	// as old as the orphan grace.
	return rep, errors.Join(x.carryOut(ctx, plan),
		workerset.Prune(ctx, store, workerset.PruneOptions{Prefix: prefix, Now: opts.Now, Grace: opts.OrphanGrace, Logger: log}))
}

// gather reads what a prune decides by: the sets under prefix with what
// their manifests say, the live storage lock of each cluster found, and
// the catalog's rows. It returns the sets found (by cluster/id) for the
// executor.
func gather(ctx context.Context, opts Options, prefix string, store Store, cat Catalog) (Input, map[string]*inventory.Set, error) {
	in := Input{
		Policy:      retention.Policy{KeepLast: opts.KeepLast, KeepDaily: opts.KeepDaily, KeepWeekly: opts.KeepWeekly, KeepMonthly: opts.KeepMonthly},
		Now:         opts.Now,
		OrphanGrace: opts.OrphanGrace,
		Locked:      map[string]string{}, // cluster → backup id under a live storage lock ("" none)
	}
	sets, err := inventory.Scan(ctx, store, prefix)
	if err != nil {
		return Input{}, nil, err
	}
	byKey := map[string]*inventory.Set{}
	for _, st := range sets {
		byKey[st.Cluster+"/"+st.ID] = st
		if _, seen := in.Locked[st.Cluster]; !seen {
			in.Locked[st.Cluster] = lockedSet(ctx, store, st.Cluster, opts.Now)
		}
		s := StoredSet{Cluster: st.Cluster, BackupID: st.ID, Objects: len(st.Keys), Bytes: st.Bytes, Newest: st.Newest,
			HasManifest: st.ManifestKey != ""}
		if s.HasManifest {
			facts, err := readFacts(ctx, store, st)
			if err != nil {
				s.ReadError = err.Error()
			}
			s.StartedAt, s.Partial, s.Lock = facts.startedAt, facts.partial, facts.lock
		}
		in.Stored = append(in.Stored, s)
	}
	if cat != nil {
		rows, err := cat.IndexRows(ctx, opts.Cluster)
		if err != nil {
			return Input{}, nil, err
		}
		for _, r := range rows {
			in.Catalog = append(in.Catalog, CatalogRow{Cluster: r.Cluster, BackupID: r.BackupID, Status: r.Status,
				StartedAt: r.StartedAt, Corrupt: r.VerifyStatus == catalog.VerifyCorrupt, Unlocated: r.Unlocated})
		}
	}
	return in, byKey, nil
}

// lockedSet is the id of the set whose run holds cluster's live storage
// lock, "" for none.
func lockedSet(ctx context.Context, store Store, cluster string, now time.Time) string {
	if rec, err := lease.ReadRecord(ctx, store, cluster); err == nil && now.Before(rec.Expires) {
		return rec.BackupID
	}
	return ""
}

// executor carries a plan out.
type executor struct {
	opts   Options
	prefix string
	stored map[string]*inventory.Set // cluster/id
	locked map[string]string         // cluster → the set under its live storage lock, as read so far
	store  Store
	cat    Catalog
	log    *slog.Logger
}

// carryOut deletes the objects of the sets to remove, aborts stale
// multipart uploads, then removes the catalog rows of the sets whose
// objects are gone.
func (x *executor) carryOut(ctx context.Context, plan Plan) error {
	var errs []error
	failedStorage := map[string]bool{}
	for _, it := range plan.Items {
		st := x.stored[it.Cluster+"/"+it.BackupID]
		if it.Action != Remove || st == nil {
			continue
		}
		if err := deleteKeys(ctx, x.store, st.Keys); err != nil {
			errs = append(errs, fmt.Errorf("prune backup %s/%s: %w", it.Cluster, it.BackupID, err))
			failedStorage[it.Cluster+"/"+it.BackupID] = true
			continue
		}
		x.log.Info("pruned backup objects", "cluster", it.Cluster, "backup_id", it.BackupID, "status", it.Status,
			"objects", it.Objects, "bytes", it.Bytes, "reasons", it.Reasons)
	}
	if err := x.abortStaleUploads(ctx); err != nil {
		errs = append(errs, fmt.Errorf("prune incomplete uploads: %w", err))
	}
	if x.cat != nil {
		for _, it := range plan.Items {
			if it.Action != Remove || failedStorage[it.Cluster+"/"+it.BackupID] {
				continue
			}
			var err error
			if it.Orphaned {
				// Keep the row, as failed, so the killed run shows in the
				// list; a later prune removes it like any failed set.
				err = x.cat.BackupFailed(ctx, it.Cluster, it.BackupID, "no manifest: the run failed or was killed; prune removed its objects")
			} else if it.InCatalog {
				if err = x.cat.DeleteBackup(ctx, it.Cluster, it.BackupID); errors.Is(err, catalog.ErrNotFound) {
					err = nil
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("prune backup %s/%s from the catalog: %w", it.Cluster, it.BackupID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// lockedSet is the id of the set under cluster's live storage lock, read
// once per cluster.
func (x *executor) lockedSet(ctx context.Context, cluster string) string {
	id, seen := x.locked[cluster]
	if !seen {
		id = lockedSet(ctx, x.store, cluster, x.opts.Now)
		x.locked[cluster] = id
	}
	return id
}

// deleteKeys deletes a set's objects, manifests first: a set whose
// deletion stops half way must no longer pass for a backup.
func deleteKeys(ctx context.Context, store Store, keys []string) error {
	for _, k := range manifest.ManifestsFirst(keys) {
		if err := store.Delete(ctx, k); err != nil {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return nil
}

// facts are what prune judges a committed set by.
type facts struct {
	startedAt time.Time // zero: the backup id's time
	partial   bool
	lock      *manifest.ObjectLock
}

// readFacts reads them from the set's manifest or, when the manifest is
// encrypted, from its readable part: prune needs no key, so an encrypted
// set is timed by its backup id.
func readFacts(ctx context.Context, store Store, st *inventory.Set) (facts, error) {
	m, p, err := manifest.ReadCommit(ctx, store, st.ManifestKey)
	if err != nil {
		return facts{}, err
	}
	if m != nil {
		return facts{startedAt: m.StartedAt, partial: m.Partial, lock: m.ObjectLock}, nil
	}
	if err := st.CheckPublic(p); err != nil {
		return facts{}, err
	}
	return facts{partial: p.Partial, lock: p.ObjectLock}, nil
}
