package rebalance

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/restore"
)

// ReshardPeer is what changing a shard count asks of a peer;
// *qdrant.Client implements it.
type ReshardPeer interface {
	restore.LivePeer
	CollectionInfo(ctx context.Context, name string) (*qdrant.CollectionInfo, error)
	UpsertPoints(ctx context.Context, collection string, points []qdrant.Point) error
	ClusterOperation(ctx context.Context, collection string, op any) error
	CleanupShard(ctx context.Context, collection string, shard uint32) error
}

// ReshardProbe tells whether the cluster offers Qdrant's resharding;
// *qdrant.Client implements it.
type ReshardProbe interface {
	ReshardingEnabled(ctx context.Context) (enabled, known bool, err error)
}

var (
	_ ReshardPeer  = (*qdrant.Client)(nil)
	_ ReshardProbe = (*qdrant.Client)(nil)
)

// resharder changes the shard count of one collection at a time.
type resharder struct {
	peers   map[uint64]restore.LivePeer
	order   []uint64
	log     *slog.Logger
	timeout time.Duration
	poll    time.Duration
	// save journals the progress (rec is the journaled record).
	rec  *Record
	save func(ctx context.Context) error
}

func (r *resharder) progress(name string) *ReshardProgress {
	if r.rec.Reshard == nil {
		r.rec.Reshard = map[string]*ReshardProgress{}
	}
	p := r.rec.Reshard[name]
	if p == nil {
		p = &ReshardProgress{}
		r.rec.Reshard[name] = p
	}
	return p
}

// coord is the first peer of order with a client that can reshard.
func (r *resharder) coord() (ReshardPeer, error) {
	for _, id := range r.order {
		if p, ok := r.peers[id].(ReshardPeer); ok && p != nil {
			return p, nil
		}
	}
	return nil, errors.New("no client for any discovered peer can change a shard count")
}

// waitAll polls every peer's view of the collection until cond holds on
// each: Qdrant answers a cluster operation once the receiving peer applied
// it, the others follow through consensus.
func (r *resharder) waitAll(ctx context.Context, name, what string, cond func(cc *qdrant.CollectionCluster) (bool, error)) error {
	deadline := time.Now().Add(r.timeout)
	for {
		done := true
		for _, id := range r.order {
			p := r.peers[id]
			if p == nil {
				continue
			}
			cc, err := p.CollectionCluster(ctx, name)
			if err != nil {
				done = false
				break
			}
			ok, err := cond(cc)
			if err != nil {
				return fmt.Errorf("collection %q: %w", name, err)
			}
			if !ok {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("collection %q: every peer did not see %s within %s (--transfer-timeout)", name, what, r.timeout)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(r.poll):
		}
	}
}

// waitCommit waits until every peer applied what the coordinator has:
// the resharding stages are not reported, only applied.
func (r *resharder) waitCommit(ctx context.Context, coord ReshardPeer) error {
	st, err := coord.Cluster(ctx)
	if err != nil {
		return fmt.Errorf("read the consensus commit: %w", err)
	}
	want := st.Raft.Commit
	deadline := time.Now().Add(r.timeout)
	for {
		behind := 0
		for _, id := range r.order {
			if p := r.peers[id]; p != nil {
				s, err := p.Cluster(ctx)
				if err != nil || s.Raft.Commit < want {
					behind++
				}
			}
		}
		if behind == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d peers did not apply consensus commit %d within %s (--transfer-timeout)", behind, want, r.timeout)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(r.poll):
		}
	}
}

// shardView is the collection as the coordinator sees it: its shards
// with the state of each replica, its shard count, a resharding under
// way and the transfers running.
type shardView struct {
	shards   map[uint32]map[uint64]string // shard → peer → state
	count    int
	op       *qdrant.ReshardingOperation
	transfer []qdrant.ShardTransfer
}

