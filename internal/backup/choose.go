package backup

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// ShardReplicas is one shard with its replicas as the peers report them.
type ShardReplicas struct {
	Collection string
	ShardID    uint32
	ShardKey   *manifest.ShardKeyValue
	Replicas   []ReplicaInfo
}

// ReplicaInfo is one replica of a shard.
type ReplicaInfo struct {
	PeerID uint64
	// State is the state the holding peer reports for its own replica
	// (its view is authoritative), else what other peers report.
	State string
	// Conflict lists differing states other peers report; a replica the
	// peers disagree on is not snapshotted.
	Conflict []string
	// PointsCount is the holding peer's (approximate) count.
	PointsCount uint64
	// InTransfer: a shard transfer moves data from or to this replica.
	InTransfer bool
	// MoveTarget: the replica is the receiving end of a running move
	// (a transfer without sync): it replaces the source replica, which
	// Qdrant removes once the move completes ("sync" in
	// lib/collection/src/shards/transfer/mod.rs, ShardTransfer).
	MoveTarget bool
	// Unreachable: the peer is not part of the discovered topology.
	Unreachable bool
}

// eligible reports whether the replica holds a complete, stable copy.
// ReshardingScaleDown counts as active (it holds a superset of the data);
// everything else — Partial, Dead, Initializing, Recovery, Resharding,
// ManualRecovery, ActiveRead (writes may be missing), Listener — does not.
func (r ReplicaInfo) eligible() bool {
	if r.InTransfer || r.Unreachable || len(r.Conflict) > 0 {
		return false
	}
	return r.State == qdrant.StateActive || r.State == qdrant.StateReshardingScaleDown
}

func (r ReplicaInfo) String() string {
	s := fmt.Sprintf("peer %d %s", r.PeerID, r.State)
	switch {
	case r.Unreachable:
		s += " (peer not discovered)"
	case r.InTransfer:
		s += " (in a transfer)"
	case len(r.Conflict) > 0:
		s += " (other peers report " + strings.Join(r.Conflict, ", ") + ")"
	}
	return s
}

// Choice is the replica chosen for one shard.
type Choice struct {
	Collection  string
	ShardID     uint32
	ShardKey    *manifest.ShardKeyValue
	PeerID      uint64
	PointsCount uint64
}

// Unavailable is a shard without a replica that may be snapshotted.
type Unavailable struct {
	Collection string
	ShardID    uint32
	Replicas   []ReplicaInfo
}

func (u Unavailable) String() string {
	if len(u.Replicas) == 0 {
		return fmt.Sprintf("collection %q shard %d has no replica at all", u.Collection, u.ShardID)
	}
	rs := make([]string, 0, len(u.Replicas))
	for _, r := range u.Replicas {
		rs = append(rs, r.String())
	}
	return fmt.Sprintf("collection %q shard %d has no Active replica (replicas: %s)", u.Collection, u.ShardID, strings.Join(rs, ", "))
}

// ChooseReplicas picks one eligible replica per shard, spreading the work:
// shards are taken largest first (by points count) and each goes to the
// eligible peer with the least work assigned so far (then the one the
// remaining shards need least, Active before ReshardingScaleDown, the
// lowest peer id). Shards without an eligible
// replica are returned as unavailable. Both results are sorted by
// collection, then shard id. It is a pure function.
func ChooseReplicas(shards []ShardReplicas) ([]Choice, []Unavailable) {
	order := make([]int, len(shards))
	for i := range order {
		order[i] = i
	}
	weight := func(s ShardReplicas) uint64 {
		var w uint64
		for _, r := range s.Replicas {
			w = max(w, r.PointsCount)
		}
		return w
	}
	slices.SortStableFunc(order, func(a, b int) int {
		sa, sb := shards[a], shards[b]
		return cmp.Or(
			cmp.Compare(weight(sb), weight(sa)),
			cmp.Compare(sa.Collection, sb.Collection),
			cmp.Compare(sa.ShardID, sb.ShardID),
		)
	})

	// Work is counted in points plus one per shard, so empty shards are
	// spread too. Between equally loaded peers the one fewer of the
	// remaining shards could go to wins, so later shards still find a free
	// peer and every peer contributes bandwidth.
	load, demand := map[uint64]uint64{}, map[uint64]uint64{}
	for _, s := range shards {
		for _, r := range s.Replicas {
			if r.eligible() {
				demand[r.PeerID] += weight(s) + 1
			}
		}
	}
	var chosen []Choice
	var missing []Unavailable
	for _, i := range order {
		s := shards[i]
		best := -1
		for j, r := range s.Replicas {
			if !r.eligible() {
				continue
			}
			demand[r.PeerID] -= weight(s) + 1
			if best < 0 || better(r, s.Replicas[best], load, demand) {
				best = j
			}
		}
		if best < 0 {
			missing = append(missing, Unavailable{Collection: s.Collection, ShardID: s.ShardID, Replicas: s.Replicas})
			continue
		}
		r := s.Replicas[best]
		load[r.PeerID] += r.PointsCount + 1
		chosen = append(chosen, Choice{Collection: s.Collection, ShardID: s.ShardID, ShardKey: s.ShardKey, PeerID: r.PeerID, PointsCount: r.PointsCount})
	}
	slices.SortFunc(chosen, func(a, b Choice) int {
		return cmp.Or(cmp.Compare(a.Collection, b.Collection), cmp.Compare(a.ShardID, b.ShardID))
	})
	slices.SortFunc(missing, func(a, b Unavailable) int {
		return cmp.Or(cmp.Compare(a.Collection, b.Collection), cmp.Compare(a.ShardID, b.ShardID))
	})
	return chosen, missing
}

func better(a, b ReplicaInfo, load, demand map[uint64]uint64) bool {
	if la, lb := load[a.PeerID], load[b.PeerID]; la != lb {
		return la < lb
	}
	if da, db := demand[a.PeerID], demand[b.PeerID]; da != db {
		return da < db
	}
	if aa, ba := a.State == qdrant.StateActive, b.State == qdrant.StateActive; aa != ba {
		return aa
	}
	return a.PeerID < b.PeerID
}
