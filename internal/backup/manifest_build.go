package backup

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// sample digests the first SampleSize points of every collection.
func (r *run) sample(ctx context.Context, state *clusterState) (map[string][]manifest.PointDigest, error) {
	out := map[string][]manifest.PointDigest{}
	if r.opts.SampleSize <= 0 {
		return out, nil
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Concurrency)
	for i, c := range state.collections {
		p := r.peers[i%len(r.peers)]
		g.Go(func() error {
			pts, _, err := p.client.Scroll(gctx, c.name, uint32(r.opts.SampleSize), nil, true, true)
			if err != nil {
				return fmt.Errorf("read sample points of %q on peer %d: %w", c.name, p.ID, err)
			}
			ds := make([]manifest.PointDigest, len(pts))
			for k := range pts {
				ds[k] = manifestDigest(qdrant.DigestOf(&pts[k]))
			}
			mu.Lock()
			out[c.name] = ds
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// buildManifest assembles the manifest of the snapshotted shards.
func (r *run) buildManifest(start time.Time, state *clusterState, jobs []job, results []manifest.Shard, samples map[string][]manifest.PointDigest, partial bool) *manifest.Manifest {
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: r.id, Cluster: r.opts.Cluster,
		QdrantVersion: state.version, ToolVersion: r.opts.ToolVersion, SnapshotMethod: r.opts.SnapshotMethod,
		Partial: partial, StartedAt: start,
	}
	for _, p := range r.peers {
		m.Peers = append(m.Peers, manifest.Peer{ID: p.ID, Pod: p.Pod, URI: p.Addr.REST})
	}
	for _, c := range state.collections {
		mc := manifest.Collection{
			Name: c.name, Config: c.info.Config, PayloadSchema: c.info.PayloadSchema,
			ShardingMethod: c.info.ShardingMethod, ShardNumber: c.info.ShardNumber,
			ReplicationFactor: c.info.ReplicationFactor, WriteConsistencyFactor: c.info.WriteConsistencyFactor,
			ShardKeys: shardKeys(c.shards), Aliases: c.aliases, Sample: samples[c.name],
			Shards: []manifest.Shard{},
		}
		if mc.ShardingMethod == "" {
			mc.ShardingMethod = "auto"
		}
		for i, j := range jobs {
			if j.Collection == c.name {
				mc.Shards = append(mc.Shards, results[i])
				mc.PointsCount += results[i].PointsCount
			}
		}
		m.Collections = append(m.Collections, mc)
	}
	first := true
	for _, s := range results {
		if first || s.StartedAt.Before(m.Window.FirstStart) {
			m.Window.FirstStart = s.StartedAt
		}
		if first || s.StartedAt.After(m.Window.LastStart) {
			m.Window.LastStart = s.StartedAt
		}
		first = false
	}
	m.Window.SkewMillis = m.Window.LastStart.Sub(m.Window.FirstStart).Milliseconds()
	return m
}
