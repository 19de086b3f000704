package qdrantsim

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Live writes: a background client that upserts, overwrites and deletes
// points at a steady rate while the product backs up or restores, the way
// an application keeps writing to a production cluster. Every write goes
// through a running peer's normal write path (Peer.Upsert,
// Peer.DeletePoints), so locks, strict mode, dead replicas and transfers
// apply to it as to any client's.
//
// The generator only touches the points it created itself: ids from
// WriteLoadFirstID up, so that product data in the same collections is
// never overwritten or deleted. The sequence of operations is drawn from
// the cluster's seed; how they are grouped into requests depends on
// timing.

// WriteLoadFirstID is the first point id the write load uses.
const WriteLoadFirstID = 1 << 40

// writeLoadTick is how often the generator sends the writes due.
const writeLoadTick = 50 * time.Millisecond

// WriteLoad configures live writes.
type WriteLoad struct {
	// Rate is the number of point writes per second over all collections;
	// 0 stops the load.
	Rate float64 `json:"rate"`
	// Collections restricts the load to these collections; empty means
	// every existing collection (re-read at each tick).
	Collections []string `json:"collections,omitempty"`
}

// WriteStats counts what the write load did.
type WriteStats struct {
	// Upserts are points written under a new id.
	Upserts uint64 `json:"upserts"`
	// Overwrites are points written again under an id written before.
	Overwrites uint64 `json:"overwrites"`
	// Deletes are points deleted.
	Deletes uint64 `json:"deletes"`
	// Failed counts point writes whose request failed (locked peer, rate
	// limit, no active replica, ...); they are not in the other counters.
	Failed uint64 `json:"failed"`
	// LastError is the last failure's message.
	LastError string `json:"last_error,omitempty"`
	// PerCollection counts successful point writes per collection.
	PerCollection map[string]uint64 `json:"per_collection,omitempty"`
}

// writeLoad is the running generator.
type writeLoad struct {
	cfg  WriteLoad
	stop chan struct{}
	done chan struct{}
}

// writeLoadState lives in the Cluster.
type writeLoadState struct {
	mu      sync.Mutex
	running *writeLoad
	stats   WriteStats
	// live lists, per collection, the generator's ids that currently
	// exist, and next the next new id.
	live map[string][]PointID
	next map[string]uint64
	rng  *rand.Rand
}

