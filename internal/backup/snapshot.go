package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// job is one shard to snapshot.
type job struct {
	Choice
	coll *collectionState
	key  string
}

// snapshotAll snapshots every chosen shard and returns the manifest to
// commit (without FinishedAt).
func (r *run) snapshotAll(ctx context.Context, start time.Time, state *clusterState, choices []Choice, missing []Unavailable) (m *manifest.Manifest, err error) {
	byName := map[string]*collectionState{}
	for _, c := range state.collections {
		byName[c.name] = c
	}
	jobs := make([]job, len(choices))
	var points uint64
	for i, ch := range choices {
		jobs[i] = job{Choice: ch, coll: byName[ch.Collection],
			key: manifest.ShardObjectKey(r.opts.Cluster, r.id, ch.Collection, ch.ShardID, r.opts.Compression)}
		if r.opts.EncryptManifest {
			// The keys would name the collections the manifest hides.
			jobs[i].key = manifest.OpaqueShardObjectKey(r.opts.Cluster, r.id, i, r.opts.Compression)
		}
		if r.opts.Encrypt != nil {
			jobs[i].key += manifest.EncryptedSuffix
		}
		points += ch.PointsCount
	}

	releaseWrites, err := r.lockWrites(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		// A peer left locked refuses every write: the run fails and says
		// which, whatever else happened.
		if uerr := releaseWrites(); uerr != nil {
			m, err = nil, errors.Join(err, uerr)
		}
	}()

	// The sample is read right before the snapshots start (under the write
	// lock when there is one) so it matches their content as closely as
	// the cluster allows.
	samples, err := r.sample(ctx, state)
	if err != nil {
		return nil, err
	}
	// The first reading of the window a live backup is bounded by (see
	// live.go).
	before, err := r.exactCounts(ctx, state)
	if err != nil {
		return nil, err
	}

	results, err := r.transferJobs(ctx, jobs, points, func() { releaseWrites() })
	if err != nil {
		return nil, err
	}
	// The second reading, right after the last snapshot ended.
	after, err := r.exactCounts(ctx, state)
	if err != nil {
		return nil, err
	}
	shardAfter, err := r.shardCountsAfter(ctx, jobs)
	if err != nil {
		return nil, err
	}
	samples, dropped, err := r.stableSample(ctx, samples)
	if err != nil {
		return nil, err
	}
	for i := range jobs {
		results[i].PointsCountRange = manifest.RangeOf(jobs[i].PointsCount, shardAfter[i])
	}
	m = r.buildManifest(start, state, jobs, results, samples, len(missing) > 0)
	for i := range m.Collections {
		c := &m.Collections[i]
		c.PointsCountRange = manifest.RangeOf(before[c.Name], after[c.Name])
		c.SampleDropped = dropped[c.Name]
		if before[c.Name] != after[c.Name] || dropped[c.Name] > 0 {
			r.log.Info("collection changed during the backup", "collection", c.Name,
				"points_before", before[c.Name], "points_after", after[c.Name], "sampled_points_changed", dropped[c.Name])
		}
	}
	return m, nil
}

// transferJobs snapshots jobs into their objects, at most Concurrency at
// once, and returns each job's shard record. allStarted is called once
// every job's snapshot has started (or the run failed), e.g. to release a
// write lock that only needs to cover the starts.
func (r *run) transferJobs(ctx context.Context, jobs []job, points uint64, allStartedFn func()) ([]manifest.Shard, error) {
	r.progress.Begin(len(jobs), points)
	results := make([]manifest.Shard, len(jobs))
	var startedWG sync.WaitGroup
	startedWG.Add(len(jobs))
	once := make([]sync.Once, len(jobs))
	markStarted := func(i int) { once[i].Do(startedWG.Done) }
	allStarted := make(chan struct{})
	go func() { startedWG.Wait(); close(allStarted) }()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Concurrency)
	go func() {
		// The write lock only needs to cover the starts.
		select {
		case <-allStarted:
		case <-gctx.Done():
		}
		allStartedFn()
	}()
	ahead := make([]*prestarted, len(jobs))
	if r.opts.SnapshotMethod == manifest.MethodStream && r.opts.PrestartStreams > 0 {
		var closeUnused func()
		ahead, closeUnused = r.prestart(gctx, jobs, dispatchOrder(jobs), markStarted)
		defer closeUnused()
	}
	dispatched := r.dispatch(gctx, g, jobs, func(ctx context.Context, i int) error {
		started := func() { markStarted(i) }
		defer started()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s, err := r.snapshotShard(ctx, jobs[i], ahead[i], started)
		if err != nil {
			return err
		}
		results[i] = s
		return nil
	})
	// Jobs never dispatched (the run failed first) count as started so the
	// write lock is released; the failure releases it anyway.
	if dispatched < len(jobs) {
		for i := range jobs {
			markStarted(i)
		}
	}
	err := g.Wait()
	r.progress.End(err)
	if err != nil {
		return nil, err
	}
	return results, nil
}

