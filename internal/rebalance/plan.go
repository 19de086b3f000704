package rebalance

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/qbackup/qbackup/internal/placement"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// ErrUnknownCollection is a --collections name the cluster does not have.
var ErrUnknownCollection = errors.New("no such collection")

// Peer is a Ready peer the collections are spread over.
type Peer struct {
	ID  uint64 `json:"peer_id"`
	Pod string `json:"pod,omitempty"`
}

// Replica is one replica as the cluster reports it.
type Replica struct {
	Peer  uint64 `json:"peer_id"`
	State string `json:"state"`
}

// Shard is one shard of a live collection.
type Shard struct {
	ID       uint32    `json:"shard_id"`
	Key      string    `json:"shard_key,omitempty"`
	Replicas []Replica `json:"replicas"`
}

// Collection is a live collection as the plan needs it.
type Collection struct {
	Name string `json:"name"`
	// ReplicationFactor is the collection's configured factor.
	ReplicationFactor uint32 `json:"replication_factor"`
	// ShardingMethod is "auto" or "custom".
	ShardingMethod string  `json:"sharding_method"`
	Shards         []Shard `json:"shards"`
	// Resharding is the resharding Qdrant reports in progress, if any.
	Resharding *Resharding `json:"resharding,omitempty"`
}

// State is the live cluster: its Ready peers (in a stable order: pod name,
// then peer id) and its collections.
type State struct {
	Cluster     string       `json:"cluster"`
	Peers       []Peer       `json:"peers"`
	Collections []Collection `json:"collections"`
	// Resharding is whether the cluster offers Qdrant's resharding; read
	// only when a shard count change is asked for.
	Resharding ReshardSupport `json:"resharding_support"`
}

// Options are the user's choices.
type Options struct {
	// Collections limits the rebalance to these; empty means all.
	Collections []string
	// ReplicationFactor, when not 0, is the factor every rebalanced
	// collection ends with (capped at the Ready peers); the collection's
	// setting is updated to it before its replicas are.
	ReplicationFactor uint32
	// Shards, when not 0, is the shard count every rebalanced
	// auto-sharded collection ends with; AutoShards picks it per
	// collection as a restore's --shards auto does
	// (restore.AutoShardCount). Both unset keep the shard counts.
	Shards     uint32
	AutoShards bool
	// WritesPaused is the user's word that nothing writes to the
	// collections: it allows the point copy where the cluster does not
	// offer Qdrant's resharding.
	WritesPaused bool
}

// Plan is what a rebalance does.
type Plan struct {
	Cluster     string           `json:"cluster"`
	Peers       []Peer           `json:"peers"`
	Collections []CollectionPlan `json:"collections"`
	Warnings    []string         `json:"warnings,omitempty"`
}

// CollectionPlan is the rebalance of one collection.
type CollectionPlan struct {
	Name string `json:"name"`
	// ReplicationFactor is the replica count each shard ends with.
	ReplicationFactor uint32 `json:"replication_factor"`
	// SetReplicationFactor, when not 0, is the replication factor the
	// collection's setting is changed to before the transfers
	// (--replication-factor): Qdrant records it and adds no replica
	// itself (PATCH /collections/{c} params.replication_factor,
	// CollectionParamsDiff in lib/collection/src/operations/config_diff.rs).
	SetReplicationFactor uint32 `json:"set_replication_factor,omitempty"`
	// Reshard, when set, changes the shard count first; the replicas are
	// then balanced by a plan made from the resharded collection.
	Reshard *ReshardPlan   `json:"reshard,omitempty"`
	Shards  []ShardPlan    `json:"shards"`
	Ops     []placement.Op `json:"operations"`
	Reason  string         `json:"reason"`
}

// ShardPlan is one shard: its replicas now and the peers it ends on.
type ShardPlan struct {
	ID      uint32    `json:"shard_id"`
	Key     string    `json:"shard_key,omitempty"`
	Current []Replica `json:"current"`
	Final   []uint64  `json:"final"`
}

// Empty is true when nothing has to change.
func (p *Plan) Empty() bool {
	for _, c := range p.Collections {
		if c.changes() {
			return false
		}
	}
	return true
}

