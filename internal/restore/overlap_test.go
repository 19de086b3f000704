package restore

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// overlap counts the calls of some cluster operations in flight at once,
// by operation ("MoveShard") and by operation within a restore phase
// ("redistribute/MoveShard"; overlap is told the phases as the
// restore's progress). A call counted under a key listed in want is held
// until want[key] calls of it are in flight, or for hold at most (then it
// goes on): calls issued together meet, calls issued one after the other
// never do and each pays the hold. The counts, not the time, are what
// tests check.
type overlap struct {
	want map[string]int
	hold time.Duration

	mu       sync.Mutex
	phase    string
	inFlight map[string]int
	most     map[string]int
	met      map[string]chan struct{}
}

func newOverlap(hold time.Duration, want map[string]int) *overlap {
	o := &overlap{want: want, hold: hold, inFlight: map[string]int{}, most: map[string]int{}, met: map[string]chan struct{}{}}
	for key := range want {
		o.met[key] = make(chan struct{})
	}
	return o
}

// enter records a call of op and holds it; the returned func ends it.
func (o *overlap) enter(op string) func() {
	o.mu.Lock()
	keys := []string{op, o.phase + "/" + op}
	var waits []chan struct{}
	for _, k := range keys {
		o.inFlight[k]++
		o.most[k] = max(o.most[k], o.inFlight[k])
		met, held := o.met[k]
		if !held {
			continue
		}
		waits = append(waits, met)
		if o.inFlight[k] >= o.want[k] {
			select {
			case <-met:
			default:
				close(met)
			}
		}
	}
	o.mu.Unlock()
	for _, met := range waits {
		select {
		case <-met:
		case <-time.After(o.hold):
		}
	}
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, k := range keys {
			o.inFlight[k]--
		}
	}
}

// PhaseStarted, with the methods below, makes overlap the restore's
// progress, to know the phase.
func (o *overlap) PhaseStarted(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.phase = name
}

func (o *overlap) ShardSkipped(string, uint32)                {}
func (o *overlap) ShardStarted(string, uint32, uint64, int64) {}
func (o *overlap) ShardDone(string, uint32, error)            {}

// The restore finds PhaseStarted through PhaseProgress: a signature
// drifting from it would leave the phase unset without a compile error.
var _ PhaseProgress = (*overlap)(nil)

func (o *overlap) peak(op string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.most[op]
}

func (o *overlap) wrap(peers map[uint64]Peer) map[uint64]Peer {
	out := map[uint64]Peer{}
	for id, p := range peers {
		out[id] = &overlapPeer{Peer: p, o: o}
	}
	return out
}

type overlapPeer struct {
	Peer
	o *overlap
}

func (p *overlapPeer) UpdateCollection(ctx context.Context, name string, body json.RawMessage) error {
	defer p.o.enter("UpdateCollection")()
	return p.Peer.UpdateCollection(ctx, name, body)
}

func (p *overlapPeer) UpdateAliases(ctx context.Context, actions []qdrant.AliasAction) error {
	defer p.o.enter("UpdateAliases")()
	return p.Peer.UpdateAliases(ctx, actions)
}

func (p *overlapPeer) MoveShard(ctx context.Context, coll string, shard uint32, from, to uint64) error {
	defer p.o.enter("MoveShard")()
	return p.Peer.MoveShard(ctx, coll, shard, from, to)
}

func (p *overlapPeer) Scroll(ctx context.Context, coll string, limit uint32, offset *qdrant.PointID, vec, payload bool) ([]qdrant.Point, *qdrant.PointID, error) {
	defer p.o.enter("Scroll")()
	return p.Peer.Scroll(ctx, coll, limit, offset, vec, payload)
}

// TestPhasesIssueTheirClusterOperationsTogether: the operations a restore
// phase makes for several collections, or for several shards of one
// collection, are issued together rather than one after the other (each
// waits for a consensus round, or is a round trip). Counted, not timed.
func TestPhasesIssueTheirClusterOperationsTogether(t *testing.T) {
	strict := map[string]any{"enabled": true, "max_query_limit": 100.0}
	tests := []struct {
		name        string
		collections []string
		// at least this many calls of each operation in flight at once
		want map[string]int
	}{
		{"recorded strict modes and aliases of every collection, and the verification's sample reads",
			[]string{"articles", "products", "users"}, map[string]int{"UpdateCollection": 3, "UpdateAliases": 3, "Scroll": 2}},
		// Two pods onto four: the redistribution moves half of each
		// collection's shards onto the new pods, in its first poll.
		{"the moves of one poll of one collection's redistribution",
			[]string{"articles"}, map[string]int{"redistribute/MoveShard": 2}},
		// More moves at once than one collection has: the collections
		// are redistributed together.
		{"the moves of several collections' redistribution",
			[]string{"articles", "products", "users"}, map[string]int{"redistribute/MoveShard": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemStore()
			var specs []spec
			for _, n := range tt.collections {
				specs = append(specs, spec{name: n, shards: 4, rf: 1, aliases: []string{n + "-live"}, strict: strict})
			}
			m := makeBackup(t, store, 2, "1.19.0", specs...)
			f := newFakeCluster(peerIDs(4), "1.19.0")
			o := newOverlap(2*time.Second, tt.want)
			res, err := runOnto(t, m, f, store, &StoreJournal{Store: store, Cluster: m.Cluster}, PlanOptions{}, func(ro *RunOptions, d *RunDeps) {
				d.Peers = o.wrap(d.Peers)
				d.Progress = o
				// Long enough that operations issued one after the
				// other, each held, do not time the restore out.
				ro.Exec.WaitTimeout, ro.Exec.TransferTimeout = time.Minute, time.Minute
			})
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			checkRestored(t, res.Plan, f, store)
			for op, want := range tt.want {
				if got := o.peak(op); got < want {
					t.Errorf("at most %d %s calls in flight at once, want %d", got, op, want)
				}
			}
		})
	}
}
