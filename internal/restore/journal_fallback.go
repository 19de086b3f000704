package restore

import (
	"context"
	"log/slog"
	"sync"
)

// FallbackJournal keeps progress in Journal until the first write that
// Refused says the journal's store refuses for good (a read-only or
// object-locked store, a full one): then it says so once, as a warning,
// and the restore goes on without a journal. A restore must not fail
// because the store it restores from cannot be written; it only loses the
// ability to resume. Other write errors are returned as they are. Reads
// always go to Journal: a read-only store still answers them.
type FallbackJournal struct {
	Journal Journal
	// Refused tells a refused write from a passing failure.
	Refused func(error) bool
	// Where names the journal's location in the warning.
	Where  string
	Logger *slog.Logger

	mu  sync.Mutex
	off bool
}

// Disabled reports whether the journal fell back to keeping nothing.
func (j *FallbackJournal) Disabled() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.off
}

// Shards implements Journal.
func (j *FallbackJournal) Shards(ctx context.Context, restoreID string) ([]ShardProgress, error) {
	return j.Journal.Shards(ctx, restoreID)
}

// Status implements Journal.
func (j *FallbackJournal) Status(ctx context.Context, restoreID string) (string, error) {
	return j.Journal.Status(ctx, restoreID)
}

// Begin implements Journal.
func (j *FallbackJournal) Begin(ctx context.Context, restoreID string, plan *RestorePlan) error {
	return j.write(func() error { return j.Journal.Begin(ctx, restoreID, plan) })
}

// SetShard implements Journal.
func (j *FallbackJournal) SetShard(ctx context.Context, p ShardProgress) error {
	return j.write(func() error { return j.Journal.SetShard(ctx, p) })
}

// SetShards records several shards' progress, in one write when the
// journal it keeps progress in can.
func (j *FallbackJournal) SetShards(ctx context.Context, ps []ShardProgress) error {
	return j.write(func() error { return setShards(ctx, j.Journal, ps) })
}

// Finish implements Journal.
func (j *FallbackJournal) Finish(ctx context.Context, status, reason string) error {
	return j.write(func() error { return j.Journal.Finish(ctx, status, reason) })
}

func (j *FallbackJournal) write(fn func() error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.off {
		return nil
	}
	err := fn()
	if err == nil || j.Refused == nil || !j.Refused(err) {
		return err
	}
	j.off = true
	log := j.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Warn("the restore journal cannot be written: continuing without a journal, so a rerun of this restore starts over "+
		"(use --journal=file:///writable/dir or a catalog to keep one)", "journal", j.Where, "error", err.Error())
	return nil
}
