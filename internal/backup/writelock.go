package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/retry"
)

// unlockRetry paces the attempts to release a peer's write lock: a peer
// restarting (Kubernetes restarts a killed pod) comes back within the
// 7.5 s they span, unlocked or ready to be unlocked.
var unlockRetry = retry.Policy{Attempts: 5, Base: 500 * time.Millisecond}

// writeLocks are the per-peer write locks this run took.
type writeLocks struct {
	r      *run
	ctx    context.Context
	locked []peerRef // peers this run locked

	once sync.Once
	err  error
}

// lockWrites takes Qdrant's write lock (1.15 POST /locks) on every peer
// when asked. The lock is each peer's own (an in-memory flag of the peer's
// table of contents, lib/storage/src/content_manager/toc/locks.rs in
// Qdrant 1.15), so one peer's lock does not stop writes that reach
// another: every peer must be locked. A peer an operator already locked
// is left alone, neither locked nor unlocked by this run. On failure
// every peer locked so far is unlocked again.
//
// The returned release unlocks every peer this run locked, in parallel
// with retries, on a fresh context so that a cancelled run still unlocks;
// it is idempotent and returns (each time) an error naming the peers that
// stay locked.
func (r *run) lockWrites(ctx context.Context) (func() error, error) {
	if !r.opts.WriteLock {
		return func() error { return nil }, nil
	}
	held, err := r.writesLocked(ctx)
	if err != nil {
		return nil, err
	}
	w := &writeLocks{r: r, ctx: ctx}
	var toLock []peerRef
	for i, p := range r.peers {
		if held[i] {
			r.log.Warn("Qdrant writes are already locked on this peer by someone else; leaving that lock alone", "peer", p.ID)
			continue
		}
		toLock = append(toLock, p)
	}
	reason := fmt.Sprintf("qbackup backup %s is starting its snapshots", r.id)
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range toLock {
		g.Go(func() error {
			err := p.client.LockWrites(gctx, reason)
			// A failed call may still have taken the lock: unlock it too.
			mu.Lock()
			w.locked = append(w.locked, p)
			mu.Unlock()
			if err != nil {
				return fmt.Errorf("take Qdrant write lock on peer %d: %w", p.ID, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if uerr := w.release(); uerr != nil {
			err = errors.Join(err, uerr)
		}
		return nil, err
	}
	r.log.Info("Qdrant writes locked while the snapshots start", "peers", len(w.locked))
	return w.release, nil
}

func (w *writeLocks) release() error {
	w.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), cleanupTimeout)
		defer cancel()
		errs := make([]error, len(w.locked))
		var wg sync.WaitGroup
		for i, p := range w.locked {
			wg.Go(func() { errs[i] = w.r.unlockPeer(ctx, p) })
		}
		wg.Wait()
		var stuck []string
		for i, err := range errs {
			if err != nil {
				stuck = append(stuck, fmt.Sprintf("peer %d (%s): %v", w.locked[i].ID, w.locked[i].Name(), err))
			}
		}
		if len(stuck) > 0 {
			w.err = fmt.Errorf("%w: Qdrant writes stay refused on %s; release by hand with POST /locks {\"write\":false} on each",
				ErrWriteLockStuck, strings.Join(stuck, "; "))
		}
	})
	return w.err
}

// unlockPeer releases one peer's write lock, retrying while the peer is
// unreachable.
func (r *run) unlockPeer(ctx context.Context, p peerRef) error {
	policy := unlockRetry
	policy.OnRetry = func(_ int, _ time.Duration, err error) {
		r.log.Warn("unlocking Qdrant writes failed; retrying", "peer", p.ID, "error", err)
	}
	err := retry.Do(ctx, policy, func(ctx context.Context) error { return p.client.UnlockWrites(ctx) })
	if err == nil {
		r.log.Info("Qdrant writes unlocked", "peer", p.ID)
		return nil
	}
	r.log.Error("releasing the Qdrant write lock failed: writes stay refused until it is released (POST /locks {\"write\":false})",
		"peer", p.ID, "error", err)
	return err
}

// checkWriteLock fails when a peer has no global write lock.
func (r *run) checkWriteLock(ctx context.Context) error {
	_, err := r.writesLocked(ctx)
	return err
}

// writesLocked reads every peer's write lock, in topology order.
func (r *run) writesLocked(ctx context.Context) ([]bool, error) {
	held := make([]bool, len(r.peers))
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range r.peers {
		g.Go(func() error {
			h, err := p.client.WritesLocked(gctx)
			if errors.Is(err, qdrant.ErrNotSupported) {
				return fmt.Errorf("write lock requested, but Qdrant %s on peer %d has no global write lock (POST /locks was removed in 1.16): %w",
					p.Version, p.ID, err)
			}
			if err != nil {
				return fmt.Errorf("read Qdrant write lock on peer %d: %w", p.ID, err)
			}
			held[i] = h
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return held, nil
}
