package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
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
func (r *run) snapshotAll(ctx context.Context, start time.Time, inv *inventory, choices []Choice, missing []Unavailable) (*manifest.Manifest, error) {
	byName := map[string]*collectionState{}
	for _, c := range inv.collections {
		byName[c.name] = c
	}
	jobs := make([]job, len(choices))
	var points uint64
	for i, ch := range choices {
		jobs[i] = job{Choice: ch, coll: byName[ch.Collection],
			key: manifest.ShardObjectKey(r.opts.Cluster, r.id, ch.Collection, ch.ShardID, r.opts.Compression)}
		points += ch.PointsCount
	}

	releaseWrites, err := r.lockWrites(ctx)
	if err != nil {
		return nil, err
	}
	defer releaseWrites()

	// The sample is read right before the snapshots start (under the write
	// lock when there is one) so it matches their content as closely as
	// the cluster allows.
	samples, err := r.sample(ctx, inv)
	if err != nil {
		return nil, err
	}

	r.progress.Begin(len(jobs), points)
	results := make([]manifest.Shard, len(jobs))
	var startedWG sync.WaitGroup
	startedWG.Add(len(jobs))
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
		releaseWrites()
	}()
	dispatched := r.dispatch(gctx, g, jobs, func(ctx context.Context, i int) error {
		var once sync.Once
		started := func() { once.Do(startedWG.Done) }
		defer started()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s, err := r.snapshotShard(ctx, jobs[i], started)
		if err != nil {
			return err
		}
		results[i] = s
		return nil
	})
	// Jobs never dispatched (the run failed first) count as started so the
	// write lock is released.
	for range len(jobs) - dispatched {
		startedWG.Done()
	}
	err = g.Wait()
	r.progress.End(err)
	if err != nil {
		return nil, err
	}
	return r.buildManifest(start, inv, jobs, results, samples, len(missing) > 0), nil
}

// dispatch starts the jobs with at most Concurrency running overall (the
// errgroup limit) and PerPeerConcurrency per peer. Jobs are handed out in
// peer round-robin order, and a job whose peer is busy is passed over for
// one whose peer is free, so a busy peer never holds global slots idle.
// It returns how many jobs were started.
func (r *run) dispatch(ctx context.Context, g *errgroup.Group, jobs []job, do func(context.Context, int) error) int {
	sems := map[uint64]chan struct{}{}
	queues := map[uint64][]int{}
	var peers []uint64
	for i, j := range jobs {
		if _, ok := sems[j.PeerID]; !ok {
			sems[j.PeerID] = make(chan struct{}, r.opts.PerPeerConcurrency)
			peers = append(peers, j.PeerID)
		}
		queues[j.PeerID] = append(queues[j.PeerID], i)
	}
	var order []int
	for len(order) < len(jobs) {
		for _, p := range peers {
			if q := queues[p]; len(q) > 0 {
				order = append(order, q[0])
				queues[p] = q[1:]
			}
		}
	}
	freed := make(chan struct{}, 1)
	started := 0
	for len(order) > 0 {
		if ctx.Err() != nil {
			return started
		}
		pick := slices.IndexFunc(order, func(i int) bool {
			select {
			case sems[jobs[i].PeerID] <- struct{}{}:
				return true
			default:
				return false
			}
		})
		if pick < 0 {
			select {
			case <-freed:
			case <-ctx.Done():
			}
			continue
		}
		i := order[pick]
		order = slices.Delete(order, pick, pick+1)
		started++
		g.Go(func() error {
			defer func() {
				<-sems[jobs[i].PeerID]
				select {
				case freed <- struct{}{}:
				default:
				}
			}()
			return do(ctx, i)
		})
	}
	return started
}

