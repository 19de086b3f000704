package workerset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/qbackup/qbackup/internal/storage"
)

// Member is one worker of a set as the coordination sees it: the waits
// for the plan and the parts, and the failure records, are the same for a
// backup set and a restore set, and live here once.
type Member struct {
	Store   Store
	Cluster string
	SetID   string
	// Index is this worker's, 0 to Workers-1.
	Index   int
	Workers int
	Holder  string
	// Poll is the pause between two looks at the set's records; default
	// DefaultPoll.
	Poll   time.Duration
	Logger *slog.Logger
	// Now is the clock of the records' timestamps; default time.Now.
	Now func() time.Time
}

// DefaultPoll is the default pause between two looks at a set's records.
const DefaultPoll = 2 * time.Second

func (m Member) poll() time.Duration {
	if m.Poll > 0 {
		return m.Poll
	}
	return DefaultPoll
}

func (m Member) log() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (m Member) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

// CommittedError: the set is committed (its outcome recorded) and its
// plan deleted; a late worker has nothing to do.
type CommittedError struct{ BackupID, By string }

func (e *CommittedError) Error() string {
	if e.BackupID == "" {
		return "set done by " + e.By
	}
	return "set committed as backup " + e.BackupID + " by " + e.By
}

// SetFailedError reads failed.json; nil when the set has not failed.
func (m Member) SetFailedError(ctx context.Context) error {
	var f Failure
	err := Read(ctx, m.Store, FailedKey(m.Cluster, m.SetID), &f)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("set %s failed (worker %d, %s): %s", m.SetID, f.Worker, f.Holder, f.Reason)
}

// Committed reads commit.json: the outcome once the set is committed,
// nil before.
func (m Member) Committed(ctx context.Context) (*Commit, error) {
	var done Commit
	err := Read(ctx, m.Store, CommitKey(m.Cluster, m.SetID), &done)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && !done.Committed) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &done, nil
}

// WaitForPlan polls read, at most wait, until it reports worker 0's plan
// found. It fails at once when the set failed, and with a
// *CommittedError when the set is committed already.
func (m Member) WaitForPlan(ctx context.Context, wait time.Duration, read func(context.Context) (bool, error)) error {
	start := time.Now()
	deadline := start.Add(wait)
	logged := false
	for {
		found, err := read(ctx)
		if err != nil || found {
			return err
		}
		if done, err := m.Committed(ctx); err == nil && done != nil {
			return &CommittedError{BackupID: done.BackupID, By: done.Holder}
		}
		if err := m.SetFailedError(ctx); err != nil {
			return err
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("set %s: worker 0 wrote no plan within %s (--plan-wait): is the Job's index 0 running? see its log", m.SetID, wait)
		}
		if !logged {
			m.log().Info("waiting for worker 0's plan", "wait", wait.String())
			logged = true
		}
		if err := m.sleep(ctx, start); err != nil {
			return err
		}
	}
}

