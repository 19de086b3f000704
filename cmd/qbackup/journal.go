package main

import (
	"context"
	"fmt"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/restore"
	"github.com/qbackup/qbackup/internal/storage"
)

// setJournal gives the restore its journal as --journal says, and says at
// start where it is kept, or that there is none. Nothing is written here:
// the first write is the journal's Begin, before the cluster is changed.
func setJournal(deps *restore.RunDeps, j config.Journal, rs *cli.ReadSide, cluster string, src config.Source, env *runEnv) error {
	mode := j.Mode
	if mode == config.JournalAuto && rs.Catalog != nil {
		mode = config.JournalCatalog
	}
	switch mode {
	case config.JournalCatalog:
		deps.OpenJournal = func(p *restore.RestorePlan) restore.Journal {
			return &restore.CatalogJournal{Catalog: rs.Catalog, Target: describeTarget(p)}
		}
		env.log.Info("restore journal in the catalog: a rerun resumes", "journal", "catalog")
	case config.JournalStore:
		deps.Journal = &restore.StoreJournal{Store: rs.Store, Cluster: cluster}
		env.log.Info("restore journal in the backup store: a rerun resumes", "journal", "store")
	case config.JournalAuto:
		// No catalog: the store, unless it refuses the write (read-only,
		// object-locked, full); then the restore goes on without resume
		// rather than failing, and says so.
		deps.Journal = &restore.FallbackJournal{
			Journal: &restore.StoreJournal{Store: rs.Store, Cluster: cluster},
			Refused: storage.IsWriteRefused, Where: cli.StoreLocation(src), Logger: env.log,
		}
		env.log.Info("restore journal in the backup store: a rerun resumes (a store that refuses the write is reported and the restore goes on without resume)", "journal", "auto")
	case config.JournalFile:
		dir, err := storage.OpenFile(j.Dir, false)
		if err != nil {
			return config.Invalid(fmt.Errorf("--journal=file://%s (QBACKUP_JOURNAL): %w", j.Dir, err))
		}
		deps.Journal = &restore.StoreJournal{Store: dir, Cluster: cluster}
		env.log.Info("restore journal in a separate directory: a rerun with the same --journal resumes", "journal", "file://"+j.Dir)
	case config.JournalNone:
		deps.Journal = nil
		env.log.Warn("no restore journal (--journal=none): progress is not recorded, so a rerun of this restore starts over", "journal", "none")
	}
	return nil
}

// restoreLease takes the cluster lock for a restore (or a rebalance): in the catalog when
// there is one, else as an object in the backup store. A store that
// refuses that write (read-only, object-locked) does not stop a restore
// whose journal is elsewhere: the lock is skipped with a warning, since a
// restore from an immutable store is what such a store is for.
// --journal=store keeps the old behaviour: the store must be writable.
func restoreLease(j config.Journal, rs *cli.ReadSide, env *runEnv, opts lease.Options) func(context.Context) (context.Context, func(), error) {
	hold := lease.Holder(opts)
	return func(ctx context.Context) (context.Context, func(), error) {
		held, release, err := hold(ctx)
		if err != nil && rs.Catalog == nil && j.Mode != config.JournalStore && storage.IsWriteRefused(err) {
			env.log.Warn("the backup store refuses the cluster lock object: going on without the lock; make sure no backup, restore or rebalance of the cluster runs meanwhile (with a catalog the lock lives there)",
				"cluster", opts.Cluster, "operation", opts.Operation, "error", err.Error())
			return ctx, func() {}, nil
		}
		return held, release, err
	}
}
