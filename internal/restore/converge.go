package restore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// onceLogger logs an operation at info level the first time and at debug
// level when it is tried again.
type onceLogger struct {
	log   *slog.Logger
	said  map[string]bool
	shard uint32
}

func (l onceLogger) Info(msg string, args ...any) {
	key := fmt.Sprint(l.shard, msg, args)
	if l.said[key] {
		l.log.Debug(msg+" (again)", args...)
		return
	}
	l.said[key] = true
	l.log.Info(msg, args...)
}

// placement is the live replica set of a collection: shard → peer → state.
type placement map[uint32]map[uint64]string

func livePlacement(cc *qdrant.CollectionCluster) placement {
	out := placement{}
	for _, r := range cc.Replicas() {
		if out[r.ShardID] == nil {
			out[r.ShardID] = map[uint64]string{}
		}
		out[r.ShardID][r.PeerID] = r.State
	}
	return out
}

func (p placement) describe(shard uint32) string {
	var parts []string
	for _, peer := range slices.Sorted(maps.Keys(p[shard])) {
		parts = append(parts, fmt.Sprintf("%d:%s", peer, p[shard][peer]))
	}
	return fmt.Sprintf("shard %d [%s]", shard, strings.Join(parts, " "))
}

// settle brings every collection to its planned placement after
// recovery: the replicas Qdrant placed at creation on peers the plan does
// not recover onto are still there, empty, and are dropped (an empty
// replica is never a source: see step); shards the backup holds no
// object for get their planned replicas here. Replicas holding restored
// data that the redistribution will want anyway are kept rather than
// dropped and copied back. Collections settle concurrently, as they were
// created.
func (e *executor) settle(ctx context.Context) error {
	return e.eachCollection(ctx, func(ctx context.Context, _ int, cp CollectionPlan) error {
		if e.reshardDone[cp.Target] {
			return nil
		}
		name := restoreName(cp)
		want := func(live placement) map[uint32][]uint64 {
			out := map[uint32][]uint64{}
			for _, s := range cp.Shards {
				tid := e.targetID(cp, s.ID)
				reps := slices.Clone(s.Replicas)
				if cp.Reshard == nil {
					restored := e.restoredOf(name, tid)
					for peer := range live[tid] {
						if restored[peer] && slices.Contains(s.Final, peer) && !slices.Contains(reps, peer) {
							reps = append(reps, peer)
						}
					}
				}
				out[tid] = reps
			}
			return out
		}
		return e.converge(ctx, name, want, e.opts.WaitTimeout)
	})
}

// redistribute moves and replicates shards until the final placement of
// the plan holds, waiting for Qdrant's asynchronous transfers.
// Collections are redistributed concurrently (at most
// collectionParallel): within a collection every shard's transfer already
// starts in the same poll, and the collections waiting for each other
// added up their transfers' fixed cost (consensus rounds, the wait for
// the last transfer of each).
func (e *executor) redistribute(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.opts.TransferTimeout)
	defer cancel()
	return e.eachCollection(ctx, func(ctx context.Context, _ int, cp CollectionPlan) error {
		if cp.Reshard != nil {
			return nil
		}
		want := func(placement) map[uint32][]uint64 {
			out := map[uint32][]uint64{}
			for _, s := range cp.Shards {
				out[e.targetID(cp, s.ID)] = s.Final
			}
			return out
		}
		return e.converge(ctx, cp.Target, want, e.opts.TransferTimeout)
	})
}

// waitActive waits until every replica of the collection is Active and no
// transfer runs, whatever the placement.
func (e *executor) waitActive(ctx context.Context, name string, timeout time.Duration) error {
	return e.converge(ctx, name, nil, timeout)
}

// deadGracePolls × the poll interval is how long a wanted Dead replica
// may wait for Qdrant's own re-sync before the restore asks for a
// replication itself: a time, not a number of reads, because reads come
// faster while the cluster is changing. 40 × the default poll of 250ms:
// ten seconds.
const deadGracePolls = 40

