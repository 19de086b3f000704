package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/workerset"
)

// One restore, several workers (WorkerOptions.Workers > 1; the pods of a
// Kubernetes Indexed Job, each with its completion index as Index):
//
//   - worker 0 plans, takes the cluster lock and keeps it until the
//     restore is done, runs preflight and the create phase, then writes
//     the set's plan once (create-if-absent): the restore plan, its
//     restore id, the target shard ids and each worker's share;
//   - every other worker waits for the plan (at most PlanWait), recovers
//     its share of the shards, journalling each as a single run does,
//     and writes its part record;
//   - worker 0 recovers its own share, writes its part, waits for every
//     part (at most PartsWait), then runs settle, reshard, aliases,
//     redistribute, verify and strict mode once, and records the outcome
//     (commit.json).
//
// A failed worker records its failure; when the Job will not retry it
// (FinalAttempt) worker 0 fails the restore and writes failed.json, which
// stops every worker still running. A retried index resumes from its
// journal; a rerun of the whole Job (a new set) resumes the restore as a
// rerun of a single run does. Storage and the Job are the only channels.

// WorkerOptions make a run one worker of a multi-worker restore; zero
// (or Workers 1) is a single run.
type WorkerOptions struct {
	Workers int
	Index   int
	// SetID names the set every worker of the restore shares.
	SetID string
	// Holder names this worker in the records (its pod).
	Holder string
	// Store keeps the set's records: the backup store, which must create
	// objects only if absent.
	Store workerset.Store
	// PlanWait bounds a worker's wait for worker 0's plan, PartsWait
	// worker 0's wait for the other parts after its own.
	PlanWait  time.Duration
	PartsWait time.Duration
	// FinalAttempt: the Job does not retry this index if it fails.
	FinalAttempt bool
	// Poll is the pause between two looks at the records; default
	// workerset.DefaultPoll.
	Poll time.Duration
}

// Multi reports whether the options make a worker of several.
func (o WorkerOptions) Multi() bool { return o.Workers > 1 }

// Validate checks the options of one worker of a set.
func (o WorkerOptions) Validate() error {
	switch {
	case o.Workers < 0:
		return config.Invalidf("%d workers: want at least 1", o.Workers)
	case o.Workers <= 1 && o.Index != 0:
		return config.Invalidf("worker index %d of 1 worker: want 0", o.Index)
	case !o.Multi():
		return nil
	case o.Index < 0 || o.Index >= o.Workers:
		return config.Invalidf("worker index %d of %d workers: want 0 to %d", o.Index, o.Workers, o.Workers-1)
	case o.SetID == "":
		return config.Invalidf("%d workers need a set id shared by all of them", o.Workers)
	case !workerset.ValidSetID(o.SetID):
		return config.Invalidf("set id %q: want 1 to 128 of [A-Za-z0-9._-], starting with a letter or digit", o.SetID)
	case o.Store == nil:
		return config.Invalidf("%d workers need the backup store to share their records", o.Workers)
	}
	if _, ok := o.Store.(workerset.Conditional); !ok {
		return config.Invalidf("the storage cannot create objects only if absent, which %d workers need", o.Workers)
	}
	return nil
}

func (o WorkerOptions) member(cluster string, deps *Deps) workerset.Member {
	return workerset.Member{Store: o.Store, Cluster: cluster, SetID: o.SetID, Index: o.Index, Workers: o.Workers,
		Holder: o.Holder, Poll: o.Poll, Logger: deps.logger(), Now: deps.Now}
}

