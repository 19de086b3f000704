package placement

import (
	"cmp"
	"slices"
)

// Placement maps a shard id to the peers holding its replicas. The first
// peer of a shard is kept when replicas are dropped (the restore recovers
// the snapshot there; a live rebalance lists Active replicas first).
type Placement map[uint32][]uint64

// Load counts replicas per peer.
type Load map[uint64]int

// Order ranks peers for deterministic tie-breaks: a lower rank wins.
type Order map[uint64]int

// Sort sorts ids by rank.
func (o Order) Sort(ids []uint64) {
	slices.SortFunc(ids, func(a, b uint64) int { return o[a] - o[b] })
}

// OrderOf ranks peers in the order given.
func OrderOf(peers []uint64) Order {
	o := make(Order, len(peers))
	for i, p := range peers {
		o[p] = i
	}
	return o
}

// LeastLoaded picks the peer of set outside skip with the fewest replicas
// of this collection (local), then overall (global), then by rank.
func LeastLoaded(set, skip []uint64, local, global Load, order Order) uint64 {
	best, found := uint64(0), false
	for _, p := range set {
		if slices.Contains(skip, p) {
			continue
		}
		if !found || local[p] < local[best] ||
			local[p] == local[best] && (global[p] < global[best] || global[p] == global[best] && order[p] < order[best]) {
			best, found = p, true
		}
	}
	return best
}

// Goal is what Balance places one collection on.
type Goal struct {
	// IDs are the collection's shard ids; RF gives each its replica count.
	IDs []uint32
	RF  map[uint32]int
	// Set are the peers to place on, in rank order; Order ranks them.
	Set   []uint64
	Order Order
	// Others counts the replicas per peer of the collections planned
	// before; it decides which peers take the collection's odd replicas,
	// so that they do not pile up on the same peers collection after
	// collection.
	Others Load
	// AcrossPlan: replicas also move when that evens out Others + this
	// collection without unbalancing this one: worth it when placing
	// replicas that nothing has to copy yet, not when each move is a
	// shard transfer.
	AcrossPlan bool
}

// Balance computes a placement of one collection on g.Set: every shard of
// g.IDs gets g.RF[id] replicas, and the replicas per peer differ by at
// most one. Replicas on peers outside the set are given up. It moves as
// few replicas as it can from cur.
func Balance(cur Placement, g Goal) Placement {
	ids, set, rf, order, others, acrossPlan := g.IDs, g.Set, g.RF, g.Order, g.Others, g.AcrossPlan
	if len(set) == 0 {
		return Placement{}
	}
	inSet := map[uint64]bool{}
	for _, p := range set {
		inSet[p] = true
	}
	out := Placement{}
	load := Load{}
	for _, id := range ids {
		var reps []uint64
		for _, p := range cur[id] {
			if inSet[p] && !slices.Contains(reps, p) {
				reps = append(reps, p)
			}
		}
		out[id] = reps
		for _, p := range reps {
			load[p]++
		}
	}
	for _, id := range ids {
		for len(out[id]) < min(rf[id], len(set)) {
			p := LeastLoaded(set, out[id], load, others, order)
			out[id] = append(out[id], p)
			load[p]++
		}
		for len(out[id]) > rf[id] && len(out[id]) > 1 {
			// Drop the copy on the busiest peer, but never the first.
			reps := out[id]
			drop := 1
			for i := 2; i < len(reps); i++ {
				if load[reps[i]] > load[reps[drop]] {
					drop = i
				}
			}
			load[reps[drop]]--
			out[id] = slices.Delete(reps, drop, drop+1)
		}
	}
	// Each step moves one replica from a busiest peer to an idlest one:
	// of this collection first, then, among peers with as many replicas
	// of it, of the plan. A step either shrinks the collection's spread or
	// keeps it and shrinks the plan's, so the loop ends; the bound is a
	// guard. A peer with more replicas than another always holds a shard
	// the other does not, so a step finds one to move.
	// cmpLoad orders peers by replicas of this collection, then of the
	// plan; set is in rank order, so ties go to the first peer.
	cmpLoad := func(a, b uint64) int {
		return cmp.Or(cmp.Compare(load[a], load[b]), cmp.Compare(others[a]+load[a], others[b]+load[b]))
	}
	steps := 0
	for _, id := range ids {
		steps += len(out[id])
	}
	for range steps*len(set)*2 + 1 {
		hi, lo := set[0], set[0]
		for _, p := range set {
			if cmpLoad(p, hi) > 0 {
				hi = p
			}
			if cmpLoad(p, lo) < 0 {
				lo = p
			}
		}
		spread := load[hi] - load[lo]
		plan := others[hi] + load[hi] - others[lo] - load[lo]
		if spread <= 1 && !(acrossPlan && spread == 1 && plan >= 2) {
			break
		}
		moved := false
		for i := len(ids) - 1; i >= 0 && !moved; i-- {
			reps := out[ids[i]]
			if j := slices.Index(reps, hi); j >= 0 && !slices.Contains(reps, lo) {
				reps[j] = lo
				load[hi]--
				load[lo]++
				moved = true
			}
		}
		if !moved {
			break
		}
	}
	return out
}