// minPoll is the first interval after a change: the state is read again
// soon after it moved (a transfer started or ended, a replica became
// Active), and the interval doubles up to the configured poll while
// nothing moves, so a settled restore is noticed within tens of
// milliseconds without reading a busy cluster every few. A wait that
// outlasts the doubling (a transfer) ends up to one configured poll late.
const minPoll = 25 * time.Millisecond

// converge drives a collection towards the placement want computes from
// the live one (nil: the live placement as it is) and returns once every
// wanted replica is Active, no other replica is left and no transfer
// runs. Each poll starts at most one transfer per shard, because Qdrant
// refuses a second transfer of a shard touching the same peers.
func (e *executor) converge(ctx context.Context, name string, want func(placement) map[uint32][]uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	memos := map[uint32]*shardMemo{}
	report := newWaitReport(e.log, name, time.Now(), timeout)
	var lastErr error
	poll := newBackoffPoll(e.opts.Poll)
	defer e.transfers.forget(name)
	for {
		cc, err := e.coord.CollectionCluster(ctx, name)
		if err != nil {
			if !qdrant.IsTransient(err) {
				return fmt.Errorf("read cluster info of %q: %w", name, err)
			}
			lastErr = err
		} else {
			live := livePlacement(cc)
			target := map[uint32][]uint64{}
			if want != nil {
				target = want(live)
			} else {
				for id, reps := range live {
					target[id] = slices.Collect(maps.Keys(reps))
				}
			}
			busy := map[uint32]bool{}
			for _, t := range cc.ShardTransfers {
				busy[t.ShardID] = true
			}
			io := e.transfers.observe(name, cc.ShardTransfers)
			var pending []string
			var steps []shardState
			for _, id := range slices.Sorted(maps.Keys(target)) {
				if settled(live[id], target[id]) {
					if m := memos[id]; m != nil {
						m.deadSince = time.Time{}
					}
					continue
				}
				pending = append(pending, live.describe(id))
				if busy[id] || want == nil {
					continue
				}
				steps = append(steps, shardState{collection: name, shard: id, have: live[id], want: target[id], restored: e.restoredOf(name, id), io: io})
			}
			if err := e.stepAll(ctx, steps, memos, io != nil); err != nil {
				lastErr = err
			}
			if len(pending) == 0 && len(cc.ShardTransfers) == 0 {
				// The coordinator may be ahead of other peers (or behind
				// them): done once every peer sees the same.
				ok, _, what, err := e.agreement(ctx, name, target, true)
				switch {
				case err != nil && !qdrant.IsTransient(err):
					return err
				case err != nil:
					lastErr = err
				case ok:
					return nil
				default:
					pending = append(pending, what)
				}
			}
			report.update(time.Now(), pending, cc.ShardTransfers, lastErr)
			poll.observe(stateOf(pending, cc.ShardTransfers))
			if time.Now().After(deadline) {
				what := strings.Join(pending, ", ")
				if len(cc.ShardTransfers) > 0 {
					what += fmt.Sprintf("; %d transfers running", len(cc.ShardTransfers))
				}
				err := fmt.Errorf("collection %q not settled after %s: %s: %w", name, timeout, what, ErrTimeout)
				if lastErr != nil {
					err = fmt.Errorf("%w (last error: %w)", err, lastErr)
				}
				return err
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("wait for collection %q: %w: %w", name, ErrTimeout, ctx.Err())
			}
			return fmt.Errorf("wait for collection %q: %w", name, ctx.Err())
		case <-time.After(poll.next()):
		}
	}
}

// backoffPoll is the interval between reads of a collection's state:
// minPoll (or the configured poll, when shorter) after a change, doubling
// up to the configured poll while the state stays the same.
type backoffPoll struct {
	min, max, cur time.Duration
	last          string
	seen          bool
}

func newBackoffPoll(max time.Duration) *backoffPoll {
	lo := min(minPoll, max)
	return &backoffPoll{min: lo, max: max, cur: lo}
}

// observe takes the state just read; a change resets the interval.
func (p *backoffPoll) observe(state string) {
	switch {
	case !p.seen || state != p.last:
		p.cur = p.min
	default:
		p.cur = min(2*p.cur, p.max)
	}
	p.last, p.seen = state, true
}

