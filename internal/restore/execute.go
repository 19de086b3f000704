package restore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// ExecOptions tune Execute.
type ExecOptions struct {
	Transfer TransferMode
	// PresignTTL is how long a presigned URL stays valid; default 1h.
	PresignTTL time.Duration
	// Parallel bounds concurrent shard recoveries; default 4. PerPeer
	// bounds them per receiving peer; default 2.
	Parallel int
	PerPeer  int
	// Retries is how many times a failed recovery is retried; default 3.
	// Backoff is the first wait, doubled each time; default 1s.
	Retries int
	Backoff time.Duration
	// WaitTimeout bounds each wait for replicas to become Active; default
	// 10m. TransferTimeout bounds the redistribution; default 30m.
	WaitTimeout     time.Duration
	TransferTimeout time.Duration
	// Poll is the longest interval between cluster state reads; default
	// 250ms. Every wait for the cluster (replicas Active, a transfer
	// over) ends up to one Poll after what it waits for: reads of a
	// collection's cluster info are cheap local reads on a peer, and
	// 500ms cost a restore up to half a second per wait.
	Poll time.Duration
	// AgreeTimeout bounds the wait for every peer to show a recovered
	// shard's replicas Active; past it the recovery is done again (its
	// replica state proposals may have been lost). Default 1m.
	AgreeTimeout time.Duration
	// CopyBatch is the most points per scroll/upsert batch when
	// resharding; default 256. CopyBytes bounds a batch's encoded size;
	// default 8 MiB.
	CopyBatch uint32
	CopyBytes int
	// TransferLimit caps the shard transfers (redistribution) each peer
	// sends, and the ones it receives, at a time, over every collection
	// the restore settles at once; 0 leaves them uncapped, as Qdrant
	// leaves transfers asked through its API (see
	// LiveConvergeOptions.TransferLimit).
	TransferLimit int
}

// Defaults applied to zero ExecOptions; the CLI shows the same ones.
const (
	DefaultParallel        = 4
	DefaultPerPeer         = 2
	DefaultWaitTimeout     = 10 * time.Minute
	DefaultTransferTimeout = 30 * time.Minute
	DefaultPoll            = 250 * time.Millisecond
)

func (o ExecOptions) withDefaults() ExecOptions {
	o.Transfer = cmp.Or(o.Transfer, TransferUpload)
	o.PresignTTL = cmp.Or(o.PresignTTL, time.Hour)
	o.Parallel = cmp.Or(o.Parallel, DefaultParallel)
	o.PerPeer = cmp.Or(o.PerPeer, DefaultPerPeer)
	if o.Retries == 0 {
		o.Retries = 3
	}
	o.Retries = max(o.Retries, 0)
	o.Backoff = cmp.Or(o.Backoff, time.Second)
	o.WaitTimeout = cmp.Or(o.WaitTimeout, DefaultWaitTimeout)
	o.TransferTimeout = cmp.Or(o.TransferTimeout, DefaultTransferTimeout)
	o.Poll = cmp.Or(o.Poll, DefaultPoll)
	o.AgreeTimeout = cmp.Or(o.AgreeTimeout, time.Minute)
	o.CopyBatch = cmp.Or(o.CopyBatch, DefaultCopyBatch)
	o.CopyBytes = cmp.Or(o.CopyBytes, DefaultCopyBytes)
	return o
}

// Phase names, in execution order.
const (
	PhaseCreate       = "create"
	PhaseRecover      = "recover"
	PhaseSettle       = "settle"
	PhaseReshard      = "reshard"
	PhaseAliases      = "aliases"
	PhaseRedistribute = "redistribute"
	PhaseVerify       = "verify"
	PhaseStrictMode   = "strict-mode"
)

// Report is the outcome of Execute.
type Report struct {
	RestoreID string        `json:"restore_id"`
	BackupID  string        `json:"backup_id"`
	Strategy  Strategy      `json:"strategy"`
	Phases    []PhaseReport `json:"phases"`
	// Total is the wall time of the whole restore: the RTO.
	Total           time.Duration      `json:"total_ns"`
	Collections     []CollectionReport `json:"collections"`
	ShardsRecovered int                `json:"shards_recovered"`
	// ShardsSkipped were recovered by an earlier run of this restore.
	ShardsSkipped int      `json:"shards_skipped"`
	Bytes         int64    `json:"bytes"`
	Warnings      []string `json:"warnings,omitempty"`
}

