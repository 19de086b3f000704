package lease

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrHeld: another backup or restore holds the cluster lock.
	ErrHeld = errors.New("cluster lock held")
	// ErrLost: the lock could not be renewed, or another run took it.
	ErrLost = errors.New("cluster lock lost")
)

// HeldError says who holds the lock since when. errors.Is(err, ErrHeld)
// is true.
type HeldError struct {
	// Lock names the lock: the catalog lease or the storage object.
	Lock string
	// Holder is who holds it; with a catalog it also says what runs
	// (the catalog row has a single holder column).
	Holder string
	// Operation is what the holder runs ("backup …", "restore …"), when
	// the lock records it separately.
	Operation string
	Since     time.Time
	Expires   time.Time
	// Err is the underlying error (e.g. the catalog's), if any.
	Err error
}

func (e *HeldError) Error() string {
	what := "another backup or restore of the cluster"
	if e.Operation != "" {
		what = e.Operation
	}
	return fmt.Sprintf("%s holds the cluster lock %s since %s (holder %s, expires %s unless renewed; "+
		"if that run died, rerun after the expiry or with --lease-wait)",
		what, e.Lock, e.Since.UTC().Format(time.RFC3339), e.Holder, e.Expires.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

func (e *HeldError) Unwrap() error { return e.Err }
