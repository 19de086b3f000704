package catalog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Lease is a held lease lock: a row in locks that names its holder and
// expires unless renewed. Times come from the database server's clock.
type Lease struct {
	c      *Catalog
	name   string
	holder string
	token  string
	ttl    time.Duration
	// tookOver is the previous holder when an expired lease was taken over.
	tookOver   string
	acquiredAt time.Time

	mu        sync.Mutex
	expiresAt time.Time
}

// lockRow is a locks row as read back, with the server's current time.
type lockRow struct {
	holder, token         string
	acquiredAt, expiresAt time.Time
	now                   time.Time
}

// acquireRounds bounds how often AcquireLease goes round when the row
// changes under it (released or taken over by someone else meanwhile).
const acquireRounds = 5

// AcquireLease takes the lease name for holder, valid for ttl unless
// renewed. It does not wait: a lease held by someone else and not yet
// expired gives a *LockHeldError (errors.Is(err, ErrLockHeld)). An expired
// lease is taken over.
//
// It relies only on a primary key and conditional single-row writes (an
// INSERT that fails on a duplicate, an UPDATE whose WHERE names the expired
// acquisition), never on GET_LOCK or SELECT ... FOR UPDATE, so it behaves
// the same on TiDB's optimistic and pessimistic transactions and on MySQL.
func (c *Catalog) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (*Lease, error) {
	switch {
	case name == "" || len(name) > 191:
		return nil, fmt.Errorf("acquire lock %q: name must be 1 to 191 bytes", name)
	case holder == "" || len(holder) > 191:
		return nil, fmt.Errorf("acquire lock %s: holder must be 1 to 191 bytes", name)
	case ttl < time.Millisecond:
		return nil, fmt.Errorf("acquire lock %s: ttl %s is too short", name, ttl)
	}
	token, err := newToken()
	if err != nil {
		return nil, fmt.Errorf("acquire lock %s: %w", name, err)
	}
	l := &Lease{c: c, name: name, holder: holder, token: token, ttl: ttl}
	insert := true
	for range acquireRounds {
		if insert {
			err := c.withRetry(ctx, func(ctx context.Context) error {
				_, err := c.db.ExecContext(ctx, sqlInsertLock, name, holder, token, ttl.Microseconds())
				return err
			})
			if err != nil && !isDuplicateKey(err) {
				return nil, fmt.Errorf("acquire lock %s: %w", name, err)
			}
		}
		insert = true
		row, err := c.readLock(ctx, name)
		if errors.Is(err, sql.ErrNoRows) {
			continue // released between the two statements
		}
		if err != nil {
			return nil, fmt.Errorf("acquire lock %s: %w", name, err)
		}
		if row.token == token {
			// Ours: inserted now, or by an earlier attempt whose reply was
			// lost, or taken over in the previous round.
			l.acquiredAt, l.expiresAt = row.acquiredAt, row.expiresAt
			return l, nil
		}
		if row.expiresAt.After(row.now) {
			return nil, &LockHeldError{Name: name, Holder: row.holder, Since: row.acquiredAt, Expires: row.expiresAt}
		}
		var n int64
		err = c.withRetry(ctx, func(ctx context.Context) error {
			res, err := c.db.ExecContext(ctx, sqlTakeOverLock, holder, token, ttl.Microseconds(), name, row.token)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("take over expired lock %s from %s: %w", name, row.holder, err)
		}
		if n > 0 {
			l.tookOver = row.holder
			insert = false
		}
		// Whether we won or lost the race, the next round reads the row back.
	}
	return nil, fmt.Errorf("acquire lock %s: the lock changed hands %d times while acquiring it", name, acquireRounds)
}

func (c *Catalog) readLock(ctx context.Context, name string) (*lockRow, error) {
	var r lockRow
	err := c.withRetry(ctx, func(ctx context.Context) error {
		return c.db.QueryRowContext(ctx, sqlSelectLock, name).Scan(&r.holder, &r.token, &r.acquiredAt, &r.expiresAt, &r.now)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Name is the lock's name.
func (l *Lease) Name() string { return l.name }

// Holder is who holds it.
func (l *Lease) Holder() string { return l.holder }

// TTL is how long each renewal extends the lease.
func (l *Lease) TTL() time.Duration { return l.ttl }

// AcquiredAt is when the lease was acquired, by the server's clock.
func (l *Lease) AcquiredAt() time.Time { return l.acquiredAt }

// TookOverFrom is the holder of the expired lease this one replaced, or "".
func (l *Lease) TookOverFrom() string { return l.tookOver }

// ExpiresAt is the expiry set by the last acquisition or renewal, by the
// server's clock.
func (l *Lease) ExpiresAt() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expiresAt
}

// Renew extends the lease by its TTL from now. It fails with ErrLeaseLost
// when the lease was released or taken over. Renewing a lease that expired
// but that nobody took over succeeds: it was still ours.
func (l *Lease) Renew(ctx context.Context) error {
	err := l.c.withRetry(ctx, func(ctx context.Context) error {
		_, err := l.c.db.ExecContext(ctx, sqlRenewLock, l.ttl.Microseconds(), l.name, l.token)
		return err
	})
	if err != nil {
		return fmt.Errorf("renew lock %s in the catalog at %s: %w", l.name, l.c.addr, err)
	}
	// Reading back rather than trusting the affected-row count keeps this
	// independent of the server's CLIENT_FOUND_ROWS handling.
	row, err := l.c.readLock(ctx, l.name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("renew lock %s: %w (released)", l.name, ErrLeaseLost)
	case err != nil:
		return fmt.Errorf("renew lock %s in the catalog at %s: %w", l.name, l.c.addr, err)
	case row.token != l.token:
		return fmt.Errorf("renew lock %s: %w (taken over by %s at %s)",
			l.name, ErrLeaseLost, row.holder, row.acquiredAt.Format(time.RFC3339))
	}
	l.mu.Lock()
	l.expiresAt = row.expiresAt
	l.mu.Unlock()
	return nil
}

// Release gives the lease up. It only deletes this acquisition: a lease
// taken over by someone else stays theirs, and Release reports ErrLeaseLost.
func (l *Lease) Release(ctx context.Context) error {
	var n int64
	err := l.c.withRetry(ctx, func(ctx context.Context) error {
		res, err := l.c.db.ExecContext(ctx, sqlDeleteLock, l.name, l.token)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("release lock %s in the catalog at %s: %w", l.name, l.c.addr, err)
	}
	if n == 0 {
		// Also reached when an earlier attempt deleted the row and its reply
		// was lost; either way the lock is no longer ours.
		return fmt.Errorf("release lock %s: %w (already released or taken over)", l.name, ErrLeaseLost)
	}
	return nil
}

// KeepAlive renews the lease every interval (TTL/3 when interval <= 0) until
// ctx ends, then closes the channel. If the lease is lost, or cannot be
// renewed for two thirds of its TTL (so before it can expire and be taken
// over), it sends one error matching ErrLeaseLost and stops: the caller
// must stop working under the lock. Each renewal gets a deadline at that
// point, so a server that stops answering cannot postpone it. Transient
// renewal failures before then are retried on the next tick.
func (l *Lease) KeepAlive(ctx context.Context, interval time.Duration) <-chan error {
	if interval <= 0 {
		interval = l.ttl / 3
	}
	budget := l.ttl * 2 / 3
	ch := make(chan error, 1)
	go func() {
		defer close(ch)
		t := time.NewTicker(interval)
		defer t.Stop()
		lastOK := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			sent := time.Now()
			rctx, cancel := context.WithDeadline(ctx, lastOK.Add(budget))
			err := l.Renew(rctx)
			cancel()
			switch {
			case err == nil:
				lastOK = sent
				continue
			case ctx.Err() != nil:
				return
			case errors.Is(err, ErrLeaseLost):
				ch <- err
				return
			case time.Since(lastOK) >= budget:
				ch <- fmt.Errorf("lock %s: %w: not renewed for %s of its %s lifetime: %w", l.name, ErrLeaseLost, time.Since(lastOK).Round(time.Second), l.ttl, err)
				return
			}
			l.c.log.Warn("catalog: lease renewal failed, retrying", "lock", l.name, "err", err)
		}
	}()
	return ch
}

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random lease token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
