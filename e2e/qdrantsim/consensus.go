package qdrantsim

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Consensus model. Qdrant commits every change of cluster metadata through
// Raft, and each peer applies committed entries to its own state when its
// consensus thread gets to them (lib/storage/src/content_manager/
// consensus_manager.rs apply_entries). The simulator keeps the committed
// state authoritative (c.colls, c.aliases, c.transfers: what the leader
// validates against) and records a deep copy of it per commit. Every peer
// gets each copy after its own random delay, never earlier than the copy
// before (apply order is monotone per peer); what Qdrant answers from
// consensus state is read from the receiving peer's applied copy.

// metaView is the cluster metadata as of one commit. Views are immutable
// once recorded and may be shared by several peers.
type metaView struct {
	index     uint64
	colls     map[string]*collection
	aliases   map[string]string
	transfers []*transfer
}

// viewItem is a view waiting to be applied by one peer.
type viewItem struct {
	at    time.Time
	view  *metaView
	group uint64 // recover call that proposed it (0 = none)
	// change is the replica state change the entry carries, for
	// out-of-order application.
	change *stateChange
}

// stateChange is one replica state proposal (SetShardReplicaState).
type stateChange struct {
	coll  string
	shard uint32
	peer  uint64
	state string
}

// peerView is a peer's consensus apply progress; guarded by c.mu.
type peerView struct {
	applied *metaView
	queue   []viewItem
	lastAt  time.Time
}

// cloneCollection copies what consensus owns of a collection.
func cloneCollection(col *collection) *collection {
	n := *col
	n.rings = nil
	n.shards = make(map[uint32]*shard, len(col.shards))
	for id, s := range col.shards {
		ns := &shard{id: s.id, key: s.key, replicas: make(map[uint64]*replica, len(s.replicas))}
		for pid, r := range s.replicas {
			rc := *r
			ns.replicas[pid] = &rc
		}
		n.shards[id] = ns
	}
	n.keys = append([]ShardKey(nil), col.keys...)
	n.resharding = col.resharding.clone()
	n.payloadSchema = make(map[string]json.RawMessage, len(col.payloadSchema))
	for k, v := range col.payloadSchema {
		n.payloadSchema[k] = v
	}
	return &n
}

// snapshotLocked deep-copies the committed metadata.
func (c *Cluster) snapshotLocked() *metaView {
	v := &metaView{index: c.commit, colls: make(map[string]*collection, len(c.colls)),
		aliases: make(map[string]string, len(c.aliases))}
	for n, col := range c.colls {
		v.colls[n] = cloneCollection(col)
	}
	for a, t := range c.aliases {
		v.aliases[a] = t
	}
	for _, t := range c.transfers {
		tc := *t
		v.transfers = append(v.transfers, &tc)
	}
	return v
}

// cloneView deep-copies a view so a change can be applied to the copy.
func cloneView(v *metaView) *metaView {
	n := &metaView{index: v.index, colls: make(map[string]*collection, len(v.colls)),
		aliases: make(map[string]string, len(v.aliases)), transfers: v.transfers}
	for name, col := range v.colls {
		n.colls[name] = cloneCollection(col)
	}
	for a, t := range v.aliases {
		n.aliases[a] = t
	}
	return n
}

// restoreLocked makes the committed state equal to v again: the change
// made since v was never committed. Collections and shards are restored in
// place, so that an operation holding them keeps working on the committed
// state. Local replica data is not consensus state and stays as the
// operation left it.
func (c *Cluster) restoreLocked(v *metaView) {
	for n, cur := range c.colls {
		if old, ok := v.colls[n]; !ok || old.uuid != cur.uuid {
			delete(c.colls, n)
		}
	}
	for n, old := range v.colls {
		cur, ok := c.colls[n]
		if !ok {
			c.colls[n] = cloneCollection(old)
			continue
		}
		o := cloneCollection(old)
		cur.config, cur.keys, cur.payloadSchema, cur.resharding = o.config, o.keys, o.payloadSchema, o.resharding
		for id := range cur.shards {
			if o.shards[id] == nil {
				delete(cur.shards, id)
			}
		}
		for id, os := range o.shards {
			cs, ok := cur.shards[id]
			if !ok {
				cur.shards[id] = os
				continue
			}
			cs.key = os.key
			clear(cs.replicas)
			for pid, r := range os.replicas {
				cs.replicas[pid] = r
			}
		}
		cur.shardsChanged()
	}
	clear(c.aliases)
	for a, t := range v.aliases {
		c.aliases[a] = t
	}
	c.transfers = nil
	for _, t := range v.transfers {
		tc := *t
		c.transfers = append(c.transfers, &tc)
	}
}

// proposal describes a change being committed.
type proposal struct {
	what string
	// droppable is false for membership changes (peers joining or leaving),
	// which the simulator does not lose.
	droppable bool
	// group and change mark recover-related replica state proposals, the
	// ones the harsh profile may apply out of order on some peers.
	group  uint64
	change *stateChange
}

