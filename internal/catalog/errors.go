package catalog

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors callers decide on with errors.Is.
var (
	// ErrNotFound is returned when a backup, restore or lease row is absent.
	ErrNotFound = errors.New("not found in the catalog")
	// ErrLockHeld is matched by *LockHeldError.
	ErrLockHeld = errors.New("lock held")
	// ErrLeaseLost is returned when a lease was taken over, released or could
	// not be renewed before it expired.
	ErrLeaseLost = errors.New("lease lost")
	// ErrInvalidDSN is matched by *DSNError.
	ErrInvalidDSN = errors.New("invalid catalog DSN")
	// ErrRefused is returned when the server refuses the DSN's user,
	// password or database: the configuration is wrong, not the server.
	ErrRefused = errors.New("catalog refused the DSN")
	// ErrUnreachable is matched by *UnreachableError.
	ErrUnreachable = errors.New("catalog unreachable")
	// ErrTimeout is matched by *TimeoutError.
	ErrTimeout = errors.New("catalog timeout")
	// ErrSchemaOutdated is returned when migrations are pending.
	ErrSchemaOutdated = errors.New("catalog schema outdated")
	// ErrSchemaNewer is returned when the catalog has migrations this build
	// does not know: a newer qbackup migrated it.
	ErrSchemaNewer = errors.New("catalog schema newer than this qbackup")
)

const dsnHint = "expected user:password@tcp(host:port)/db in QBACKUP_CATALOG_DSN"

// DSNError reports a catalog DSN that cannot be used. Its message never
// contains the password.
type DSNError struct {
	Reason string
}

func (e *DSNError) Error() string { return "catalog DSN: " + e.Reason + " (" + dsnHint + ")" }

// Is makes errors.Is(err, ErrInvalidDSN) true.
func (e *DSNError) Is(target error) bool { return target == ErrInvalidDSN }

// UnreachableError reports that the catalog server could not be reached.
type UnreachableError struct {
	// Addr is host:port, or the socket path.
	Addr string
	// Err is the driver's error; its text never holds the password.
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("catalog unreachable at %s: %v", e.Addr, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// TimeoutError reports a catalog that did not complete a statement in
// time: it accepted the connection and then stopped answering, or is too
// slow.
type TimeoutError struct {
	Addr  string
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("catalog at %s did not answer within %s (--catalog-timeout)", e.Addr, e.After)
}

// Is makes errors.Is(err, ErrTimeout) true.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// LockHeldError says who holds a lease lock. Times are the database
// server's, in UTC.
type LockHeldError struct {
	Name    string
	Holder  string
	Since   time.Time
	Expires time.Time
}

func (e *LockHeldError) Error() string {
	return fmt.Sprintf("another run holds the lock %s since %s (holder %s, expires %s)",
		e.Name, e.Since.UTC().Format(time.RFC3339), e.Holder, e.Expires.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrLockHeld) true.
func (e *LockHeldError) Is(target error) bool { return target == ErrLockHeld }