// PhaseReport is the wall time of one phase.
type PhaseReport struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
}

// CollectionReport is the verified state of one restored collection.
type CollectionReport struct {
	Name     string `json:"name"`
	Source   string `json:"source"`
	Shards   int    `json:"shards"`
	Points   uint64 `json:"points"`
	Samples  int    `json:"samples_checked"`
	Verified bool   `json:"verified"`
}

// Execute carries out a plan that passed Preflight. Progress goes to
// deps.Journal shard by shard, so running Execute again with the same plan
// after a failure or a crash resumes: collections it created are kept and
// shards it recovered are not recovered again.
func Execute(ctx context.Context, plan *RestorePlan, deps Deps, opts ExecOptions) (*Report, error) {
	return execute(ctx, plan, deps, opts, nil)
}

// execute is Execute, for worker 0 of a multi-worker restore when set is
// not nil.
func execute(ctx context.Context, plan *RestorePlan, deps Deps, opts ExecOptions, set *restoreSet) (*Report, error) {
	if plan == nil || plan.Manifest == nil {
		return nil, fmt.Errorf("execute restore: plan without its manifest: %w", ErrInvalidOptions)
	}
	opts = opts.withDefaults()
	j := deps.journal()
	id, err := resolveRestoreID(ctx, j, plan)
	if err != nil {
		return &Report{BackupID: plan.BackupID, Strategy: plan.Strategy}, fmt.Errorf("execute restore: %w", err)
	}
	rep := &Report{RestoreID: id, BackupID: plan.BackupID, Strategy: plan.Strategy}
	coord, coordID, err := deps.coordinator(plan)
	if err != nil {
		return rep, err
	}
	prev, err := j.Shards(ctx, id)
	if err != nil {
		return rep, fmt.Errorf("restore %s: read progress: %w", id, err)
	}
	if err := j.Begin(ctx, id, plan); err != nil {
		return rep, fmt.Errorf("restore %s: record start: %w", id, err)
	}
	e := &executor{
		plan: plan, deps: deps, opts: opts, rep: rep, journal: j, done: indexProgress(prev),
		coord: coord, coordID: coordID, ids: map[string]map[uint32]uint32{}, reshardDone: map[string]bool{}, restored: restoredSet{},
		log: deps.logger().With("restore_id", id, "backup_id", plan.BackupID, "cluster", plan.Cluster), set: set,
		transfers: newTransferBudget(opts.TransferLimit),
	}
	start := deps.now()
	runErr := e.run(ctx)
	if runErr != nil && corrupt(runErr) {
		runErr = e.removeOwned(context.WithoutCancel(ctx), runErr)
	}
	rep.Total = deps.now().Sub(start)
	status, reason := StatusComplete, ""
	if runErr != nil {
		status, reason = StatusFailed, runErr.Error()
	}
	// The outcome is recorded even when ctx was cancelled (SIGTERM).
	if err := j.Finish(context.WithoutCancel(ctx), status, reason); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("restore %s: record outcome: %w", id, err))
	}
	if set != nil {
		e.finishSet(ctx, runErr)
	}
	if runErr != nil {
		return rep, fmt.Errorf("restore %s: %w", id, runErr)
	}
	e.log.Info("restore complete", "total", rep.Total, "shards_recovered", rep.ShardsRecovered, "shards_skipped", rep.ShardsSkipped)
	return rep, nil
}

