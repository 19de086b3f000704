package rebalance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/placement"
	"github.com/qbackup/qbackup/internal/restore"
)

// RunOptions are the inputs of one rebalance.
type RunOptions struct {
	Options
	// DryRun stops after the plan is shown: nothing beyond the reads of
	// the cluster and the journal is done.
	DryRun   bool
	Converge restore.LiveConvergeOptions
}

// Deps are the outside world of a rebalance.
type Deps struct {
	// Cluster is the logical cluster name (journal and lease).
	Cluster string
	// Topology is the discovered cluster: its peers are the Ready ones.
	Topology *discovery.Topology
	// Peers maps every discovered peer id to its client.
	Peers map[uint64]restore.LivePeer
	// Reader reads the collections; default the first discovered peer's
	// client when it implements Reader.
	Reader Reader
	// Journal keeps the plan and progress; nil keeps none (a rerun
	// plans anew).
	Journal Journal
	Logger  *slog.Logger
	// PrintPlan, when set, is shown the plan before anything changes
	// (also on a dry run); resumed names the rebalance it continues.
	PrintPlan func(p *Plan, resumed string) error
	// HoldLease, when set, takes the cluster lease (the one backups and
	// restores take) before the first change; the run goes on under held,
	// cancelled if the lease is lost.
	HoldLease func(ctx context.Context) (held context.Context, release func(), err error)
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// Result is what a rebalance did.
type Result struct {
	ID   string `json:"rebalance_id,omitempty"`
	Plan *Plan  `json:"plan"`
	// Resumed is the id of the interrupted rebalance this run continued.
	Resumed     string `json:"resumed,omitempty"`
	Collections int    `json:"collections_rebalanced"`
	// Resharded counts the collections whose shard count changed.
	Resharded  int `json:"collections_resharded,omitempty"`
	Operations int `json:"operations"`
	// The operations by kind: replicas moved to another peer, replicas
	// added (replicated) and surplus replicas dropped.
	Moved      int           `json:"replicas_moved"`
	Replicated int           `json:"replicas_replicated"`
	Dropped    int           `json:"replicas_dropped"`
	Duration   time.Duration `json:"duration_ns"`
}

// Run reads the cluster, plans (or takes up the journaled plan of an
// interrupted rebalance over the same peers), shows the plan, takes the
// lease and drives each collection to its final placement, recording each
// collection done. A plan that cannot be made is invalid input
// (config.ErrInvalidInput): nothing was changed.
func Run(ctx context.Context, opts RunOptions, deps Deps) (*Result, error) {
	res := &Result{}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	if deps.Topology == nil {
		return res, errors.New("rebalance: no discovered cluster")
	}
	var order []uint64
	for _, p := range deps.Topology.Peers {
		order = append(order, p.ID)
	}
	reader := deps.Reader
	if reader == nil {
		for _, id := range order {
			if r, ok := deps.Peers[id].(Reader); ok {
				reader = r
				break
			}
		}
	}
	if reader == nil {
		return res, errors.New("rebalance: no client for any discovered peer")
	}
	st, err := ReadState(ctx, deps.Cluster, deps.Topology, reader, nil)
	if err != nil {
		return res, fmt.Errorf("rebalance: %w", err)
	}
	if opts.Shards > 0 || opts.AutoShards {
		st.Resharding = probeResharding(ctx, deps, order, log)
	}
	plan, err := MakePlan(st, opts.Options)
	if err != nil {
		return res, config.Invalid(fmt.Errorf("plan rebalance: %w", err))
	}
	var rec *Record
	if deps.Journal != nil {
		prev, err := deps.Journal.Load(ctx)
		if err != nil {
			return res, fmt.Errorf("rebalance: %w", err)
		}
		if prev.resumable(order, opts.Collections) {
			rec = prev
			plan = resumePlan(prev, st)
			res.Resumed = prev.ID
			log.Info("resuming an interrupted rebalance towards its journaled placement", "rebalance_id", prev.ID, "started_at", prev.StartedAt, "done", prev.Done)
		}
	}
	res.Plan = plan
	if deps.PrintPlan != nil {
		if err := deps.PrintPlan(plan, res.Resumed); err != nil {
			return res, fmt.Errorf("show rebalance plan: %w", err)
		}
	}
	if opts.DryRun {
		return res, nil
	}
	if plan.Empty() && rec == nil {
		log.Info("nothing to rebalance: every collection is balanced and has its replication factor")
		return res, nil
	}

	outer := ctx
	if deps.HoldLease != nil {
		held, release, err := deps.HoldLease(ctx)
		if err != nil {
			return res, fmt.Errorf("rebalance of cluster %s: %w", deps.Cluster, err)
		}
		defer release()
		ctx = held
	}
	start := deps.now()
	if rec == nil {
		rec = &Record{ID: "rb-" + start.Format("20060102T150405Z"), StartedAt: start, Peers: order, Collections: opts.Collections, Plan: plan}
	}
	res.ID = rec.ID
	log = log.With("rebalance_id", rec.ID, "cluster", deps.Cluster)
	rec.Status, rec.Reason = StatusRunning, ""
	if err := save(ctx, deps, rec); err != nil {
		return res, err
	}
	rs := &resharder{peers: deps.Peers, order: order, log: log, timeout: opts.Converge.Timeout, poll: opts.Converge.Poll, rec: rec,
		save: func(ctx context.Context) error { return save(ctx, deps, rec) }}
	rs.defaults()
	runErr := (&execution{plan: plan, rec: rec, deps: deps, opts: opts, order: order, log: log, res: res, rs: rs, reader: reader}).run(ctx)
	res.Duration = deps.now().Sub(start)
	rec.Status = StatusComplete
	if runErr != nil {
		rec.Status, rec.Reason = StatusFailed, runErr.Error()
	}
	// Recorded even when ctx was cancelled (SIGTERM); a failed rebalance
	// is resumed by a rerun as an interrupted one is.
	if err := save(context.WithoutCancel(ctx), deps, rec); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if runErr != nil {
		if ctx.Err() != nil && outer.Err() == nil {
			runErr = fmt.Errorf("%w (%w)", runErr, context.Cause(ctx))
		}
		return res, fmt.Errorf("rebalance %s: %w", rec.ID, runErr)
	}
	log.Info("rebalance complete", "collections", res.Collections, "operations", res.Operations, "duration", res.Duration)
	return res, nil
}

// execution is one rebalance being carried out: its plan, its record
// (what is done, saved after each collection) and what it reports.
type execution struct {
	plan  *Plan
	rec   *Record
	deps  Deps
	opts  RunOptions
	order []uint64 // the peers, in the plan's order
	log   *slog.Logger
	res   *Result
	// rs reshards the collections whose plan says so; reader reads the
	// cluster again to plan their replicas afterwards.
	rs     *resharder
	reader Reader
}

// run converges the collections the record has not done yet, in plan
// order.
func (x *execution) run(ctx context.Context) error {
	for _, c := range x.plan.Collections {
		if slices.Contains(x.rec.Done, c.Name) {
			continue
		}
		if rp := c.Reshard; rp != nil {
			x.log.Info("resharding collection", "collection", c.Name, "from_shards", rp.From, "to_shards", rp.To, "method", rp.Method)
			t0 := x.deps.now()
			run := x.rs.withQdrant
			if rp.Method == ReshardCopy {
				run = x.rs.withCopy
			}
			if err := run(ctx, c.Name, rp.To); err != nil {
				return fmt.Errorf("collection %q: %w", c.Name, err)
			}
			x.log.Info("collection resharded", "collection", c.Name, "shards", rp.To, "duration", x.deps.now().Sub(t0))
			x.res.Resharded++
			// The replicas of the resharded collection, planned now.
			st, err := ReadState(ctx, x.deps.Cluster, x.deps.Topology, x.reader, []string{c.Name})
			if err != nil {
				return fmt.Errorf("rebalance: %w", err)
			}
			p2, err := MakePlan(st, Options{Collections: []string{c.Name}, ReplicationFactor: x.opts.ReplicationFactor})
			if err != nil {
				return fmt.Errorf("plan the replicas of resharded %q: %w", c.Name, err)
			}
			p2.Collections = slices.DeleteFunc(p2.Collections, func(cp CollectionPlan) bool { return cp.Name != c.Name })
			if len(p2.Collections) == 0 {
				return fmt.Errorf("plan the replicas of resharded %q: %s", c.Name, strings.Join(p2.Warnings, "; "))
			}
			c2 := p2.Collections[0]
			c.Shards, c.Ops, c.Reason = c2.Shards, c2.Ops, c2.Reason
			x.log.Info("replicas of the resharded collection planned", "collection", c.Name, "operations", len(c.Ops), "plan", c.Reason)
		}
		if c.SetReplicationFactor > 0 {
			if err := setFactor(ctx, x.deps, x.order, c.Name, c.SetReplicationFactor); err != nil {
				return err
			}
			x.log.Info("replication factor set", "collection", c.Name, "replication_factor", c.SetReplicationFactor)
		}
		if len(c.Ops) > 0 {
			x.log.Info("rebalancing collection", "collection", c.Name, "operations", len(c.Ops), "plan", c.Reason)
			t0 := x.deps.now()
			if err := restore.LiveConverge(ctx, restore.LiveCluster{Peers: x.deps.Peers, Order: x.order, Logger: x.log}, c.Name, c.Final(), x.opts.Converge); err != nil {
				return fmt.Errorf("collection %q: %w", c.Name, err)
			}
			x.log.Info("collection rebalanced", "collection", c.Name, "duration", x.deps.now().Sub(t0))
			x.res.Collections++
			x.res.count(c.Ops)
		}
		x.rec.Done = append(x.rec.Done, c.Name)
		if err := save(ctx, x.deps, x.rec); err != nil {
			return err
		}
	}
	return nil
}

// count adds the operations of one converged collection.
func (r *Result) count(ops []placement.Op) {
	r.Operations += len(ops)
	for _, op := range ops {
		switch op.Kind {
		case placement.Move:
			r.Moved++
		case placement.Replicate:
			r.Replicated++
		case placement.Drop:
			r.Dropped++
		}
	}
}

// setFactor changes the collection's replication_factor setting (a
// consensus operation, applied by every peer) through the first peer
// with a client.
func setFactor(ctx context.Context, deps Deps, order []uint64, name string, rf uint32) error {
	body, err := json.Marshal(map[string]any{"params": map[string]any{"replication_factor": rf}})
	if err != nil {
		return err
	}
	for _, id := range order {
		if p, ok := deps.Peers[id]; ok && p != nil {
			if err := p.UpdateCollection(ctx, name, body); err != nil {
				return fmt.Errorf("set the replication factor of %q to %d: %w", name, rf, err)
			}
			return nil
		}
	}
	return errors.New("rebalance: no client for any discovered peer")
}

// probeResharding asks the first peer that can answer whether the cluster
// offers Qdrant's resharding; an unanswered question counts as not
// offered.
func probeResharding(ctx context.Context, deps Deps, order []uint64, log *slog.Logger) ReshardSupport {
	for _, id := range order {
		p, ok := deps.Peers[id].(ReshardProbe)
		if !ok || p == nil {
			continue
		}
		on, known, err := p.ReshardingEnabled(ctx)
		if err != nil {
			log.Warn("cannot tell whether the cluster offers Qdrant's resharding: taken as not offered", "peer", id, "error", err.Error())
			return ReshardSupport{}
		}
		return ReshardSupport{Enabled: on, Known: known}
	}
	return ReshardSupport{}
}

func save(ctx context.Context, deps Deps, rec *Record) error {
	if deps.Journal == nil {
		return nil
	}
	rec.UpdatedAt = deps.now()
	return deps.Journal.Save(ctx, rec)
}

// resumePlan is the journaled plan of rec without the collections done
// and those that no longer exist.
func resumePlan(rec *Record, st State) *Plan {
	exists := map[string]bool{}
	for _, c := range st.Collections {
		exists[c.Name] = true
	}
	p := &Plan{Cluster: rec.Plan.Cluster, Peers: rec.Plan.Peers, Warnings: rec.Plan.Warnings}
	for _, c := range rec.Plan.Collections {
		switch {
		case slices.Contains(rec.Done, c.Name):
		case !exists[c.Name] && (rec.Reshard[c.Name] == nil || !rec.Reshard[c.Name].StagingCopied):
			p.Warnings = append(p.Warnings, fmt.Sprintf("collection %q of the interrupted rebalance no longer exists: skipped", c.Name))
		default:
			p.Collections = append(p.Collections, c)
		}
	}
	return p
}