func readShardView(ctx context.Context, p ReshardPeer, name string) (*shardView, error) {
	cc, err := p.CollectionCluster(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read cluster info of %q: %w", name, err)
	}
	v := &shardView{shards: map[uint32]map[uint64]string{}, count: cc.ShardCount, transfer: cc.ShardTransfers}
	for _, rep := range cc.Replicas() {
		if v.shards[rep.ShardID] == nil {
			v.shards[rep.ShardID] = map[uint64]string{}
		}
		v.shards[rep.ShardID][rep.PeerID] = rep.State
	}
	ops, err := cc.Resharding()
	if err != nil {
		return nil, err
	}
	if len(ops) > 0 {
		v.op = &ops[0]
	}
	return v, nil
}

// shardIDs are the shards in id order.
func (v *shardView) shardIDs() []uint32 {
	var ids []uint32
	for id := range v.shards {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// withQdrant drives Qdrant's resharding of name one shard at a time until
// it has to shards, resuming a journaled step.
func (r *resharder) withQdrant(ctx context.Context, name string, to uint32) error {
	coord, err := r.coord()
	if err != nil {
		return err
	}
	for {
		v, err := readShardView(ctx, coord, name)
		if err != nil {
			return err
		}
		prog := r.progress(name)
		if v.op == nil {
			if prog.UUID != "" {
				// The journaled resharding is no longer reported: it
				// finished or was aborted before the journal said so, or
				// its start was never applied. The shard count read
				// below decides what comes next.
				*prog = ReshardProgress{Steps: prog.Steps}
				if err := r.save(ctx); err != nil {
					return err
				}
			}
			if uint32(v.count) == to {
				return nil
			}
			dir := qdrant.ReshardUp
			if uint32(v.count) > to {
				dir = qdrant.ReshardDown
			}
			if err := r.start(ctx, coord, name, dir, prog); err != nil {
				return err
			}
			continue
		}
		if prog.UUID == "" || v.op.UUID != prog.UUID {
			return fmt.Errorf("collection %q: %w (%s, shard %d on peer %d): let it finish or abort it (abort_resharding), then rerun",
				name, errForeignResharding, v.op.Direction, v.op.ShardID, v.op.PeerID)
		}
		if err := r.step(ctx, coord, name, v, prog); err != nil {
			return err
		}
	}
}

// start proposes one resharding step; its uuid is journaled first, so
// that a rerun after a kill recognises it as its own.
func (r *resharder) start(ctx context.Context, coord ReshardPeer, name, dir string, prog *ReshardProgress) error {
	*prog = ReshardProgress{UUID: newUUID(), Direction: dir, Stage: "started", Steps: prog.Steps}
	if err := r.save(ctx); err != nil {
		return err
	}
	r.log.Info("starting Qdrant's resharding", "collection", name, "direction", dir, "uuid", prog.UUID)
	err := coord.ClusterOperation(ctx, name, map[string]any{"start_resharding": map[string]any{"uuid": prog.UUID, "direction": dir}})
	if err != nil {
		// The uuid stays journaled: an answer lost after Qdrant applied
		// the start leaves a resharding a rerun must take as its own.
		return fmt.Errorf("start resharding %s of %q: %w", dir, name, err)
	}
	return r.waitAll(ctx, name, "the resharding start", func(cc *qdrant.CollectionCluster) (bool, error) {
		ops, err := cc.Resharding()
		return err == nil && len(ops) == 1 && ops[0].UUID == prog.UUID, err
	})
}

// step carries the running resharding through its stages, each journaled
// once every peer applied it.
func (r *resharder) step(ctx context.Context, coord ReshardPeer, name string, v *shardView, prog *ReshardProgress) error {
	op := *v.op
	next := func(stage string) error {
		prog.Stage = stage
		return r.save(ctx)
	}
	if stageIndex(prog.Stage) < stageIndex("migrated") {
		if err := r.migrate(ctx, coord, name, op); err != nil {
			return err
		}
		if err := next("migrated"); err != nil {
			return err
		}
	}
	for _, s := range []struct{ stage, op string }{{"read_committed", "commit_read_hash_ring"}, {"write_committed", "commit_write_hash_ring"}} {
		if stageIndex(prog.Stage) >= stageIndex(s.stage) {
			continue
		}
		if err := coord.ClusterOperation(ctx, name, map[string]any{s.op: map[string]any{}}); err != nil {
			return fmt.Errorf("resharding of %q: %w", name, err)
		}
		if err := r.waitCommit(ctx, coord); err != nil {
			return fmt.Errorf("resharding of %q: %s: %w", name, s.op, err)
		}
		if err := next(s.stage); err != nil {
			return err
		}
	}
	if stageIndex(prog.Stage) < stageIndex("cleaned") {
		if op.Direction == qdrant.ReshardUp {
			// The shards the points migrated out of still hold them.
			v, err := readShardView(ctx, coord, name)
			if err != nil {
				return err
			}
			for _, id := range v.shardIDs() {
				if id == op.ShardID {
					continue
				}
				for peer := range v.shards[id] {
					p, ok := r.peers[peer].(ReshardPeer)
					if !ok {
						return fmt.Errorf("resharding of %q: no client for peer %d to clean shard %d", name, peer, id)
					}
					if err := p.CleanupShard(ctx, name, id); err != nil {
						return fmt.Errorf("resharding of %q: %w", name, err)
					}
				}
			}
		}
		if err := next("cleaned"); err != nil {
			return err
		}
	}
	if err := coord.ClusterOperation(ctx, name, map[string]any{"finish_resharding": map[string]any{}}); err != nil {
		return fmt.Errorf("finish resharding of %q: %w", name, err)
	}
	if err := r.waitAll(ctx, name, "the resharding finished", func(cc *qdrant.CollectionCluster) (bool, error) {
		ops, err := cc.Resharding()
		return err == nil && len(ops) == 0, err
	}); err != nil {
		return err
	}
	r.log.Info("resharding step done", "collection", name, "direction", op.Direction, "shard", op.ShardID)
	*prog = ReshardProgress{Steps: prog.Steps + 1}
	return r.save(ctx)
}

// migrate moves the points of a resharding step with resharding transfers,
// one at a time: up, from one Active replica of every other shard into
// the new shard's replica; down, from the removed shard into every
// replica of every other shard. Each receiving replica is then made
// Active (finish_migrating_points).
func (r *resharder) migrate(ctx context.Context, coord ReshardPeer, name string, op qdrant.ReshardingOperation) error {
	v, err := readShardView(ctx, coord, name)
	if err != nil {
		return err
	}
	type move struct {
		fromShard, toShard uint32
		from, to           uint64
	}
	var moves []move
	// pick is an Active replica of shard to migrate from, on another
	// peer than the receiver when there is one: that is a transfer as
	// Qdrant's own tests run them.
	pick := func(shard uint32, receiver uint64) (uint64, bool) {
		reps := v.shards[shard]
		for _, id := range r.order {
			if id != receiver && reps[id] == qdrant.StateActive {
				return id, true
			}
		}
		if reps[receiver] == qdrant.StateActive {
			return receiver, true
		}
		return 0, false
	}
	for _, id := range v.shardIDs() {
		if id == op.ShardID {
			continue
		}
		if op.Direction == qdrant.ReshardUp {
			from, ok := pick(id, op.PeerID)
			if !ok {
				return fmt.Errorf("resharding of %q: shard %d has no Active replica to migrate points from", name, id)
			}
			moves = append(moves, move{id, op.ShardID, from, op.PeerID})
			continue
		}
		for _, peer := range slices.Sorted(maps.Keys(v.shards[id])) {
			if st := v.shards[id][peer]; st != qdrant.StateActive && st != qdrant.StateReshardingScaleDown {
				// Qdrant refuses a dead destination; a replica that
				// recovers later copies from one that received.
				continue
			}
			from, ok := pick(op.ShardID, peer)
			if !ok {
				return fmt.Errorf("resharding of %q: the removed shard %d has no Active replica to migrate points from", name, op.ShardID)
			}
			moves = append(moves, move{op.ShardID, id, from, peer})
		}
	}
	for _, m := range moves {
		running := slices.ContainsFunc(v.transfer, func(t qdrant.ShardTransfer) bool {
			return t.ShardID == m.fromShard && t.ToShardID != nil && *t.ToShardID == m.toShard && t.To == m.to
		})
		if running {
			// Started before an interruption: wait for it.
			r.log.Info("waiting for a running migration", "collection", name, "from_shard", m.fromShard, "to_shard", m.toShard, "to_peer", m.to)
		} else {
			r.log.Info("migrating points", "collection", name, "from_shard", m.fromShard, "to_shard", m.toShard, "from_peer", m.from, "to_peer", m.to)
			err := coord.ClusterOperation(ctx, name, map[string]any{"replicate_shard": map[string]any{
				"shard_id": m.fromShard, "to_shard_id": m.toShard, "from_peer_id": m.from, "to_peer_id": m.to,
				"method": qdrant.MethodReshardingStreamRecords}})
			if err != nil {
				return fmt.Errorf("resharding of %q: migrate shard %d into %d: %w", name, m.fromShard, m.toShard, err)
			}
		}
		if err := r.waitAll(ctx, name, fmt.Sprintf("the migration of shard %d into shard %d end", m.fromShard, m.toShard), func(cc *qdrant.CollectionCluster) (bool, error) {
			ops, err := cc.Resharding()
			if err != nil {
				return false, err
			}
			if len(ops) == 0 || ops[0].UUID != op.UUID {
				return false, fmt.Errorf("the resharding was aborted by Qdrant while migrating shard %d into %d (a failed resharding transfer aborts it): rerun to start again", m.fromShard, m.toShard)
			}
			for _, t := range cc.ShardTransfers {
				if t.ShardID == m.fromShard && t.ToShardID != nil && *t.ToShardID == m.toShard && t.To == m.to {
					return false, nil
				}
			}
			return true, nil
		}); err != nil {
			return err
		}
	}
	// Every receiving replica becomes Active.
	want := qdrant.StateResharding
	if op.Direction == qdrant.ReshardDown {
		want = qdrant.StateReshardingScaleDown
	}
	v, err = readShardView(ctx, coord, name)
	if err != nil {
		return err
	}
	for _, id := range v.shardIDs() {
		for _, peer := range slices.Sorted(maps.Keys(v.shards[id])) {
			if v.shards[id][peer] != want {
				continue
			}
			if err := coord.ClusterOperation(ctx, name, map[string]any{"finish_migrating_points": map[string]any{"shard_id": id, "peer_id": peer}}); err != nil {
				return fmt.Errorf("resharding of %q: activate shard %d on peer %d: %w", name, id, peer, err)
			}
		}
	}
	return r.waitAll(ctx, name, "the migrated replicas Active", func(cc *qdrant.CollectionCluster) (bool, error) {
		for _, rep := range cc.Replicas() {
			if rep.State == want {
				return false, nil
			}
		}
		return true, nil
	})
}

// stagingName is the collection a point copy fills first.
func stagingName(name string) string { return name + "-qbackup-reshard" }

// withCopy rebuilds name with to shards by copying its points into a
// staging collection created with to shards, then recreating name and
// copying them back (Qdrant cannot rename a collection). The collection
// is deleted only once the staging collection holds every point; aliases
// are recreated. Writes must be paused: the caller checked.
func (r *resharder) withCopy(ctx context.Context, name string, to uint32) error {
	coord, err := r.coord()
	if err != nil {
		return err
	}
	prog := r.progress(name)
	staging := stagingName(name)
	if err := qdrant.CheckCollectionName(staging); err != nil {
		return fmt.Errorf("collection %q: staging collection name %q: %w", name, staging, err)
	}
	names, err := coord.ListCollections(ctx)
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	var info *qdrant.CollectionInfo
	if slices.Contains(names, name) {
		if info, err = coord.CollectionInfo(ctx, name); err != nil {
			return err
		}
	}
	if !prog.StagingCopied {
		if info == nil {
			return fmt.Errorf("collection %q no longer exists", name)
		}
		if info.ShardNumber == to {
			return nil
		}
		if slices.Contains(names, staging) {
			// A copy that did not finish: start it again.
			if err := coord.DeleteCollection(ctx, staging); err != nil {
				return fmt.Errorf("delete unfinished staging collection %q: %w", staging, err)
			}
		}
		if err := r.create(ctx, coord, staging, info, to); err != nil {
			return err
		}
		if err := r.copyAll(ctx, coord, name, staging); err != nil {
			return err
		}
		aliases, err := coord.ListAliases(ctx)
		if err != nil {
			return fmt.Errorf("list aliases: %w", err)
		}
		prog.Aliases = nil
		for a, c := range aliases {
			if c == name {
				prog.Aliases = append(prog.Aliases, a)
			}
		}
		slices.Sort(prog.Aliases)
		var cfg struct {
			Strict json.RawMessage `json:"strict_mode_config"`
		}
		if err := json.Unmarshal(info.Config, &cfg); err == nil && len(cfg.Strict) > 0 && string(cfg.Strict) != "null" {
			prog.StrictMode = cfg.Strict
		}
		prog.StagingCopied = true
		if err := r.save(ctx); err != nil {
			return err
		}
	}
	stagingInfo, err := coord.CollectionInfo(ctx, staging)
	if err != nil {
		return fmt.Errorf("read staging collection %q: %w", staging, err)
	}
	if err := r.recreate(ctx, coord, name, stagingInfo, to); err != nil {
		return err
	}
	if err := r.copyAll(ctx, coord, staging, name); err != nil {
		return err
	}
	if len(prog.StrictMode) > 0 {
		body, err := json.Marshal(map[string]json.RawMessage{"strict_mode_config": prog.StrictMode})
		if err != nil {
			return err
		}
		if err := coord.UpdateCollection(ctx, name, body); err != nil {
			return fmt.Errorf("restore the strict mode of %q: %w", name, err)
		}
	}
	var actions []qdrant.AliasAction
	for _, a := range prog.Aliases {
		actions = append(actions, qdrant.CreateAlias(a, name))
	}
	if len(actions) > 0 {
		if err := coord.UpdateAliases(ctx, actions); err != nil {
			return fmt.Errorf("recreate the aliases %v of %q: %w", prog.Aliases, name, err)
		}
	}
	if err := coord.DeleteCollection(ctx, staging); err != nil {
		return fmt.Errorf("delete staging collection %q: %w", staging, err)
	}
	if err := r.waitGone(ctx, staging); err != nil {
		return err
	}
	*prog = ReshardProgress{Steps: 1}
	return r.save(ctx)
}

// waitGone waits until no peer lists collection name: Qdrant answers a
// deletion once the receiving peer applied it.
func (r *resharder) waitGone(ctx context.Context, name string) error {
	deadline := time.Now().Add(r.timeout)
	for {
		left := 0
		for _, id := range r.order {
			if p := r.peers[id]; p != nil {
				names, err := p.ListCollections(ctx)
				if err != nil || slices.Contains(names, name) {
					left++
				}
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d peers still list deleted collection %q after %s (--transfer-timeout)", left, name, r.timeout)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(r.poll):
		}
	}
}

// recreate makes sure collection name exists with shards shards, made
// from info's settings: an older one is deleted, one an interrupted run
// created already is kept. The collection list a peer answers from its
// consensus view may lag behind a creation or deletion in flight, so the
// collection itself is asked, and a creation refused as existing asks
// again.
func (r *resharder) recreate(ctx context.Context, coord ReshardPeer, name string, info *qdrant.CollectionInfo, shards uint32) error {
	deadline := time.Now().Add(r.timeout)
	for {
		cur, err := coord.CollectionInfo(ctx, name)
		switch {
		case err == nil && cur.ShardNumber == shards:
			return r.prepare(ctx, coord, name, info)
		case err == nil:
			r.log.Info("recreating collection with the new shard count", "collection", name, "shard_number", shards)
			if err := coord.DeleteCollection(ctx, name); err != nil {
				return fmt.Errorf("delete collection %q: %w", name, err)
			}
		case qdrant.IsNotFound(err):
			err := r.create(ctx, coord, name, info, shards)
			if !qdrant.IsConflict(err) {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("collection %q: %w", name, err)
			}
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(r.poll):
		}
	}
}

// create makes collection name with info's settings and shards, strict
// mode off while points are copied in, its payload indexes, and waits for
// every replica to be Active.
func (r *resharder) create(ctx context.Context, coord ReshardPeer, name string, info *qdrant.CollectionInfo, shards uint32) error {
	body, dropped, err := qdrant.CreateCollectionBody(info.Config, qdrant.CreateOverrides{ShardNumber: &shards})
	if err != nil {
		return fmt.Errorf("collection %q: %w", name, err)
	}
	if len(dropped) > 0 {
		r.log.Warn("settings not carried over to the resharded collection", "collection", name, "settings", dropped)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	if _, ok := m["strict_mode_config"]; ok {
		m["strict_mode_config"] = json.RawMessage(`{"enabled":false}`)
		if body, err = json.Marshal(m); err != nil {
			return err
		}
	}
	if err := coord.CreateCollection(ctx, name, body); err != nil {
		return fmt.Errorf("create collection %q with %d shards: %w", name, shards, err)
	}
	return r.prepare(ctx, coord, name, info)
}

// prepare gives a created collection info's payload indexes (creating an
// existing one again is accepted) and waits for every replica to be
// Active.
func (r *resharder) prepare(ctx context.Context, coord ReshardPeer, name string, info *qdrant.CollectionInfo) error {
	if len(info.PayloadSchema) > 0 && string(info.PayloadSchema) != "null" {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(info.PayloadSchema, &fields); err != nil {
			return fmt.Errorf("collection %q: decode payload schema: %w", name, err)
		}
		for _, f := range slices.Sorted(maps.Keys(fields)) {
			schema, err := qdrant.PayloadIndexSchema(fields[f])
			if err != nil {
				return fmt.Errorf("collection %q: payload index %q: %w", name, f, err)
			}
			if err := coord.CreatePayloadIndex(ctx, name, f, schema); err != nil {
				return fmt.Errorf("create payload index %q of %q: %w", f, name, err)
			}
		}
	}
	return r.waitAll(ctx, name, "every replica Active", func(cc *qdrant.CollectionCluster) (bool, error) {
		reps := cc.Replicas()
		for _, rep := range reps {
			if rep.State != qdrant.StateActive {
				return false, nil
			}
		}
		return len(reps) > 0, nil
	})
}

// copyAll copies every point of from into to and checks the counts.
func (r *resharder) copyAll(ctx context.Context, coord ReshardPeer, from, to string) error {
	n, err := restore.CopyPoints(ctx, coord, coord, from, to, restore.CopyLimits{})
	if err != nil {
		return err
	}
	want, err := coord.Count(ctx, from, true, nil)
	if err != nil {
		return fmt.Errorf("count points of %q: %w", from, err)
	}
	got, err := coord.Count(ctx, to, true, nil)
	if err != nil {
		return fmt.Errorf("count points of %q: %w", to, err)
	}
	if got != want {
		return fmt.Errorf("copy of %q into %q: %d points there, %d here: were writes paused? rerun once they are", from, to, want, got)
	}
	r.log.Info("points copied", "from", from, "to", to, "points", n)
	return nil
}

func (r *resharder) defaults() {
	r.timeout = cmp.Or(r.timeout, restore.DefaultTransferTimeout)
	r.poll = cmp.Or(r.poll, 200*time.Millisecond)
}