type executor struct {
	plan    *RestorePlan
	deps    Deps
	opts    ExecOptions
	rep     *Report
	journal Journal
	// done is the progress recorded before this run.
	done    progressIndex
	coord   Peer
	coordID uint64
	// ids maps, per restored collection, backup shard ids to the shard ids
	// on the target (they differ for custom shard keys).
	ids map[string]map[uint32]uint32
	log *slog.Logger
	// reshardDone marks resharded collections an earlier run finished
	// (staging deleted): nothing is left to restore for them.
	reshardDone map[string]bool
	// restored tracks the replicas holding restored data, by restored
	// collection name and target shard id.
	restored restoredSet
	// owned are the collections this restore created, in this run or an
	// earlier one.
	owned []string
	// mu guards rep, restored and ids while shards recover, and
	// collections are created, in parallel.
	mu sync.Mutex
	// live tightens the converge loop for a serving cluster (LiveConverge).
	live liveRules
	// transfers caps the transfers per peer of every converge of the
	// run (ExecOptions.TransferLimit); nil: no cap.
	transfers *transferBudget
	// set is this worker's side of a multi-worker restore; nil for a
	// single run.
	set *restoreSet
	// fresh are the collections the create phase created anew.
	fresh []string
}

// removeOwned deletes the collections this restore created after a
// backup object turned out corrupt: no rerun can finish the restore, and
// the cluster is left as it was before it (collections --overwrite
// replaces had their objects read in full before they were deleted).
func (e *executor) removeOwned(ctx context.Context, cause error) error {
	var removed []string
	var errs []error
	for _, name := range e.owned {
		e.log.Warn("removing a collection this restore created: a backup object is corrupt", "collection", name)
		if err := e.coord.DeleteCollection(ctx, name); err != nil && !qdrant.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove collection %q: %w", name, err))
			continue
		}
		removed = append(removed, name)
	}
	if len(removed) > 0 {
		// Deletion reaches the other peers through consensus: the run
		// ends when every peer has applied it, so what follows (a rerun,
		// the operator's look) sees the cluster as it was.
		if err := e.awaitGone(ctx, removed); err != nil {
			errs = append(errs, err)
		}
		cause = fmt.Errorf("%w; the collections this restore created were removed: %s", cause, strings.Join(removed, ", "))
	}
	return errors.Join(append([]error{cause}, errs...)...)
}

// awaitGone waits, for at most WaitTimeout, until no peer lists any of
// names.
func (e *executor) awaitGone(ctx context.Context, names []string) error {
	deadline := time.Now().Add(e.opts.WaitTimeout)
	for {
		left := ""
		for id, p := range e.deps.Peers {
			live, err := p.ListCollections(ctx)
			if err != nil {
				left = fmt.Sprintf("peer %d: %v", id, err)
				break
			}
			if i := slices.IndexFunc(names, func(n string) bool { return slices.Contains(live, n) }); i >= 0 {
				left = fmt.Sprintf("peer %d still lists %q", id, names[i])
				break
			}
		}
		if left == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("removal of the restore's collections not applied everywhere after %s: %s", e.opts.WaitTimeout, left)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.opts.Poll):
		}
	}
}

func (e *executor) run(ctx context.Context) error {
	phases := []struct {
		name string
		fn   func(context.Context) error
		skip bool
	}{
		{PhaseCreate, e.create, false},
		{PhaseRecover, e.recoverPhase, false},
		{PhaseSettle, e.settle, false},
		{PhaseReshard, e.reshard, !needsWriter(e.plan)},
		{PhaseAliases, e.aliases, false},
		{PhaseRedistribute, e.redistribute, !e.redistributes()},
		{PhaseVerify, e.verify, false},
		{PhaseStrictMode, e.strictMode, false},
	}
	for _, p := range phases {
		if p.skip {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("before %s: %w", p.name, err)
		}
		e.log.Info("restore phase started", "phase", p.name)
		e.deps.phaseStarted(p.name)
		t0 := e.deps.now()
		err := p.fn(ctx)
		d := e.deps.now().Sub(t0)
		e.rep.Phases = append(e.rep.Phases, PhaseReport{Name: p.name, Duration: d})
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		e.log.Info("restore phase done", "phase", p.name, "duration", d)
	}
	return nil
}

// recoverPhase recovers every shard, or, for worker 0 of a multi-worker
// restore, its share and then waits for the others'.
func (e *executor) recoverPhase(ctx context.Context) error {
	if e.set != nil {
		return e.recoverSet(ctx)
	}
	return e.recoverAll(ctx)
}

