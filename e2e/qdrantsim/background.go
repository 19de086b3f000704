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
	c.stepTransfersLocked(now, down)
	for _, col := range c.colls {
		for _, id := range col.shardIDs() {
			s := col.shards[id]
			for _, pid := range s.peerIDs() {
				r := s.replicas[pid]
				if down[pid] && r.state != StateDead {
					r.state, r.since = StateDead, now
					c.commitLocked(proposal{what: "set replica Dead: peer down", droppable: true})
				}
			}
			if col.shards[id] != nil {
				c.autoRecoverLocked(col, col.shards[id], down, now)
			}
		}
	}
}
