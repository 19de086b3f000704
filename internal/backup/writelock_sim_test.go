package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockRecorder counts the write locks each peer was asked for and kills a
// chosen peer right after it was locked.
type lockRecorder struct {
	Peer
	id    uint64
	mu    *sync.Mutex
	locks map[uint64]int
	kill  func()
}

func (p *lockRecorder) LockWrites(ctx context.Context, reason string) error {
	err := p.Peer.LockWrites(ctx, reason)
	p.mu.Lock()
	p.locks[p.id]++
	p.mu.Unlock()
	if err == nil && p.kill != nil {
		p.kill()
	}
	return err
}

// TestTheWriteLockIsTakenAndReleasedOnEveryPeer: on 1.15 each peer has
// its own write lock, so every peer is locked; a peer killed while locked
// is unlocked once it is back, and one that stays away fails the run
// naming it.
func TestTheWriteLockIsTakenAndReleasedOnEveryPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	saved := unlockRetry
	t.Cleanup(func() { unlockRetry = saved })
	unlockRetry.Attempts, unlockRetry.Base = 4, 200*time.Millisecond

	tests := []struct {
		name    string
		restart bool
	}{
		{"a peer killed while locked and restarted is unlocked", true},
		{"a peer killed while locked for good fails the run naming it", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := startSim(t, "1.15.0")
			victim := env.sim.Peers()[2]
			deps := env.deps(newFakeStore(), nil)
			var mu sync.Mutex
			locks := map[uint64]int{}
			for id, c := range deps.Peers {
				rec := &lockRecorder{Peer: c, id: id, mu: &mu, locks: locks}
				if id == victim.ID() {
					rec.kill = func() {
						victim.Stop()
						if tt.restart {
							time.AfterFunc(300*time.Millisecond, func() { _ = victim.Start(context.Background()) })
						}
					}
				}
				deps.Peers[id] = rec
			}
			_, err := Run(context.Background(), Options{Cluster: "sim", WriteLock: true}, deps)

			for _, p := range env.sim.Peers() {
				if locks[p.ID()] != 1 {
					t.Errorf("peer %d was asked for the write lock %d times, want once", p.ID(), locks[p.ID()])
				}
			}
			if tt.restart {
				if errors.Is(err, ErrWriteLockStuck) {
					t.Fatalf("error %v: the restarted peer was not unlocked", err)
				}
				for id, c := range env.clients {
					if locked, lerr := c.WritesLocked(context.Background()); lerr != nil || locked {
						t.Errorf("peer %d: writes locked %v (%v) after the run", id, locked, lerr)
					}
				}
				return
			}
			if !errors.Is(err, ErrWriteLockStuck) || !strings.Contains(err.Error(), fmt.Sprintf("peer %d", victim.ID())) {
				t.Fatalf("error %v, want ErrWriteLockStuck naming peer %d", err, victim.ID())
			}
			for id, c := range env.clients {
				if id == victim.ID() {
					continue
				}
				if locked, lerr := c.WritesLocked(context.Background()); lerr != nil || locked {
					t.Errorf("peer %d: writes locked %v (%v) after the run", id, locked, lerr)
				}
			}
		})
	}
}