// setPlan is what worker 0 publishes in the set's plan record.
type setPlan struct {
	RestoreID string       `json:"restore_id"`
	Plan      *RestorePlan `json:"plan"`
	// IDs map, per target collection, backup shard ids to target ones.
	IDs map[string]map[uint32]uint32 `json:"ids"`
	// ReshardDone are the resharded collections an earlier run finished.
	ReshardDone []string `json:"reshard_done,omitempty"`
	// Fresh are the collections this set created anew: progress a
	// worker journalled for them before is void.
	Fresh []string `json:"fresh,omitempty"`
	// Shares are the shards to recover and each one's worker.
	Shares []shareEntry `json:"shares"`
	// Options are the planning options worker 0 planned with; a retried
	// worker 0 configured otherwise refuses to take the plan up rather
	// than carry out a restore it was not asked for. Plans written
	// before the field have none and are taken up as they are.
	Options *PlanOptions `json:"options,omitempty"`
}

type shareEntry struct {
	Collection string `json:"collection"`
	ShardID    uint32 `json:"shard_id"`
	Worker     int    `json:"worker"`
}

// setPart is what a worker reports in its part record.
type setPart struct {
	Recovered int   `json:"recovered"`
	Skipped   int   `json:"skipped"`
	Bytes     int64 `json:"bytes"`
}

// startedNote is started/<i>.json.
type startedNote struct {
	Format int       `json:"format"`
	Worker int       `json:"worker"`
	Holder string    `json:"holder"`
	At     time.Time `json:"at"`
}

// ShareReport is what a worker other than 0 reports: its share is
// recovered, worker 0 finishes the restore.
type ShareReport struct {
	SetID     string `json:"set_id"`
	RestoreID string `json:"restore_id"`
	BackupID  string `json:"backup_id"`
	Worker    int    `json:"worker"`
	Workers   int    `json:"workers"`
	Recovered int    `json:"shards_recovered"`
	Skipped   int    `json:"shards_skipped"`
	Bytes     int64  `json:"bytes"`
	// Already: the restore was finished, or this worker's share recovered
	// by an earlier attempt, before this worker looked: nothing was done.
	Already bool `json:"already,omitempty"`
}

// restoreSet is worker 0's side of a multi-worker restore, kept by the
// executor.
type restoreSet struct {
	opts   WorkerOptions
	member workerset.Member
	// planOpts are worker 0's planning options, published with the plan.
	planOpts PlanOptions
	// mine are this worker's shards: target collection, backup shard id.
	mine map[string]map[uint32]bool
}

// mine reports whether this worker recovers the shard; every shard is a
// single run's.
func (e *executor) mine(target string, shard uint32) bool {
	return e.set == nil || e.set.mine[target][shard]
}

// shares splits the plan's shards with an object between the workers.
func shares(plan *RestorePlan, workers int) []shareEntry {
	var shards []ShareShard
	for _, cp := range plan.Collections {
		for _, s := range cp.Shards {
			if s.Object == "" {
				continue
			}
			shards = append(shards, ShareShard{Collection: cp.Target, ShardID: s.ID, Bytes: s.Size, Peers: s.Replicas})
		}
	}
	out := make([]shareEntry, len(shards))
	for w, idx := range PlanShares(shards, workers) {
		for _, i := range idx {
			out[i] = shareEntry{Collection: shards[i].Collection, ShardID: shards[i].ShardID, Worker: w}
		}
	}
	return out
}

func mineOf(entries []shareEntry, w int) map[string]map[uint32]bool {
	out := map[string]map[uint32]bool{}
	for _, s := range entries {
		if s.Worker != w {
			continue
		}
		if out[s.Collection] == nil {
			out[s.Collection] = map[uint32]bool{}
		}
		out[s.Collection][s.ShardID] = true
	}
	return out
}

// takeUp is the restore plan an earlier attempt of worker 0 published
// for the set, which a retried worker 0 follows instead of planning
// again: the plan is made once. nil without a set or such a plan.
func (s *restoreSet) takeUp(ctx context.Context, m *manifest.Manifest) (*RestorePlan, error) {
	if s == nil {
		return nil, nil
	}
	prior, sp, err := readSetPlan(ctx, s.member)
	if err != nil || prior == nil {
		return nil, err
	}
	if err := checkSetPlan(prior, sp, m.Cluster, m.BackupID, s.opts.Workers); err != nil {
		return nil, err
	}
	if err := samePlanOptions(prior.SetID, sp.Options, s.planOpts); err != nil {
		return nil, err
	}
	s.member.Logger.Info("taking up the plan of an earlier attempt of worker 0", "planned_by", prior.Holder, "restore_id", sp.RestoreID)
	sp.Plan.Manifest = m
	return sp.Plan, nil
}