// SetWriteLoad starts, changes or (Rate 0) stops the live writes.
func (c *Cluster) SetWriteLoad(w WriteLoad) {
	s := &c.wl
	s.mu.Lock()
	prev := s.running
	s.running = nil
	s.mu.Unlock()
	if prev != nil {
		close(prev.stop)
		<-prev.done
	}
	if w.Rate <= 0 {
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	run := &writeLoad{cfg: w, stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	if s.rng == nil {
		s.rng, s.live, s.next = newWriteLoadState(c.opts.Seed)
	}
	s.running = run
	s.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer close(run.done)
		c.runWriteLoad(run)
	}()
}

// WriteLoad returns the current live-write configuration.
func (c *Cluster) WriteLoad() WriteLoad {
	c.wl.mu.Lock()
	defer c.wl.mu.Unlock()
	if c.wl.running == nil {
		return WriteLoad{}
	}
	return c.wl.running.cfg
}

// WriteStats returns the counters of the live writes so far.
func (c *Cluster) WriteStats() WriteStats {
	c.wl.mu.Lock()
	defer c.wl.mu.Unlock()
	st := c.wl.stats
	st.PerCollection = make(map[string]uint64, len(c.wl.stats.PerCollection))
	for k, v := range c.wl.stats.PerCollection {
		st.PerCollection[k] = v
	}
	return st
}

func (c *Cluster) runWriteLoad(run *writeLoad) {
	t := time.NewTicker(writeLoadTick)
	defer t.Stop()
	start := time.Now()
	var sent int64
	var turn int
	for {
		select {
		case <-run.stop:
			return
		case <-c.stop:
			return
		case now := <-t.C:
			due := int64(now.Sub(start).Seconds()*run.cfg.Rate) - sent
			if due <= 0 {
				continue
			}
			sent += due
			c.writeBatch(run.cfg, int(due), turn)
			turn++
		}
	}
}

// writeOp is one drawn point write.
type writeOp struct {
	coll      string
	id        PointID
	delete    bool
	overwrite bool
}

// writeTargets lists the collections the load writes to, sorted.
func (c *Cluster) writeTargets(cfg WriteLoad) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	if len(cfg.Collections) > 0 {
		for _, n := range cfg.Collections {
			if col, err := c.resolve(n); err == nil {
				out = append(out, col.name)
			}
		}
	} else {
		for n := range c.colls {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// drawLocked draws n point writes over colls from the seeded generator:
// 60 % new points, 25 % overwrites and 15 % deletes of the load's own
// points. s.mu must be held.
func (s *writeLoadState) drawLocked(colls []string, n int) []writeOp {
	ops := make([]writeOp, 0, n)
	for range n {
		coll := colls[s.rng.IntN(len(colls))]
		live := s.live[coll]
		r := s.rng.IntN(100)
		switch {
		case r < 60 || len(live) == 0:
			id := PointID{Num: WriteLoadFirstID + s.next[coll]}
			s.next[coll]++
			s.live[coll] = append(live, id)
			ops = append(ops, writeOp{coll: coll, id: id})
		case r < 85:
			ops = append(ops, writeOp{coll: coll, id: live[s.rng.IntN(len(live))], overwrite: true})
		default:
			i := s.rng.IntN(len(live))
			id := live[i]
			live[i] = live[len(live)-1]
			s.live[coll] = live[:len(live)-1]
			ops = append(ops, writeOp{coll: coll, id: id, delete: true})
		}
	}
	return ops
}

// newWriteLoadState seeds the generator.
func newWriteLoadState(seed uint64) (*rand.Rand, map[string][]PointID, map[string]uint64) {
	return rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)), map[string][]PointID{}, map[string]uint64{}
}

// writeBatch draws n point writes and sends them, one upsert and one
// delete request per collection, through a running peer chosen in turn.
func (c *Cluster) writeBatch(cfg WriteLoad, n, turn int) {
	colls := c.writeTargets(cfg)
	if len(colls) == 0 {
		return
	}
	s := &c.wl
	s.mu.Lock()
	ops := s.drawLocked(colls, n)
	seq := s.stats.Upserts + s.stats.Overwrites + s.stats.Deletes + s.stats.Failed
	s.mu.Unlock()

	peers := c.Peers()
	var running []*Peer
	for _, p := range peers {
		if p.Running() {
			running = append(running, p)
		}
	}
	if len(running) == 0 {
		c.countWrites(ops, errf(KindServiceError, "no running peer"))
		return
	}
	p := running[turn%len(running)]
	byColl := map[string][]writeOp{}
	for _, op := range ops {
		byColl[op.coll] = append(byColl[op.coll], op)
	}
	ctx := context.Background()
	for _, coll := range colls {
		list := byColl[coll]
		if len(list) == 0 {
			continue
		}
		var ups, dels []writeOp
		for _, op := range list {
			if op.delete {
				dels = append(dels, op)
			} else {
				ups = append(ups, op)
			}
		}
		if len(ups) > 0 {
			req, err := c.loadUpsert(coll, ups, seq)
			if err == nil {
				_, err = p.Upsert(ctx, coll, req)
			}
			c.countWrites(ups, err)
		}
		if len(dels) > 0 {
			req := DeleteRequest{}
			for _, op := range dels {
				req.Points = append(req.Points, op.id)
			}
			req.ShardKey = c.loadShardKey(coll)
			_, err := p.DeletePoints(ctx, coll, req)
			c.countWrites(dels, err)
		}
	}
}

// loadShardKey picks the first shard key of a custom-sharded collection.
func (c *Cluster) loadShardKey(coll string) ShardKeySelector {
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil || !col.custom() || len(col.keys) == 0 {
		return nil
	}
	return ShardKeySelector{col.keys[0]}
}

// loadUpsert builds the upsert of ops with vectors matching the
// collection's dense vectors and a payload recording the write.
func (c *Cluster) loadUpsert(coll string, ops []writeOp, seq uint64) (UpsertRequest, error) {
	c.mu.Lock()
	col, err := c.resolve(coll)
	var specs map[string]vectorSpec
	if err == nil {
		specs, err = vectorSpecs(col.config.Params.Vectors)
	}
	c.mu.Unlock()
	if err != nil {
		return UpsertRequest{}, err
	}
	req := UpsertRequest{ShardKey: c.loadShardKey(coll)}
	for i, op := range ops {
		vecs := map[string][]float32{}
		for name, spec := range specs {
			v := make([]float32, spec.Size)
			for j := range v {
				v[j] = float32((seq+uint64(i)+uint64(j))%97) / 97
			}
			vecs[name] = v
		}
		var raw []byte
		if v, ok := vecs[""]; ok && len(vecs) == 1 {
			raw, _ = json.Marshal(v)
		} else {
			raw, _ = json.Marshal(vecs)
		}
		req.Points = append(req.Points, PointStruct{ID: op.id, Vector: raw,
			Payload: map[string]any{"write_load": true, "seq": float64(seq + uint64(i))}})
	}
	return req, nil
}

// countWrites records the outcome of a request carrying ops.
func (c *Cluster) countWrites(ops []writeOp, err error) {
	s := &c.wl
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.stats.Failed += uint64(len(ops))
		s.stats.LastError = err.Error()
		c.log.Debug("write load request failed", "points", len(ops), "err", err)
		return
	}
	if s.stats.PerCollection == nil {
		s.stats.PerCollection = map[string]uint64{}
	}
	for _, op := range ops {
		switch {
		case op.delete:
			s.stats.Deletes++
		case op.overwrite:
			s.stats.Overwrites++
		default:
			s.stats.Upserts++
		}
		s.stats.PerCollection[op.coll]++
	}
}

