package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// cleanupTimeout bounds the clean-up of a failed run (deleting its objects,
// marking it failed, releasing locks), which runs on a fresh context so
// that a cancelled run still cleans up.
const cleanupTimeout = 2 * time.Minute

// cleanupSettle is the pause before the second sweep of a failed run's
// objects; see run.fail.
const cleanupSettle = 500 * time.Millisecond

// run is one backup run in progress.
type run struct {
	opts     Options
	deps     Deps
	peers    []peerRef
	clock    Clock
	log      *slog.Logger
	progress Progress
	id       string
	guard    secondGuard
	// setStore writes the set's own objects (shards, manifest): the
	// store, or the store with every object under retention.
	setStore Store
	// lock is the retention of the set's objects, nil without.
	lock *manifest.ObjectLock
}

// ErrObjectLockUnsupported: object lock was asked of a store that cannot
// retain objects (a file store).
var ErrObjectLockUnsupported = errors.New("the storage cannot lock objects (S3 Object Lock): use an s3:// store whose bucket has Object Lock enabled")

// retainingStore puts every object under the same retention.
type retainingStore struct {
	Store
	retainer storage.Retainer
	ret      storage.Retention
}

func (s retainingStore) Put(ctx context.Context, key string, r io.Reader) error {
	return s.retainer.PutRetained(ctx, key, r, s.ret)
}

