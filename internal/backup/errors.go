package backup

import (
	"errors"
	"strings"

	"github.com/qbackup/qbackup/internal/lease"
)

// Sentinel errors callers decide on with errors.Is.
var (
	// ErrLockHeld: another backup or restore holds the cluster lock.
	ErrLockHeld = lease.ErrHeld
	// ErrLockLost: the lock could not be renewed, or another run took it.
	ErrLockLost = lease.ErrLost
	// ErrUnknownCollection: the collection filter names a collection the
	// cluster does not have.
	ErrUnknownCollection = errors.New("unknown collection")
	// ErrNoActiveReplica: a shard has no replica that may be snapshotted.
	ErrNoActiveReplica = errors.New("no active replica")
	// ErrTruncated: a snapshot ended before its end-of-archive marker.
	ErrTruncated = errors.New("snapshot truncated")
	// ErrStalled: a snapshot download delivered no byte for the stall
	// timeout.
	ErrStalled = errors.New("snapshot stalled")
	// ErrWriteLockStuck: a peer's Qdrant write lock taken by the run could
	// not be released.
	ErrWriteLockStuck = errors.New("write lock not released")
	// ErrCatalogOutOfSync: the set was committed to storage but the
	// catalog could not record it; `catalog sync` repairs that.
	ErrCatalogOutOfSync = errors.New("catalog out of sync with storage")
)

// LockHeldError says who holds the cluster lock since when.
// errors.Is(err, ErrLockHeld) is true.
type LockHeldError = lease.HeldError

// UnavailableError lists the shards that have no replica that may be
// snapshotted. errors.Is(err, ErrNoActiveReplica) is true.
type UnavailableError struct {
	Shards []Unavailable
}

func (e *UnavailableError) Error() string {
	parts := make([]string, 0, len(e.Shards))
	for _, u := range e.Shards {
		parts = append(parts, u.String())
	}
	return "no Active replica to snapshot: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrNoActiveReplica) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrNoActiveReplica }
