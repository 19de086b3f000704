package restore

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// Qdrant applies cluster changes through consensus, and each peer answers
// GET /collections/{c}/cluster from its own applied state: a peer that
// has not applied a change yet still shows the old placement. A recovery
// returns before its replica state proposals are applied (and a proposal
// can be lost), and a move is committed before it runs. So what the
// restore records, and what it builds on, is what every peer agrees on.

// agreement reads the collection as every peer of the plan sees it and
// reports, for the shards of want, whether every view shows the wanted
// replicas, all Active, and no transfer of the shard; with exact, no other
// replica either. what describes the first disagreement; transfer is set
// when some view shows a transfer of one of the shards.
func (e *executor) agreement(ctx context.Context, name string, want map[uint32][]uint64, exact bool) (ok, transfer bool, what string, err error) {
	ok = true
	for _, tp := range e.plan.Peers {
		c, err := e.deps.peer(tp.ID)
		if err != nil {
			return false, transfer, "", err
		}
		cc, err := c.CollectionCluster(ctx, name)
		if err != nil {
			return false, transfer, "", fmt.Errorf("read cluster info of %q on peer %d: %w", name, tp.ID, err)
		}
		if agreed, moving, why := agrees(cc, want, exact); !agreed {
			transfer = transfer || moving
			if ok {
				ok, what = false, fmt.Sprintf("peer %d sees %s", tp.ID, why)
			}
		}
	}
	return ok, transfer, what, nil
}

// agrees checks one peer's view against want.
func agrees(cc *qdrant.CollectionCluster, want map[uint32][]uint64, exact bool) (ok, transfer bool, what string) {
	live := livePlacement(cc)
	for _, id := range slices.Sorted(maps.Keys(want)) {
		for _, t := range cc.ShardTransfers {
			if t.ShardID == id || t.ToShardID != nil && *t.ToShardID == id {
				return false, true, fmt.Sprintf("shard %d transferring from peer %d to %d", id, t.From, t.To)
			}
		}
		if !hasActive(live[id], want[id]) || exact && len(live[id]) != len(want[id]) {
			return false, false, fmt.Sprintf("%s, want %v Active", live.describe(id), want[id])
		}
	}
	return true, false, ""
}

// restoredSet is, per collection and shard, the peers whose replica holds
// the restored data: recovered from the backup, or filled by a transfer
// from such a replica.
type restoredSet map[string]map[uint32]map[uint64]bool

func (e *executor) restoredOf(name string, shard uint32) map[uint64]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.restored[name][shard])
}

func (e *executor) markRestored(name string, shard uint32, peers ...uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.restored[name] == nil {
		e.restored[name] = map[uint32]map[uint64]bool{}
	}
	if e.restored[name][shard] == nil {
		e.restored[name][shard] = map[uint64]bool{}
	}
	for _, p := range peers {
		e.restored[name][shard][p] = true
	}
}
