package backup

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// peerRef is a discovered peer with its client.
type peerRef struct {
	discovery.Peer
	client Peer
}

// collectionState is what the cluster says about one collection.
type collectionState struct {
	name    string
	info    *qdrant.CollectionInfo
	aliases []string
	shards  []ShardReplicas // sorted by shard id
}

// clusterState is the cluster as read before the snapshots.
type clusterState struct {
	version     string
	collections []*collectionState // sorted by name
}

// readCluster reads collections, configs, aliases and every peer's view
// of every selected collection. It only reads.
func readCluster(ctx context.Context, peers []peerRef, filter []string, version string, limit int) (*clusterState, error) {
	first := peers[0]
	state := &clusterState{version: version}
	if state.version == "" {
		v, err := first.client.Version(ctx)
		if err != nil {
			return nil, fmt.Errorf("read Qdrant version from peer %d: %w", first.ID, err)
		}
		state.version = v
	}
	names, err := first.client.ListCollections(ctx)
	if err != nil {
		return nil, fmt.Errorf("list collections on peer %d: %w", first.ID, err)
	}
	aliases, err := first.client.ListAliases(ctx)
	if err != nil {
		return nil, fmt.Errorf("list aliases on peer %d: %w", first.ID, err)
	}
	selected, err := selectCollections(names, aliases, filter)
	if err != nil {
		return nil, err
	}
	byCollection := map[string][]string{}
	for a, c := range aliases {
		byCollection[c] = append(byCollection[c], a)
	}

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i, name := range selected {
		g.Go(func() error {
			// Spread the config reads; cluster info must come from every
			// peer because local_shards are each peer's own view.
			info, err := peers[i%len(peers)].client.CollectionInfo(gctx, name)
			if err != nil {
				return fmt.Errorf("read collection %q: %w", name, err)
			}
			views := make([]*qdrant.CollectionCluster, len(peers))
			for j, p := range peers {
				v, err := p.client.CollectionCluster(gctx, name)
				if err != nil {
					return fmt.Errorf("read cluster info of collection %q on peer %d: %w", name, p.ID, err)
				}
				if p.ID == 0 {
					// A standalone peer: discovery knows it as peer 0.
					v.PeerID = 0
				}
				views[j] = v
			}
			known := map[uint64]bool{}
			for _, p := range peers {
				known[p.ID] = true
			}
			cs := &collectionState{name: name, info: info, shards: mergeViews(name, info, views, known)}
			cs.aliases = slices.Sorted(slices.Values(byCollection[name]))
			mu.Lock()
			state.collections = append(state.collections, cs)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(state.collections, func(a, b *collectionState) int { return cmp.Compare(a.name, b.name) })
	return state, nil
}

// selectCollections applies the filter (collection names or aliases).
func selectCollections(names []string, aliases map[string]string, filter []string) ([]string, error) {
	if len(filter) == 0 {
		return slices.Sorted(slices.Values(names)), nil
	}
	exists := map[string]bool{}
	for _, n := range names {
		exists[n] = true
	}
	want := map[string]bool{}
	var unknown []string
	for _, f := range filter {
		switch {
		case exists[f]:
			want[f] = true
		case exists[aliases[f]]:
			want[aliases[f]] = true
		default:
			unknown = append(unknown, f)
		}
	}
	if len(unknown) > 0 {
		have := slices.Sorted(slices.Values(names))
		return nil, fmt.Errorf("collection filter: %w %s (the cluster has: %s)",
			ErrUnknownCollection, quoteAll(unknown), strings.Join(have, ", "))
	}
	return slices.Sorted(func(yield func(string) bool) {
		for n := range want {
			if !yield(n) {
				return
			}
		}
	}), nil
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// mergeViews combines the peers' views of a collection into one list of
// shards with their replicas. A peer's view of its own replicas wins; a
// replica other peers see in a different state is flagged as conflicting,
// because consensus has not settled and the copy may be stale.
func mergeViews(collection string, info *qdrant.CollectionInfo, views []*qdrant.CollectionCluster, known map[uint64]bool) []ShardReplicas {
	type rk struct {
		shard uint32
		peer  uint64
	}
	own := map[rk]qdrant.LocalShard{}
	seen := map[rk][]string{}
	keys := map[uint32]*manifest.ShardKeyValue{}
	transfer, moveTarget := map[rk]bool{}, map[rk]bool{}
	for _, v := range views {
		for _, s := range v.LocalShards {
			own[rk{s.ShardID, v.PeerID}] = s
			if s.ShardKey != nil {
				keys[s.ShardID] = manifestKey(s.ShardKey)
			}
			if _, ok := seen[rk{s.ShardID, v.PeerID}]; !ok {
				seen[rk{s.ShardID, v.PeerID}] = nil
			}
		}
		for _, s := range v.RemoteShards {
			k := rk{s.ShardID, s.PeerID}
			seen[k] = append(seen[k], s.State)
			if s.ShardKey != nil {
				keys[s.ShardID] = manifestKey(s.ShardKey)
			}
		}
		for _, t := range v.ShardTransfers {
			transfer[rk{t.ShardID, t.From}] = true
			transfer[rk{t.ShardID, t.To}] = true
			if !t.Sync && t.ToShardID == nil {
				moveTarget[rk{t.ShardID, t.To}] = true
			}
			if t.ToShardID != nil {
				transfer[rk{*t.ToShardID, t.From}] = true
				transfer[rk{*t.ToShardID, t.To}] = true
			}
		}
	}
	byShard := map[uint32][]ReplicaInfo{}
	for k, others := range seen {
		r := ReplicaInfo{PeerID: k.peer, InTransfer: transfer[k], MoveTarget: moveTarget[k], Unreachable: !known[k.peer]}
		if l, ok := own[k]; ok {
			r.State, r.PointsCount = l.State, l.PointsCount
		} else if len(others) > 0 {
			r.State = others[0]
		}
		for _, o := range others {
			if o != r.State && !slices.Contains(r.Conflict, o) {
				r.Conflict = append(r.Conflict, o)
			}
		}
		byShard[k.shard] = append(byShard[k.shard], r)
	}
	// Auto sharding: shards 0..shard_number-1 all exist, even if no peer
	// reports a replica of one.
	if info.ShardingMethod != "custom" {
		for id := uint32(0); id < info.ShardNumber; id++ {
			if _, ok := byShard[id]; !ok {
				byShard[id] = nil
			}
		}
	}
	out := make([]ShardReplicas, 0, len(byShard))
	for id, rs := range byShard {
		sort.Slice(rs, func(i, j int) bool { return rs[i].PeerID < rs[j].PeerID })
		out = append(out, ShardReplicas{Collection: collection, ShardID: id, ShardKey: keys[id], Replicas: rs})
	}
	slices.SortFunc(out, func(a, b ShardReplicas) int { return cmp.Compare(a.ShardID, b.ShardID) })
	return out
}

// shardKeys groups the shard ids of a custom-sharded collection by key,
// with the key's replication factor as the most replicas any of its
// shards has. Qdrant stores no per-key factor, only each shard's placement
// (see manifest.ShardKey.ReplicationFactor), so this is the factor the key
// was created with unless replicas were added or dropped by hand since.
// Every state counts: a Dead replica is one the key lost, not one it never
// had, and recording fewer would restore the key with fewer. The receiving
// end of a running move does not: it replaces its source.
func shardKeys(shards []ShardReplicas) []manifest.ShardKey {
	var out []manifest.ShardKey
	for _, s := range shards {
		if s.ShardKey == nil {
			continue
		}
		i := slices.IndexFunc(out, func(k manifest.ShardKey) bool { return k.Key.Equal(*s.ShardKey) })
		if i < 0 {
			out = append(out, manifest.ShardKey{Key: *s.ShardKey})
			i = len(out) - 1
		}
		out[i].ShardIDs = append(out[i].ShardIDs, s.ShardID)
		n := uint32(0)
		for _, r := range s.Replicas {
			if !r.MoveTarget {
				n++
			}
		}
		out[i].ReplicationFactor = max(out[i].ReplicationFactor, n)
	}
	return out
}