func (e *executor) redistributes() bool {
	for _, c := range e.plan.Collections {
		for _, s := range c.Shards {
			if !slices.Equal(sortedCopy(s.Replicas), sortedCopy(s.Final)) {
				return true
			}
		}
	}
	return false
}

// collectionParallel bounds how many collections the create, verify,
// aliases and strict-mode phases handle at once. Their requests are
// light (one consensus operation or a few reads each) and most of their
// time goes to waiting until every peer has applied a change: handling
// collections together overlaps those waits, so a restore of N
// collections pays about one creation's wait instead of N. The bound
// keeps a restore of many collections from holding as many requests and
// wait loops (each reads every peer's view of its collection at every
// poll) against the cluster at once. It is not --parallel, which bounds
// the heavy work: snapshot uploads and their unpacking on the peers.
const collectionParallel = 8

// eachCollection runs fn for every collection of the plan, at most
// collectionParallel at once, and returns the first error: it cancels
// the context of the others, and no collection starts after it.
func (e *executor) eachCollection(ctx context.Context, fn func(ctx context.Context, i int, cp CollectionPlan) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(collectionParallel)
	for i, cp := range e.plan.Collections {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(ctx, i, cp)
		})
	}
	return g.Wait()
}

// created is what creating one collection found and did.
type created struct {
	// name is the collection this restore owns (created now or in an
	// earlier run); empty when nothing is left to create.
	name string
	// anew: the collection was created by this run, so progress recorded
	// for it by an earlier run is void.
	anew bool
	// finished: an earlier run finished resharding the collection.
	finished bool
}

// create recreates every collection: config, shard keys, payload
// indexes, then waits until each has the replicas the plan recovers
// onto, all Active. A collection this restore created in an earlier run
// is kept. Every collection's creation is issued before any is waited
// for, and collections are created, and waited for, concurrently: each
// creation returns only once every peer has applied it, and its replicas
// become Active later still (Qdrant applies both through consensus).
func (e *executor) create(ctx context.Context) error {
	live, err := e.coord.ListCollections(ctx)
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	results := make([]created, len(e.plan.Collections))
	err = e.eachCollection(ctx, func(ctx context.Context, i int, cp CollectionPlan) error {
		var err error
		results[i], err = e.createOne(ctx, cp, live)
		return err
	})
	// What the creations found is recorded whatever failed: the owned
	// collections are those removal after a corrupt object deletes. The
	// shared state is only written here, with no creation running.
	for i, r := range results {
		cp := e.plan.Collections[i]
		if r.finished {
			e.reshardDone[cp.Target] = true
		}
		if r.name != "" {
			e.owned = append(e.owned, r.name)
		}
		if r.anew {
			// Progress of an earlier run is void for a collection
			// created anew.
			delete(e.done, cp.Target)
			e.fresh = append(e.fresh, cp.Target)
		}
	}
	if err != nil {
		return err
	}
	return e.eachCollection(ctx, func(ctx context.Context, _ int, cp CollectionPlan) error {
		if e.reshardDone[cp.Target] {
			return nil
		}
		name := restoreName(cp)
		if err := e.waitActive(ctx, name, e.opts.WaitTimeout); err != nil {
			return err
		}
		if err := e.mapShardIDs(ctx, cp, name); err != nil {
			return err
		}
		e.shape(cp, name)
		return nil
	})
}