// recoverSet is worker 0's recover phase: it publishes the set's plan,
// recovers its own share, writes its part, waits for every other part,
// and counts the others' shards as restored on their planned replicas.
func (e *executor) recoverSet(ctx context.Context) error {
	if err := e.publish(ctx); err != nil {
		return err
	}
	m := e.set.member
	if err := m.Watch(ctx, e.recoverAll); err != nil {
		return corruptWorker(err)
	}
	if err := e.writePart(ctx, m); err != nil {
		return err
	}
	if err := m.WaitForParts(ctx, e.set.opts.PartsWait); err != nil {
		return corruptWorker(err)
	}
	for w := 1; w < e.set.opts.Workers; w++ {
		var part workerset.Part
		if err := workerset.Read(ctx, m.Store, workerset.PartKey(m.Cluster, m.SetID, w), &part); err != nil {
			return err
		}
		var sp setPart
		if err := json.Unmarshal(part.Restore, &sp); err != nil || part.BackupID != e.rep.RestoreID {
			return fmt.Errorf("part of worker %d of set %s is not one of restore %s: the records are mixed up", w, m.SetID, e.rep.RestoreID)
		}
		e.mu.Lock()
		e.rep.ShardsRecovered += sp.Recovered
		e.rep.ShardsSkipped += sp.Skipped
		e.rep.Bytes += sp.Bytes
		e.mu.Unlock()
	}
	for _, cp := range e.plan.Collections {
		if e.reshardDone[cp.Target] {
			continue
		}
		for _, s := range cp.Shards {
			if s.Object != "" && !e.mine(cp.Target, s.ID) {
				e.markRestored(restoreName(cp), e.targetID(cp, s.ID), s.Replicas...)
			}
		}
	}
	e.log.Info("every worker's share is recovered", "workers", e.set.opts.Workers)
	return nil
}

// corruptWorker marks the failure of a worker that found a backup object
// corrupt as corrupt here too, so that worker 0 removes the collections
// the restore created, as a single run does (exit 5).
func corruptWorker(err error) error {
	var ff *workerset.FinalFailureError
	if errors.As(err, &ff) && ff.Failure.Corrupt && !corrupt(err) {
		return fmt.Errorf("%w: %w", err, ErrObjectChecksum)
	}
	return err
}

