package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
)

// LeaseName is the catalogue lease guarding backups of a cluster.
func LeaseName(cluster string) string { return "backup/" + cluster }

// heldLock is the backup lock while a run holds it.
type heldLock interface {
	Renew(ctx context.Context) error
	Release(ctx context.Context) error
}

// acquireLock takes the catalogue lease, or without a catalogue the lock
// object in storage.
func acquireLock(ctx context.Context, cat Catalog, store Store, clock Clock, log *slog.Logger, cluster, holder, backupID string, ttl time.Duration) (heldLock, error) {
	if cat != nil {
		l, err := cat.AcquireLease(ctx, LeaseName(cluster), holder, ttl)
		if err != nil {
			return nil, fmt.Errorf("take backup lock %s in the catalog: %w", LeaseName(cluster), err)
		}
		return l, nil
	}
	return acquireStorageLock(ctx, store, clock, log, cluster, holder, backupID, ttl)
}

// lockRecord is the content of the storage lock object.
type lockRecord struct {
	Holder   string    `json:"holder"`
	BackupID string    `json:"backup_id"`
	Since    time.Time `json:"since"`
	Expires  time.Time `json:"expires"`
	// Token tells this run's lock from a later one by the same holder.
	Token string `json:"token"`
}

// storageLock is the lock object at manifest.LockKey. Without a catalogue
// there is no compare-and-swap on replace or delete, so taking over an
// expired lock (delete, then create-if-absent) has a small window in which
// two runs that both saw it expired may race; the token read back after
// creating tells the loser. Clocks of the runs are assumed roughly in sync
// (expiry is wall-clock time).
type storageLock struct {
	store Store
	clock Clock
	key   string
	rec   lockRecord
	ttl   time.Duration
}

func acquireStorageLock(ctx context.Context, store Store, clock Clock, log *slog.Logger, cluster, holder, backupID string, ttl time.Duration) (*storageLock, error) {
	var tok [8]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("take backup lock: %w", err)
	}
	now := clock.Now().UTC()
	l := &storageLock{store: store, clock: clock, key: manifest.LockKey(cluster), ttl: ttl,
		rec: lockRecord{Holder: holder, BackupID: backupID, Since: now, Expires: now.Add(ttl), Token: hex.EncodeToString(tok[:])}}
	for range 3 {
		err := l.create(ctx)
		if err == nil {
			cur, err := readLockRecord(ctx, store, l.key)
			if err != nil {
				return nil, fmt.Errorf("take backup lock %s: read back: %w", l.key, err)
			}
			if cur.Token != l.rec.Token {
				return nil, l.heldErr(cur)
			}
			return l, nil
		}
		if !errors.Is(err, ErrObjectExists) {
			return nil, fmt.Errorf("take backup lock %s: %w", l.key, err)
		}
		cur, err := readLockRecord(ctx, store, l.key)
		if errors.Is(err, ErrObjectNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("take backup lock %s: %w", l.key, err)
		}
		if clock.Now().Before(cur.Expires) {
			return nil, l.heldErr(cur)
		}
		log.Warn("taking over an expired backup lock", "lock", l.key, "previous_holder", cur.Holder,
			"previous_backup_id", cur.BackupID, "since", cur.Since, "expired", cur.Expires)
		if err := store.Delete(ctx, l.key); err != nil {
			return nil, fmt.Errorf("take over expired backup lock %s: %w", l.key, err)
		}
	}
	return nil, fmt.Errorf("take backup lock %s: it keeps changing hands, try again", l.key)
}

func (l *storageLock) heldErr(cur *lockRecord) error {
	return &LockHeldError{Lock: l.key, Holder: cur.Holder, Since: cur.Since, Expires: cur.Expires}
}

func (l *storageLock) create(ctx context.Context) error {
	b, err := json.Marshal(l.rec)
	if err != nil {
		return err
	}
	if c, ok := l.store.(conditionalStore); ok {
		return c.PutIfAbsent(ctx, l.key, bytes.NewReader(b))
	}
	// Without conditional writes, check then write: two runs starting in
	// the same instant could both win; the read back in the caller
	// narrows that to a last-writer-wins race.
	if _, err := readLockRecord(ctx, l.store, l.key); err == nil {
		return ErrObjectExists
	} else if !errors.Is(err, ErrObjectNotFound) {
		return err
	}
	return l.store.Put(ctx, l.key, bytes.NewReader(b))
}

// Renew extends the expiry, after checking the lock is still ours.
func (l *storageLock) Renew(ctx context.Context) error {
	cur, err := readLockRecord(ctx, l.store, l.key)
	if err != nil {
		return fmt.Errorf("renew backup lock %s: %w: %w", l.key, ErrLockLost, err)
	}
	if cur.Token != l.rec.Token {
		return fmt.Errorf("renew backup lock %s: %w: now held by %s since %s", l.key, ErrLockLost, cur.Holder, cur.Since.Format(time.RFC3339))
	}
	l.rec.Expires = l.clock.Now().UTC().Add(l.ttl)
	b, err := json.Marshal(l.rec)
	if err != nil {
		return err
	}
	if err := l.store.Put(ctx, l.key, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("renew backup lock %s: %w", l.key, err)
	}
	return nil
}

// Release deletes the lock object if it is still ours.
func (l *storageLock) Release(ctx context.Context) error {
	cur, err := readLockRecord(ctx, l.store, l.key)
	if errors.Is(err, ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release backup lock %s: %w", l.key, err)
	}
	if cur.Token != l.rec.Token {
		return nil // taken over after it expired: not ours to delete
	}
	if err := l.store.Delete(ctx, l.key); err != nil {
		return fmt.Errorf("release backup lock %s: %w", l.key, err)
	}
	return nil
}

func readLockRecord(ctx context.Context, store Store, key string) (*lockRecord, error) {
	r, err := store.Open(ctx, key, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return nil, err
	}
	var rec lockRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decode lock object %s: %w", key, err)
	}
	return &rec, nil
}

// keepAlive renews the lock every ttl/3 until ctx ends; a failed renewal
// that leaves the lock expired cancels the run through lost.
func keepAlive(ctx context.Context, l heldLock, ttl time.Duration, log *slog.Logger, lost func(error)) {
	t := time.NewTicker(max(ttl/3, 10*time.Millisecond))
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := l.Renew(ctx)
		if err == nil {
			lastOK = time.Now()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("renewing the backup lock failed", "error", err)
		if errors.Is(err, ErrLockLost) || time.Since(lastOK) >= ttl {
			lost(fmt.Errorf("%w: %w", ErrLockLost, err))
			return
		}
	}
}
