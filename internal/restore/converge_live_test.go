package restore

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// livePeer checks, at every cluster operation, the rules LiveConverge
// promises a serving cluster.
type livePeer struct {
	*fakePeer
	t     *testing.T
	want  map[uint32][]uint64
	limit int
	// most, when set, keeps the most transfers one peer took part in at
	// once (in one direction).
	most *int
}

// DropReplica: only once every wanted replica of the shard is Active.
func (p *livePeer) DropReplica(ctx context.Context, coll string, shard uint32, peer uint64) error {
	p.f.mu.Lock()
	s := p.f.colls[coll].shards[shard]
	for _, w := range p.want[shard] {
		if s.replicas[w] != qdrant.StateActive {
			p.t.Errorf("dropped the replica of shard %d on peer %d while the wanted one on %d is %q", shard, peer, w, s.replicas[w])
		}
	}
	p.f.mu.Unlock()
	return p.fakePeer.DropReplica(ctx, coll, shard, peer)
}

func (p *livePeer) MoveShard(ctx context.Context, coll string, shard uint32, from, to uint64) error {
	p.checkLimit(from, to)
	return p.fakePeer.MoveShard(ctx, coll, shard, from, to)
}

func (p *livePeer) ReplicateShard(ctx context.Context, coll string, shard uint32, from, to uint64) error {
	p.checkLimit(from, to)
	return p.fakePeer.ReplicateShard(ctx, coll, shard, from, to)
}

// checkLimit: no peer sends or receives more than limit transfers, over
// every collection of the cluster.
func (p *livePeer) checkLimit(from, to uint64) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	out, in := runningAt(p.f, from, to)
	if p.most != nil {
		*p.most = max(*p.most, out+1, in+1)
	}
	if out >= p.limit || in >= p.limit {
		p.t.Errorf("a transfer %d->%d started while %d sends %d and %d receives %d (limit %d)", from, to, from, out, to, in, p.limit)
	}
}

// runningAt counts the transfers running in the cluster, over every
// collection, that from sends and that to receives; f.mu held.
func runningAt(f *fakeCluster, from, to uint64) (out, in int) {
	for _, c := range f.colls {
		for _, t := range c.transfers {
			if t.from == from {
				out++
			}
			if t.to == to {
				in++
			}
		}
	}
	return out, in
}

// TestLiveConvergeReplicatesFirstAndKeepsTheTransferLimit: a collection
// moved off two peers onto two others, one shard also losing a replica:
// no replica is dropped before the shard's wanted replicas are Active, no
// peer takes part in more transfers at once than the limit, and the
// collection ends on the wanted placement, every replica Active and
// holding the data.
func TestLiveConvergeReplicatesFirstAndKeepsTheTransferLimit(t *testing.T) {
	for _, limit := range []int{1, 2} {
		peers := peerIDs(4)
		a, b, c, d := peers[0], peers[1], peers[2], peers[3]
		f := newFakeCluster(peers, "1.19.0")
		p := &fakePeer{f: f, id: a}
		if err := p.CreateCollection(context.Background(), "docs", []byte(`{"vectors":{"size":2,"distance":"Dot"},"shard_number":4,"replication_factor":2}`)); err != nil {
			t.Fatal(err)
		}
		pts := []qdrant.Point{{ID: qdrant.PointID{Num: 7}, Vectors: map[string]qdrant.Vector{"": {Dense: []float32{1, 2}}}}}
		coll := f.colls["docs"]
		for id := range uint32(4) {
			coll.shards[id].replicas = map[uint64]string{a: qdrant.StateActive, b: qdrant.StateActive}
			coll.shards[id].data = map[uint64][]qdrant.Point{a: pts, b: pts}
		}
		// shard 3 has a third replica the plan drops.
		coll.shards[3].replicas[c] = qdrant.StateActive
		coll.shards[3].data[c] = pts
		want := map[uint32][]uint64{0: {a, c}, 1: {b, d}, 2: {c, d}, 3: {a, d}}
		clients := map[uint64]LivePeer{}
		for _, id := range peers {
			clients[id] = &livePeer{fakePeer: &fakePeer{f: f, id: id}, t: t, want: want, limit: limit}
		}
		err := LiveConverge(context.Background(), LiveCluster{Peers: clients, Order: peers, Logger: quietLogger()}, "docs", want, LiveConvergeOptions{Timeout: 10 * time.Second, Poll: time.Millisecond, TransferLimit: limit})
		if err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		for id, w := range want {
			s := coll.shards[id]
			got := slices.Sorted(func(yield func(uint64) bool) {
				for p := range s.replicas {
					if !yield(p) {
						return
					}
				}
			})
			if !slices.Equal(got, slices.Sorted(slices.Values(w))) {
				t.Errorf("limit %d: shard %d on %v, want %v", limit, id, got, w)
			}
			for _, peer := range w {
				if s.replicas[peer] != qdrant.StateActive || len(s.data[peer]) != 1 {
					t.Errorf("limit %d: shard %d on peer %d is %q with %d points", limit, id, peer, s.replicas[peer], len(s.data[peer]))
				}
			}
		}
	}
}