// publish writes the set's plan once the collections exist; a retried
// worker 0 takes up the plan its predecessor wrote.
func (e *executor) publish(ctx context.Context) error {
	m := e.set.member
	sp := setPlan{RestoreID: e.rep.RestoreID, Plan: e.plan, IDs: map[string]map[uint32]uint32{}, Fresh: e.fresh,
		Shares: shares(e.plan, e.set.opts.Workers), Options: &e.set.planOpts}
	e.mu.Lock()
	for k, v := range e.ids {
		sp.IDs[k] = v
	}
	e.mu.Unlock()
	for name, done := range e.reshardDone {
		if done {
			sp.ReshardDone = append(sp.ReshardDone, name)
		}
	}
	slices.Sort(sp.ReshardDone)
	raw, err := json.Marshal(sp)
	if err != nil {
		return fmt.Errorf("encode the plan of set %s: %w", m.SetID, err)
	}
	rec := workerset.Plan{Format: workerset.Format, Kind: workerset.KindRestore, SetID: m.SetID, Cluster: m.Cluster,
		BackupID: e.plan.BackupID, Workers: m.Workers, Holder: m.Holder, StartedAt: e.deps.now().UTC(), Restore: raw}
	err = workerset.Put(ctx, m.Store, workerset.PlanKey(m.Cluster, m.SetID), rec, true)
	switch {
	case err == nil:
		e.set.mine = mineOf(sp.Shares, 0)
		for w := range m.Workers {
			n, bytes := 0, int64(0)
			for _, cp := range e.plan.Collections {
				for _, s := range cp.Shards {
					if s.Object != "" && mineOf(sp.Shares, w)[cp.Target][s.ID] {
						n++
						bytes += s.Size * int64(len(s.Replicas))
					}
				}
			}
			e.log.Info("share planned", "worker", w, "shards", n, "bytes", bytes)
		}
		return nil
	case !errors.Is(err, storage.ErrExists):
		return err
	}
	prior, psp, err := readSetPlan(ctx, m)
	if err != nil {
		return err
	}
	if prior == nil {
		return fmt.Errorf("set %s: the plan was written and is gone: rerun the restore", m.SetID)
	}
	if err := checkSetPlan(prior, psp, e.plan.Cluster, e.plan.BackupID, m.Workers); err != nil {
		return err
	}
	if psp.RestoreID != e.rep.RestoreID {
		return config.Invalidf("set %s was planned as restore %s, this worker plans restore %s: give every worker of a set the same configuration",
			m.SetID, psp.RestoreID, e.rep.RestoreID)
	}
	for _, name := range e.fresh {
		if !slices.Contains(psp.Fresh, name) {
			return fmt.Errorf("set %s: collection %q was created anew after the workers started, and their progress may be of the old one: rerun the whole restore Job", m.SetID, name)
		}
	}
	e.set.mine = mineOf(psp.Shares, 0)
	return nil
}

// writePart records that this worker's share is recovered.
func (e *executor) writePart(ctx context.Context, m workerset.Member) error {
	e.mu.Lock()
	sp := setPart{Recovered: e.rep.ShardsRecovered, Skipped: e.rep.ShardsSkipped, Bytes: e.rep.Bytes}
	e.mu.Unlock()
	raw, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	part := workerset.Part{Format: workerset.Format, SetID: m.SetID, BackupID: e.rep.RestoreID, Worker: m.Index, Holder: m.Holder,
		FinishedAt: e.deps.now().UTC(), Restore: raw}
	return workerset.Put(ctx, m.Store, workerset.PartKey(m.Cluster, m.SetID, m.Index), part, false)
}

// readSetPlan reads a restore set's plan; nil when there is none yet.
func readSetPlan(ctx context.Context, m workerset.Member) (*workerset.Plan, *setPlan, error) {
	var p workerset.Plan
	err := workerset.Read(ctx, m.Store, workerset.PlanKey(m.Cluster, m.SetID), &p)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if p.Kind != workerset.KindRestore {
		return nil, nil, config.Invalidf("set %s is a backup set, not a restore's: give the restore workers a set id of their own (the restore Job's uid)", m.SetID)
	}
	var sp setPlan
	if err := json.Unmarshal(p.Restore, &sp); err != nil || sp.Plan == nil {
		return nil, nil, fmt.Errorf("decode the restore plan of set %s: %v", m.SetID, err)
	}
	return &p, &sp, nil
}

// checkSetPlan refuses to add to a set planned otherwise than this worker
// is configured.
func checkSetPlan(p *workerset.Plan, sp *setPlan, cluster, backupID string, workers int) error {
	var diffs []string
	if p.Cluster != cluster {
		diffs = append(diffs, fmt.Sprintf("cluster %q, this worker's %q", p.Cluster, cluster))
	}
	if p.BackupID != backupID || sp.Plan.BackupID != backupID {
		diffs = append(diffs, fmt.Sprintf("backup %s, this worker's %s", p.BackupID, backupID))
	}
	if p.Workers != workers {
		diffs = append(diffs, fmt.Sprintf("%d workers, this worker's --workers %d", p.Workers, workers))
	}
	if len(diffs) > 0 {
		return config.Invalidf("set %s was planned with %s: give every worker of a set the same configuration", p.SetID, strings.Join(diffs, "; "))
	}
	return nil
}

