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
	p.checkLimit(coll, from, to)
	return p.fakePeer.MoveShard(ctx, coll, shard, from, to)
}

func (p *livePeer) ReplicateShard(ctx context.Context, coll string, shard uint32, from, to uint64) error {
	p.checkLimit(coll, from, to)
	return p.fakePeer.ReplicateShard(ctx, coll, shard, from, to)
}

// checkLimit: no peer sends or receives more than limit transfers.
func (p *livePeer) checkLimit(coll string, from, to uint64) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	out, in := 0, 0
	for _, t := range p.f.colls[coll].transfers {
		if t.from == from {
			out++
		}
		if t.to == to {
			in++
		}
	}
	if out >= p.limit || in >= p.limit {
		p.t.Errorf("a transfer %d->%d started while %d sends %d and %d receives %d (limit %d)", from, to, from, out, to, in, p.limit)
	}
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
