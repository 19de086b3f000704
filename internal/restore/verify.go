package restore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// verify checks every restored collection against the manifest: the
// planned replicas all Active, each replica holding the shard's recorded
// points count, the exact collection count, and the recorded sample of
// points equal in content. Every shard of a verified collection is
// recorded as verified, so a rerun has nothing left to do. Collections
// are verified concurrently (their checks are reads), and a collection
// that fails does not stop the others: the error lists every problem.
func (e *executor) verify(ctx context.Context) error {
	reports := make([]CollectionReport, len(e.plan.Collections))
	errs := make([]error, len(e.plan.Collections))
	var g errgroup.Group
	g.SetLimit(collectionParallel)
	for i, cp := range e.plan.Collections {
		g.Go(func() error {
			reports[i], errs[i] = e.verifyCollection(ctx, cp)
			if errs[i] != nil {
				return nil
			}
			return e.setShards(ctx, cp, ShardVerified)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	e.rep.Collections = append(e.rep.Collections, reports...)
	return errors.Join(errs...)
}

func (e *executor) verifyCollection(ctx context.Context, cp CollectionPlan) (CollectionReport, error) {
	name := cp.Target
	cr := CollectionReport{Name: name, Source: cp.Source, Shards: len(cp.Shards)}
	if err := e.waitActive(ctx, name, e.opts.WaitTimeout); err != nil {
		return cr, err
	}
	src := e.plan.Manifest.Collection(cp.Source)
	// A set that records the count range was taken knowing the cluster
	// may have been written to meanwhile (see live.go in the backup): the
	// exact count must lie in the range, and the replicas of a shard must
	// agree with each other rather than with the shard's count in cluster
	// info, which Qdrant only estimates and which moves under writes.
	var countRange *manifest.CountRange
	if src != nil && !e.plan.Manifest.Partial {
		countRange = src.PointsCountRange
	}
	var problems []string
	var want uint64
	for _, s := range cp.Shards {
		want += s.PointsCount
	}
	if cp.Reshard == nil {
		p, err := e.verifyShards(ctx, cp, countRange != nil)
		if err != nil {
			return cr, err
		}
		problems = append(problems, p...)
	}
	got, err := e.coord.Count(ctx, name, true, nil)
	if err != nil {
		return cr, fmt.Errorf("count points of %q: %w", name, err)
	}
	cr.Points = got
	switch {
	case countRange != nil:
		if !countRange.Contains(got) {
			problems = append(problems, fmt.Sprintf("%d points, the backup counted %s from the start of its first snapshot to the end of its last",
				got, countRange))
		}
	case got != want:
		problems = append(problems, fmt.Sprintf("%d points, the backup's shards hold %d", got, want))
	}
	if src != nil {
		if countRange == nil && src.PointsCount != want && !e.plan.Manifest.Partial {
			e.warn(fmt.Sprintf("collection %q: the backup recorded %d points but its shards hold %d (writes during the backup)", name, src.PointsCount, want))
		}
		n, p, err := e.verifySample(ctx, name, src.Sample)
		if err != nil {
			return cr, err
		}
		cr.Samples = n
		problems = append(problems, p...)
	}
	if len(problems) > 0 {
		return cr, fmt.Errorf("collection %q: %v: %w", name, problems, ErrVerify)
	}
	cr.Verified = true
	e.log.Info("collection verified", "collection", name, "points", got, "samples", cr.Samples)
	return cr, nil
}

// verifyShards compares the live placement with the plan and each
// replica's points count with the backup's, or with live set only with
// the other replicas of its shard. The count is read from the peer
// holding the replica (Qdrant only reports local shards' counts).
func (e *executor) verifyShards(ctx context.Context, cp CollectionPlan, live bool) ([]string, error) {
	name := cp.Target
	cc, err := e.coord.CollectionCluster(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read cluster info of %q: %w", name, err)
	}
	placement := livePlacement(cc)
	local := map[uint64]map[uint32]uint64{}
	var problems []string
	for _, s := range cp.Shards {
		tid := e.targetID(cp, s.ID)
		if !settled(placement[tid], s.Final) {
			problems = append(problems, fmt.Sprintf("%s, planned on peers %v", placement.describe(tid), s.Final))
		}
		replicaCounts := map[uint64]uint64{}
		for _, peer := range slices.Sorted(maps.Keys(placement[tid])) {
			counts, ok := local[peer]
			if !ok {
				c, err := e.deps.peer(peer)
				if err != nil {
					return nil, err
				}
				pcc, err := c.CollectionCluster(ctx, name)
				if err != nil {
					return nil, fmt.Errorf("read cluster info of %q on peer %d: %w", name, peer, err)
				}
				counts = map[uint32]uint64{}
				for _, ls := range pcc.LocalShards {
					counts[ls.ShardID] = ls.PointsCount
				}
				local[peer] = counts
			}
			replicaCounts[peer] = counts[tid]
			if got := counts[tid]; !live && got != s.PointsCount {
				problems = append(problems, fmt.Sprintf("shard %d on peer %d holds %d points, the backup %d", tid, peer, got, s.PointsCount))
			}
		}
		if live && len(slices.Compact(slices.Sorted(maps.Values(replicaCounts)))) > 1 {
			problems = append(problems, fmt.Sprintf("the replicas of shard %d disagree: points per peer %v", tid, replicaCounts))
		}
	}
	return problems, nil
}

// sampleParallel bounds the sampled points read back at once: each is
// one small scroll, and reading them one after the other made the
// verification of a collection cost as many round trips as its sample
// holds.
const sampleParallel = 8

// verifySample reads back each sampled point and compares its content
// hash with the one recorded at backup time.
func (e *executor) verifySample(ctx context.Context, name string, sample []manifest.PointDigest) (int, []string, error) {
	found := make([]string, len(sample))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(sampleParallel)
	for i, d := range sample {
		g.Go(func() error {
			var id qdrant.PointID
			if err := id.UnmarshalJSON(d.ID); err != nil {
				return fmt.Errorf("sample of %q: %w", name, err)
			}
			// Scroll's offset is inclusive: the first point returned is
			// the sampled one if it exists.
			pts, _, err := e.coord.Scroll(ctx, name, 1, &id, true, true)
			if err != nil {
				return fmt.Errorf("read sampled point %s of %q: %w", id, name, err)
			}
			switch {
			case len(pts) == 0 || pts[0].ID != id:
				found[i] = fmt.Sprintf("sampled point %s is missing", id)
			case qdrant.ContentHash(&pts[0]) != d.SHA256:
				found[i] = fmt.Sprintf("sampled point %s differs from the backup", id)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, nil, err
	}
	// In sample order, as read one by one.
	var problems []string
	for _, p := range found {
		if p != "" {
			problems = append(problems, p)
		}
	}
	return len(sample), problems, nil
}