// samePlanOptions refuses a retried worker 0 whose planning options
// differ from those the set was planned with (published), naming each
// difference.
func samePlanOptions(setID string, published *PlanOptions, mine PlanOptions) error {
	if published == nil {
		return nil
	}
	a, b := published.canonical(), mine.canonical()
	var diffs []string
	add := func(what string, was, is any) {
		diffs = append(diffs, fmt.Sprintf("%s %v, this attempt's %v", what, was, is))
	}
	if a.Strategy != b.Strategy {
		add("--strategy", a.Strategy, b.Strategy)
	}
	if a.TargetNode != b.TargetNode {
		add("--target-node", quoteOrNone(a.TargetNode), quoteOrNone(b.TargetNode))
	}
	if a.ReplicationFactor != b.ReplicationFactor {
		add("--replication-factor", a.ReplicationFactor, b.ReplicationFactor)
	}
	if a.Shards != b.Shards || a.AutoShards != b.AutoShards {
		add("--shards", a.shardsLabel(), b.shardsLabel())
	}
	if !slices.Equal(a.Collections, b.Collections) {
		add("--collections", workerset.SelectionLabel(a.Collections), workerset.SelectionLabel(b.Collections))
	}
	if a.Rename.Suffix != b.Rename.Suffix || !maps.Equal(a.Rename.Map, b.Rename.Map) {
		add("--rename", a.Rename.String(), b.Rename.String())
	}
	if a.Overwrite != b.Overwrite {
		add("--overwrite", a.Overwrite, b.Overwrite)
	}
	if len(diffs) == 0 {
		return nil
	}
	return config.Invalidf("set %s was planned with %s: an earlier attempt of worker 0 published its plan, and a retry must run with the same options (rerun with a new set id to restore otherwise)",
		setID, strings.Join(diffs, "; "))
}

// canonical is o with its lists in one order and empty ones nil, so that
// equal options compare equal.
func (o PlanOptions) canonical() PlanOptions {
	c := o
	if c.Strategy == "" {
		c.Strategy = StrategyAuto
	}
	c.Collections = workerset.Selection(o.Collections)
	if len(o.Rename.Map) == 0 {
		c.Rename.Map = nil
	}
	return c
}

func (o PlanOptions) shardsLabel() string {
	switch {
	case o.AutoShards:
		return "auto"
	case o.Shards == 0:
		return "keep"
	}
	return strconv.FormatUint(uint64(o.Shards), 10)
}

func quoteOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return strconv.Quote(s)
}

// finishSet records the outcome of worker 0's run: done (commit.json,
// the other records deleted) or, when the Job does not retry worker 0,
// failed (failed.json, which stops every worker still running).
func (e *executor) finishSet(ctx context.Context, runErr error) {
	m := e.set.member
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if runErr == nil {
		if err := m.Done(cctx, e.rep.RestoreID); err != nil {
			e.log.Warn("recording the end of the set failed; prune removes its records", "error", err)
		}
		return
	}
	if !e.set.opts.FinalAttempt {
		e.log.Error("worker 0 failed; the Job retries it and the retry takes the set up", "error", runErr)
		return
	}
	if err := m.FailSet(cctx, runErr.Error()); err != nil {
		e.log.Error("recording the set's failure for the other workers failed; they stop when their plan wait or their work ends", "error", err)
	}
}

