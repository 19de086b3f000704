package backup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// lockWrites takes Qdrant's global write lock when asked; the returned
// release is idempotent, safe to call concurrently, and uses a fresh
// context so the lock is released even when the run was cancelled. A
// write lock that an operator already holds is left alone.
func (r *run) lockWrites(ctx context.Context) (func(), error) {
	if !r.opts.WriteLock {
		return func() {}, nil
	}
	p := r.peers[0]
	held, err := r.writesLocked(ctx)
	if err != nil {
		return nil, err
	}
	if held {
		r.log.Warn("Qdrant writes are already locked by someone else; leaving that lock alone", "peer", p.ID)
		return func() {}, nil
	}
	reason := fmt.Sprintf("qbackup backup %s is starting its snapshots", r.id)
	if err := p.client.LockWrites(ctx, reason); err != nil {
		// A failed call may still have taken the lock.
		r.unlockWrites(ctx, p)
		return nil, fmt.Errorf("take Qdrant write lock on peer %d: %w", p.ID, err)
	}
	r.log.Info("Qdrant writes locked while the snapshots start", "peer", p.ID)
	var once sync.Once
	return func() { once.Do(func() { r.unlockWrites(ctx, p) }) }, nil
}

func (r *run) unlockWrites(ctx context.Context, p peerRef) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var err error
	for attempt := range 3 {
		if err = p.client.UnlockWrites(uctx); err == nil {
			r.log.Info("Qdrant writes unlocked", "peer", p.ID)
			return
		}
		time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
	}
	r.log.Error("releasing the Qdrant write lock failed: writes stay refused until it is released (POST /locks {\"write\":false})",
		"peer", p.ID, "error", err)
}

// checkWriteLock fails when the cluster has no global write lock.
func (r *run) checkWriteLock(ctx context.Context) error {
	_, err := r.writesLocked(ctx)
	return err
}

func (r *run) writesLocked(ctx context.Context) (bool, error) {
	p := r.peers[0]
	held, err := p.client.WritesLocked(ctx)
	if errors.Is(err, qdrant.ErrNotSupported) {
		return false, fmt.Errorf("write lock requested, but Qdrant %s on peer %d has no global write lock (POST /locks was removed in 1.16): %w",
			p.Version, p.ID, err)
	}
	if err != nil {
		return false, fmt.Errorf("read Qdrant write lock on peer %d: %w", p.ID, err)
	}
	return held, nil
}
