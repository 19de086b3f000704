package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/retry"
)

// recoverAll recovers every shard with an object on each of its planned
// replicas, skipping shards an earlier run recovered. Parallelism is
// bounded globally and per receiving peer: a peer unpacks each snapshot
// onto its own disk. A shard that fails (after its retries) does not stop
// the others: every shard that can be recovered is, so a rerun has less
// to do, and the error lists all failures.
func (e *executor) recoverAll(ctx context.Context) error {
	perPeer := map[uint64]chan struct{}{}
	for _, p := range e.plan.Peers {
		perPeer[p.ID] = make(chan struct{}, e.opts.PerPeer)
	}
	var (
		g    errgroup.Group
		mu   sync.Mutex
		errs []error
	)
	g.SetLimit(e.opts.Parallel)
	for _, cp := range e.plan.Collections {
		for _, s := range cp.Shards {
			switch st := e.done.state(cp.Target, s.ID); {
			case s.Object == "" || !e.mine(cp.Target, s.ID):
				// Another worker's share of a multi-worker restore.
				continue
			case e.reshardDone[cp.Target]:
				e.deps.skipped(cp.Target, s.ID)
				continue
			case st == ShardRecovered || st == ShardVerified:
				e.rep.ShardsSkipped++
				e.deps.skipped(cp.Target, s.ID)
				e.log.Info("shard recovered by an earlier run", "collection", cp.Target, "shard", s.ID)
				continue
			}
			for _, p := range s.Replicas {
				if _, ok := perPeer[p]; !ok {
					return fmt.Errorf("%s: replica peer %d is not in the plan", shardRef(cp.Target, s.ID), p)
				}
			}
			g.Go(func() error {
				err := ctx.Err()
				if err == nil {
					err = e.recoverShard(ctx, cp, s, perPeer)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				return nil
			})
		}
	}
	g.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// errNotAgreed is a recovery whose replica states the peers did not all
// show within the agreement bound: its proposals may have been lost, so
// the recovery is done again.
var errNotAgreed = errors.New("recovery not agreed by every peer")

// recoverShard recovers one shard on every planned replica, waits until
// every peer agrees on the outcome, retries, and records the outcome.
func (e *executor) recoverShard(ctx context.Context, cp CollectionPlan, s ShardPlan, perPeer map[uint64]chan struct{}) error {
	name, tid := restoreName(cp), e.targetID(cp, s.ID)
	log := e.log.With("collection", name, "shard", tid, "backup_shard", s.ID, "peers", s.Replicas)
	e.deps.started(cp.Target, s.ID, s.Primary, s.Size)
	attempt := 0
	err := retry.Do(ctx, retry.Policy{
		Attempts:  e.opts.Retries + 1,
		Base:      e.opts.Backoff,
		Retryable: func(err error) bool { return retryable(err) || errors.Is(err, errNotAgreed) },
		OnRetry: func(attempt int, wait time.Duration, err error) {
			log.Warn("shard recovery failed, retrying", "attempt", attempt, "wait", wait, "err", err)
		},
	}, func(ctx context.Context) error {
		attempt++
		t0 := time.Now()
		err := e.recoverReplicas(ctx, name, tid, s, perPeer)
		if err == nil {
			err = e.awaitAgreement(ctx, name, tid, s.Replicas)
		}
		if err == nil {
			log.Info("shard recovered", "bytes", s.Size, "duration", time.Since(t0), "attempt", attempt)
		}
		return err
	})
	e.deps.done(cp.Target, s.ID, err)
	if err != nil {
		err = fmt.Errorf("recover %s on peers %v: %w", shardRef(name, tid), s.Replicas, err)
		// Recorded with a fresh context: the failure must be visible even
		// when the run is being cancelled.
		if jerr := e.setShard(context.WithoutCancel(ctx), cp, s, ShardFailed, err.Error()); jerr != nil {
			err = errors.Join(err, jerr)
		}
		return err
	}
	e.markRestored(name, tid, s.Replicas...)
	e.countRecovered(s.Size * int64(len(s.Replicas)))
	return e.setShard(ctx, cp, s, ShardRecovered, "")
}

// recoverReplicas sends the shard snapshot to every planned replica, one
// after the other, each within its peer's concurrency bound.
func (e *executor) recoverReplicas(ctx context.Context, name string, shard uint32, s ShardPlan, perPeer map[uint64]chan struct{}) error {
	for _, p := range s.Replicas {
		select {
		case perPeer[p] <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		err := e.recoverOnce(ctx, name, shard, s, p)
		<-perPeer[p]
		if err != nil {
			return fmt.Errorf("peer %d: %w", p, err)
		}
	}
	return nil
}

// awaitAgreement waits until every peer shows the planned replicas of the
// shard Active and no transfer of it, for at most AgreeTimeout. Other
// replicas may remain: the empty ones Qdrant placed at creation, which
// settle drops. A transfer of the shard seen meanwhile means some replica
// was refilled from another (Qdrant's automatic recovery of a replica
// whose Active proposal was lost copies from any Active replica, maybe
// one still empty): the outcome is not trusted and the recovery is done
// again once the transfer is over.
func (e *executor) awaitAgreement(ctx context.Context, name string, shard uint32, replicas []uint64) error {
	deadline := time.Now().Add(e.opts.AgreeTimeout)
	want := map[uint32][]uint64{shard: replicas}
	refilled := false
	poll := newBackoffPoll(e.opts.Poll)
	for {
		ok, transfer, what, err := e.agreement(ctx, name, want, false)
		refilled = refilled || transfer
		poll.observe(what)
		switch {
		case err != nil && !qdrant.IsTransient(err):
			return err
		case ok && refilled:
			return fmt.Errorf("%s: a replica was refilled by a transfer while the recovery was applied: %w", shardRef(name, shard), errNotAgreed)
		case ok:
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				what = err.Error()
			}
			return fmt.Errorf("%s after %s: %s: %w", shardRef(name, shard), e.opts.AgreeTimeout, what, errNotAgreed)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll.next()):
		}
	}
}

func (e *executor) countRecovered(n int64) {
	// Called from recovery goroutines.
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rep.ShardsRecovered++
	e.rep.Bytes += n
}

// retryable: transient peer errors and storage read errors are retried;
// refusals (checksum mismatch, bad request, auth) are not.
func retryable(err error) bool {
	if corrupt(err) {
		return false
	}
	var se *sourceError
	if errors.As(err, &se) {
		return true
	}
	return qdrant.IsTransient(err)
}

// sourceError marks a failure reading the backup object.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "read backup object: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// recoverOnce sends the shard snapshot to one replica peer with priority
// no_sync: the replica becomes Active with the snapshot's data and the
// other replicas are left as they are (src/common/snapshots.rs,
// recover_shard_snapshot_impl). Priority snapshot would mark every other
// replica Dead, and Qdrant's automatic recovery would then copy whole
// shards between peers, from replicas that may still be empty. The
// checksum is the snapshot's own, so Qdrant rejects a corrupted transfer
// before touching the shard.
func (e *executor) recoverOnce(ctx context.Context, name string, shard uint32, s ShardPlan, peerID uint64) error {
	peer, err := e.deps.peer(peerID)
	if err != nil {
		return err
	}
	if e.opts.Transfer == TransferPresigned {
		ps, ok := e.deps.Store.(Presigner)
		if !ok {
			return fmt.Errorf("storage cannot presign URLs: %w", ErrInvalidOptions)
		}
		url, err := ps.Presign(ctx, s.Object, e.opts.PresignTTL)
		if err != nil {
			return &sourceError{fmt.Errorf("presign %s: %w", s.Object, err)}
		}
		return peer.RecoverShard(ctx, name, shard, qdrant.RecoverRequest{
			Location: url, Priority: qdrant.PriorityNoSync, Checksum: s.SnapshotSHA256,
		})
	}
	obj, err := e.deps.Store.Open(ctx, s.Object, 0)
	if err != nil {
		return &sourceError{fmt.Errorf("open %s: %w", s.Object, err)}
	}
	defer obj.Close()
	// The object is hashed as it streams; a mismatch is reported instead
	// of its end, so the peer sees a broken upload, never a whole one.
	checked := &checkedReader{r: obj, h: sha256.New(), key: s.Object, size: s.Size, sha256: s.SHA256}
	var r io.Reader = &markedReader{r: checked}
	var decrypted *decryptedReader
	if s.Encryption != nil {
		// Decrypted after the stored bytes are hashed and before they are
		// decompressed: the reverse of the backup. age reads the header
		// here, so a wrong key fails before the peer is sent anything.
		plain, err := e.deps.Identities.Decrypt(r)
		if err != nil {
			if checked.err != nil {
				return checked.err
			}
			return decryptError(s.Object, err)
		}
		dr := &decryptedReader{r: plain, key: s.Object}
		r, decrypted = dr, dr
	}
	if s.Compression == manifest.CompressionZstd {
		dec, err := manifest.NewZstdReader(r)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Object, err)
		}
		defer dec.Close()
		r = &decodedReader{r: dec, src: checked, key: s.Object}
	}
	err = peer.UploadShardSnapshot(ctx, name, shard, r, qdrant.UploadOptions{
		Priority: qdrant.PriorityNoSync, Checksum: s.SnapshotSHA256,
	})
	switch {
	case checked.err != nil:
		// However the broken upload surfaced, the object is the cause.
		return checked.err
	case decrypted != nil && decrypted.err != nil:
		return decrypted.err
	case errors.Is(err, qdrant.ErrChecksumMismatch):
		return fmt.Errorf("object %s: the peer refused the snapshot in it, which does not match the manifest's snapshot_sha256 %s: %w: %w",
			s.Object, s.SnapshotSHA256, ErrObjectChecksum, err)
	}
	return err
}