// runShare is Run for a worker other than 0: wait for the plan, recover
// the share, write the part.
func runShare(ctx context.Context, opts RunOptions, deps RunDeps) (*RunResult, error) {
	res := &RunResult{}
	w := opts.Workers
	m := w.member(opts.Manifest.Cluster, &deps.Deps)
	m.Logger = deps.logger().With("set_id", w.SetID, "worker", w.Index, "workers", w.Workers)
	var (
		prior *workerset.Plan
		sp    *setPlan
	)
	err := m.WaitForPlan(ctx, w.PlanWait, func(ctx context.Context) (bool, error) {
		var err error
		prior, sp, err = readSetPlan(ctx, m)
		return prior != nil, err
	})
	var done *workerset.CommittedError
	if errors.As(err, &done) {
		m.Logger.Info("the restore is done already; nothing to do", "restore_id", done.BackupID, "by", done.By)
		res.Share = &ShareReport{SetID: w.SetID, RestoreID: done.BackupID, BackupID: opts.Manifest.BackupID, Worker: w.Index, Workers: w.Workers, Already: true}
		return res, nil
	}
	if err != nil {
		return res, err
	}
	if err := checkSetPlan(prior, sp, opts.Manifest.Cluster, opts.Manifest.BackupID, w.Workers); err != nil {
		return res, err
	}
	if err := m.SetFailedError(ctx); err != nil {
		return res, err
	}
	// A late attempt of an index whose part is written (its pod killed
	// after its work): nothing to do again.
	var part workerset.Part
	if err := workerset.Read(ctx, m.Store, workerset.PartKey(m.Cluster, m.SetID, w.Index), &part); err == nil && part.BackupID == sp.RestoreID {
		m.Logger.Info("this worker's part was written by an earlier attempt; not recovered again", "by", part.Holder)
		res.Share = &ShareReport{SetID: w.SetID, RestoreID: sp.RestoreID, BackupID: opts.Manifest.BackupID, Worker: w.Index, Workers: w.Workers, Already: true}
		return res, nil
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return res, err
	}
	plan := sp.Plan
	plan.Manifest = opts.Manifest
	res.Plan = plan
	if err := checkIdentities(plan, deps.Deps); err != nil {
		return res, err
	}
	if deps.OpenJournal != nil {
		deps.Journal = deps.OpenJournal(plan)
	}
	j := shareJournal(deps.journal(), w.Index)
	deps.Journal = j
	id := sp.RestoreID
	log := m.Logger.With("restore_id", id, "backup_id", plan.BackupID, "cluster", plan.Cluster)
	prev, err := j.Shards(ctx, id)
	if err != nil {
		return res, fmt.Errorf("restore %s: read progress: %w", id, err)
	}
	if cj, ok := j.(*CatalogJournal); ok {
		// The catalog's restore row is worker 0's: it began it, and
		// another worker must not set it running again.
		cj.attach(id)
	} else if err := j.Begin(ctx, id, plan); err != nil {
		return res, fmt.Errorf("restore %s: record start: %w", id, err)
	}
	mine := mineOf(sp.Shares, w.Index)
	startedKey := workerset.WorkerStartedKey(m.Cluster, m.SetID, w.Index)
	started, err := workerset.Exists(ctx, m.Store, startedKey)
	if err != nil {
		return res, err
	}
	if !started && len(sp.Fresh) > 0 {
		// Worker 0 created these collections anew for this set: what
		// this worker journalled for them before (an earlier Job) is
		// void, in the journal too, so that a retry of this index skips
		// only what it recovered for this set.
		var reset []ShardProgress
		for _, cp := range plan.Collections {
			if !slices.Contains(sp.Fresh, cp.Target) {
				continue
			}
			for _, s := range cp.Shards {
				if mine[cp.Target][s.ID] {
					reset = append(reset, ShardProgress{Collection: cp.Target, ShardID: s.ID, Peer: s.Primary, State: ShardPending})
				}
			}
		}
		if err := setShards(ctx, j, reset); err != nil {
			return res, fmt.Errorf("restore %s: reset the progress of collections created anew: %w", id, err)
		}
		prev = slices.DeleteFunc(prev, func(p ShardProgress) bool { return slices.Contains(sp.Fresh, p.Collection) })
	}
	if !started {
		if err := workerset.Put(ctx, m.Store, startedKey, startedNote{Format: workerset.Format, Worker: w.Index, Holder: w.Holder, At: deps.now().UTC()}, false); err != nil {
			return res, err
		}
	}
	done0 := indexProgress(prev)
	coord, coordID, err := deps.coordinator(plan)
	if err != nil {
		return res, err
	}
	if deps.ProgressEvery > 0 && deps.Progress == nil {
		p := NewLogProgress(log, deps.ProgressEvery, plan)
		deps.Progress = p
		defer p.Stop()
	}
	rep := &Report{RestoreID: id, BackupID: plan.BackupID, Strategy: plan.Strategy}
	e := &executor{
		plan: plan, deps: deps.Deps, opts: opts.Exec.withDefaults(), rep: rep, journal: j, done: done0,
		coord: coord, coordID: coordID, ids: sp.IDs, reshardDone: map[string]bool{}, restored: restoredSet{},
		log: log, set: &restoreSet{opts: w, member: m, mine: mine}, transfers: newTransferBudget(opts.Exec.TransferLimit),
	}
	if e.ids == nil {
		e.ids = map[string]map[uint32]uint32{}
	}
	for _, name := range sp.ReshardDone {
		e.reshardDone[name] = true
	}
	log.Info("recovering this worker's share", "shards", countMine(e.set.mine), "planned_by", prior.Holder)
	if err := m.Watch(ctx, e.recoverAll); err != nil {
		err = fmt.Errorf("worker %d of set %s: %w", w.Index, w.SetID, err)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		// A corrupt object fails every retry: the restore fails at once,
		// and worker 0 removes the collections it created.
		final := w.FinalAttempt || corrupt(err)
		if rerr := m.RecordFailure(cctx, err.Error(), final, corrupt(err)); rerr != nil {
			log.Error("recording this worker's failure failed", "error", rerr)
		}
		log.Error("worker failed", "error", err, "retried_by_the_job", !final)
		return res, fmt.Errorf("restore %s: %w", id, err)
	}
	if err := e.writePart(ctx, m); err != nil {
		return res, err
	}
	res.Share = &ShareReport{SetID: w.SetID, RestoreID: id, BackupID: plan.BackupID, Worker: w.Index, Workers: w.Workers,
		Recovered: rep.ShardsRecovered, Skipped: rep.ShardsSkipped, Bytes: rep.Bytes}
	log.Info("share recovered; worker 0 finishes the restore once every part is written", "recovered", rep.ShardsRecovered, "skipped", rep.ShardsSkipped, "bytes", rep.Bytes)
	return res, nil
}

