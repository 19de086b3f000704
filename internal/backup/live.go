package backup

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// A backup of a cluster that takes writes is not one instant: each shard
// is copied as of some moment between its snapshot's start and end. What
// the set promises, and what a restore verifies, is bounded by two
// readings around all snapshots — one just before the first starts, one
// just after the last ends:
//
//   - each collection's exact point count at both readings (a range);
//   - each shard's count as its source peer reports it at both readings
//     (approximate in Qdrant, so recorded for information only);
//   - the sample: only points whose content digest is the same at both
//     readings are kept, since the set holds either version of the others.

// exactCounts counts every collection exactly, spreading the calls over
// the peers.
func (r *run) exactCounts(ctx context.Context, state *clusterState) (map[string]uint64, error) {
	out := map[string]uint64{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Concurrency)
	for i, c := range state.collections {
		p := r.peers[i%len(r.peers)]
		g.Go(func() error {
			n, err := p.client.Count(gctx, c.name, true, nil)
			if err != nil {
				return fmt.Errorf("count points of %q on peer %d: %w", c.name, p.ID, err)
			}
			mu.Lock()
			out[c.name] = n
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// shardCountsAfter reads each snapshotted shard's points count from its
// source peer (Qdrant reports a peer's own shards' counts only).
func (r *run) shardCountsAfter(ctx context.Context, jobs []job) ([]uint64, error) {
	type key struct {
		peer uint64
		coll string
	}
	views := map[key]map[uint32]uint64{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Concurrency)
	for _, j := range jobs {
		k := key{j.PeerID, j.Collection}
		mu.Lock()
		_, seen := views[k]
		views[k] = nil
		mu.Unlock()
		if seen {
			continue
		}
		g.Go(func() error {
			cc, err := r.deps.Peers[k.peer].CollectionCluster(gctx, k.coll)
			if err != nil {
				return fmt.Errorf("read cluster info of %q on peer %d: %w", k.coll, k.peer, err)
			}
			counts := map[uint32]uint64{}
			for _, ls := range cc.LocalShards {
				counts[ls.ShardID] = ls.PointsCount
			}
			mu.Lock()
			views[k] = counts
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]uint64, len(jobs))
	for i, j := range jobs {
		out[i] = views[key{j.PeerID, j.Collection}][j.ShardID]
	}
	return out, nil
}

// stableSample re-reads every sampled point and keeps those whose digest
// is unchanged; it returns the kept digests per collection and how many
// were dropped.
func (r *run) stableSample(ctx context.Context, samples map[string][]manifest.PointDigest) (map[string][]manifest.PointDigest, map[string]int, error) {
	kept := map[string][]manifest.PointDigest{}
	dropped := map[string]int{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Concurrency)
	i := 0
	for coll, ds := range samples {
		p := r.peers[i%len(r.peers)]
		i++
		g.Go(func() error {
			var keep []manifest.PointDigest
			for _, d := range ds {
				same, err := sameDigest(gctx, p.client, coll, d)
				if err != nil {
					return fmt.Errorf("re-read sampled points of %q on peer %d: %w", coll, p.ID, err)
				}
				if same {
					keep = append(keep, d)
				}
			}
			mu.Lock()
			kept[coll], dropped[coll] = keep, len(ds)-len(keep)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return kept, dropped, nil
}

// sameDigest reads one point back and compares its digest.
func sameDigest(ctx context.Context, p Peer, coll string, d manifest.PointDigest) (bool, error) {
	var id qdrant.PointID
	if err := id.UnmarshalJSON(d.ID); err != nil {
		return false, err
	}
	// Scroll's offset is inclusive: the first point returned is this one
	// if it still exists.
	pts, _, err := p.Scroll(ctx, coll, 1, &id, true, true)
	if err != nil {
		return false, err
	}
	return len(pts) > 0 && pts[0].ID == id && qdrant.ContentHash(&pts[0]) == d.SHA256, nil
}