// Run takes one backup set of the cluster and returns it once its manifest
// is committed. See the package documentation for the steps. On failure
// nothing of the set remains in storage (except when the clean-up itself
// fails, which is logged; prune removes such orphans later), the
// catalog row says failed with the reason, and every lock is released.
//
// When the set is committed but the catalog cannot record it, Run
// returns the result together with an error wrapping ErrCatalogOutOfSync:
// the backup exists (storage is the truth) and `catalog sync` indexes it.
func Run(ctx context.Context, opts Options, deps Deps) (*Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &run{opts: opts, deps: deps, clock: deps.Clock, log: deps.Logger, progress: deps.Progress}
	if r.clock == nil {
		r.clock = systemClock{}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.progress == nil {
		r.progress = nopProgress{}
	}
	if deps.Store == nil {
		return nil, errors.New("backup: no storage configured")
	}
	r.setStore = deps.Store
	retainer, canRetain := deps.Store.(storage.Retainer)
	if opts.ObjectLockMode != "" && !canRetain {
		return nil, ErrObjectLockUnsupported
	}
	if r.peers, err = peerRefs(deps); err != nil {
		return nil, err
	}
	r.log = r.log.With("cluster", opts.Cluster)
	if opts.Workers > 1 {
		return r.runWorker(ctx, retainer)
	}

	// Read and plan before anything is written: a bad filter or a shard
	// without an Active replica fails here, with storage untouched.
	state, err := readCluster(ctx, r.peers, opts.Collections, deps.Topology.Version, opts.Concurrency)
	if err != nil {
		return nil, err
	}
	var shards []ShardReplicas
	for _, c := range state.collections {
		shards = append(shards, c.shards...)
	}
	choices, missing := ChooseReplicas(shards)
	if len(missing) > 0 && !opts.AllowPartial {
		return nil, &UnavailableError{Shards: missing}
	}
	for _, m := range missing {
		r.log.Warn("shard left out of a partial backup", "detail", m.String())
	}

	if opts.WriteLock {
		// Refuse a write lock the cluster cannot give before anything is
		// written.
		if err := r.checkWriteLock(ctx); err != nil {
			return nil, err
		}
	}

	start := r.now()
	r.id = manifest.NewBackupID(start)
	if opts.ObjectLockMode != "" {
		r.lock = &manifest.ObjectLock{Mode: opts.ObjectLockMode, RetainUntil: start.Add(time.Duration(opts.ObjectLockDays) * 24 * time.Hour)}
		r.setStore = retainingStore{Store: deps.Store, retainer: retainer, ret: storage.Retention{Mode: r.lock.Mode, Until: r.lock.RetainUntil}}
	}
	r.log = r.log.With("backup_id", r.id)

	held, release, err := lease.Hold(ctx, lease.Options{
		Cluster: opts.Cluster, Holder: opts.Holder, Operation: "backup " + r.id, BackupID: r.id,
		TTL: opts.LeaseTTL, Wait: opts.LeaseWait, Catalog: leaseCatalog(deps.Catalog), Store: deps.Store, Clock: r.clock, Logger: r.log,
	})
	if err != nil {
		return nil, err
	}
	defer release()
	r.log.Info("backup started", "collections", len(state.collections), "shards", len(choices),
		"method", opts.SnapshotMethod, "compression", opts.Compression, "encrypted", opts.Encrypt != nil, "holder", opts.Holder)
	if opts.Started != nil {
		opts.Started(r.id, start)
	}

	res, err := r.execute(held, start, state, choices, missing)
	if res == nil && err != nil {
		// (A result with an error is a committed set the catalog could
		// not record: nothing to clean up.) The cause of held (a lost
		// lock) explains the failure; the clean-up runs under ctx, which
		// outlives the lock.
		err = r.fail(ctx, context.Cause(held), err)
	}
	release()
	return res, err
}

// begin is the start of a set under the lock: its catalog row, then the
// sweep of stored snapshots that killed runs left (under the lock no
// other backup of the cluster runs, so every recorded one is a leftover).
func (r *run) begin(ctx context.Context, start time.Time) error {
	if cat := r.deps.Catalog; cat != nil {
		if err := cat.BackupStarted(ctx, r.opts.Cluster, r.id, r.opts.Holder, start); err != nil {
			return fmt.Errorf("record backup %s as started in the catalog: %w", r.id, err)
		}
	}
	if n, err := sweepLeftSnapshots(ctx, r.deps.Store, r.opts.Cluster, r.id, r.deps.Peers, r.log); err != nil {
		r.log.Warn("some stored snapshots left by killed backups could not be deleted; the next backup tries again",
			"deleted", n, "error", err)
	}
	return nil
}

// execute runs everything that happens under the lock; ctx ends when the
// lock is lost. A failed run returns no result and its error as is, for
// fail.
func (r *run) execute(ctx context.Context, start time.Time, state *clusterState, choices []Choice, missing []Unavailable) (*Result, error) {
	cat := r.deps.Catalog
	if err := r.begin(ctx, start); err != nil {
		return nil, err
	}
	m, err := r.snapshotAll(ctx, start, state, choices, missing)
	if err == nil {
		var key string
		key, err = r.commit(ctx, m)
		if err == nil {
			res := &Result{Manifest: m, ManifestKey: key, Missing: missing, Bytes: m.TotalSize(), Elapsed: m.FinishedAt.Sub(start)}
			r.log.Info("backup complete", "manifest", key, "shards", m.ShardCount(), "bytes", res.Bytes,
				"skew_ms", m.Window.SkewMillis, "elapsed", res.Elapsed.Round(time.Millisecond).String(), "partial", m.Partial)
			if cat != nil {
				// The set is committed: record it even if the run is being
				// cancelled right now.
				cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
				defer ccancel()
				if cerr := cat.BackupCompleted(cctx, m); cerr != nil {
					return res, fmt.Errorf("backup %s is committed to storage but the catalog could not record it (run catalog sync): %w: %w",
						r.id, ErrCatalogOutOfSync, cerr)
				}
			}
			return res, nil
		}
	}
	return nil, err
}

// fail cleans up after a failed run and returns the error to report.
// ctx is the run's (not the lock's: the clean-up needs no lock and must
// run after a lost one); lockCause is why the lock's context ended, if
// it did.
func (r *run) fail(ctx context.Context, lockCause, err error) error {
	if lockCause != nil && !errors.Is(err, lockCause) {
		err = fmt.Errorf("%w (%w)", err, lockCause)
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("backup %s cancelled: %w", r.id, err)
	} else {
		err = fmt.Errorf("backup %s failed: %w", r.id, err)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	prefix := manifest.BackupPrefix(r.opts.Cluster, r.id)
	// Two sweeps: an upload cancelled after its body was sent may still be
	// stored by the server once the first sweep has listed the prefix
	// (S3 has no way to withdraw a PUT in flight), so the second sweep,
	// a moment later, catches it.
	for sweep := 0; sweep < 2; sweep++ {
		if sweep > 0 {
			select {
			case <-time.After(cleanupSettle):
			case <-cctx.Done():
			}
		}
		if n, derr := deletePrefix(cctx, r.deps.Store, prefix); derr != nil {
			r.log.Error("deleting the objects of the failed backup failed; prune removes them later", "prefix", prefix, "error", derr)
			break
		} else if n > 0 {
			r.log.Info("deleted the objects of the failed backup", "prefix", prefix, "objects", n)
		}
	}
	if r.deps.Catalog != nil {
		if cerr := r.deps.Catalog.BackupFailed(cctx, r.opts.Cluster, r.id, err.Error()); cerr != nil {
			r.log.Error("recording the failure in the catalog failed", "error", cerr)
		}
	}
	r.log.Error("backup failed", "error", err)
	return err
}

// commit checks that every shard object is in storage, then writes the
// manifest — the commit marker — last.
func (r *run) commit(ctx context.Context, m *manifest.Manifest) (string, error) {
	present := map[string]int64{}
	prefix := manifest.BackupPrefix(m.Cluster, m.BackupID)
	if err := r.deps.Store.List(ctx, prefix, func(o ObjectInfo) error {
		present[o.Key] = o.Size
		return nil
	}); err != nil {
		return "", fmt.Errorf("list objects of backup %s before committing: %w", m.BackupID, err)
	}
	for _, c := range m.Collections {
		for _, s := range c.Shards {
			size, ok := present[s.Object]
			if !ok {
				return "", fmt.Errorf("shard %d of %q: object %s vanished before the manifest was written", s.ID, c.Name, s.Object)
			}
			if size != s.Size {
				return "", fmt.Errorf("shard %d of %q: object %s has %d bytes, %d were written", s.ID, c.Name, s.Object, size, s.Size)
			}
		}
	}
	m.FinishedAt = r.now()
	m.ObjectLock = r.lock
	m.Encryption = r.encryption()
	if r.opts.EncryptManifest {
		return r.commitEncrypted(ctx, m)
	}
	b, err := manifest.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode manifest of backup %s: %w", m.BackupID, err)
	}
	key := manifest.ManifestKey(m.Cluster, m.BackupID)
	if err := r.setStore.Put(ctx, key, bytesReader(b)); err != nil {
		return "", fmt.Errorf("write manifest %s: %w", key, err)
	}
	return key, nil
}

// commitEncrypted writes the manifest encrypted, streamed through age
// into the store, so that its plaintext is never stored, not even in a
// temporary object or file; then its readable part as manifest.json, the
// commit marker, last as always. A set whose encrypted manifest was
// written but not its readable part is not committed: the run's clean-up
// (or prune) removes it.
func (r *run) commitEncrypted(ctx context.Context, m *manifest.Manifest) (string, error) {
	m.ManifestEncrypted = true
	if err := m.Validate(); err != nil {
		return "", fmt.Errorf("encode manifest of backup %s: %w", m.BackupID, err)
	}
	var pub bytes.Buffer
	if err := manifest.EncodePublic(&pub, manifest.PublicOf(m)); err != nil {
		return "", fmt.Errorf("encode the readable part of the manifest of backup %s: %w", m.BackupID, err)
	}
	key := m.Key()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := manifest.EncodeEncrypted(pw, m, r.opts.Encrypt)
		pw.CloseWithError(err)
		done <- err
	}()
	err := r.setStore.Put(ctx, key, pr)
	// Unblocks the encoder when Put stopped reading early.
	pr.CloseWithError(errors.New("manifest upload ended"))
	if encErr := <-done; encErr != nil && err == nil {
		// Put cannot have succeeded on a stream that failed; keep the
		// encoder's error anyway.
		err = encErr
	}
	if err != nil {
		return "", fmt.Errorf("write encrypted manifest %s: %w", key, err)
	}
	pubKey := manifest.ManifestKey(m.Cluster, m.BackupID)
	if err := r.setStore.Put(ctx, pubKey, &pub); err != nil {
		return "", fmt.Errorf("write manifest %s (the readable part of %s): %w", pubKey, key, err)
	}
	return key, nil
}

func (r *run) now() time.Time { return r.clock.Now().UTC() }

// peerRefs pairs the topology with the clients, in topology order.
func peerRefs(deps Deps) ([]peerRef, error) {
	if deps.Topology == nil || len(deps.Topology.Peers) == 0 {
		return nil, errors.New("backup: the topology has no peers")
	}
	out := make([]peerRef, 0, len(deps.Topology.Peers))
	for _, p := range deps.Topology.Peers {
		c, ok := deps.Peers[p.ID]
		if !ok || c == nil {
			return nil, fmt.Errorf("backup: no client for peer %d (%s)", p.ID, p.Name())
		}
		out = append(out, peerRef{Peer: p, client: c})
	}
	return out, nil
}

// leaseCatalog passes the catalog to the cluster lock, keeping a nil
// Catalog a nil interface.
func leaseCatalog(c Catalog) lease.Catalog {
	if c == nil {
		return nil
	}
	return c
}
