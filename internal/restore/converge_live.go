package restore

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// The redistribution engine of the restore, offered to qbackup rebalance:
// the same converge loop drives a live cluster's collection to a wanted
// placement, with two rules a live cluster needs on top.

// liveRules tighten the converge loop for a cluster that serves reads and
// writes. The zero value is the restore's behaviour.
type liveRules struct {
	// keepUntilReplicated keeps every Active replica of a shard until
	// each wanted replica of the shard is Active: replicate first, drop
	// after, so the shard never has fewer serving copies than it had.
	keepUntilReplicated bool
	// ready are the peers that can be copied from (nil: every peer). A
	// stopped peer's replicas stay Active in consensus until Qdrant marks
	// them Dead, and a transfer from there would never run.
	ready map[uint64]bool
}

// canSource tells whether a replica on peer may be a transfer's source.
func (r liveRules) canSource(peer uint64) bool { return r.ready == nil || r.ready[peer] }

// LiveConvergeOptions tune LiveConverge.
type LiveConvergeOptions struct {
	// Timeout bounds the wait for the collection to settle; default
	// DefaultTransferTimeout.
	Timeout time.Duration
	// Poll is the longest interval between state reads; default
	// DefaultPoll.
	Poll time.Duration
	// TransferLimit caps the transfers one peer sends, and the ones it
	// receives, at a time; default 1, Qdrant's own default for the
	// transfers it starts itself (DEFAULT_IO_SHARD_TRANSFER_LIMIT in
	// lib/collection/src/operations/shared_storage_config.rs, applied by
	// check_auto_shard_transfer_limit in
	// lib/collection/src/collection/shard_transfer.rs). Qdrant does not
	// apply it to transfers asked through the API (validate_transfer in
	// lib/collection/src/shards/transfer/helpers.rs only refuses a second
	// transfer of the same shard touching the same peers), so the
	// rebalance applies it itself to keep a serving cluster's disks and
	// network for its clients.
	TransferLimit int
}

// DefaultTransferLimit is LiveConvergeOptions.TransferLimit's default.
const DefaultTransferLimit = 1

// LivePeer is what LiveConverge asks of each peer; *qdrant.Client
// implements it.
type LivePeer = Peer

// LiveCluster is the live cluster LiveConverge works on.
type LiveCluster struct {
	// Peers maps a peer id to its client.
	Peers map[uint64]LivePeer
	// Order lists the peer ids; the first one with a client coordinates.
	Order  []uint64
	Logger *slog.Logger
}

// LiveConverge drives collection name of a live cluster to want (shard →
// peers) and returns once every peer of cluster.Order sees exactly the
// wanted replicas, all Active, and no transfer. Only replicas on those
// peers are copied from. Replicas are moved or replicated first and
// dropped only when the shard's wanted replicas are Active; the last
// Active replica of a shard is never dropped. Running it again after an
// interruption continues from the live state.
func LiveConverge(ctx context.Context, cluster LiveCluster, name string, want map[uint32][]uint64, opts LiveConvergeOptions) error {
	plan := &RestorePlan{}
	ready := map[uint64]bool{}
	for _, id := range cluster.Order {
		plan.Peers = append(plan.Peers, TargetPeer{ID: id})
		ready[id] = true
	}
	deps := Deps{Peers: cluster.Peers, Logger: cluster.Logger}
	coord, coordID, err := deps.coordinator(plan)
	if err != nil {
		return err
	}
	e := &executor{
		plan: plan, deps: deps, opts: ExecOptions{Poll: opts.Poll}.withDefaults(), rep: &Report{},
		coord: coord, coordID: coordID, restored: restoredSet{}, log: deps.logger(),
		live:      liveRules{keepUntilReplicated: true, ready: ready},
		transfers: newTransferBudget(cmp.Or(opts.TransferLimit, DefaultTransferLimit)),
	}
	wanted := func(placement) map[uint32][]uint64 { return want }
	return e.converge(ctx, name, wanted, cmp.Or(opts.Timeout, DefaultTransferTimeout))
}

// transferBudget caps the transfers each peer sends, and the ones it
// receives, across every collection one run converges at once (a restore
// settles up to collectionParallel collections together): a cap per
// collection would let each of them start its own share on one peer.
type transferBudget struct {
	limit int
	mu    sync.Mutex
	// running are each converging collection's transfers: as last read,
	// plus those its steps started since.
	running map[string][]qdrant.ShardTransfer
}

// newTransferBudget is a budget of limit transfers per peer and
// direction; nil (no limit) when limit is 0.
func newTransferBudget(limit int) *transferBudget {
	if limit <= 0 {
		return nil
	}
	return &transferBudget{limit: limit, running: map[string][]qdrant.ShardTransfer{}}
}

// observe records collection's running transfers as just read and
// returns what its steps reserve their transfers through; nil (no limit)
// without a budget.
func (b *transferBudget) observe(collection string, running []qdrant.ShardTransfer) *peerIO {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running[collection] = slices.Clone(running)
	return &peerIO{budget: b, collection: collection}
}

// forget drops a collection whose converge ended.
func (b *transferBudget) forget(collection string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.running, collection)
}

// peerIO reserves one collection's transfers in the run's budget.
type peerIO struct {
	budget     *transferBudget
	collection string
}

// take reserves a transfer from → to; false when either peer is at its
// limit. A nil peerIO allows every transfer.
func (io *peerIO) take(from, to uint64) bool {
	if io == nil {
		return true
	}
	b := io.budget
	b.mu.Lock()
	defer b.mu.Unlock()
	out, in := 0, 0
	for _, ts := range b.running {
		for _, t := range ts {
			if t.From == from {
				out++
			}
			if t.To == to {
				in++
			}
		}
	}
	if out >= b.limit || in >= b.limit {
		return false
	}
	b.running[io.collection] = append(b.running[io.collection], qdrant.ShardTransfer{From: from, To: to})
	return true
}