// writeLoadRoutes adds the live-write and disk admin endpoints:
//
//	GET    /write-load        {"load": WriteLoad, "stats": WriteStats}
//	PUT    /write-load        body: WriteLoad (rate 0 stops)
//	DELETE /write-load        stop
//	GET    /peers/{id}/disk   DiskUsage
//	PUT    /peers/{id}/disk   body: {"capacity": bytes}
func (c *Cluster) writeLoadRoutes(mux *http.ServeMux, peer func(http.ResponseWriter, *http.Request) *Peer) {
	state := func(w http.ResponseWriter) {
		writeJSON(w, http.StatusOK, map[string]any{"load": c.WriteLoad(), "stats": c.WriteStats()})
	}
	mux.HandleFunc("GET /write-load", func(w http.ResponseWriter, r *http.Request) { state(w) })
	mux.HandleFunc("PUT /write-load", func(w http.ResponseWriter, r *http.Request) {
		var wl WriteLoad
		if err := json.NewDecoder(r.Body).Decode(&wl); err != nil || wl.Rate < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {\"rate\": points per second, \"collections\": [...]}"})
			return
		}
		c.SetWriteLoad(wl)
		state(w)
	})
	mux.HandleFunc("DELETE /write-load", func(w http.ResponseWriter, r *http.Request) {
		c.SetWriteLoad(WriteLoad{})
		state(w)
	})
	mux.HandleFunc("GET /peers/{id}/disk", func(w http.ResponseWriter, r *http.Request) {
		if p := peer(w, r); p != nil {
			writeJSON(w, http.StatusOK, p.DiskUsage())
		}
	})
	mux.HandleFunc("PUT /peers/{id}/disk", func(w http.ResponseWriter, r *http.Request) {
		if p := peer(w, r); p != nil {
			var body struct {
				Capacity int64 `json:"capacity"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Capacity < 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be {\"capacity\": bytes}"})
				return
			}
			p.SetDiskCapacity(body.Capacity)
			writeJSON(w, http.StatusOK, p.DiskUsage())
		}
	})
}