// createOne creates one collection with its shard keys and payload
// indexes, or keeps the one an earlier run of this restore created. It
// only reads the executor's shared state: create records what it
// returns once no creation runs.
func (e *executor) createOne(ctx context.Context, cp CollectionPlan, live []string) (created, error) {
	name := restoreName(cp)
	src := e.plan.Manifest.Collection(cp.Source)
	if src == nil {
		return created{}, fmt.Errorf("collection %q is not in the manifest", cp.Source)
	}
	exists := slices.Contains(live, name)
	resumed := e.done.started(cp.Target)
	if cp.Reshard != nil && resumed && !exists && slices.Contains(live, cp.Target) {
		// The staging collection is gone: an earlier run finished the
		// copy and deleted it, or someone deleted it mid-copy. Only a
		// complete target counts as finished; an incomplete one is
		// this restore's own and is made again from the start.
		done, err := e.reshardComplete(ctx, cp)
		if err != nil {
			return created{}, err
		}
		if done {
			e.log.Info("resharded collection finished by an earlier run", "collection", cp.Target)
			return created{finished: true}, nil
		}
	}
	if cp.Reshard != nil && exists && !resumed {
		// The staging name is qbackup's own (<target>-qbackup-reshard)
		// and the cluster lock keeps other restores out: it is left by
		// a run of this restore whose progress is lost. Start over.
		e.log.Warn("deleting a staging collection an earlier reshard left; restoring it anew", "collection", name, "target", cp.Target)
		if err := e.coord.DeleteCollection(ctx, name); err != nil && !qdrant.IsNotFound(err) {
			return created{}, fmt.Errorf("delete staging collection %q: %w", name, err)
		}
		exists = false
	}
	if !resumed {
		if cp.Replace && slices.Contains(live, cp.Target) {
			// --overwrite: the live collection goes first.
			e.log.Warn("deleting existing collection (--overwrite)", "collection", cp.Target)
			if err := e.coord.DeleteCollection(ctx, cp.Target); err != nil {
				return created{}, fmt.Errorf("delete existing collection %q: %w", cp.Target, err)
			}
			exists = exists && name != cp.Target
		}
		if exists {
			return created{}, fmt.Errorf("collection %q: %w", name, ErrCollectionExists)
		}
	}
	res := created{name: name, anew: !exists}
	if exists {
		e.log.Info("collection kept from an earlier run", "collection", name)
		// The earlier run may have got as far as applying the
		// recorded strict mode.
		if err := e.coord.UpdateCollection(ctx, name, strictModeDisabled); err != nil {
			return res, fmt.Errorf("disable strict mode of %q: %w", name, err)
		}
	} else {
		// Shards are recorded before the collection exists, so a rerun
		// after a crash at any point from here on knows the collection
		// is its own.
		if err := e.setShards(ctx, cp, ShardPending); err != nil {
			return res, err
		}
		body, dropped, err := createRequest(src.Config, cp.ShardNumber, cp.ReplicationFactor, cp.WriteConsistencyFactor)
		if err != nil {
			return res, fmt.Errorf("collection %q: %w", cp.Source, err)
		}
		for _, d := range dropped {
			e.warn(fmt.Sprintf("collection %q: %s is not accepted when creating a collection and was not restored", name, d))
		}
		e.log.Info("creating collection", "collection", name, "shard_number", cp.ShardNumber, "replication_factor", cp.ReplicationFactor)
		if err := e.coord.CreateCollection(ctx, name, body); err != nil {
			return res, fmt.Errorf("create collection %q: %w", name, err)
		}
	}
	if err := e.createShardKeys(ctx, cp, name); err != nil {
		return res, err
	}
	return res, e.createIndexes(ctx, name, src.PayloadSchema)
}

// reshardComplete reports whether the resharded target of cp, left by an
// earlier run without its staging collection, holds every point of the
// backup; if not, it deletes the target so that the reshard starts over.
func (e *executor) reshardComplete(ctx context.Context, cp CollectionPlan) (bool, error) {
	n, err := e.coord.Count(ctx, cp.Target, true, nil)
	if err != nil {
		return false, fmt.Errorf("count points of %q: %w", cp.Target, err)
	}
	ok, expected := e.backupCount(cp, n)
	if ok {
		return true, nil
	}
	e.log.Warn("an earlier run left the resharded collection incomplete and its staging collection is gone; restoring it anew",
		"collection", cp.Target, "points", n, "backup", expected)
	if err := e.coord.DeleteCollection(ctx, cp.Target); err != nil && !qdrant.IsNotFound(err) {
		return false, fmt.Errorf("delete incomplete resharded collection %q: %w", cp.Target, err)
	}
	return false, nil
}