func countMine(m map[string]map[uint32]bool) int {
	n := 0
	for _, s := range m {
		n += len(s)
	}
	return n
}

// shareJournal is the journal of worker w of a multi-worker restore: the
// catalog's rows are per shard and shared by every worker; a journal
// object (store or file) is rewritten whole on every change, so each
// worker other than 0 keeps its own, under the restore id and its index.
func shareJournal(j Journal, w int) Journal {
	if _, ok := j.(*CatalogJournal); ok || w == 0 {
		return j
	}
	return &suffixJournal{j: j, suffix: ".w" + strconv.Itoa(w)}
}

// suffixJournal keeps a restore's progress under its id and a suffix.
type suffixJournal struct {
	j      Journal
	suffix string
}

func (s *suffixJournal) Shards(ctx context.Context, id string) ([]ShardProgress, error) {
	return s.j.Shards(ctx, id+s.suffix)
}
func (s *suffixJournal) Status(ctx context.Context, id string) (string, error) {
	return s.j.Status(ctx, id+s.suffix)
}
func (s *suffixJournal) Begin(ctx context.Context, id string, plan *RestorePlan) error {
	return s.j.Begin(ctx, id+s.suffix, plan)
}
func (s *suffixJournal) SetShard(ctx context.Context, p ShardProgress) error {
	return s.j.SetShard(ctx, p)
}
func (s *suffixJournal) SetShards(ctx context.Context, ps []ShardProgress) error {
	return setShards(ctx, s.j, ps)
}
func (s *suffixJournal) Finish(ctx context.Context, status, reason string) error {
	return s.j.Finish(ctx, status, reason)
}
