package lease

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultTTL is the lock lifetime when Options.TTL is zero.
const DefaultTTL = 2 * time.Minute

// releaseTimeout bounds the release of the lock, which runs on a fresh
// context so that a cancelled run still releases it.
const releaseTimeout = 30 * time.Second

// Name is the catalog lease of a cluster. It is named "backup/…" because
// backups took it first; restores take the same row so that the two
// exclude each other, also against runs of older versions.
func Name(cluster string) string { return "backup/" + cluster }

// Lock is a held lock.
type Lock interface {
	Renew(ctx context.Context) error
	Release(ctx context.Context) error
}

// Catalog hands out catalog leases; a held one gives an error matching
// ErrHeld (ideally a *HeldError), a lost one on Renew one matching ErrLost.
// FromCatalog adapts the catalog.
type Catalog interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lock, error)
}

// Store is the object storage holding the lock object when there is no
// catalog. A store that can also PutIfAbsent (every storage backend)
// makes taking the lock safe against a second run starting at the same
// moment.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader) error
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	Delete(ctx context.Context, key string) error
}

// Clock gives the time; tests pin it.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Options say which lock to take and for whom.
type Options struct {
	// Cluster names the cluster whose lock is taken.
	Cluster string
	// Holder names the process (host:pid, the pod); required.
	Holder string
	// Operation says what runs under the lock ("backup 2026…",
	// "restore of backup 2026…"); other runs name it when they refuse.
	Operation string
	// BackupID is the set a backup writes, recorded in the storage lock
	// so prune leaves that set's objects alone; empty for restores.
	BackupID string
	// TTL is the lock lifetime; it is renewed every third of it.
	TTL time.Duration
	// Wait is how long to wait for a lock another run holds to be
	// released or to expire; zero refuses at once. A Job retried after
	// its pod was killed finds the dead pod's lock and needs to outwait
	// it: the lock is only freed by expiry.
	Wait time.Duration
	// Catalog, when set, holds the lock; otherwise Store does.
	Catalog Catalog
	Store   Store
	Clock   Clock
	Logger  *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Cluster == "" {
		return o, errors.New("cluster lock: cluster name is empty")
	}
	if o.Holder == "" {
		return o, errors.New("cluster lock: holder is empty")
	}
	if o.Catalog == nil && o.Store == nil {
		return o, errors.New("cluster lock: neither a catalog nor a storage to hold it")
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Hold takes the cluster lock and keeps it alive until release is called.
// held is ctx, cancelled with a cause wrapping ErrLost when the lock is
// lost; everything done under the lock must use it. release stops the
// renewals and releases the lock (on a fresh context, so also after ctx
// was cancelled); it is idempotent and safe to call concurrently.
//
// A lock held by another run gives an error matching ErrHeld that names
// the holder; an expired one (its holder died) is taken over.
func Hold(ctx context.Context, opts Options) (held context.Context, release func(), err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	l, err := acquireWaiting(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	log := opts.Logger
	log.Debug("cluster lock taken", "cluster", opts.Cluster, "holder", opts.Holder, "operation", opts.Operation)

	held, cancel := context.WithCancelCause(ctx)
	keepCtx, stopKeep := context.WithCancel(held)
	var wg sync.WaitGroup
	wg.Go(func() { keepAlive(keepCtx, l, opts.TTL, log, cancel) })
	var once sync.Once
	release = func() {
		once.Do(func() {
			stopKeep()
			wg.Wait()
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			defer rcancel()
			if err := l.Release(rctx); err != nil {
				log.Warn("releasing the cluster lock failed; it expires by itself", "cluster", opts.Cluster, "error", err)
			}
			cancel(nil)
		})
	}
	return held, release, nil
}

// Holder returns Hold bound to opts, in the shape of a pipeline's lease
// hook: func(ctx) (held ctx, release, err).
func Holder(opts Options) func(ctx context.Context) (context.Context, func(), error) {
	return func(ctx context.Context) (context.Context, func(), error) { return Hold(ctx, opts) }
}

// pollInterval bounds the pause between attempts while waiting for a held
// lock; a released lock is noticed within it.
const pollInterval = 5 * time.Second

// acquireWaiting takes the lock, retrying while another run holds it for
// at most opts.Wait. It sleeps until the holder's expiry (or the poll
// interval, whichever is sooner), so a dead holder's lock is taken over
// the moment it expires.
func acquireWaiting(ctx context.Context, o Options) (Lock, error) {
	// Waiting is real time, whatever clock the lock's expiry is read on.
	deadline := time.Now().Add(o.Wait)
	logged := false
	for {
		l, err := acquire(ctx, o)
		var held *HeldError
		if err == nil || o.Wait <= 0 || !errors.As(err, &held) {
			return l, err
		}
		now := time.Now()
		if !now.Before(deadline) {
			return nil, fmt.Errorf("%w; waited %s for it (--lease-wait)", err, o.Wait)
		}
		if !logged {
			o.Logger.Info("waiting for the cluster lock", "holder", held.Holder, "operation", held.Operation,
				"expires", held.Expires, "wait", o.Wait)
			logged = true
		}
		pause := min(pollInterval, deadline.Sub(now))
		if untilExpiry := held.Expires.Sub(o.Clock.Now()) + 100*time.Millisecond; untilExpiry > 0 && untilExpiry < pause {
			pause = untilExpiry
		}
		t := time.NewTimer(max(pause, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w; stopped waiting for it: %w", err, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// acquire takes the catalog lease, or without a catalog the lock
// object in storage.
func acquire(ctx context.Context, o Options) (Lock, error) {
	if o.Catalog != nil {
		holder := o.Holder
		if o.Operation != "" {
			holder = fmt.Sprintf("%s (%s)", o.Holder, o.Operation)
		}
		if len(holder) > 191 {
			// The catalog's holder column is 191 bytes.
			holder = holder[:191]
		}
		l, err := o.Catalog.AcquireLease(ctx, Name(o.Cluster), holder, o.TTL)
		if err != nil {
			return nil, fmt.Errorf("take the cluster lock %s in the catalog: %w", Name(o.Cluster), err)
		}
		return l, nil
	}
	return acquireStorageLock(ctx, o)
}

// keepAlive renews the lock every ttl/3 until ctx ends. When no renewal
// has succeeded for two thirds of the ttl (a catalog or store that fails
// or stops answering), or the lock was taken over, it cancels the run
// through lost — before the lock can expire, so a run never goes on
// without its lock while another takes it. Each renewal gets a deadline at
// that point: a renewal that hangs cannot postpone the decision.
func keepAlive(ctx context.Context, l Lock, ttl time.Duration, log *slog.Logger, lost func(error)) {
	t := time.NewTicker(max(ttl/3, 10*time.Millisecond))
	defer t.Stop()
	budget := ttl * 2 / 3
	// lastOK is when the last successful renewal was sent: the lock
	// expires no earlier than lastOK + ttl whatever the server's clock.
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
		if err == nil {
			lastOK = sent
			continue
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("renewing the cluster lock failed", "error", err, "last_renewed", lastOK.UTC().Format(time.RFC3339))
		if errors.Is(err, ErrLost) || time.Since(lastOK) >= budget {
			if !errors.Is(err, ErrLost) {
				err = fmt.Errorf("%w: not renewed for %s of its %s lifetime (--lease-ttl), stopping before it expires: %w",
					ErrLost, time.Since(lastOK).Round(time.Millisecond), ttl, err)
			}
			lost(err)
			return
		}
	}
}

// DefaultHolder names this process: host:pid (in a pod, the pod name).
func DefaultHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}
