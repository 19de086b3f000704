package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/workerset"
)

// One set, several workers (Options.Workers > 1; the pods of a Kubernetes
// Indexed Job, each with its completion index as WorkerIndex):
//
//   - worker 0 takes the cluster lock and keeps it (renewing it as any run
//     does) from the plan until the set is committed or failed; it reads
//     the cluster, chooses the replicas, counts and samples, and writes
//     the plan once (create-if-absent) with every worker's share;
//   - every worker waits for the plan (at most PlanWait), snapshots its
//     share into the set's objects and writes its part record;
//   - worker 0, its own part written, waits for every part (at most
//     PartsWait), claims the commit (create-if-absent: two claimants can
//     never both commit), counts and re-reads the sample, checks every
//     object and writes the one manifest and the one catalog row;
//   - a failed worker deletes its objects and records its failure; when
//     the Job will not retry it (FinalAttempt) worker 0 fails the set: its
//     objects are deleted, the catalog row says failed, and failed.json
//     stops every worker still running. A retried index redoes only its
//     own share; a retried worker 0 takes its plan up again.
//
// No worker talks to another: storage, the catalog and the Job are the
// only channels.

// Defaults of the multi-worker waits.
const (
	// DefaultPlanWait: worker 0 reads the whole cluster before it writes
	// the plan; on a large cluster with many collections that takes
	// minutes, and the pods of a Job do not start at the same moment.
	DefaultPlanWait = 10 * time.Minute
	// DefaultPartsWait bounds how long worker 0 waits for the other
	// parts after its own: as long as a share can take.
	DefaultPartsWait = 6 * time.Hour
)

// setPollInterval is the pause between two looks at the set's records.
var setPollInterval = 2 * time.Second

// ErrBadWorkers: the worker options do not describe one worker of a set.
var ErrBadWorkers = errors.New("backup: bad worker options")

// PartResult is what a worker other than 0 reports: its part is stored,
// worker 0 commits the set.
type PartResult struct {
	SetID    string
	BackupID string
	Worker   int
	Workers  int
	Shards   int
	Bytes    int64
	// Already: the part had been written by an earlier attempt of this
	// index; nothing was done again.
	Already bool
}

// CommitClaimedError: another worker claimed the commit of the set and
// this one does not commit it a second time.
type CommitClaimedError struct {
	SetID, BackupID, Holder string
	At                      time.Time
}

func (e *CommitClaimedError) Error() string {
	return fmt.Sprintf("set %s (backup %s): the commit was claimed by %s at %s and its manifest is not written; it is never committed twice, so this set stays uncommitted (prune removes it after the orphan grace; take a new backup)",
		e.SetID, e.BackupID, e.Holder, e.At.UTC().Format(time.RFC3339))
}

// validateWorkers checks the worker options (Workers already defaulted).
func (o Options) validateWorkers() error {
	switch {
	case o.Workers < 1:
		return fmt.Errorf("%w: %d workers: want at least 1", ErrBadWorkers, o.Workers)
	case o.Workers == 1 && o.WorkerIndex != 0:
		return fmt.Errorf("%w: worker index %d of 1 worker: want 0", ErrBadWorkers, o.WorkerIndex)
	case o.Workers == 1:
		return nil
	case o.WorkerIndex < 0 || o.WorkerIndex >= o.Workers:
		return fmt.Errorf("%w: worker index %d of %d workers: want 0 to %d", ErrBadWorkers, o.WorkerIndex, o.Workers, o.Workers-1)
	case o.SetID == "":
		return fmt.Errorf("%w: %d workers need a set id shared by all of them", ErrBadWorkers, o.Workers)
	case !workerset.ValidSetID(o.SetID):
		return fmt.Errorf("%w: set id %q: want 1 to 128 of [A-Za-z0-9._-], starting with a letter or digit", ErrBadWorkers, o.SetID)
	case o.EncryptManifest:
		return fmt.Errorf("%w: an encrypted manifest cannot be taken by several workers (the plan they share would name the collections in clear)", ErrBadWorkers)
	case o.WriteLock:
		return fmt.Errorf("%w: the Qdrant write lock cannot be taken by several workers (each would start its own snapshots while another may unlock)", ErrBadWorkers)
	}
	return nil
}

