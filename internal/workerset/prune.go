package workerset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// PruneOptions say which records Prune removes.
type PruneOptions struct {
	// Prefix is "" (every cluster) or one cluster's prefix
	// (manifest.ClusterPrefix), as prune lists it.
	Prefix string
	Now    time.Time
	// Grace protects the records of a set whose newest record is younger;
	// negative: none.
	Grace  time.Duration
	DryRun bool
	Logger *slog.Logger
}

// Prune removes the records of multi-worker sets whose newest record is
// older than the grace: the note a committed set leaves for late workers,
// and every record of a set never committed unless its backup holds the
// cluster's storage lock (its worker 0 runs). The objects such a set
// stored under its backup id are prune's to remove by its rules for sets
// without a manifest (same grace).
func Prune(ctx context.Context, store Store, opts PruneOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	type setRecs struct {
		cluster, id string
		keys        []string
		newest      time.Time
	}
	sets := map[string]*setRecs{}
	var order []string
	err := store.List(ctx, opts.Prefix, func(o storage.ObjectInfo) error {
		parts := strings.SplitN(o.Key, "/", 4)
		if len(parts) < 4 || parts[1]+"/" != dir || !ValidSetID(parts[2]) {
			return nil
		}
		cluster, err := manifest.UnescapeName(parts[0])
		if err != nil {
			return nil
		}
		k := parts[0] + "/" + parts[2]
		s := sets[k]
		if s == nil {
			s = &setRecs{cluster: cluster, id: parts[2]}
			sets[k] = s
			order = append(order, k)
		}
		s.keys = append(s.keys, o.Key)
		if o.ModTime.After(s.newest) {
			s.newest = o.ModTime
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prune the records of multi-worker sets: list: %w", err)
	}
	var errs []error
	for _, k := range order {
		s := sets[k]
		if opts.Grace >= 0 && opts.Now.Sub(s.newest) < opts.Grace {
			continue
		}
		backupID, err := BackupIDOf(ctx, store, s.cluster, s.id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		committed := false
		if backupID != "" {
			if committed, err = Exists(ctx, store, manifest.ManifestKey(s.cluster, backupID)); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if !committed && backupID != "" {
			if rec, err := lease.ReadRecord(ctx, store, s.cluster); err == nil && opts.Now.Before(rec.Expires) && rec.BackupID == backupID {
				continue // its worker 0 is running
			}
		}
		if opts.DryRun {
			continue
		}
		var derr error
		for _, key := range s.keys {
			if err := store.Delete(ctx, key); err != nil {
				derr = fmt.Errorf("prune the records of set %s of cluster %q: delete %s: %w", s.id, s.cluster, key, err)
				break
			}
		}
		if derr != nil {
			errs = append(errs, derr)
			continue
		}
		log.Info("pruned the records of a multi-worker set", "cluster", s.cluster, "set_id", s.id, "backup_id", backupID,
			"committed", committed, "records", len(s.keys))
	}
	return errors.Join(errs...)
}
