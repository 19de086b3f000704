package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// peerSnapshotCleanupTimeout bounds the deletion of a stored snapshot on
// the peer after the download, also when the run was cancelled.
const peerSnapshotCleanupTimeout = time.Minute

// secondGuard keeps two stored snapshots of the same shard on one peer out
// of the same wall-clock second: Qdrant names shard snapshots by the
// second, so the second would silently replace the first (and deleting one
// would delete the other).
type secondGuard struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// wait blocks until a snapshot of key may be created, and reserves that
// second. The lock is held only to reserve, so other shards do not wait.
func (g *secondGuard) wait(ctx context.Context, key string, now func() time.Time) error {
	g.mu.Lock()
	if g.last == nil {
		g.last = map[string]time.Time{}
	}
	at := now()
	if prev, ok := g.last[key]; ok {
		if next := prev.Truncate(time.Second).Add(time.Second); at.Before(next) {
			at = next
		}
	}
	g.last[key] = at
	g.mu.Unlock()
	d := at.Sub(now())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// storedOpen is what openStored needs: the shard, the peer holding the
// replica, and the run's ledger, clock and logger.
type storedOpen struct {
	peer       Peer
	peerID     uint64
	collection string
	shard      uint32
	// ledger records the snapshot while it exists on the peer.
	ledger   storedLedger
	backupID string
	// guard keeps two snapshots of one shard out of the same second.
	guard *secondGuard
	now   func() time.Time
	log   *slog.Logger
	// attempts bounds the reconnects of the download.
	attempts int
}

// openStored creates a stored snapshot of the shard on the peer and opens
// a download that resumes after dropped connections. The returned cleanup
// deletes the snapshot on the peer; it must be called whatever happens,
// and uses its own context so a cancelled run still cleans up. The
// snapshot is recorded in ledger before it is created and until it is
// deleted, so that the next backup deletes it if this run is killed.
func openStored(ctx context.Context, o storedOpen) (io.ReadCloser, *qdrant.SnapshotDescription, func(), error) {
	peer, ledger, backupID, guard, now, log := o.peer, o.ledger, o.backupID, o.guard, o.now, o.log
	peerID, collection, shard, attempts := o.peerID, o.collection, o.shard, o.attempts
	existing, err := peer.ListShardSnapshots(ctx, collection, shard)
	if err != nil {
		return nil, nil, func() {}, fmt.Errorf("list the stored snapshots of shard %d of %q on peer %d: %w", shard, collection, peerID, err)
	}
	rec := storedRecord{BackupID: backupID, PeerID: peerID, Collection: collection, ShardID: shard, RequestedAt: now().UTC()}
	for _, d := range existing {
		rec.Existing = append(rec.Existing, d.Name)
	}
	if err := ledger.put(ctx, rec); err != nil {
		return nil, nil, func() {}, err
	}
	var desc *qdrant.SnapshotDescription
	err = retryStart(ctx, func() error {
		// Each attempt waits for its own second: a failed attempt may
		// still have written a snapshot under this second's name.
		if err := guard.wait(ctx, fmt.Sprintf("%d/%s/%d", peerID, collection, shard), now); err != nil {
			return err
		}
		var err error
		desc, err = peer.CreateShardSnapshot(ctx, collection, shard)
		return err
	})
	if err != nil {
		// The record stays: a failed or cut create call may still have
		// made a snapshot, which the next backup then finds and deletes.
		return nil, nil, func() {}, fmt.Errorf("create snapshot of shard %d of %q on peer %d: %w", shard, collection, peerID, err)
	}
	rec.Name = desc.Name
	cleanup := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), peerSnapshotCleanupTimeout)
		defer cancel()
		if err := peer.DeleteShardSnapshot(dctx, collection, shard, desc.Name); err != nil && !errors.Is(err, qdrant.ErrNotFound) {
			log.Warn("deleting the stored snapshot on the peer failed; the next backup deletes it",
				"peer", peerID, "collection", collection, "shard", shard, "snapshot", desc.Name, "error", err)
			return
		}
		if err := ledger.remove(dctx, rec); err != nil {
			log.Warn("removing the record of a deleted stored snapshot failed; the next backup removes it",
				"peer", peerID, "collection", collection, "shard", shard, "error", err)
		}
	}
	if err := ledger.put(ctx, rec); err != nil {
		cleanup()
		return nil, nil, func() {}, err
	}
	open := func(offset int64) (io.ReadCloser, error) {
		return peer.DownloadShardSnapshot(ctx, collection, shard, desc.Name, offset)
	}
	r := &resumableReader{open: open, size: desc.Size, attempts: attempts, sleep: func(d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}, log: log.With("peer", peerID, "collection", collection, "shard", shard, "snapshot", desc.Name)}
	return r, desc, cleanup, nil
}

// resumableReader reads a stored snapshot and, when the connection drops,
// reopens it at the current offset with a Range request, up to attempts
// times in total.
type resumableReader struct {
	open     func(offset int64) (io.ReadCloser, error)
	sleep    func(time.Duration) error
	size     int64 // 0 when unknown
	attempts int
	log      *slog.Logger

	cur    io.ReadCloser
	off    int64
	failed int
}

func (r *resumableReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			rc, err := r.open(r.off)
			if err != nil {
				if rerr := r.retry(err); rerr != nil {
					return 0, rerr
				}
				continue
			}
			r.cur = rc
		}
		n, err := r.cur.Read(p)
		r.off += int64(n)
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF:
			if r.size > 0 && r.off != r.size {
				err = fmt.Errorf("download ended at byte %d of %d: %w", r.off, r.size, io.ErrUnexpectedEOF)
				break
			}
			return n, io.EOF
		}
		r.cur.Close()
		r.cur = nil
		if rerr := r.retry(err); rerr != nil {
			return n, rerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

// retry accounts for one failure and waits before the next attempt; it
// returns the error to give up with.
func (r *resumableReader) retry(err error) error {
	r.failed++
	if r.failed >= r.attempts || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, qdrant.ErrRangeIgnored) {
		return fmt.Errorf("download stopped at byte %d after %d attempts: %w", r.off, r.failed, err)
	}
	r.log.Warn("snapshot download interrupted, resuming", "offset", r.off, "attempt", r.failed, "error", err)
	return r.sleep(time.Duration(r.failed) * 200 * time.Millisecond)
}

func (r *resumableReader) Close() error {
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}