// commitLocked commits the change just made to the authoritative state as
// one consensus entry and schedules it on every peer. A dropped proposal
// (DropProposals) is rolled back instead: it is never applied, only
// logged. It returns the commit index, 0 if dropped.
func (c *Cluster) commitLocked(pr proposal) uint64 {
	if pr.droppable && c.dropNext > 0 {
		c.dropNext--
		c.dropped++
		c.log.Warn("consensus proposal lost (leader change), never applied", "proposal", pr.what, "commit", c.commit)
		c.restoreLocked(c.last)
		return 0
	}
	c.commit++
	v := c.snapshotLocked()
	c.last = v
	if !c.async() {
		return c.commit
	}
	now := time.Now()
	for _, p := range c.peers {
		pv := &p.view
		// Applying what is due keeps the queue short on peers nobody reads.
		pv.advance(now)
		at := now.Add(c.consensusDelay())
		if at.Before(pv.lastAt) {
			at = pv.lastAt
		}
		item := viewItem{at: at, view: v, group: pr.group, change: pr.change}
		// Harsh realism: a recover-related entry overtakes the previous
		// one of the same recover call on this peer.
		if n := len(pv.queue); pr.change != nil && n > 0 && c.opts.OutOfOrder > 0 &&
			pv.queue[n-1].group == pr.group && pv.queue[n-1].change != nil && pv.queue[n-1].at.After(now) &&
			c.delayRng.Float64() < c.opts.OutOfOrder {
			prev := pv.queue[n-1]
			base := pv.applied
			if n > 1 {
				base = pv.queue[n-2].view
			}
			alt := cloneView(base)
			alt.index = base.index
			pr.change.applyTo(alt)
			pv.queue[n-1] = viewItem{at: prev.at, view: alt}
			c.log.Info("consensus entry applied out of order", "peer", p.id, "proposal", pr.what, "commit", c.commit)
		}
		pv.queue = append(pv.queue, item)
		pv.lastAt = at
	}
	return c.commit
}

// applyTo sets the replica state in a view, creating the replica.
func (s *stateChange) applyTo(v *metaView) {
	col := v.colls[s.coll]
	if col == nil || col.shards[s.shard] == nil {
		return
	}
	col.shards[s.shard].replicas[s.peer] = &replica{state: s.state, since: time.Now()}
}

// async reports whether peers apply entries with a delay.
func (c *Cluster) async() bool { return c.opts.ConsensusDelayMax > 0 }

// consensusDelay draws one apply delay.
func (c *Cluster) consensusDelay() time.Duration {
	lo, hi := c.opts.ConsensusDelayMin, c.opts.ConsensusDelayMax
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(c.delayRng.Int64N(int64(hi-lo)+1))
}

// viewLocked is the metadata p has applied by now. With synchronous
// consensus it is the committed state itself.
func (c *Cluster) viewLocked(p *Peer) *metaView {
	if !c.async() {
		return &metaView{index: c.commit, colls: c.colls, aliases: c.aliases, transfers: c.transfers}
	}
	p.view.advance(time.Now())
	return p.view.applied
}

// advance applies every entry due by now.
func (pv *peerView) advance(now time.Time) {
	i := 0
	for ; i < len(pv.queue) && !pv.queue[i].at.After(now); i++ {
		pv.applied = pv.queue[i].view
	}
	pv.queue = pv.queue[i:]
}

// resolveIn finds a collection by name or alias in a view.
func resolveIn(v *metaView, name string) (*collection, error) {
	if col, ok := v.colls[name]; ok {
		return col, nil
	}
	if target, ok := v.aliases[name]; ok {
		if col, ok := v.colls[target]; ok {
			return col, nil
		}
	}
	return nil, errCollectionNotFound(name)
}

// syncMode says whom a consensus operation waits for before returning.
type syncMode int

const (
	// waitSelf: the receiving peer applied the entry
	// (propose_consensus_op_with_await in lib/storage/src/dispatcher.rs).
	waitSelf syncMode = iota
	// waitAll: every peer applied it (await_consensus_sync, done for
	// collection and shard key creation and alias create/rename).
	waitAll
)

// consensusOp runs fn under c.mu and then waits as Qdrant's dispatcher
// does (lib/storage/src/dispatcher.rs submit_collection_meta_op): until
// the receiving peer, or every peer, has applied what fn committed. If a
// proposal of fn was lost the caller waits for the consensus timeout and
// gets Qdrant's error (consensus_manager.rs await_receiver).
func (p *Peer) consensusOp(ctx context.Context, mode syncMode, fn func() error) error {
	c := p.c
	c.mu.Lock()
	dropped, commit := c.dropped, c.commit
	if err := fn(); err != nil {
		c.mu.Unlock()
		return err
	}
	lost := c.dropped != dropped
	if !lost && c.commit == commit {
		c.mu.Unlock()
		return nil // nothing proposed, nothing to wait for
	}
	until := p.view.lastAt
	if mode == waitAll {
		for _, q := range c.peers {
			if q.view.lastAt.After(until) {
				until = q.view.lastAt
			}
		}
	}
	timeout := c.opts.ConsensusTimeout
	c.mu.Unlock()
	if lost {
		if err := sleepCtx(ctx, timeout); err != nil {
			return err
		}
		return errf(KindServiceError, "Waiting for consensus operation commit failed. Timeout set at: %g seconds", timeout.Seconds())
	}
	return sleepCtx(ctx, time.Until(until))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("waiting for consensus: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// DropProposals makes the next n droppable proposals get lost, as in a
// leader change: they are never committed nor applied, only logged.
func (c *Cluster) DropProposals(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropNext += max(n, 0)
}

// DroppedProposals is how many proposals were lost so far.
func (c *Cluster) DroppedProposals() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// TransferredBytes is the number of bytes moved between peers by shard
// transfers (manual and automatic) since the cluster started.
func (c *Cluster) TransferredBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transferred
}

// Settled reports whether every peer has applied every committed entry.
func (c *Cluster) Settled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.peers {
		if c.viewLocked(p).index != c.commit {
			return false
		}
	}
	return true
}