// TestTransferLimitHoldsAcrossCollections: two collections converged at
// once by one run (as a restore settles several collections together)
// share the per-peer transfer limit: with limit 1 no peer ever takes part
// in two transfers, of one collection or of two; without a limit the same
// run does start concurrent transfers on one peer (so the check can
// fail), and both end on their wanted placement.
func TestTransferLimitHoldsAcrossCollections(t *testing.T) {
	for _, limit := range []int{1, 0} {
		peers := peerIDs(4)
		a, b, c, d := peers[0], peers[1], peers[2], peers[3]
		f := newFakeCluster(peers, "1.19.0")
		p := &fakePeer{f: f, id: a}
		pts := []qdrant.Point{{ID: qdrant.PointID{Num: 7}, Vectors: map[string]qdrant.Vector{"": {Dense: []float32{1, 2}}}}}
		for _, name := range []string{"docs", "more"} {
			if err := p.CreateCollection(context.Background(), name, []byte(`{"vectors":{"size":2,"distance":"Dot"},"shard_number":4,"replication_factor":1}`)); err != nil {
				t.Fatal(err)
			}
			for id := range uint32(4) {
				f.colls[name].shards[id].replicas = map[uint64]string{a: qdrant.StateActive}
				f.colls[name].shards[id].data = map[uint64][]qdrant.Point{a: pts}
			}
		}
		// Every shard leaves peer a: a sends every transfer.
		want := map[uint32][]uint64{0: {b}, 1: {c}, 2: {d}, 3: {b}}
		most := 0
		clients := map[uint64]Peer{}
		for _, id := range peers {
			clients[id] = &livePeer{fakePeer: &fakePeer{f: f, id: id}, t: t, limit: max(limit, 100), most: &most}
		}
		plan := &RestorePlan{}
		for _, id := range peers {
			plan.Peers = append(plan.Peers, TargetPeer{ID: id})
		}
		deps := Deps{Peers: clients, Logger: quietLogger()}
		coord, coordID, err := deps.coordinator(plan)
		if err != nil {
			t.Fatal(err)
		}
		e := &executor{plan: plan, deps: deps, opts: ExecOptions{Poll: time.Millisecond}.withDefaults(), rep: &Report{},
			coord: coord, coordID: coordID, restored: restoredSet{}, log: deps.logger(), transfers: newTransferBudget(limit)}
		errs := make(chan error, 2)
		for _, name := range []string{"docs", "more"} {
			go func() {
				errs <- e.converge(context.Background(), name, func(placement) map[uint32][]uint64 { return want }, 10*time.Second)
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("limit %d: %v", limit, err)
			}
		}
		if limit == 0 && most < 2 {
			t.Errorf("without a limit peer a never sent two transfers at once (most %d): the test shows nothing", most)
		}
		if limit == 1 && most != 1 {
			t.Errorf("limit 1: a peer took part in %d transfers at once", most)
		}
		for _, name := range []string{"docs", "more"} {
			for id, w := range want {
				s := f.colls[name].shards[id]
				if len(s.replicas) != 1 || s.replicas[w[0]] != qdrant.StateActive {
					t.Errorf("limit %d: %s shard %d on %v, want %v", limit, name, id, s.replicas, w)
				}
			}
		}
	}
}