// sleep pauses a wait that began at since: briefly at first, then longer,
// at most a quarter of the time waited so far and at most Poll. The
// records a wait looks for often come within a second or two (the plan
// once worker 0 has read the cluster, the parts of workers that started
// together), and a fixed Poll would add up to a whole Poll to the set's
// time twice (measured: about 2 s of a 1 GiB set's 11 s at 4 workers);
// a long wait still looks only every Poll.
func (m Member) sleep(ctx context.Context, since time.Time) error {
	t := time.NewTimer(waitPause(m.poll(), time.Since(since)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// minPause is the first pause of a wait (or Poll, when shorter).
const minPause = 100 * time.Millisecond

// waitPause is the pause of a wait that has lasted waited so far: a
// quarter of that, between minPause and poll.
func waitPause(poll, waited time.Duration) time.Duration {
	return min(poll, max(min(poll, minPause), waited/4))
}

// WaitForParts waits until every worker's part is stored. A worker that
// failed with no retry left fails the wait; so does waiting longer than
// wait.
func (m Member) WaitForParts(ctx context.Context, wait time.Duration) error {
	start := time.Now()
	deadline := start.Add(wait)
	logged := false
	for {
		present, failed := map[int]bool{}, map[int]bool{}
		parts, failures := PartsPrefix(m.Cluster, m.SetID), WorkerFailedPrefix(m.Cluster, m.SetID)
		if err := m.Store.List(ctx, SetPrefix(m.Cluster, m.SetID), func(o storage.ObjectInfo) error {
			if name, ok := strings.CutPrefix(o.Key, parts); ok {
				if w, ok := WorkerOf(name); ok {
					present[w] = true
				}
			} else if name, ok := strings.CutPrefix(o.Key, failures); ok {
				if w, ok := WorkerOf(name); ok {
					failed[w] = true
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("list the records of set %s: %w", m.SetID, err)
		}
		var waiting []int
		for w := range m.Workers {
			if !present[w] {
				waiting = append(waiting, w)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		for _, w := range waiting {
			if !failed[w] {
				continue
			}
			if err := m.FinalFailure(ctx, w); err != nil {
				return err
			}
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("set %s: workers %v wrote no part within %s (--parts-wait): see their pods' logs", m.SetID, waiting, wait)
		}
		if !logged {
			m.log().Info("own part written; waiting for the other workers' parts", "waiting_for", waiting, "wait", wait.String())
			logged = true
		}
		if err := m.sleep(ctx, start); err != nil {
			return err
		}
	}
}

// FinalFailureError is the failure of a worker the Job does not retry.
type FinalFailureError struct {
	Worker  int
	Failure Failure
}

func (e *FinalFailureError) Error() string {
	return fmt.Sprintf("worker %d (%s) failed and the Job does not retry it: %s", e.Worker, e.Failure.Holder, e.Failure.Reason)
}

// FinalFailure is worker w's failure when the Job does not retry it (a
// *FinalFailureError); nil when it has none, or will be retried.
func (m Member) FinalFailure(ctx context.Context, w int) error {
	var f Failure
	if err := Read(ctx, m.Store, WorkerFailedKey(m.Cluster, m.SetID, w), &f); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	}
	if f.Final {
		return &FinalFailureError{Worker: w, Failure: f}
	}
	return nil
}

// Failed reports a failure of the set found in its records: failed.json,
// or (worker 0) a worker's failure with no retry left. Records it cannot
// read count as no failure.
func (m Member) Failed(ctx context.Context) error {
	var f Failure
	if err := Read(ctx, m.Store, FailedKey(m.Cluster, m.SetID), &f); err == nil {
		return fmt.Errorf("set %s failed (worker %d, %s): %s", m.SetID, f.Worker, f.Holder, f.Reason)
	}
	if m.Index != 0 {
		return nil
	}
	prefix := WorkerFailedPrefix(m.Cluster, m.SetID)
	var workers []int
	_ = m.Store.List(ctx, prefix, func(o storage.ObjectInfo) error {
		if w, ok := WorkerOf(strings.TrimPrefix(o.Key, prefix)); ok {
			workers = append(workers, w)
		}
		return nil
	})
	for _, w := range workers {
		if err := m.FinalFailure(ctx, w); err != nil {
			var ff *FinalFailureError
			if errors.As(err, &ff) {
				return err
			}
		}
	}
	return nil
}

// Watch runs fn under a context that ends as soon as the set fails
// meanwhile (Failed), so that no worker goes on with work of a set that
// will never be committed; fn's error is then that failure.
func (m Member) Watch(ctx context.Context, fn func(context.Context) error) error {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(m.poll())
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-wctx.Done():
				return
			case <-t.C:
			}
			if err := m.Failed(wctx); err != nil {
				cancel(err)
				return
			}
		}
	})
	err := fn(wctx)
	close(stop)
	wg.Wait()
	if cause := context.Cause(wctx); err != nil && ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	return err
}

// RecordFailure writes this worker's failure (failed/<i>.json); final
// when the Job does not retry this index, corrupt when the worker found a
// backup object corrupt.
func (m Member) RecordFailure(ctx context.Context, reason string, final, corrupt bool) error {
	return Put(ctx, m.Store, WorkerFailedKey(m.Cluster, m.SetID, m.Index),
		Failure{Format: Format, Worker: m.Index, Holder: m.Holder, Reason: reason, Final: final, At: m.now(), Corrupt: corrupt}, false)
}

// FailSet writes failed.json: the set failed and every worker still
// running stops.
func (m Member) FailSet(ctx context.Context, reason string) error {
	return Put(ctx, m.Store, FailedKey(m.Cluster, m.SetID),
		Failure{Format: Format, Worker: m.Index, Holder: m.Holder, Reason: reason, Final: true, At: m.now()}, false)
}

// Done records the set's outcome in commit.json (Committed) and deletes
// its other records, which nothing needs any more. The commit note stays
// for a late attempt of an index; prune removes it after the orphan
// grace. Errors are for the log: the outcome is elsewhere already.
func (m Member) Done(ctx context.Context, backupID string) error {
	done := Commit{Format: Format, Holder: m.Holder, At: m.now(), BackupID: backupID, Committed: true}
	var errs []error
	if err := Put(ctx, m.Store, CommitKey(m.Cluster, m.SetID), done, false); err != nil {
		errs = append(errs, fmt.Errorf("record the commit for late workers: %w", err))
	}
	var keys []string
	err := m.Store.List(ctx, SetPrefix(m.Cluster, m.SetID), func(o storage.ObjectInfo) error {
		if o.Key != CommitKey(m.Cluster, m.SetID) {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("list the records of set %s: %w", m.SetID, err))
	}
	for _, k := range keys {
		if err := m.Store.Delete(ctx, k); err != nil && !errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, fmt.Errorf("delete %s: %w", k, err))
			break
		}
	}
	return errors.Join(errs...)
}