// Kind is a cluster operation, named as in Qdrant's cluster update API
// (POST /collections/{c}/cluster).
type Kind string

// Operation kinds.
const (
	Move      Kind = "move_shard"
	Replicate Kind = "replicate_shard"
	Drop      Kind = "drop_replica"
)

// Op is one cluster operation. For a drop, From is the peer losing its
// replica and To is unused.
type Op struct {
	Kind    Kind   `json:"kind"`
	ShardID uint32 `json:"shard_id"`
	From    uint64 `json:"from"`
	To      uint64 `json:"to,omitempty"`
}

// Reconcile lists the cluster operations that turn placement cur into
// want, shard by shard: a replica that must go and one that must appear
// make a move; the rest are replications (from a replica that stays, or
// else from where a move put the shard) and drops.
func Reconcile(cur, want Placement, ids []uint32) []Op {
	return ReconcileWith(cur, want, ids, nil)
}

// ReconcileWith is Reconcile where only the replicas serving accepts
// (nil: every replica) can be the source of a move or a replication: a
// replica that is not Active cannot be copied from (validate_transfer in
// Qdrant's lib/collection/src/shards/transfer/helpers.rs), so it is
// dropped and the shard replicated from a serving one instead.
func ReconcileWith(cur, want Placement, ids []uint32, serving func(shard uint32, peer uint64) bool) []Op {
	if serving == nil {
		serving = func(uint32, uint64) bool { return true }
	}
	var out []Op
	for _, id := range ids {
		have, need := cur[id], want[id]
		var missing, surplus, kept []uint64
		for _, p := range need {
			if !slices.Contains(have, p) {
				missing = append(missing, p)
			} else if serving(id, p) {
				kept = append(kept, p)
			}
		}
		var movable, dropped []uint64
		for _, p := range have {
			switch {
			case slices.Contains(need, p):
			case serving(id, p):
				movable = append(movable, p)
			default:
				dropped = append(dropped, p)
			}
		}
		surplus = movable
		n := min(len(missing), len(surplus))
		for i := range n {
			out = append(out, Op{Kind: Move, ShardID: id, From: surplus[i], To: missing[i]})
		}
		for _, p := range missing[n:] {
			from := uint64(0)
			switch {
			case len(kept) > 0:
				from = kept[0]
			case n > 0:
				from = missing[0]
			case len(movable) > 0:
				from = movable[0]
			case len(have) > 0:
				from = have[0]
			}
			out = append(out, Op{Kind: Replicate, ShardID: id, From: from, To: p})
		}
		for _, p := range append(dropped, surplus[n:]...) {
			out = append(out, Op{Kind: Drop, ShardID: id, From: p})
		}
	}
	return out
}
