package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// createGate stands for Qdrant's consensus in front of a fake cluster:
// a collection creation is held until every expected creation is in
// flight, and a new collection shows its replicas Initializing until
// every expected collection has been read while Initializing. Only
// creations issued together and waits that run together get through;
// creating and waiting for one collection after the other never gets
// past the first (the hold ends after gateHold, the wait after
// WaitTimeout, and the restore fails).
type createGate struct {
	want []string
	// failCreate makes the creation of that collection fail (400).
	failCreate string

	mu       sync.Mutex
	inFlight int
	most     int
	arrived  int
	all      chan struct{}
	read     map[string]bool
	released bool
}

// gateHold bounds how long a creation waits for the others, so that a
// restore creating one collection at a time fails instead of hanging.
const gateHold = 5 * time.Second

func newCreateGate(want ...string) *createGate {
	return &createGate{want: want, all: make(chan struct{}), read: map[string]bool{}}
}

func (g *createGate) wrap(peers map[uint64]Peer) map[uint64]Peer {
	out := map[uint64]Peer{}
	for id, p := range peers {
		out[id] = &gatedPeer{Peer: p, g: g}
	}
	return out
}

func (g *createGate) enter() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight++
	g.most = max(g.most, g.inFlight)
	g.arrived++
	if g.arrived == len(g.want) {
		close(g.all)
	}
}

func (g *createGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
}

// initializing reports whether reads of name still show its replicas
// Initializing, and counts this read as one of the wait.
func (g *createGate) initializing(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.released {
		return false
	}
	g.read[name] = true
	for _, w := range g.want {
		if !g.read[w] {
			return true
		}
	}
	g.released = true
	return false
}

type gatedPeer struct {
	Peer
	g *createGate
}

func (p *gatedPeer) CreateCollection(ctx context.Context, name string, body json.RawMessage) error {
	p.g.enter()
	defer p.g.leave()
	if name == p.g.failCreate {
		return apiErr(http.StatusBadRequest, "Wrong input: injected refusal of %s", name)
	}
	select {
	case <-p.g.all:
	case <-time.After(gateHold):
		return fmt.Errorf("creation of %q held %s: the other creations never came", name, gateHold)
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.Peer.CreateCollection(ctx, name, body)
}

func (p *gatedPeer) CollectionCluster(ctx context.Context, name string) (*qdrant.CollectionCluster, error) {
	cc, err := p.Peer.CollectionCluster(ctx, name)
	if err != nil || !p.g.initializing(name) {
		return cc, err
	}
	for i := range cc.LocalShards {
		cc.LocalShards[i].State = qdrant.StateInitializing
	}
	for i := range cc.RemoteShards {
		cc.RemoteShards[i].State = qdrant.StateInitializing
	}
	return cc, nil
}

// TestCollectionsAreCreatedAndAwaitedTogether: the creations of every
// collection are in flight at once, and so are the waits for their
// replicas, so a restore of N collections pays about one creation's
// consensus round and one wait, not N of each. Counted, not timed.
func TestCollectionsAreCreatedAndAwaitedTogether(t *testing.T) {
	names := []string{"articles", "products", "users"}
	store := newMemStore()
	var specs []spec
	for _, n := range names {
		specs = append(specs, spec{name: n, shards: 2, rf: 1, indexes: map[string]string{"tag": "keyword"}})
	}
	m := makeBackup(t, store, 3, "1.19.0", specs...)
	// Onto two pods: the shape step moves replicas the cluster placed
	// elsewhere, which needs Active replicas, so it too must wait.
	f := newFakeCluster(peerIDs(2), "1.19.0")
	gate := newCreateGate(names...)
	res, err := runOnto(t, m, f, store, &StoreJournal{Store: store, Cluster: m.Cluster}, PlanOptions{}, func(_ *RunOptions, d *RunDeps) {
		d.Peers = gate.wrap(d.Peers)
	})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	checkRestored(t, res.Plan, f, store)
	if gate.most != len(names) {
		t.Errorf("at most %d collection creations in flight at once, want all %d", gate.most, len(names))
	}
	if !gate.released {
		t.Errorf("the waits for the collections' replicas never ran together")
	}
}

// TestAFailedCreationNamesItsCollectionAndTheRerunFinishes: one refused
// creation among concurrent ones fails the restore with an error naming
// that collection; the rerun keeps what the first run recorded and
// restores every collection.
func TestAFailedCreationNamesItsCollectionAndTheRerunFinishes(t *testing.T) {
	names := []string{"articles", "products", "users"}
	store := newMemStore()
	var specs []spec
	for _, n := range names {
		specs = append(specs, spec{name: n, shards: 2, rf: 1})
	}
	m := makeBackup(t, store, 2, "1.19.0", specs...)
	f := newFakeCluster(peerIDs(2), "1.19.0")
	gate := newCreateGate(names...)
	gate.failCreate = "products"
	_, err := runOnto(t, m, f, store, &StoreJournal{Store: store, Cluster: m.Cluster}, PlanOptions{}, func(_ *RunOptions, d *RunDeps) {
		d.Peers = gate.wrap(d.Peers)
	})
	var api *qdrant.APIError
	if !errors.As(err, &api) || api.Status != http.StatusBadRequest || !strings.Contains(err.Error(), `create collection "products"`) {
		t.Fatalf("first run: %v, want the refusal naming collection products", err)
	}
	for _, other := range []string{"articles", "users"} {
		if strings.Contains(err.Error(), fmt.Sprintf("%q", other)) {
			t.Errorf("error names %q, which did not fail: %v", other, err)
		}
	}

	res, err := runOnto(t, m, f, store, &StoreJournal{Store: store, Cluster: m.Cluster}, PlanOptions{})
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	checkRestored(t, res.Plan, f, store)
	if res.Report.ShardsRecovered != 2*len(names) {
		t.Errorf("rerun recovered %d shards, want %d", res.Report.ShardsRecovered, 2*len(names))
	}
}