// snapshotShard snapshots one shard into its object. started is called as
// soon as the peer has begun the snapshot (or failed to).
func (r *run) snapshotShard(ctx context.Context, j job, started func()) (manifest.Shard, error) {
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
	switch r.opts.SnapshotMethod {
	case manifest.MethodStored:
		var cleanup func()
		src, desc, cleanup, err = openStored(sctx, peer, &r.guard, r.now, r.log, j.PeerID, j.Collection, j.ShardID, r.opts.DownloadAttempts)
		defer cleanup()
	default:
		src, err = peer.StreamShardSnapshot(sctx, j.Collection, j.ShardID)
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
	sum, err := transfer(sctx, r.deps.Store, j.key, src, cancel, r.opts.Compression, what, func(n int64) { r.progress.Bytes(ref, n) })
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
		Object: j.key, Compression: r.opts.Compression,
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

// lockWrites takes Qdrant's global write lock when asked; the returned
// release is idempotent, safe to call concurrently, and uses a fresh
// context so the lock is released even when the run was cancelled. A
// write lock that an operator already holds is left alone.
func (r *run) lockWrites(ctx context.Context) (func(), error) {
	if !r.opts.WriteLock {
		return func() {}, nil
	}
	p := r.peers[0]
	held, err := p.client.WritesLocked(ctx)
	if errors.Is(err, qdrant.ErrNotSupported) {
		return nil, fmt.Errorf("write lock requested, but Qdrant %s on peer %d has no global write lock (POST /locks was removed in 1.16): %w",
			r.peers[0].Version, p.ID, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read Qdrant write lock on peer %d: %w", p.ID, err)
	}
	if held {
		r.log.Warn("Qdrant writes are already locked by someone else; leaving that lock alone", "peer", p.ID)
		return func() {}, nil
	}
	reason := fmt.Sprintf("qbackup backup %s is starting its snapshots", r.id)
	if err := p.client.LockWrites(ctx, reason); err != nil {
		// A failed call may still have taken the lock.
		r.unlockWrites(ctx, p)
		return nil, fmt.Errorf("take Qdrant write lock on peer %d: %w", p.ID, err)
	}
	r.log.Info("Qdrant writes locked while the snapshots start", "peer", p.ID)
	var once sync.Once
	return func() { once.Do(func() { r.unlockWrites(ctx, p) }) }, nil
}

func (r *run) unlockWrites(ctx context.Context, p peerRef) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var err error
	for attempt := range 3 {
		if err = p.client.UnlockWrites(uctx); err == nil {
			r.log.Info("Qdrant writes unlocked", "peer", p.ID)
			return
		}
		time.Sleep(time.Duration(attempt+1) * 500 * time.Millisecond)
	}
	r.log.Error("releasing the Qdrant write lock failed: writes stay refused until it is released (POST /locks {\"write\":false})",
		"peer", p.ID, "error", err)
}

// sample digests the first SampleSize points of every collection.
func (r *run) sample(ctx context.Context, inv *inventory) (map[string][]manifest.PointDigest, error) {
	out := map[string][]manifest.PointDigest{}
	if r.opts.SampleSize <= 0 {
		return out, nil
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Concurrency)
	for i, c := range inv.collections {
		p := r.peers[i%len(r.peers)]
		g.Go(func() error {
			pts, _, err := p.client.Scroll(gctx, c.name, uint32(r.opts.SampleSize), nil, true, true)
			if err != nil {
				return fmt.Errorf("read sample points of %q on peer %d: %w", c.name, p.ID, err)
			}
			ds := make([]manifest.PointDigest, len(pts))
			for k := range pts {
				ds[k] = qdrant.PointDigest(&pts[k])
			}
			mu.Lock()
			out[c.name] = ds
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// buildManifest assembles the manifest of the snapshotted shards.
func (r *run) buildManifest(start time.Time, inv *inventory, jobs []job, results []manifest.Shard, samples map[string][]manifest.PointDigest, partial bool) *manifest.Manifest {
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: r.id, Cluster: r.opts.Cluster,
		QdrantVersion: inv.version, ToolVersion: r.opts.ToolVersion, SnapshotMethod: r.opts.SnapshotMethod,
		Partial: partial, StartedAt: start,
	}
	for _, p := range r.peers {
		m.Peers = append(m.Peers, manifest.Peer{ID: p.ID, Pod: p.Pod, URI: p.Addr.REST})
	}
	for _, c := range inv.collections {
		mc := manifest.Collection{
			Name: c.name, Config: c.info.Config, PayloadSchema: c.info.PayloadSchema,
			ShardingMethod: c.info.ShardingMethod, ShardNumber: c.info.ShardNumber,
			ReplicationFactor: c.info.ReplicationFactor, WriteConsistencyFactor: c.info.WriteConsistencyFactor,
			ShardKeys: shardKeys(c.shards), Aliases: c.aliases, Sample: samples[c.name],
			Shards: []manifest.Shard{},
		}
		if mc.ShardingMethod == "" {
			mc.ShardingMethod = "auto"
		}
		for i, j := range jobs {
			if j.Collection == c.name {
				mc.Shards = append(mc.Shards, results[i])
				mc.PointsCount += results[i].PointsCount
			}
		}
		m.Collections = append(m.Collections, mc)
	}
	first := true
	for _, s := range results {
		if first || s.StartedAt.Before(m.Window.FirstStart) {
			m.Window.FirstStart = s.StartedAt
		}
		if first || s.StartedAt.After(m.Window.LastStart) {
			m.Window.LastStart = s.StartedAt
		}
		first = false
	}
	m.Window.SkewMillis = m.Window.LastStart.Sub(m.Window.FirstStart).Milliseconds()
	return m
}