// runWorker is Run for one worker of a multi-worker set.
func (r *run) runWorker(ctx context.Context, retainer storage.Retainer) (*Result, error) {
	if _, ok := r.deps.Store.(workerset.Conditional); !ok {
		return nil, fmt.Errorf("%w: the storage cannot create objects only if absent, which several workers need", ErrBadWorkers)
	}
	r.log = r.log.With("set_id", r.opts.SetID, "worker", r.opts.WorkerIndex, "workers", r.opts.Workers)
	if r.opts.WorkerIndex == 0 {
		return r.coordinate(ctx, retainer)
	}
	return r.contribute(ctx, retainer)
}

// member is this worker as the set's coordination sees it.
func (r *run) member() workerset.Member {
	return workerset.Member{Store: r.deps.Store, Cluster: r.opts.Cluster, SetID: r.opts.SetID, Index: r.opts.WorkerIndex,
		Workers: r.opts.Workers, Holder: r.opts.Holder, Poll: setPollInterval, Logger: r.log, Now: r.now}
}

// setFailedError reads failed.json; nil when the set has not failed.
func (r *run) setFailedError(ctx context.Context) error {
	return r.member().SetFailedError(ctx)
}

// readPlan reads the plan; nil when there is none yet.
func (r *run) readPlan(ctx context.Context) (*workerset.Plan, error) {
	var p workerset.Plan
	err := workerset.Read(ctx, r.deps.Store, workerset.PlanKey(r.opts.Cluster, r.opts.SetID), &p)
	if errors.Is(err, ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &p, r.checkPlan(&p)
}

// checkPlan refuses to add to a set taken otherwise than this worker is
// configured: the workers of one set must share one configuration.
func (r *run) checkPlan(p *workerset.Plan) error {
	var diffs []string
	if p.Cluster != r.opts.Cluster {
		diffs = append(diffs, fmt.Sprintf("cluster %q, this worker's %q", p.Cluster, r.opts.Cluster))
	}
	if p.Workers != r.opts.Workers {
		diffs = append(diffs, fmt.Sprintf("%d workers, this worker's --workers %d", p.Workers, r.opts.Workers))
	}
	if p.Compression != r.opts.Compression {
		diffs = append(diffs, fmt.Sprintf("compression %s, this worker's %s", p.Compression, r.opts.Compression))
	}
	if p.SnapshotMethod != r.opts.SnapshotMethod {
		diffs = append(diffs, fmt.Sprintf("snapshot method %s, this worker's %s", p.SnapshotMethod, r.opts.SnapshotMethod))
	}
	if p.Encrypted != (r.opts.Encrypt != nil) {
		diffs = append(diffs, fmt.Sprintf("encrypted %t, this worker's %t", p.Encrypted, r.opts.Encrypt != nil))
	}
	// Only worker 0 plans; a retried worker 0 takes its predecessor's
	// plan up, so its selection must be the plan's too.
	if mine := workerset.Selection(r.opts.Collections); !slices.Equal(p.Selected, mine) {
		diffs = append(diffs, fmt.Sprintf("--collections %s, this worker's %s", workerset.SelectionLabel(p.Selected), workerset.SelectionLabel(mine)))
	}
	if p.AllowPartial != r.opts.AllowPartial {
		diffs = append(diffs, fmt.Sprintf("--allow-partial %t, this worker's %t", p.AllowPartial, r.opts.AllowPartial))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: set %s was planned with %s: give every worker of a set the same configuration", ErrBadWorkers, p.SetID, strings.Join(diffs, "; "))
	}
	return nil
}

// useSet fixes the set's id, start and object retention.
func (r *run) useSet(id string, start time.Time, retainer storage.Retainer) {
	r.id = id
	if r.opts.ObjectLockMode != "" {
		r.lock = &manifest.ObjectLock{Mode: r.opts.ObjectLockMode, RetainUntil: start.Add(time.Duration(r.opts.ObjectLockDays) * 24 * time.Hour)}
		r.setStore = retainingStore{Store: r.deps.Store, retainer: retainer, ret: storage.Retention{Mode: r.lock.Mode, Until: r.lock.RetainUntil}}
	}
	r.log = r.log.With("backup_id", r.id)
}

// coordinate is worker 0: plan, own share, commit, all under the lock.
func (r *run) coordinate(ctx context.Context, retainer storage.Retainer) (*Result, error) {
	// A retry of worker 0 whose predecessor committed the set and died
	// before it exited: the plan is gone, the commit note says so.
	var done workerset.Commit
	if err := workerset.Read(ctx, r.deps.Store, workerset.CommitKey(r.opts.Cluster, r.opts.SetID), &done); err == nil && done.Committed {
		r.log.Info("the set is committed already; nothing to do", "backup_id", done.BackupID, "committed_by", done.Holder)
		r.useSet(done.BackupID, time.Time{}, retainer)
		return r.committedResult(ctx, &workerset.Plan{SetID: r.opts.SetID, Cluster: r.opts.Cluster, BackupID: done.BackupID},
			manifest.ManifestKey(r.opts.Cluster, done.BackupID))
	} else if err != nil && !errors.Is(err, ErrObjectNotFound) {
		return nil, err
	}
	plan, err := r.readPlan(ctx)
	if err != nil {
		return nil, err
	}
	var (
		state   *clusterState
		choices []Choice
		missing []Unavailable
		start   time.Time
	)
	if plan == nil {
		// Read and plan before anything is written, as a single run does.
		if state, err = readCluster(ctx, r.peers, r.opts.Collections, r.deps.Topology.Version, r.opts.Concurrency); err != nil {
			return nil, err
		}
		var shards []ShardReplicas
		for _, c := range state.collections {
			shards = append(shards, c.shards...)
		}
		choices, missing = ChooseReplicas(shards)
		if len(missing) > 0 && !r.opts.AllowPartial {
			return nil, &UnavailableError{Shards: missing}
		}
		for _, m := range missing {
			r.log.Warn("shard left out of a partial backup", "detail", m.String())
		}
		start = r.now()
		r.useSet(manifest.NewBackupID(start), start, retainer)
	} else {
		if err := r.setFailedError(ctx); err != nil {
			return nil, err
		}
		start = plan.StartedAt
		r.useSet(plan.BackupID, start, retainer)
		r.log.Info("taking up the plan of an earlier attempt of worker 0", "planned_by", plan.Holder)
	}

	held, release, err := lease.Hold(ctx, lease.Options{
		Cluster: r.opts.Cluster, Holder: r.opts.Holder,
		Operation: fmt.Sprintf("backup %s (set %s, %d workers)", r.id, r.opts.SetID, r.opts.Workers), BackupID: r.id,
		TTL: r.opts.LeaseTTL, Wait: r.opts.LeaseWait, Catalog: leaseCatalog(r.deps.Catalog), Store: r.deps.Store, Clock: r.clock, Logger: r.log,
	})
	if err != nil {
		return nil, err
	}
	defer release()
	if r.opts.Started != nil {
		r.opts.Started(r.id, start)
	}
	owned := plan != nil
	res, err := r.coordinateLocked(held, start, plan, readState{cluster: state, choices: choices, missing: missing}, &owned)
	var claimed *CommitClaimedError
	if res == nil && err != nil && owned && !errors.As(err, &claimed) {
		err = r.fail(ctx, context.Cause(held), err)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if perr := workerset.Put(cctx, r.deps.Store, workerset.FailedKey(r.opts.Cluster, r.opts.SetID),
			workerset.Failure{Format: workerset.Format, Worker: 0, Holder: r.opts.Holder, Reason: err.Error(), Final: true, At: r.now()}, false); perr != nil {
			r.log.Error("recording the set's failure for the other workers failed; they fail when they find no commit", "error", perr)
		}
	}
	release()
	return res, err
}

// readState is what worker 0 read of the cluster before planning a set:
// empty when it takes up the plan of an earlier attempt.
type readState struct {
	cluster *clusterState
	choices []Choice
	missing []Unavailable
}

// coordinateLocked runs worker 0's part under the lock. owned is set once
// the plan is this set's (written now or taken up), from when a failure
// fails the whole set.
func (r *run) coordinateLocked(ctx context.Context, start time.Time, plan *workerset.Plan, read readState, owned *bool) (*Result, error) {
	if plan == nil {
		if err := r.begin(ctx, start); err != nil {
			return nil, err
		}
		var err error
		if plan, err = r.makePlan(ctx, start, read.cluster, read.choices, len(read.missing)); err != nil {
			return nil, err
		}
		if err := workerset.Put(ctx, r.deps.Store, workerset.PlanKey(r.opts.Cluster, r.opts.SetID), plan, true); err != nil {
			if errors.Is(err, ErrObjectExists) {
				return nil, fmt.Errorf("set %s: another worker 0 wrote the plan first; this one stops: %w", r.opts.SetID, err)
			}
			return nil, err
		}
		*owned = true
		r.log.Info("backup started", "collections", len(plan.Skeleton.Collections), "shards", len(plan.Shards),
			"method", r.opts.SnapshotMethod, "compression", r.opts.Compression, "encrypted", r.opts.Encrypt != nil, "holder", r.opts.Holder)
	}
	if _, err := r.doShare(ctx, plan); err != nil {
		return nil, err
	}
	parts, err := r.waitForParts(ctx, plan)
	if err != nil {
		return nil, err
	}
	return r.commitSet(ctx, plan, parts)
}

// makePlan reads the sample and the counts before the snapshots and
// splits the shards between the workers.
func (r *run) makePlan(ctx context.Context, start time.Time, state *clusterState, choices []Choice, missing int) (*workerset.Plan, error) {
	samples, err := r.sample(ctx, state)
	if err != nil {
		return nil, err
	}
	before, err := r.exactCounts(ctx, state)
	if err != nil {
		return nil, err
	}
	skeleton := r.buildManifest(start, state, nil, nil, samples, missing > 0)
	p := &workerset.Plan{
		Format: workerset.Format, SetID: r.opts.SetID, Cluster: r.opts.Cluster, BackupID: r.id, Workers: r.opts.Workers,
		Holder: r.opts.Holder, StartedAt: start, Compression: r.opts.Compression, SnapshotMethod: r.opts.SnapshotMethod,
		Encrypted: r.opts.Encrypt != nil, Selected: workerset.Selection(r.opts.Collections), AllowPartial: r.opts.AllowPartial,
		Skeleton: skeleton, Before: before, Missing: missing,
	}
	byName := map[string]*collectionState{}
	for _, c := range state.collections {
		byName[c.name] = c
	}
	shares := PlanShares(choices, r.opts.Workers)
	owner := make([]int, len(choices))
	for w, idx := range shares {
		for _, i := range idx {
			owner[i] = w
		}
	}
	for i, ch := range choices {
		var reps []manifest.Replica
		for _, s := range byName[ch.Collection].shards {
			if s.ShardID == ch.ShardID {
				for _, rep := range s.Replicas {
					reps = append(reps, manifest.Replica{PeerID: rep.PeerID, State: rep.State})
				}
			}
		}
		key := manifest.ShardObjectKey(r.opts.Cluster, r.id, ch.Collection, ch.ShardID, r.opts.Compression)
		if r.opts.Encrypt != nil {
			key += manifest.EncryptedSuffix
		}
		p.Shards = append(p.Shards, workerset.PlannedShard{Collection: ch.Collection, ShardID: ch.ShardID, ShardKey: ch.ShardKey,
			PeerID: ch.PeerID, PointsCount: ch.PointsCount, Replicas: reps, Object: key, Worker: owner[i]})
	}
	for w, idx := range shares {
		var pts uint64
		for _, i := range idx {
			pts += choices[i].PointsCount
		}
		r.log.Info("share planned", "worker", w, "shards", len(idx), "points", pts)
	}
	return p, nil
}

// shareJobs are the jobs of this worker's share of the plan.
func (r *run) shareJobs(p *workerset.Plan) ([]job, uint64) {
	var jobs []job
	var points uint64
	for _, s := range p.Shards {
		if s.Worker != r.opts.WorkerIndex {
			continue
		}
		reps := make([]ReplicaInfo, len(s.Replicas))
		for k, rep := range s.Replicas {
			reps[k] = ReplicaInfo{PeerID: rep.PeerID, State: rep.State}
		}
		coll := &collectionState{name: s.Collection, shards: []ShardReplicas{{Collection: s.Collection, ShardID: s.ShardID, ShardKey: s.ShardKey, Replicas: reps}}}
		jobs = append(jobs, job{Choice: Choice{Collection: s.Collection, ShardID: s.ShardID, ShardKey: s.ShardKey, PeerID: s.PeerID, PointsCount: s.PointsCount},
			coll: coll, key: s.Object})
		points += s.PointsCount
	}
	return jobs, points
}

// doShare snapshots this worker's share and writes its part record,
// unless an earlier attempt of this index already did.
func (r *run) doShare(ctx context.Context, p *workerset.Plan) (part *workerset.Part, err error) {
	key := workerset.PartKey(r.opts.Cluster, r.opts.SetID, r.opts.WorkerIndex)
	var done workerset.Part
	if err := workerset.Read(ctx, r.deps.Store, key, &done); err == nil && done.BackupID == p.BackupID {
		r.log.Info("this worker's part was written by an earlier attempt; not taken again", "shards", len(done.Shards), "by", done.Holder)
		return &done, nil
	} else if err != nil && !errors.Is(err, ErrObjectNotFound) {
		return nil, err
	}
	jobs, points := r.shareJobs(p)
	var results []manifest.Shard
	var after []uint64
	err = r.watchSet(ctx, p, func(ctx context.Context) error {
		var err error
		if results, err = r.transferJobs(ctx, jobs, points, func() {}); err != nil {
			return err
		}
		after, err = r.shardCountsAfter(ctx, jobs)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range jobs {
		results[i].PointsCountRange = manifest.RangeOf(jobs[i].PointsCount, after[i])
	}
	// A set failed meanwhile is not added to: its objects are being
	// deleted.
	if err := r.setFailedError(ctx); err != nil {
		return nil, err
	}
	part = &workerset.Part{Format: workerset.Format, SetID: p.SetID, BackupID: p.BackupID, Worker: r.opts.WorkerIndex,
		Holder: r.opts.Holder, FinishedAt: r.now(), Shards: results}
	if err := workerset.Put(ctx, r.deps.Store, key, part, false); err != nil {
		return nil, err
	}
	var bytes int64
	for _, s := range results {
		bytes += s.Size
	}
	r.log.Info("part written", "shards", len(results), "bytes", bytes)
	return part, nil
}

// waitForParts waits until every worker's part is stored and returns
// them by worker. A worker that failed for good fails the set; so does
// waiting longer than PartsWait.
func (r *run) waitForParts(ctx context.Context, p *workerset.Plan) ([]*workerset.Part, error) {
	if err := r.member().WaitForParts(ctx, r.opts.PartsWait); err != nil {
		return nil, err
	}
	return r.readParts(ctx, p)
}

// watchSet runs fn under a context that ends as soon as the set fails
// meanwhile — failed.json appears, or, for worker 0, another worker fails
// with no retry left — so that no worker goes on streaming shards of a
// set that will never be committed; fn's error is then that failure.
func (r *run) watchSet(ctx context.Context, _ *workerset.Plan, fn func(context.Context) error) error {
	return r.member().Watch(ctx, fn)
}

// readParts reads every worker's part and checks it covers exactly its
// share.
func (r *run) readParts(ctx context.Context, p *workerset.Plan) ([]*workerset.Part, error) {
	parts := make([]*workerset.Part, p.Workers)
	for w := range parts {
		var part workerset.Part
		if err := workerset.Read(ctx, r.deps.Store, workerset.PartKey(p.Cluster, p.SetID, w), &part); err != nil {
			return nil, err
		}
		if part.BackupID != p.BackupID || part.Worker != w {
			return nil, fmt.Errorf("part of worker %d of set %s is of backup %s worker %d: the records are mixed up", w, p.SetID, part.BackupID, part.Worker)
		}
		parts[w] = &part
	}
	got := map[string]int{}
	for w, part := range parts {
		for _, s := range part.Shards {
			got[s.Object] = w
		}
	}
	for _, s := range p.Shards {
		if w, ok := got[s.Object]; !ok || w != s.Worker {
			return nil, fmt.Errorf("set %s: shard %d of %q (worker %d's share) is in no part", p.SetID, s.ShardID, s.Collection, s.Worker)
		}
	}
	return parts, nil
}

// commitSet claims the commit, assembles the manifest from the plan and
// the parts, and commits it as a single run does.
func (r *run) commitSet(ctx context.Context, p *workerset.Plan, parts []*workerset.Part) (*Result, error) {
	mkey := manifest.ManifestKey(p.Cluster, p.BackupID)
	var tok [8]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("claim the commit of set %s: %w", p.SetID, err)
	}
	claim := workerset.Commit{Format: workerset.Format, Holder: r.opts.Holder, Token: hex.EncodeToString(tok[:]), At: r.now()}
	if err := workerset.Put(ctx, r.deps.Store, workerset.CommitKey(p.Cluster, p.SetID), claim, true); err != nil {
		if !errors.Is(err, ErrObjectExists) {
			return nil, fmt.Errorf("claim the commit of set %s: %w", p.SetID, err)
		}
		var other workerset.Commit
		rerr := workerset.Read(ctx, r.deps.Store, workerset.CommitKey(p.Cluster, p.SetID), &other)
		// Checked after reading the claim: a committer deletes the claim
		// only once its manifest is written.
		if ok, eerr := workerset.Exists(ctx, r.deps.Store, mkey); eerr == nil && ok {
			r.log.Info("the set is already committed", "committed_by", other.Holder, "manifest", mkey)
			return r.committedResult(ctx, p, mkey)
		}
		if rerr != nil {
			return nil, fmt.Errorf("claim the commit of set %s: %w", p.SetID, rerr)
		}
		return nil, &CommitClaimedError{SetID: p.SetID, BackupID: p.BackupID, Holder: other.Holder, At: other.At}
	}

	m := p.Skeleton
	m.Partial = p.Missing > 0
	var results []manifest.Shard
	for _, part := range parts {
		results = append(results, part.Shards...)
	}
	slices.SortFunc(results, func(a, b manifest.Shard) int { return strings.Compare(a.Object, b.Object) })
	state := &clusterState{version: m.QdrantVersion}
	samples := map[string][]manifest.PointDigest{}
	for i := range m.Collections {
		c := &m.Collections[i]
		state.collections = append(state.collections, &collectionState{name: c.Name})
		samples[c.Name] = c.Sample
		c.Shards = []manifest.Shard{}
		c.PointsCount = 0
		for _, s := range p.Shards {
			if s.Collection != c.Name {
				continue
			}
			k, _ := slices.BinarySearchFunc(results, s.Object, func(a manifest.Shard, key string) int { return strings.Compare(a.Object, key) })
			c.Shards = append(c.Shards, results[k])
			c.PointsCount += results[k].PointsCount
		}
	}
	after, err := r.exactCounts(ctx, state)
	if err != nil {
		return nil, err
	}
	kept, dropped, err := r.stableSample(ctx, samples)
	if err != nil {
		return nil, err
	}
	first := true
	for i := range m.Collections {
		c := &m.Collections[i]
		c.Sample = kept[c.Name]
		c.SampleDropped = dropped[c.Name]
		c.PointsCountRange = manifest.RangeOf(p.Before[c.Name], after[c.Name])
		for _, s := range c.Shards {
			if first || s.StartedAt.Before(m.Window.FirstStart) {
				m.Window.FirstStart = s.StartedAt
			}
			if first || s.StartedAt.After(m.Window.LastStart) {
				m.Window.LastStart = s.StartedAt
			}
			first = false
		}
	}
	m.Window.SkewMillis = m.Window.LastStart.Sub(m.Window.FirstStart).Milliseconds()
	key, err := r.commit(ctx, m)
	if err != nil {
		return nil, err
	}
	res := &Result{Manifest: m, ManifestKey: key, Bytes: m.TotalSize(), Elapsed: m.FinishedAt.Sub(p.StartedAt)}
	r.log.Info("backup complete", "manifest", key, "shards", m.ShardCount(), "bytes", res.Bytes, "workers", p.Workers,
		"skew_ms", m.Window.SkewMillis, "elapsed", res.Elapsed.Round(time.Millisecond).String(), "partial", m.Partial)
	return r.recordCommitted(ctx, res)
}

// committedResult is the result of a set an earlier attempt committed.
func (r *run) committedResult(ctx context.Context, p *workerset.Plan, key string) (*Result, error) {
	m, _, err := manifest.ReadCommit(ctx, r.deps.Store, key)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("set %s: manifest %s is encrypted: %w", p.SetID, key, ErrBadWorkers)
	}
	return r.recordCommitted(ctx, &Result{Manifest: m, ManifestKey: key, Bytes: m.TotalSize(), Elapsed: m.FinishedAt.Sub(m.StartedAt)})
}

// recordCommitted records a committed set in the catalog and removes the
// set's coordination records, which nothing needs any more.
func (r *run) recordCommitted(ctx context.Context, res *Result) (*Result, error) {
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer ccancel()
	// The commit record stays, saying the set is committed, for a late
	// attempt of an index (its pod killed after writing its part); the
	// rest is of no use any more. Prune removes it after the orphan grace.
	done := workerset.Commit{Format: workerset.Format, Holder: r.opts.Holder, At: r.now(), BackupID: res.Manifest.BackupID, Committed: true}
	if err := workerset.Put(cctx, r.deps.Store, workerset.CommitKey(r.opts.Cluster, r.opts.SetID), done, false); err != nil {
		r.log.Warn("recording the commit for late workers failed", "error", err)
	}
	var keys []string
	err := r.deps.Store.List(cctx, workerset.SetPrefix(r.opts.Cluster, r.opts.SetID), func(o ObjectInfo) error {
		if o.Key != workerset.CommitKey(r.opts.Cluster, r.opts.SetID) {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err == nil {
		_, err = deleteKeys(cctx, r.deps.Store, keys)
	}
	if err != nil {
		r.log.Warn("deleting the records of the committed set failed; prune removes them", "error", err)
	}
	if cat := r.deps.Catalog; cat != nil {
		if cerr := cat.BackupCompleted(cctx, res.Manifest); cerr != nil {
			return res, fmt.Errorf("backup %s is committed to storage but the catalog could not record it (run catalog sync): %w: %w",
				res.Manifest.BackupID, ErrCatalogOutOfSync, cerr)
		}
	}
	return res, nil
}

// contribute is a worker other than 0: wait for the plan, store the share,
// write the part.
func (r *run) contribute(ctx context.Context, retainer storage.Retainer) (*Result, error) {
	plan, err := r.waitForPlan(ctx)
	var committed *workerset.CommittedError
	if errors.As(err, &committed) {
		r.log.Info("the set is committed already; nothing to do", "backup_id", committed.BackupID, "committed_by", committed.By)
		return &Result{Part: &PartResult{SetID: r.opts.SetID, BackupID: committed.BackupID, Worker: r.opts.WorkerIndex, Workers: r.opts.Workers, Already: true}}, nil
	}
	if err != nil {
		return nil, err
	}
	r.useSet(plan.BackupID, plan.StartedAt, retainer)
	if err := r.setFailedError(ctx); err != nil {
		return nil, err
	}
	if ok, err := workerset.Exists(ctx, r.deps.Store, manifest.ManifestKey(plan.Cluster, plan.BackupID)); err != nil {
		return nil, err
	} else if ok {
		r.log.Info("the set is committed already; nothing to do")
		return &Result{Part: &PartResult{SetID: plan.SetID, BackupID: plan.BackupID, Worker: r.opts.WorkerIndex, Workers: plan.Workers, Already: true}}, nil
	}
	var prior workerset.Part
	already := workerset.Read(ctx, r.deps.Store, workerset.PartKey(plan.Cluster, plan.SetID, r.opts.WorkerIndex), &prior) == nil && prior.BackupID == plan.BackupID
	part, err := r.doShare(ctx, plan)
	if err != nil {
		return nil, r.failShare(ctx, plan, err)
	}
	out := &PartResult{SetID: plan.SetID, BackupID: plan.BackupID, Worker: r.opts.WorkerIndex, Workers: plan.Workers,
		Shards: len(part.Shards), Already: already}
	for _, s := range part.Shards {
		out.Bytes += s.Size
	}
	r.log.Info("worker 0 commits the set once every part is written", "committer", plan.Holder)
	return &Result{Part: out}, nil
}

// waitForPlan polls for worker 0's plan, at most PlanWait.
func (r *run) waitForPlan(ctx context.Context) (*workerset.Plan, error) {
	var p *workerset.Plan
	err := r.member().WaitForPlan(ctx, r.opts.PlanWait, func(ctx context.Context) (bool, error) {
		var err error
		p, err = r.readPlan(ctx)
		return p != nil, err
	})
	return p, err
}

// failShare cleans up after this worker's failed share: its objects are
// deleted and its failure recorded for worker 0 (final when the Job does
// not retry this index).
func (r *run) failShare(ctx context.Context, p *workerset.Plan, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("worker %d of set %s cancelled: %w", r.opts.WorkerIndex, p.SetID, err)
	} else {
		err = fmt.Errorf("worker %d of set %s failed: %w", r.opts.WorkerIndex, p.SetID, err)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var keys []string
	for _, s := range p.Shards {
		if s.Worker == r.opts.WorkerIndex {
			keys = append(keys, s.Object)
		}
	}
	for sweep := 0; sweep < 2; sweep++ {
		if sweep > 0 {
			select {
			case <-time.After(cleanupSettle):
			case <-cctx.Done():
			}
		}
		if _, derr := deleteKeys(cctx, r.deps.Store, keys); derr != nil {
			r.log.Error("deleting this worker's objects failed; prune removes them later", "error", derr)
			break
		}
	}
	if perr := workerset.Put(cctx, r.deps.Store, workerset.WorkerFailedKey(p.Cluster, p.SetID, r.opts.WorkerIndex),
		workerset.Failure{Format: workerset.Format, Worker: r.opts.WorkerIndex, Holder: r.opts.Holder, Reason: err.Error(), Final: r.opts.FinalAttempt, At: r.now()}, false); perr != nil {
		r.log.Error("recording this worker's failure failed", "error", perr)
	}
	r.log.Error("worker failed", "error", err, "retried_by_the_job", !r.opts.FinalAttempt)
	return err
}
