package catalog

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	retrying "github.com/qbackup/qbackup/internal/retry"
)

// retryPolicy bounds how often and how long a transient failure is retried.
type retryPolicy struct {
	attempts int
	base     time.Duration
	max      time.Duration
}

func defaultRetryPolicy() retryPolicy {
	return retryPolicy{attempts: 5, base: 50 * time.Millisecond, max: 2 * time.Second}
}

// isTransientCode reports server error numbers after which the same
// statement or transaction can simply run again.
func isTransientCode(n uint16) bool {
	switch n {
	case 1205, // lock wait timeout
		1213, // deadlock
		8002, // TiDB: SELECT FOR UPDATE write conflict, transaction cannot be retried by the server
		8022, // TiDB: retryable error during commit
		8028, // TiDB: information schema changed during the transaction
		9001, // TiDB: PD server timeout
		9002, // TiDB: TiKV server timeout
		9003, // TiDB: TiKV server busy
		9005, // TiDB: region unavailable
		9007: // TiDB: write conflict
		return true
	}
	return false
}

// isTransient reports whether err is worth retrying: a conflict the server
// asks the client to retry, or a connection that broke. Context errors never
// are: the caller gave up.
func isTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return isTransientCode(me.Number)
	}
	switch {
	case errors.Is(err, driver.ErrBadConn),
		errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE):
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retry runs fn until it succeeds, fails permanently, runs out of attempts or
// ctx ends. Because a dropped connection can hide a statement that did
// commit, everything run through retry must be safe to repeat.
func retry(ctx context.Context, p retryPolicy, log *slog.Logger, fn func(context.Context) error) error {
	attempts := max(p.attempts, 1)
	calls := 0
	err := retrying.Do(ctx, retrying.Policy{
		Attempts: attempts, Base: p.base, Max: p.max, Jitter: true, Retryable: isTransient,
		OnRetry: func(attempt int, wait time.Duration, err error) {
			log.Debug("catalog: transient error, retrying", "attempt", attempt, "wait", wait, "err", err)
		},
	}, func(ctx context.Context) error {
		calls++
		return fn(ctx)
	})
	if err != nil && attempts > 1 && calls == attempts && isTransient(err) {
		return fmt.Errorf("gave up after %d attempts: %w", attempts, err)
	}
	return err
}

// withRetry runs fn under the catalog's retry policy, within the
// catalog's timeout: a server that stops answering fails the statement
// with an error matching ErrTimeout and naming the server, instead of
// leaving the run waiting.
func (c *Catalog) withRetry(ctx context.Context, fn func(context.Context) error) error {
	if c.timeout <= 0 {
		return retry(ctx, c.retry, c.log, fn)
	}
	timedOut := &TimeoutError{Addr: c.addr, After: c.timeout}
	tctx, cancel := context.WithTimeoutCause(ctx, c.timeout, timedOut)
	defer cancel()
	err := retry(tctx, c.retry, c.log, fn)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(tctx), timedOut) {
		return fmt.Errorf("%w: %w", timedOut, err)
	}
	return err
}