// shape records which replicas of the collection hold restored data from
// an earlier run: their placement was made then, and they are only ever
// copied from. Empty replicas are not moved to the planned peers before
// the recovery: a shard snapshot recovered onto a peer without a replica
// of the shard adds one there (activate_shard in
// lib/storage/src/content_manager/snapshots/recover.rs proposes it Active
// and set_shard_replica_state in lib/collection/src/collection/mod.rs
// accepts a peer of the cluster without a replica), so the recovery
// itself places the data, and settle drops the empty replicas Qdrant
// placed elsewhere at creation (one consensus operation each, where a
// move is a transfer of several).
func (e *executor) shape(cp CollectionPlan, name string) {
	for _, s := range cp.Shards {
		if st := e.done.state(cp.Target, s.ID); st == ShardRecovered || st == ShardVerified {
			e.markRestored(name, e.targetID(cp, s.ID), s.Replicas...)
		}
	}
}

// createShardKeys creates the custom shard keys that do not exist yet,
// in plan order: Qdrant snapshots do not carry them, and a shard only
// exists once its key does.
func (e *executor) createShardKeys(ctx context.Context, cp CollectionPlan, name string) error {
	if len(cp.ShardKeys) == 0 {
		return nil
	}
	cc, err := e.coord.CollectionCluster(ctx, name)
	if err != nil {
		return fmt.Errorf("read cluster info of %q: %w", name, err)
	}
	have := keysOf(cc)
	for _, k := range cp.ShardKeys {
		if len(have[qdrantKey(k.Key)]) > 0 {
			continue
		}
		rf := k.ReplicationFactor
		if rf == 0 {
			// A plan from before the field: as many replicas as the
			// key's shards get.
			for _, s := range cp.Shards {
				if s.ShardKey != nil && s.ShardKey.Equal(k.Key) {
					rf = max(rf, uint32(len(s.Replicas)))
				}
			}
		}
		e.log.Info("creating shard key", "collection", name, "key", k.Key.String(), "replication_factor", rf, "placement", k.Placement)
		if err := e.coord.CreateShardKey(ctx, name, qdrantKey(k.Key), k.ShardsNumber, rf, k.Placement); err != nil {
			return fmt.Errorf("create shard key %s of %q: %w", k.Key, name, err)
		}
	}
	return nil
}

