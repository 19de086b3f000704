package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/retention"
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

// Prune outcomes.
const (
	PruneKeep   = "keep"
	PruneRemove = "remove"
	PruneSkip   = "skip" // not decided on: possibly running, or unreadable
)

// PruneItem is the verdict on one set.
type PruneItem struct {
	Cluster  string `json:"cluster"`
	BackupID string `json:"backup_id"`
	// Status is complete, partial, corrupt, failed (no manifest, or a
	// failed catalogue row), running or unreadable.
	Status  string   `json:"status"`
	Action  string   `json:"action"`
	Reasons []string `json:"reasons"`
	// Objects and Bytes are what storage holds for the set.
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// InCatalog: the catalogue has a row for the set.
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

type pruneSet struct {
	item     PruneItem
	stored   *storedSet
	at       time.Time
	orphaned bool // objects without a manifest: the catalogue row is marked failed, not deleted
	// lock is the set's object lock while it lasts, nil otherwise: its
	// objects cannot be deleted (a delete would only hide them behind a
	// delete marker), so the set is kept until then.
	lock *manifest.ObjectLock
}

// Prune applies the retention policy to the sets in storage (the truth)
// and the catalogue (may be nil). Complete sets outside the policy,
// partial, failed and corrupt (verification failed, per the catalogue)
// sets go; objects of sets without a manifest (killed
// runs) go once older than the grace period and not held by a live
// storage lock, and their catalogue rows are marked failed. Storage
// objects are deleted first — each set's manifest before its other
// objects, so a half-deleted set is no longer a backup — then the
// catalogue rows. Errors on one set do not stop the others; they are
// returned joined.
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
	policy := retention.Policy{KeepLast: opts.KeepLast, KeepDaily: opts.KeepDaily, KeepWeekly: opts.KeepWeekly, KeepMonthly: opts.KeepMonthly}
	prefix := ""
	if opts.Cluster != "" {
		prefix = manifest.ClusterPrefix(opts.Cluster)
	}

	stored, err := scanSets(ctx, store, prefix)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	sets := map[string]*pruneSet{} // cluster/id
	var order []string
	add := func(cluster, id string) *pruneSet {
		k := cluster + "/" + id
		if s, ok := sets[k]; ok {
			return s
		}
		s := &pruneSet{item: PruneItem{Cluster: cluster, BackupID: id}}
		s.at, _ = manifest.BackupIDTime(id)
		sets[k] = s
		order = append(order, k)
		return s
	}
	locked := map[string]string{} // cluster → backup id under a live storage lock
	for _, st := range stored {
		if _, seen := locked[st.cluster]; !seen {
			locked[st.cluster] = ""
			if rec, err := lease.ReadRecord(ctx, store, st.cluster); err == nil && opts.Now.Before(rec.Expires) {
				locked[st.cluster] = rec.BackupID
			}
		}
		s := add(st.cluster, st.id)
		s.stored, s.item.Objects, s.item.Bytes = st, len(st.keys), st.bytes
		if st.manifestKey == "" {
			s.item.Status = StatusFailed
			switch {
			case locked[st.cluster] == st.id:
				s.item.Action, s.item.Reasons = PruneSkip, []string{"no manifest yet; its run holds the backup lock"}
			case opts.Now.Sub(st.newest) < opts.OrphanGrace:
				s.item.Action = PruneSkip
				s.item.Reasons = []string{fmt.Sprintf("no manifest yet; newest object is %s old, within the %s grace period",
					opts.Now.Sub(st.newest).Round(time.Second), opts.OrphanGrace)}
			default:
				s.orphaned = true
				s.item.Reasons = []string{"orphaned objects: no manifest (the run failed or was killed)"}
			}
			continue
		}
		facts, err := readPruneFacts(ctx, store, st)
		if err != nil {
			// Never delete what cannot be read: it may be a newer format.
			s.item.Status, s.item.Action, s.item.Reasons = "unreadable", PruneSkip, []string{err.Error()}
			continue
		}
		if !facts.startedAt.IsZero() {
			s.at = facts.startedAt
		}
		if facts.lock != nil && opts.Now.Before(facts.lock.RetainUntil) {
			s.lock = facts.lock
		}
		s.item.Status = StatusComplete
		if facts.partial {
			s.item.Status = StatusPartial
		}
	}

	if cat != nil {
		rows, err := cat.ListBackups(ctx, opts.Cluster)
		if err != nil {
			return nil, fmt.Errorf("prune: %w", err)
		}
		for _, r := range rows {
			s := add(r.Cluster, r.BackupID)
			s.item.InCatalog = true
			if s.stored != nil {
				if r.VerifyStatus == VerifyCorrupt && s.item.Action != PruneSkip && s.item.Status != StatusFailed {
					s.item.Status = string(retention.Corrupt)
					s.item.Reasons = append(s.item.Reasons, "verification found bad objects")
				}
				continue
			}
			// A row with nothing in storage.
			if r.Unlocated {
				// It may be another store's set: not this store's to judge.
				s.item.Status, s.item.Action = r.Status, PruneSkip
				s.item.Reasons = []string{"recorded before the catalogue kept storage locations and not in this store: run qbackup catalog sync against the store that holds it"}
				continue
			}
			if !r.StartedAt.IsZero() {
				s.at = r.StartedAt
			}
			switch r.Status {
			case StatusRunning:
				if opts.Now.Sub(s.at) < opts.OrphanGrace {
					s.item.Status, s.item.Action, s.item.Reasons = StatusRunning, PruneSkip, []string{"running, within the grace period"}
					continue
				}
				s.item.Status = StatusFailed
				s.item.Reasons = []string{"recorded as running but nothing in storage (the run was killed)"}
			case StatusFailed:
				s.item.Status = StatusFailed
			default:
				// Storage is the truth: the set is gone.
				s.item.Status = StatusFailed
				s.item.Reasons = []string{fmt.Sprintf("catalog says %s but storage has no manifest", r.Status)}
			}
		}
	}

	// Retention per cluster over the sets decided on.
	byCluster := map[string][]retention.Set{}
	for _, k := range order {
		s := sets[k]
		if s.item.Action == PruneSkip {
			continue
		}
		byCluster[s.item.Cluster] = append(byCluster[s.item.Cluster], retention.Set{ID: k, Time: s.at, Status: retention.Status(s.item.Status)})
	}
	rep := &PruneReport{DryRun: opts.DryRun}
	for _, cluster := range slices.Sorted(maps.Keys(byCluster)) {
		for _, d := range retention.Apply(policy, byCluster[cluster]) {
			s := sets[d.Set.ID]
			s.item.Action = PruneRemove
			if d.Keep {
				s.item.Action = PruneKeep
			}
			if len(s.item.Reasons) == 0 || d.Keep {
				s.item.Reasons = append(s.item.Reasons, d.Reasons...)
			}
			if !d.Keep && s.lock != nil {
				s.item.Action = PruneSkip
				s.item.Reasons = append(s.item.Reasons, fmt.Sprintf("under object lock (%s) until %s: kept until then",
					s.lock.Mode, s.lock.RetainUntil.UTC().Format(time.RFC3339)))
				log.Info("backup kept: its objects are under object lock", "cluster", s.item.Cluster, "backup_id", s.item.BackupID,
					"mode", s.lock.Mode, "retain_until", s.lock.RetainUntil.UTC().Format(time.RFC3339), "reasons", s.item.Reasons)
			}
			rep.Items = append(rep.Items, s.item)
		}
	}
	for _, k := range order {
		if s := sets[k]; s.item.Action == PruneSkip {
			rep.Items = append(rep.Items, s.item)
		}
	}
	if opts.DryRun {
		return rep, nil
	}

	var errs []error
	failedStorage := map[string]bool{}
	for _, it := range rep.Items {
		s := sets[it.Cluster+"/"+it.BackupID]
		if it.Action != PruneRemove || s.stored == nil {
			continue
		}
		if _, err := deleteKeys(ctx, store, s.stored.keys); err != nil {
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
		for _, it := range rep.Items {
			s := sets[it.Cluster+"/"+it.BackupID]
			if it.Action != PruneRemove || failedStorage[it.Cluster+"/"+it.BackupID] {
				continue
			}
			var err error
			if s.orphaned {
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
	return rep, errors.Join(errs...)
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
