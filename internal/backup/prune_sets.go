package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
)

// pruneSetRecords removes the coordination records of multi-worker sets
// (<cluster>/.sets/<set-id>/) whose newest record is older than the
// orphan grace: the note a committed set leaves for late workers, and
// every record of a set never committed unless its backup holds the
// cluster's storage lock. The objects
// such a set stored under its backup id are removed by Prune's own rules
// for sets without a manifest (same grace). prefix is "" or one cluster's
// prefix, as in Prune.
func pruneSetRecords(ctx context.Context, opts PruneOptions, prefix string, store Store, log *slog.Logger) error {
	type setRecs struct {
		cluster, id string
		keys        []string
		newest      time.Time
	}
	sets := map[string]*setRecs{}
	var order []string
	err := store.List(ctx, prefix, func(o ObjectInfo) error {
		parts := strings.SplitN(o.Key, "/", 4)
		if len(parts) < 4 || parts[1]+"/" != setsDir || !ValidSetID(parts[2]) {
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
		if opts.OrphanGrace != NoOrphanGrace && opts.Now.Sub(s.newest) < opts.OrphanGrace {
			continue
		}
		backupID, err := setBackupID(ctx, store, s.cluster, s.id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		committed := false
		if backupID != "" {
			if committed, err = recordExists(ctx, store, manifest.ManifestKey(s.cluster, backupID)); err != nil {
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
		if _, err := deleteKeys(ctx, store, s.keys); err != nil {
			errs = append(errs, fmt.Errorf("prune the records of set %s of cluster %q: %w", s.id, s.cluster, err))
			continue
		}
		log.Info("pruned the records of a multi-worker set", "cluster", s.cluster, "set_id", s.id, "backup_id", backupID,
			"committed", committed, "records", len(s.keys))
	}
	return errors.Join(errs...)
}

// setBackupID is the backup id a set's records name (its plan, else its
// commit note); "" when neither is left.
func setBackupID(ctx context.Context, store Store, cluster, setID string) (string, error) {
	var plan setPlan
	err := readRecord(ctx, store, planKey(cluster, setID), &plan)
	if err == nil {
		return plan.BackupID, nil
	}
	if !errors.Is(err, ErrObjectNotFound) {
		return "", err
	}
	var done setCommit
	err = readRecord(ctx, store, commitKey(cluster, setID), &done)
	if errors.Is(err, ErrObjectNotFound) {
		return "", nil
	}
	return done.BackupID, err
}
