package lease

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// Record is the content of the storage lock object.
type Record struct {
	Holder string `json:"holder"`
	// Operation says what runs under the lock; absent in objects written
	// by versions before restores took the lock (those were backups).
	Operation string `json:"operation,omitempty"`
	// BackupID is the set a backup writes; empty for restores.
	BackupID string    `json:"backup_id"`
	Since    time.Time `json:"since"`
	Expires  time.Time `json:"expires"`
	// Token tells this run's lock from a later one by the same holder.
	Token string `json:"token"`
}

// conditionalStore can create an object only if it is absent.
type conditionalStore interface {
	PutIfAbsent(ctx context.Context, key string, r io.Reader) error
}

// storageLock is the lock object at manifest.LockKey. Without a catalog
// there is no compare-and-swap on replace or delete, so taking over an
// expired lock (delete, then create-if-absent) has a small window in which
// two runs that both saw it expired may race; the token read back after
// creating tells the loser. Clocks of the runs are assumed roughly in sync
// (expiry is wall-clock time).
type storageLock struct {
	store Store
	clock Clock
	key   string
	rec   Record
	ttl   time.Duration
}

func acquireStorageLock(ctx context.Context, o Options) (*storageLock, error) {
	var tok [8]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("take the cluster lock: %w", err)
	}
	now := o.Clock.Now().UTC()
	l := &storageLock{store: o.Store, clock: o.Clock, key: manifest.LockKey(o.Cluster), ttl: o.TTL,
		rec: Record{Holder: o.Holder, Operation: o.Operation, BackupID: o.BackupID, Since: now, Expires: now.Add(o.TTL),
			Token: hex.EncodeToString(tok[:])}}
	for range 3 {
		err := l.create(ctx)
		if err == nil {
			cur, err := readRecord(ctx, o.Store, l.key)
			if err != nil {
				return nil, fmt.Errorf("take the cluster lock %s: read back: %w", l.key, err)
			}
			if cur.Token != l.rec.Token {
				return nil, l.heldErr(cur)
			}
			return l, nil
		}
		if !errors.Is(err, storage.ErrExists) {
			return nil, fmt.Errorf("take the cluster lock %s: %w", l.key, err)
		}
		cur, err := readRecord(ctx, o.Store, l.key)
		if errors.Is(err, storage.ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("take the cluster lock %s: %w", l.key, err)
		}
		if o.Clock.Now().Before(cur.Expires) {
			return nil, l.heldErr(cur)
		}
		o.Logger.Warn("taking over an expired cluster lock", "lock", l.key, "previous_holder", cur.Holder,
			"previous_operation", cur.Operation, "since", cur.Since, "expired", cur.Expires)
		if err := o.Store.Delete(ctx, l.key); err != nil {
			return nil, fmt.Errorf("take over the expired cluster lock %s: %w", l.key, err)
		}
	}
	return nil, fmt.Errorf("take the cluster lock %s: it keeps changing hands, try again", l.key)
}

func (l *storageLock) heldErr(cur *Record) error {
	op := cur.Operation
	if op == "" && cur.BackupID != "" {
		op = "backup " + cur.BackupID
	}
	return &HeldError{Lock: l.key, Holder: cur.Holder, Operation: op, Since: cur.Since, Expires: cur.Expires}
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
	if _, err := readRecord(ctx, l.store, l.key); err == nil {
		return storage.ErrExists
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return l.store.Put(ctx, l.key, bytes.NewReader(b))
}

// Renew extends the expiry, after checking the lock is still ours.
func (l *storageLock) Renew(ctx context.Context) error {
	cur, err := readRecord(ctx, l.store, l.key)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("renew the cluster lock %s: %w: the lock object is gone", l.key, ErrLost)
		}
		return fmt.Errorf("renew the cluster lock %s: %w", l.key, err)
	}
	if cur.Token != l.rec.Token {
		return fmt.Errorf("renew the cluster lock %s: %w: now held by %s since %s", l.key, ErrLost, cur.Holder, cur.Since.Format(time.RFC3339))
	}
	l.rec.Expires = l.clock.Now().UTC().Add(l.ttl)
	b, err := json.Marshal(l.rec)
	if err != nil {
		return err
	}
	if err := l.store.Put(ctx, l.key, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("renew the cluster lock %s: %w", l.key, err)
	}
	return nil
}

// Release deletes the lock object if it is still ours.
func (l *storageLock) Release(ctx context.Context) error {
	cur, err := readRecord(ctx, l.store, l.key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release the cluster lock %s: %w", l.key, err)
	}
	if cur.Token != l.rec.Token {
		return nil // taken over after it expired: not ours to delete
	}
	if err := l.store.Delete(ctx, l.key); err != nil {
		return fmt.Errorf("release the cluster lock %s: %w", l.key, err)
	}
	return nil
}

// ReadRecord reads the storage lock object of a cluster; a missing one
// gives an error matching storage.ErrNotFound.
func ReadRecord(ctx context.Context, store Store, cluster string) (*Record, error) {
	return readRecord(ctx, store, manifest.LockKey(cluster))
}

func readRecord(ctx context.Context, store Store, key string) (*Record, error) {
	r, err := store.Open(ctx, key, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decode lock object %s: %w", key, err)
	}
	return &rec, nil
}
