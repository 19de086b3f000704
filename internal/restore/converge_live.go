package restore

import (
	"cmp"
	"context"
	"log/slog"
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
	// transferLimit caps the transfers each peer takes part in, per
	// direction (0: no cap).
	transferLimit int
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
		live: liveRules{keepUntilReplicated: true, transferLimit: cmp.Or(opts.TransferLimit, DefaultTransferLimit), ready: ready},
	}
	wanted := func(placement) map[uint32][]uint64 { return want }
	return e.converge(ctx, name, wanted, cmp.Or(opts.Timeout, DefaultTransferTimeout))
}

// peerIO counts the transfers each peer sends and receives, to start no
// more than limit per direction.
type peerIO struct {
	limit   int
	out, in map[uint64]int
}

// newPeerIO counts the running transfers; nil (no limit) when limit is 0.
func newPeerIO(limit int, running []qdrant.ShardTransfer) *peerIO {
	if limit <= 0 {
		return nil
	}
	io := &peerIO{limit: limit, out: map[uint64]int{}, in: map[uint64]int{}}
	for _, t := range running {
		io.out[t.From]++
		io.in[t.To]++
	}
	return io
}

// take reserves a transfer from → to; false when either peer is at its
// limit. A nil peerIO allows every transfer.
func (io *peerIO) take(from, to uint64) bool {
	if io == nil {
		return true
	}
	if io.out[from] >= io.limit || io.in[to] >= io.limit {
		return false
	}
	io.out[from]++
	io.in[to]++
	return true
}