func (c CollectionPlan) changes() bool {
	return len(c.Ops) > 0 || c.SetReplicationFactor > 0 || c.Reshard != nil
}

// Final is the wanted placement of the collection.
func (c CollectionPlan) Final() map[uint32][]uint64 {
	out := make(map[uint32][]uint64, len(c.Shards))
	for _, s := range c.Shards {
		out[s.ID] = slices.Clone(s.Final)
	}
	return out
}

// MakePlan plans the rebalance of st. Collections are planned in name
// order, each balanced on its own over every Ready peer; the replicas of
// the collections planned before decide which peers take a collection's
// odd replicas, so that they do not pile up on the first peers.
//
// A shard's replication factor is its collection's (auto sharding) or,
// for custom sharding, the replica count its shard key has now (Qdrant
// lets each key have its own factor and reports none), both capped at the
// peer count.
func MakePlan(st State, opts Options) (*Plan, error) {
	p := &Plan{Cluster: st.Cluster, Peers: slices.Clone(st.Peers)}
	if len(st.Peers) == 0 {
		return nil, fmt.Errorf("rebalance: no Ready peer to spread the collections over")
	}
	byName := map[string]Collection{}
	for _, c := range st.Collections {
		byName[c.Name] = c
	}
	names := slices.Sorted(maps.Keys(byName))
	if len(opts.Collections) > 0 {
		names = nil
		for _, n := range opts.Collections {
			if _, ok := byName[n]; !ok {
				return nil, fmt.Errorf("--collections: %q: %w: the cluster has %s", n, ErrUnknownCollection, describeNames(slices.Sorted(maps.Keys(byName))))
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
	}
	set := make([]uint64, len(st.Peers))
	for i, peer := range st.Peers {
		set[i] = peer.ID
	}
	order := placement.OrderOf(set)
	others := placement.Load{}
	var refused []string
	for _, name := range names {
		cp, warnings := planCollection(byName[name], set, order, others, opts.ReplicationFactor)
		p.Warnings = append(p.Warnings, warnings...)
		if cp == nil {
			continue
		}
		rp, warn, err := planReshard(byName[name], cp, len(set), st.Resharding, opts)
		if warn != "" {
			p.Warnings = append(p.Warnings, warn)
		}
		if err != nil {
			refused = append(refused, err.Error())
			continue
		}
		if rp != nil {
			cp.reshardFirst(rp)
		}
		for _, s := range cp.Shards {
			for _, peer := range s.Final {
				others[peer]++
			}
		}
		p.Collections = append(p.Collections, *cp)
	}
	if len(refused) > 0 {
		return nil, refusal(refused, st.Resharding)
	}
	return p, nil
}

func describeNames(names []string) string {
	if len(names) == 0 {
		return "no collection"
	}
	return strings.Join(names, ", ")
}

// planCollection balances one collection; nil (with a warning) when a
// shard has no Active replica on a Ready peer to copy from.
func planCollection(c Collection, set []uint64, order placement.Order, others placement.Load, override uint32) (*CollectionPlan, []string) {
	inSet := map[uint64]bool{}
	for _, p := range set {
		inSet[p] = true
	}
	var warnings []string
	cur := placement.Placement{}
	rf := map[uint32]int{}
	var ids []uint32
	shards := slices.Clone(c.Shards)
	slices.SortFunc(shards, func(a, b Shard) int { return int(a.ID) - int(b.ID) })
	want := max(int(c.ReplicationFactor), 1)
	if override > 0 {
		want = int(override)
	}
	state := map[uint32]map[uint64]string{}
	for _, s := range shards {
		ids = append(ids, s.ID)
		state[s.ID] = map[uint64]string{}
		for _, r := range s.Replicas {
			state[s.ID][r.Peer] = r.State
		}
		// Active replicas first: the first replica is the one a
		// shrinking factor keeps.
		reps := slices.Clone(s.Replicas)
		slices.SortStableFunc(reps, func(a, b Replica) int {
			aa, ba := a.State == qdrant.StateActive, b.State == qdrant.StateActive
			switch {
			case aa && !ba:
				return -1
			case ba && !aa:
				return 1
			}
			return order[a.Peer] - order[b.Peer]
		})
		servable := false
		for _, r := range reps {
			cur[s.ID] = append(cur[s.ID], r.Peer)
			if r.State == qdrant.StateActive && inSet[r.Peer] {
				servable = true
			}
		}
		if !servable {
			return nil, []string{fmt.Sprintf("collection %q left as it is: shard %d has no Active replica on a Ready peer to copy from (%s)", c.Name, s.ID, describeReplicas(s.Replicas))}
		}
		f := want
		if c.ShardingMethod == "custom" && override == 0 {
			f = max(len(s.Replicas), 1)
		}
		if f > len(set) {
			warnings = append(warnings, fmt.Sprintf("collection %q: shard %d: replication factor %d reduced to %d (%d Ready peers)", c.Name, s.ID, f, len(set), len(set)))
			f = len(set)
		}
		rf[s.ID] = f
	}
	final := placement.Balance(cur, placement.Goal{IDs: ids, RF: rf, Set: set, Order: order, Others: others})
	for _, id := range ids {
		// Listed and driven in peer order, as the plan shows them.
		order.Sort(final[id])
	}
	cp := &CollectionPlan{Name: c.Name, ReplicationFactor: uint32(min(want, len(set)))}
	if override > 0 && cp.ReplicationFactor != c.ReplicationFactor {
		cp.SetReplicationFactor = cp.ReplicationFactor
	}
	for _, s := range shards {
		fin := slices.Clone(final[s.ID])
		order.Sort(fin)
		reps := slices.Clone(s.Replicas)
		slices.SortFunc(reps, func(a, b Replica) int { return order[a.Peer] - order[b.Peer] })
		cp.Shards = append(cp.Shards, ShardPlan{ID: s.ID, Key: s.Key, Current: reps, Final: fin})
	}
	serving := func(shard uint32, peer uint64) bool { return inSet[peer] && state[shard][peer] == qdrant.StateActive }
	cp.Ops = orderOps(placement.ReconcileWith(cur, final, ids, serving))
	cp.Reason = reason(cp, set)
	return cp, warnings
}

// orderOps lists moves and replications before drops: that is the order
// in which they happen (a drop waits for the shard's wanted replicas).
func orderOps(ops []placement.Op) []placement.Op {
	slices.SortStableFunc(ops, func(a, b placement.Op) int {
		da, db := a.Kind == placement.Drop, b.Kind == placement.Drop
		switch {
		case da && !db:
			return 1
		case db && !da:
			return -1
		}
		return 0
	})
	return ops
}

func describeReplicas(reps []Replica) string {
	if len(reps) == 0 {
		return "no replica"
	}
	var parts []string
	for _, r := range reps {
		parts = append(parts, fmt.Sprintf("peer %d %s", r.Peer, r.State))
	}
	return strings.Join(parts, ", ")
}

func reason(cp *CollectionPlan, set []uint64) string {
	count := func(pick func(ShardPlan) []uint64) (lo, hi, used int) {
		load := map[uint64]int{}
		for _, s := range cp.Shards {
			for _, p := range pick(s) {
				load[p]++
			}
		}
		lo = -1
		for _, p := range set {
			n := load[p]
			if lo < 0 || n < lo {
				lo = n
			}
			hi = max(hi, n)
			if n > 0 {
				used++
			}
		}
		return lo, hi, used
	}
	now := func(s ShardPlan) []uint64 {
		var out []uint64
		for _, r := range s.Current {
			out = append(out, r.Peer)
		}
		return out
	}
	lo0, hi0, used0 := count(now)
	lo1, hi1, used1 := count(func(s ShardPlan) []uint64 { return s.Final })
	if len(cp.Ops) == 0 {
		return fmt.Sprintf("balanced: %d-%d replicas per peer on %d of %d peers, replication factor %d met", lo1, hi1, used1, len(set), cp.ReplicationFactor)
	}
	var moves, reps, drops int
	for _, op := range cp.Ops {
		switch op.Kind {
		case placement.Move:
			moves++
		case placement.Replicate:
			reps++
		case placement.Drop:
			drops++
		}
	}
	return fmt.Sprintf("%d-%d replicas per peer on %d of %d peers now, %d-%d on %d after %d moves, %d replications, %d drops",
		lo0, hi0, used0, len(set), lo1, hi1, used1, moves, reps, drops)
}