// snapshotShard snapshots one shard into its object. started is called as
// soon as the peer has begun the snapshot (or failed to).
//
// ahead, when not nil, is the shard's stream opened before its turn: it is
// used (and the shard's start is when it was opened) unless it waited past
// PrestartMaxWait, when it is closed and the stream opened again.
func (r *run) snapshotShard(ctx context.Context, j job, ahead *prestarted, started func()) (manifest.Shard, error) {
	ref := ShardRef{Collection: j.Collection, ShardID: j.ShardID, PeerID: j.PeerID}
	peer := r.deps.Peers[j.PeerID]
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()

	r.progress.ShardStarted(ref)
	startedAt := r.now()
	var (
		src  io.ReadCloser
		desc *qdrant.SnapshotDescription
		err  error
	)
	if ahead.take() {
		waited := r.now().Sub(ahead.at)
		switch {
		case ahead.err != nil:
			startedAt = ahead.at
			err = fmt.Errorf("start snapshot stream of shard %d of %q on peer %d: %w", j.ShardID, j.Collection, j.PeerID, ahead.err)
			ahead.release()
		case waited <= r.opts.PrestartMaxWait:
			src, startedAt = ahead.src, ahead.at
			// The shard's own cancellation (a stall, its failure, its
			// end) ends the request, as for a stream opened in turn.
			context.AfterFunc(sctx, ahead.cancel)
		default:
			// Qdrant may have cut a stream left unread this long.
			ahead.release()
			r.log.Info("reopening a snapshot stream that waited too long for its transfer", "collection", j.Collection,
				"shard", j.ShardID, "peer", j.PeerID, "waited", waited.Round(time.Second).String(),
				"limit", r.opts.PrestartMaxWait.String())
		}
	}
	switch {
	case err != nil:
		// The stream opened ahead failed to open.
	case r.opts.SnapshotMethod == manifest.MethodStored:
		var cleanup func()
		src, desc, cleanup, err = openStored(sctx, storedOpen{peer: peer, peerID: j.PeerID, collection: j.Collection, shard: j.ShardID,
			ledger: storedLedger{store: r.deps.Store, cluster: r.opts.Cluster}, backupID: r.id, guard: &r.guard, now: r.now, log: r.log, attempts: r.opts.DownloadAttempts})
		defer cleanup()
	case src != nil:
		// Opened ahead; its start is when it was opened.
	default:
		err = retryStart(sctx, func() error {
			var err error
			src, err = peer.StreamShardSnapshot(sctx, j.Collection, j.ShardID)
			return err
		})
		if err != nil {
			err = fmt.Errorf("start snapshot stream of shard %d of %q on peer %d: %w", j.ShardID, j.Collection, j.PeerID, err)
		}
	}
	started()
	if err != nil {
		r.progress.ShardDone(ref, 0, 0, err)
		return manifest.Shard{}, err
	}
	what := fmt.Sprintf("snapshot of shard %d of %q from peer %d", j.ShardID, j.Collection, j.PeerID)
	watched := newStallReader(src, r.opts.StallTimeout, cancel, func(waited, timeout time.Duration) {
		r.log.Warn("waiting for the snapshot stream: the peer sent nothing", "collection", j.Collection, "shard", j.ShardID,
			"peer", j.PeerID, "waited", waited.String(), "fails_after", timeout.String()+" (--stall-timeout)")
	})
	sum, err := transfer(sctx, watched, cancel, upload{store: r.setStore, key: j.key, compression: r.opts.Compression, enc: r.opts.Encrypt,
		what: what, onBytes: func(n int64) { r.progress.Bytes(ref, n) }})
	if err != nil && watched.isStalled() {
		// The store's error is then only the cancellation; say why.
		err = fmt.Errorf("%s: %w: no byte received for %s (--stall-timeout)", what, ErrStalled, r.opts.StallTimeout)
	}
	if err == nil && desc != nil {
		err = checkDescription(desc, sum, what)
	}
	if err != nil {
		r.progress.ShardDone(ref, 0, 0, err)
		return manifest.Shard{}, err
	}
	finishedAt := r.now()
	r.progress.ShardDone(ref, sum.snapshotSize, j.PointsCount, nil)
	r.log.Debug("shard snapshot stored", "collection", j.Collection, "shard", j.ShardID, "peer", j.PeerID,
		"object", j.key, "bytes", sum.objectSize, "elapsed", finishedAt.Sub(startedAt).String())

	replicas := make([]manifest.Replica, 0, len(j.coll.shards))
	for _, s := range j.coll.shards {
		if s.ShardID == j.ShardID {
			for _, rep := range s.Replicas {
				replicas = append(replicas, manifest.Replica{PeerID: rep.PeerID, State: rep.State})
			}
		}
	}
	return manifest.Shard{
		ID: j.ShardID, ShardKey: j.ShardKey, SourcePeer: j.PeerID, Replicas: replicas,
		Object: j.key, Compression: r.opts.Compression, Encryption: r.encryption(),
		Size: sum.objectSize, SHA256: sum.objectSHA,
		SnapshotSize: sum.snapshotSize, SnapshotSHA256: sum.snapshotSHA,
		PointsCount: j.PointsCount, StartedAt: startedAt, FinishedAt: finishedAt,
	}, nil
}

// checkDescription compares a downloaded stored snapshot with what the
// peer said it wrote.
func checkDescription(d *qdrant.SnapshotDescription, s sums, what string) error {
	if d.Size > 0 && d.Size != s.snapshotSize {
		return fmt.Errorf("%s %s: %w: peer reported %d bytes, %d downloaded", what, d.Name, ErrTruncated, d.Size, s.snapshotSize)
	}
	if d.Checksum != "" && d.Checksum != s.snapshotSHA {
		return fmt.Errorf("%s %s: checksum mismatch: peer reported sha256 %s, downloaded %s", what, d.Name, d.Checksum, s.snapshotSHA)
	}
	return nil
}

// encryption is what the manifest records of the set's encryption, nil
// without.
func (r *run) encryption() *manifest.Encryption {
	if r.opts.Encrypt == nil {
		return nil
	}
	return &manifest.Encryption{Scheme: manifest.EncryptionAge, Recipients: r.opts.Encrypt.Keys()}
}