func (p *backoffPoll) next() time.Duration { return p.cur }

// stateOf is what counts as a change for the poll: the unsettled shards'
// replica states and the running transfers, without a transfer's progress
// comment, which moves during every long transfer.
func stateOf(pending []string, transfers []qdrant.ShardTransfer) string {
	var b strings.Builder
	b.WriteString(strings.Join(pending, ";"))
	for _, t := range transfers {
		fmt.Fprintf(&b, "|%d:%d>%d:%t", t.ShardID, t.From, t.To, t.Sync)
		if t.ToShardID != nil {
			fmt.Fprintf(&b, ">%d", *t.ToShardID)
		}
	}
	return b.String()
}

// settled: the shard has exactly the wanted replicas, all Active.
func settled(have map[uint64]string, want []uint64) bool {
	return len(have) == len(want) && hasActive(have, want)
}

// hasActive: every wanted replica exists and is Active.
func hasActive(have map[uint64]string, want []uint64) bool {
	for _, p := range want {
		if have[p] != qdrant.StateActive {
			return false
		}
	}
	return true
}

// shardState is one shard as step sees it: the replicas it has (peer →
// state), the peers it should end on, and the replicas holding restored
// data.
type shardState struct {
	collection string
	shard      uint32
	have       map[uint64]string
	want       []uint64
	restored   map[uint64]bool
	// io reserves transfers per peer; nil: no limit.
	io *peerIO
}

// shardMemo is what a converge remembers of one shard between polls:
// since when a wanted replica has waited Dead (zero: none waits), and the
// operations already logged.
type shardMemo struct {
	deadSince time.Time
	said      map[string]bool
}

// stepParallel bounds the shards stepped at once in one poll. Each step
// is a cluster operation that returns once consensus applied it; Qdrant
// accepts transfers of different shards at the same time (it refuses a
// second transfer of the same shard touching the same peers:
// lib/collection/src/shards/transfer/helpers.rs
// check_transfer_conflicts), so the operations of one poll, which all
// start from the same read of the cluster, need not wait for each other.
// Stepped one after the other, a collection of N shards to place paid N
// consensus rounds per poll.
const stepParallel = 8

// stepAll steps the given shards concurrently and returns the error of
// the last one that failed, in shard order. inOrder steps them one after
// the other, in shard order: under a per-peer transfer limit (a live
// cluster's rebalance), the steps reserve the peers' transfer slots, the
// limit paces the transfers anyway, and the shards that get a slot stay
// the first ones in order.
func (e *executor) stepAll(ctx context.Context, states []shardState, memos map[uint32]*shardMemo, inOrder bool) error {
	// Memos are made here, before the steps run: each step then only
	// touches its own.
	for _, sh := range states {
		if memos[sh.shard] == nil {
			memos[sh.shard] = &shardMemo{said: map[string]bool{}}
		}
	}
	errs := make([]error, len(states))
	var g errgroup.Group
	g.SetLimit(stepParallel)
	if inOrder {
		g.SetLimit(1)
	}
	for i, sh := range states {
		m := memos[sh.shard]
		g.Go(func() error {
			errs[i] = e.step(ctx, sh, m)
			return nil
		})
	}
	g.Wait()
	for i := len(errs) - 1; i >= 0; i-- {
		if errs[i] != nil {
			return errs[i]
		}
	}
	return nil
}