// decryptError names the object in a decryption failure and marks a
// damaged one corrupt (exit 5); a missing or wrong identity stays itself
// (bad input), a read error of the object stays a source error.
func decryptError(key string, err error) error {
	var se *sourceError
	switch {
	case corrupt(err), errors.As(err, &se):
		return err
	case errors.Is(err, crypt.ErrDecrypt):
		return fmt.Errorf("object %s: %w: %w", key, err, ErrObjectChecksum)
	}
	return fmt.Errorf("decrypt object %s: %w", key, err)
}

// decryptedReader reports what age refuses in an object as corruption.
type decryptedReader struct {
	r   io.Reader
	key string
	err error // the first failure, for the caller to report
}

func (d *decryptedReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = decryptError(d.key, err)
		if d.err == nil {
			d.err = err
		}
	}
	return n, err
}

// checkedReader hashes an object as it is read and, at its end, returns a
// size or checksum error matching the manifest instead of io.EOF.
type checkedReader struct {
	r      io.Reader
	h      hash.Hash
	n      int64
	key    string
	size   int64
	sha256 string
	err    error
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	switch {
	case c.n > c.size:
		c.err = fmt.Errorf("object %s has more than the %d bytes the manifest says: %w", c.key, c.size, ErrObjectSize)
	case err == io.EOF && c.n != c.size:
		c.err = fmt.Errorf("object %s has %d bytes, the manifest says %d: %w", c.key, c.n, c.size, ErrObjectSize)
	case err == io.EOF && hex.EncodeToString(c.h.Sum(nil)) != c.sha256:
		c.err = fmt.Errorf("object %s has SHA-256 %s, the manifest says %s: %w",
			c.key, hex.EncodeToString(c.h.Sum(nil)), c.sha256, ErrObjectChecksum)
	}
	if c.err != nil {
		return n, c.err
	}
	return n, err
}

// markedReader wraps read errors of the backup object so that they are
// told apart from the peer's errors (and retried).
type markedReader struct{ r io.Reader }

func (m *markedReader) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if err != nil && err != io.EOF && !corrupt(err) {
		var se *sourceError
		if !errors.As(err, &se) {
			err = &sourceError{err}
		}
	}
	return n, err
}
