package restore

import (
	"context"
	"fmt"
	"time"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/manifest"
)

// RunOptions are the inputs of one restore besides the outside world.
type RunOptions struct {
	// Manifest is the backup set to restore.
	Manifest *manifest.Manifest
	Plan     PlanOptions
	// Preflight tunes the checks; its readiness inputs are filled from
	// RunDeps.Topology and its transfer mode is Exec's.
	Preflight PreflightOptions
	Exec      ExecOptions
	// DryRun stops after planning (and RunDeps.PrintPlan): nothing beyond
	// the discovery reads touches the cluster.
	DryRun bool
	// Workers make the run one worker of a multi-worker restore.
	Workers WorkerOptions
}

// RunDeps are the outside world of a restore run.
type RunDeps struct {
	Deps
	// Topology is the discovered target cluster; the plan is made for its
	// peers.
	Topology *discovery.Topology
	// OpenJournal, when set, opens the journal once the plan is known (a
	// catalog journal records the plan's target); it overrides
	// Deps.Journal.
	OpenJournal func(*RestorePlan) Journal
	// PrintPlan, when set, is shown the plan before anything is changed,
	// also on a dry run.
	PrintPlan func(*RestorePlan) error
	// HoldLease, when set, takes the cluster lease after planning and
	// before preflight. The rest of the run goes on under held, which is
	// cancelled if the lease is lost; release is called at the end. nil
	// means no lease.
	HoldLease func(ctx context.Context) (held context.Context, release func(), err error)
	// ProgressEvery, when positive and Deps.Progress is unset, logs the
	// run's progress through the logger when each phase starts and this
	// often while shards are recovered (LogProgress).
	ProgressEvery time.Duration
}

// RunResult is what a restore run produced; fields stay nil for the
// steps it did not reach.
type RunResult struct {
	Plan      *RestorePlan
	Preflight *PreflightReport
	Report    *Report
	// Share is set instead of Report for a worker other than 0 of a
	// multi-worker restore, and for any worker of one already done.
	Share *ShareReport
}

// Run restores a backup set: it reads the target cluster, plans, shows
// the plan, takes the lease, runs preflight and executes the plan
// (verification included). A plan that cannot be made is invalid input
// (config.ErrInvalidInput): nothing was changed.
func Run(ctx context.Context, opts RunOptions, deps RunDeps) (*RunResult, error) {
	res := &RunResult{}
	if opts.Manifest == nil || deps.Topology == nil {
		return res, fmt.Errorf("restore: no manifest or no target topology: %w", ErrInvalidOptions)
	}
	if w := opts.Workers; w.Multi() && !opts.DryRun {
		if err := w.Validate(); err != nil {
			return res, err
		}
		if w.Index > 0 {
			return runShare(ctx, opts, deps)
		}
		m := w.member(opts.Manifest.Cluster, &deps.Deps)
		m.Logger = deps.logger().With("set_id", w.SetID, "worker", 0, "workers", w.Workers)
		deps.Logger = m.Logger
		if done, err := m.Committed(ctx); err != nil {
			return res, err
		} else if done != nil {
			m.Logger.Info("the restore is done already; nothing to do", "restore_id", done.BackupID, "by", done.Holder)
			res.Share = &ShareReport{SetID: w.SetID, RestoreID: done.BackupID, BackupID: opts.Manifest.BackupID, Workers: w.Workers, Already: true}
			return res, nil
		}
		if err := m.SetFailedError(ctx); err != nil {
			return res, err
		}
		set := &restoreSet{opts: w, member: m, planOpts: opts.Plan}
		res, err := runOne(ctx, opts, deps, set)
		if err != nil && res.Report == nil && w.FinalAttempt {
			// Failed before the plan was shared (execute records its
			// own outcome): the other workers stop now rather than at
			// the end of their plan wait.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if ferr := m.FailSet(cctx, err.Error()); ferr != nil {
				m.Logger.Error("recording the set's failure for the other workers failed", "error", ferr)
			}
		}
		return res, err
	}
	return runOne(ctx, opts, deps, nil)
}

// runOne is Run for a single run, or worker 0 of several (set).
func runOne(ctx context.Context, opts RunOptions, deps RunDeps, set *restoreSet) (*RunResult, error) {
	res := &RunResult{}
	plan, err := set.takeUp(ctx, opts.Manifest)
	if err != nil {
		return res, err
	}
	if plan == nil {
		reader, err := firstReader(deps)
		if err != nil {
			return res, err
		}
		target, err := ReadTarget(ctx, deps.Topology, reader)
		if err != nil {
			return res, err
		}
		if plan, err = Plan(opts.Manifest, target, opts.Plan); err != nil {
			return res, config.Invalid(fmt.Errorf("plan restore: %w", err))
		}
	}
	res.Plan = plan
	if deps.PrintPlan != nil {
		if err := deps.PrintPlan(plan); err != nil {
			return res, fmt.Errorf("show restore plan: %w", err)
		}
	}
	if opts.DryRun {
		return res, nil
	}
	// Without the key nothing can be restored: say so before the lease,
	// the journal or the cluster are touched.
	if err := checkIdentities(plan, deps.Deps); err != nil {
		return res, err
	}
	if deps.OpenJournal != nil {
		deps.Journal = deps.OpenJournal(plan)
	}

	outer := ctx
	if deps.HoldLease != nil {
		held, release, err := deps.HoldLease(ctx)
		if err != nil {
			return res, fmt.Errorf("restore of backup %s: %w", plan.BackupID, err)
		}
		defer release()
		ctx = held
	}

	popts := PreflightOptionsFor(deps.Topology)
	popts.AllowNodeMismatch = popts.AllowNodeMismatch || opts.Preflight.AllowNodeMismatch
	popts.ReadyPods = opts.Preflight.ReadyPods
	popts.NotReady = append(popts.NotReady, opts.Preflight.NotReady...)
	popts.Parallel = opts.Preflight.Parallel
	popts.VerifyObjects = opts.Preflight.VerifyObjects
	popts.Transfer = opts.Exec.Transfer
	if popts.Transfer == "" {
		popts.Transfer = TransferUpload
	}
	res.Preflight, err = Preflight(ctx, plan, deps.Deps, popts)
	if err != nil {
		return res, leaseLost(ctx, outer.Err() != nil, err)
	}
	for _, w := range res.Preflight.Warnings {
		deps.logger().Warn(w)
	}
	if deps.ProgressEvery > 0 && deps.Progress == nil {
		p := NewLogProgress(deps.logger(), deps.ProgressEvery, plan)
		deps.Progress = p
		defer p.Stop()
	}
	res.Report, err = execute(ctx, plan, deps.Deps, opts.Exec, set)
	return res, leaseLost(ctx, outer.Err() != nil, err)
}

// firstReader is the client of the first discovered peer that has one:
// collections and aliases are cluster-wide, any peer answers for all.
func firstReader(deps RunDeps) (ClusterReader, error) {
	for _, p := range deps.Topology.Peers {
		if c, ok := deps.Peers[p.ID]; ok && c != nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("restore: no client for any discovered peer: %w", ErrNoPeers)
}

// leaseLost adds the cause to an error of a run whose held context ended
// while the caller's did not (callerDone false): the lease was lost,
// which "context canceled" alone would not say.
func leaseLost(held context.Context, callerDone bool, err error) error {
	if err != nil && held.Err() != nil && !callerDone {
		return fmt.Errorf("%w (%w)", err, context.Cause(held))
	}
	return err
}