// step issues the cluster operations that bring one shard closer to want:
// surplus replicas are dropped (or, when Active and a wanted peer lacks a
// replica, moved there); a missing replica is replicated from an Active
// one; a wanted Dead replica is left to Qdrant's own re-sync for a while,
// then replicated into. Once some replica of the shard holds restored
// data (restored), only such replicas are sources: a transfer copies the
// source's data over the target's, so a copy from an empty replica would
// wipe restored data.
//
// m.said holds the operations already logged for the shard during this
// converge: one refused again at every poll is logged once (the wait
// report names the error), not every poll.
func (e *executor) step(ctx context.Context, sh shardState, m *shardMemo) error {
	name, shard, have, want, restored := sh.collection, sh.shard, sh.have, sh.want, sh.restored
	var active []uint64
	for _, p := range slices.Sorted(maps.Keys(have)) {
		if have[p] == qdrant.StateActive && (len(restored) == 0 || restored[p]) && e.live.canSource(p) {
			active = append(active, p)
		}
	}
	if len(active) == 0 {
		// Nothing to copy from yet (Initializing, or a recovery still
		// being applied).
		return nil
	}
	var missing, surplus []uint64
	for _, p := range want {
		if _, ok := have[p]; !ok {
			missing = append(missing, p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(have)) {
		if !slices.Contains(want, p) {
			surplus = append(surplus, p)
		}
	}
	// The source of copies: an Active replica that stays, else any.
	source := active[0]
	for _, p := range active {
		if slices.Contains(want, p) {
			source = p
			break
		}
	}
	isSource := func(p uint64) bool { return slices.Contains(active, p) }
	base := e.log.With("collection", name, "shard", shard)
	log := onceLogger{log: base, said: m.said, shard: shard}
	activeLeft := len(active)
	transferred := false
	// replicated: every wanted replica exists and is Active.
	replicated := true
	for _, p := range want {
		if have[p] != qdrant.StateActive {
			replicated = false
		}
	}
	for _, p := range surplus {
		if isSource(p) && len(missing) > 0 && !transferred {
			if !sh.io.take(p, missing[0]) {
				// A peer is at its transfer limit: the move waits, and
				// nothing else of the shard starts meanwhile.
				transferred = true
				continue
			}
			log.Info("moving replica", "from", p, "to", missing[0])
			if err := e.coord.MoveShard(ctx, name, shard, p, missing[0]); err != nil {
				return fmt.Errorf("move %s from peer %d to %d: %w", shardRef(name, shard), p, missing[0], err)
			}
			if len(restored) > 0 {
				e.markRestored(name, shard, missing[0])
			}
			missing, transferred = missing[1:], true
			continue
		}
		if have[p] == qdrant.StateActive && isSource(p) && (activeLeft <= 1 || p == source) {
			// Never drop the last Active copy (of the restored data).
			continue
		}
		if have[p] == qdrant.StateActive && e.live.keepUntilReplicated && !replicated {
			// Replicate first, drop after: the shard keeps its serving
			// copies until the wanted ones are Active.
			continue
		}
		log.Info("dropping surplus replica", "peer", p, "state", have[p])
		if err := e.coord.DropReplica(ctx, name, shard, p); err != nil {
			return fmt.Errorf("drop replica of %s on peer %d: %w", shardRef(name, shard), p, err)
		}
		if isSource(p) {
			activeLeft--
		}
	}
	if transferred {
		return nil
	}
	if len(missing) > 0 {
		if !sh.io.take(source, missing[0]) {
			return nil
		}
		log.Info("replicating shard", "from", source, "to", missing[0])
		if err := e.coord.ReplicateShard(ctx, name, shard, source, missing[0]); err != nil {
			return fmt.Errorf("replicate %s from peer %d to %d: %w", shardRef(name, shard), source, missing[0], err)
		}
		if len(restored) > 0 {
			e.markRestored(name, shard, missing[0])
		}
		return nil
	}
	for _, p := range want {
		if have[p] != qdrant.StateDead {
			continue
		}
		if m.deadSince.IsZero() {
			m.deadSince = time.Now()
			return nil
		}
		if time.Since(m.deadSince) < deadGracePolls*e.opts.Poll {
			return nil
		}
		if !sh.io.take(source, p) {
			return nil
		}
		m.deadSince = time.Time{}
		log.Info("re-syncing dead replica", "from", source, "to", p)
		if err := e.coord.ReplicateShard(ctx, name, shard, source, p); err != nil {
			return fmt.Errorf("re-sync %s from peer %d to %d: %w", shardRef(name, shard), source, p, err)
		}
		if len(restored) > 0 {
			e.markRestored(name, shard, p)
		}
		return nil
	}
	return nil
}