// keysOf groups the shard ids of a collection by shard key, sorted.
func keysOf(cc *qdrant.CollectionCluster) map[qdrant.ShardKey][]uint32 {
	// Keyed by the typed key: the keyword "7" and the number 7 are two
	// shard keys in Qdrant, and their strings are equal.
	out := map[qdrant.ShardKey][]uint32{}
	for _, r := range cc.Replicas() {
		if r.ShardKey == nil {
			continue
		}
		k := *r.ShardKey
		if !slices.Contains(out[k], r.ShardID) {
			out[k] = append(out[k], r.ShardID)
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// mapShardIDs pairs backup shard ids with target ones. Auto sharding keeps
// ids; a custom shard key's new ids are matched to the backup's in order.
func (e *executor) mapShardIDs(ctx context.Context, cp CollectionPlan, name string) error {
	m := map[uint32]uint32{}
	if len(cp.ShardKeys) == 0 {
		for _, s := range cp.Shards {
			m[s.ID] = s.ID
		}
		e.setIDs(cp.Target, m)
		return nil
	}
	cc, err := e.coord.CollectionCluster(ctx, name)
	if err != nil {
		return fmt.Errorf("read cluster info of %q: %w", name, err)
	}
	have := keysOf(cc)
	for _, k := range cp.ShardKeys {
		got := have[qdrantKey(k.Key)]
		if len(got) != len(k.SourceShardIDs) {
			return fmt.Errorf("shard key %s of %q has %d shards, the backup %d", k.Key, name, len(got), len(k.SourceShardIDs))
		}
		for i, src := range k.SourceShardIDs {
			m[src] = got[i]
		}
	}
	e.setIDs(cp.Target, m)
	return nil
}

// setIDs records the shard id mapping of a collection; collections are
// mapped concurrently.
func (e *executor) setIDs(target string, m map[uint32]uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids[target] = m
}

func (e *executor) targetID(cp CollectionPlan, shard uint32) uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if id, ok := e.ids[cp.Target][shard]; ok {
		return id
	}
	return shard
}

// createIndexes recreates the payload indexes recorded at backup time.
// Creating an index that exists is harmless, which makes reruns safe.
func (e *executor) createIndexes(ctx context.Context, name string, schema json.RawMessage) error {
	if isNull(schema) {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(schema, &fields); err != nil {
		return fmt.Errorf("collection %q: decode recorded payload schema: %w", name, err)
	}
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		fs, err := qdrant.PayloadIndexSchema(fields[f])
		if err != nil {
			return fmt.Errorf("collection %q: payload index %q: %w", name, f, err)
		}
		if err := e.coord.CreatePayloadIndex(ctx, name, f, fs); err != nil {
			return fmt.Errorf("create payload index %q of %q: %w", f, name, err)
		}
	}
	return nil
}

func (e *executor) setShard(ctx context.Context, cp CollectionPlan, s ShardPlan, state, msg string) error {
	err := e.journal.SetShard(ctx, ShardProgress{Collection: cp.Target, ShardID: s.ID, Peer: s.Primary, State: state, Error: msg})
	if err != nil {
		return fmt.Errorf("record shard %d of %q as %s: %w", s.ID, cp.Target, state, err)
	}
	return nil
}

// setShards records every shard of a collection in state, in one journal
// write when the journal can.
func (e *executor) setShards(ctx context.Context, cp CollectionPlan, state string) error {
	ps := make([]ShardProgress, 0, len(cp.Shards))
	for _, s := range cp.Shards {
		ps = append(ps, ShardProgress{Collection: cp.Target, ShardID: s.ID, Peer: s.Primary, State: state})
	}
	if err := setShards(ctx, e.journal, ps); err != nil {
		return fmt.Errorf("record the shards of %q as %s: %w", cp.Target, state, err)
	}
	return nil
}

func (e *executor) warn(msg string) {
	e.log.Warn(msg)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rep.Warnings = append(e.rep.Warnings, msg)
}

// strictMode applies the recorded strict_mode_config of every restored
// collection, last: while restoring, strict mode is off so that it cannot
// refuse the restore's own counts, scrolls and upserts. Collections are
// updated concurrently: each update waits for its consensus round.
func (e *executor) strictMode(ctx context.Context) error {
	return e.eachCollection(ctx, func(ctx context.Context, _ int, cp CollectionPlan) error {
		src := e.plan.Manifest.Collection(cp.Source)
		if src == nil {
			return nil
		}
		body, err := strictModeUpdate(src.Config)
		if err != nil {
			return fmt.Errorf("collection %q: %w", cp.Source, err)
		}
		if body == nil {
			return nil
		}
		e.log.Info("applying recorded strict mode", "collection", cp.Target)
		if err := e.coord.UpdateCollection(ctx, cp.Target, body); err != nil {
			return fmt.Errorf("apply strict mode of %q: %w", cp.Target, err)
		}
		return nil
	})
}

// aliases points each recorded alias at its restored collection, in one
// atomic change per collection; collections' changes are concurrent
// (each waits for its consensus round, and no two touch the same alias).
func (e *executor) aliases(ctx context.Context) error {
	live, err := e.coord.ListAliases(ctx)
	if err != nil {
		return fmt.Errorf("list aliases: %w", err)
	}
	return e.eachCollection(ctx, func(ctx context.Context, _ int, cp CollectionPlan) error {
		var actions []qdrant.AliasAction
		for _, a := range cp.Aliases {
			if now, ok := live[a.Alias]; ok {
				if now == cp.Target {
					continue
				}
				actions = append(actions, qdrant.DeleteAlias(a.Alias))
			}
			actions = append(actions, qdrant.CreateAlias(a.Alias, cp.Target))
		}
		if len(actions) == 0 {
			return nil
		}
		if err := e.coord.UpdateAliases(ctx, actions); err != nil {
			return fmt.Errorf("restore aliases of %q: %w", cp.Target, err)
		}
		return nil
	})
}

func sortedCopy(s []uint64) []uint64 { return slices.Sorted(slices.Values(s)) }

// shardRef names a shard in logs and errors.
func shardRef(c string, s uint32) string { return fmt.Sprintf("shard %d of %q", s, c) }
