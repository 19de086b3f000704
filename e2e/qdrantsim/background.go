package qdrantsim

import "time"

// loop is the cluster's background work, one pass per Options.Tick:
// replicas of down peers turn Dead, due transfers finish, Dead replicas on
// running peers re-sync from an Active replica (§4.4).
func (c *Cluster) loop() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.mu.Lock()
			c.tickLocked(time.Now())
			c.mu.Unlock()
		}
	}
}

func (c *Cluster) tickLocked(now time.Time) {
	down := map[uint64]bool{}
	for _, p := range c.peers {
		if !p.running && now.Sub(p.stoppedAt) >= c.opts.PeerDownDelay {
			down[p.id] = true
		}
	}
	for _, t := range append([]*transfer(nil), c.transfers...) {
		from, to := c.peerLocked(t.from), c.peerLocked(t.to)
		switch {
		case from == nil || to == nil || down[t.from] || down[t.to]:
			c.failTransferLocked(t)
		case !now.Before(t.deadline) && from.running && to.running:
			c.finishTransferLocked(t)
		}
	}
	for _, col := range c.colls {
		for _, id := range col.shardIDs() {
			s := col.shards[id]
			for _, pid := range s.peerIDs() {
				r := s.replicas[pid]
				if down[pid] && r.state != StateDead {
					r.state, r.since = StateDead, now
					c.commit++
				}
			}
			c.autoRecoverLocked(col, s, down, now)
		}
	}
}

// autoRecoverLocked starts a sync transfer to each Dead replica on a
// running peer from an Active replica. A Dead replica without any Active
// peer to copy from is the last copy: it is re-activated with its data, as
// Qdrant does when the only replica comes back.
func (c *Cluster) autoRecoverLocked(col *collection, s *shard, down map[uint64]bool, now time.Time) {
	for _, pid := range s.peerIDs() {
		r := s.replicas[pid]
		q := c.peerLocked(pid)
		if r.state != StateDead || q == nil || !q.running || now.Sub(r.since) < c.opts.AutoRecoveryDelay {
			continue
		}
		busy := false
		for _, t := range c.transfers {
			busy = busy || (t.coll == col.name && t.shard == s.id && (t.to == pid || t.from == pid))
		}
		if busy {
			continue
		}
		var source uint64
		for _, other := range s.peerIDs() {
			o := c.peerLocked(other)
			if other != pid && o != nil && o.running && !down[other] && s.replicas[other].state == StateActive {
				source = other
				break
			}
		}
		if source == 0 {
			if q.data[col.name][s.id] != nil && !anyReadable(s) {
				r.state, r.since = StateActive, now
				c.commit++
			}
			continue
		}
		busySource := false
		for _, t := range c.transfers {
			busySource = busySource || (t.coll == col.name && t.shard == s.id && (t.from == source || t.to == source))
		}
		if !busySource {
			c.beginTransferLocked(col, s, source, pid, true, MethodWalDelta)
		}
	}
}

func anyReadable(s *shard) bool {
	for _, r := range s.replicas {
		if readable(r.state) {
			return true
		}
	}
	return false
}
