package restore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// reshard moves each resharded collection from its staging collection
// (restored with the recorded shard count) into the target created with
// the new count, by a streamed scroll→upsert copy: Qdrant routes every
// upserted point by the new count. Open-source Qdrant refuses its own
// resharding API ("only supported in Qdrant Cloud"), hence the copy.
func (e *executor) reshard(ctx context.Context) error {
	w := e.deps.Points
	if w == nil {
		return fmt.Errorf("resharding needs a point writer to copy points: %w", ErrInvalidOptions)
	}
	live, err := e.coord.ListCollections(ctx)
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	for _, cp := range e.plan.Collections {
		if cp.Reshard == nil || e.reshardDone[cp.Target] {
			continue
		}
		src := e.plan.Manifest.Collection(cp.Source)
		if !slices.Contains(live, cp.Target) {
			body, _, err := createRequest(src.Config, cp.Reshard.ToShards, cp.ReplicationFactor, cp.WriteConsistencyFactor)
			if err != nil {
				return fmt.Errorf("collection %q: %w", cp.Source, err)
			}
			e.log.Info("creating resharded collection", "collection", cp.Target, "shard_number", cp.Reshard.ToShards)
			if err := e.coord.CreateCollection(ctx, cp.Target, body); err != nil {
				return fmt.Errorf("create collection %q: %w", cp.Target, err)
			}
		} else if err := e.coord.UpdateCollection(ctx, cp.Target, strictModeDisabled); err != nil {
			return fmt.Errorf("disable strict mode of %q: %w", cp.Target, err)
		}
		if err := e.createIndexes(ctx, cp.Target, src.PayloadSchema); err != nil {
			return err
		}
		if err := e.waitActive(ctx, cp.Target, e.opts.WaitTimeout); err != nil {
			return err
		}
		n, err := e.copyPoints(ctx, w, cp.Reshard.Staging, cp.Target)
		if err != nil {
			return err
		}
		want, err := e.coord.Count(ctx, cp.Reshard.Staging, true, nil)
		if err != nil {
			return fmt.Errorf("count points of %q: %w", cp.Reshard.Staging, err)
		}
		got, err := e.coord.Count(ctx, cp.Target, true, nil)
		if err != nil {
			return fmt.Errorf("count points of %q: %w", cp.Target, err)
		}
		if got != want {
			return fmt.Errorf("resharded %q holds %d points, staging %q %d: %w", cp.Target, got, cp.Reshard.Staging, want, ErrVerify)
		}
		// The staging collection is deleted next and aliases move to the
		// target after this phase: it must hold what the backup holds.
		if ok, expected := e.backupCount(cp, got); !ok {
			return fmt.Errorf("resharded %q holds %d points, the backup %s; staging %q kept: %w", cp.Target, got, expected, cp.Reshard.Staging, ErrVerify)
		}
		e.log.Info("points copied", "from", cp.Reshard.Staging, "to", cp.Target, "points", n)
		if err := e.coord.DeleteCollection(ctx, cp.Reshard.Staging); err != nil {
			return fmt.Errorf("delete staging collection %q: %w", cp.Reshard.Staging, err)
		}
	}
	return nil
}

// backupCount reports whether n is the point count the backup recorded
// for cp's collection, and that count for messages: the exact count range
// of sets that record one (see verify), else the sum of the shards'.
func (e *executor) backupCount(cp CollectionPlan, n uint64) (bool, string) {
	src := e.plan.Manifest.Collection(cp.Source)
	if src != nil && !e.plan.Manifest.Partial && src.PointsCountRange != nil {
		return src.PointsCountRange.Contains(n), "counted " + src.PointsCountRange.String()
	}
	var want uint64
	for _, s := range cp.Shards {
		want += s.PointsCount
	}
	return n == want, fmt.Sprintf("holds %d", want)
}

// copyPoints streams every point of from into to, one page in memory at
// a time. Pages are sized by bytes, not only by points: a point's vectors
// and payload can be large, and the gRPC client refuses answers above
// qdrant.MaxReceiveBytes. The next scroll page is sized from the bytes
// per point of the last one, and upserts are split at CopyBytes (bytes
// as an upsert request encodes them, qdrant.UpsertSize). Upserts are idempotent, so a rerun after a crash copies
// again from the start without harm.
func (e *executor) copyPoints(ctx context.Context, w PointWriter, from, to string) (int, error) {
	return CopyPoints(ctx, e.coord, w, from, to, CopyLimits{Batch: e.opts.CopyBatch, Bytes: e.opts.CopyBytes})
}

// Defaults of the point copy: the most points one scroll reads, and the
// most encoded bytes one upsert sends.
const (
	DefaultCopyBatch = 256
	DefaultCopyBytes = 8 << 20
)

// CopyLimits bound one step of CopyPoints; zero takes the default.
type CopyLimits struct {
	Batch uint32 // default DefaultCopyBatch
	Bytes int    // default DefaultCopyBytes
}

// CopyPoints copies every point of collection from into collection to,
// with vectors and payloads, by scroll and upsert (Qdrant routes each
// upserted point by the target's shard count); it is the point copy of
// the restore's resharding, offered to qbackup rebalance. A scroll reads
// at most batch points, sized by the average point of the last one, and
// upserts are split at maxBytes of encoded points (see CopyLimits).
func CopyPoints(ctx context.Context, r PointReader, w PointWriter, from, to string, limits CopyLimits) (int, error) {
	batch := cmp.Or(limits.Batch, DefaultCopyBatch)
	maxBytes := cmp.Or(limits.Bytes, DefaultCopyBytes)
	var offset *qdrant.PointID
	n := 0
	limit := batch
	for {
		pts, next, err := r.Scroll(ctx, from, limit, offset, true, true)
		if err != nil {
			return n, fmt.Errorf("read points of %q: %w", from, err)
		}
		sizes := make([]int, len(pts))
		total := 0
		for i := range pts {
			sizes[i] = qdrant.UpsertSize(&pts[i])
			total += sizes[i]
		}
		for start := 0; start < len(pts); {
			end, bytes := start, 0
			for end < len(pts) && (end == start || bytes+sizes[end] <= maxBytes) {
				bytes += sizes[end]
				end++
			}
			if err := w.UpsertPoints(ctx, to, pts[start:end]); err != nil {
				return n, fmt.Errorf("write points into %q: %w", to, err)
			}
			n += end - start
			start = end
		}
		if next == nil {
			return n, nil
		}
		offset = next
		if len(pts) > 0 {
			per := max(total/len(pts), 1)
			limit = uint32(min(max(maxBytes/per, 1), int(batch)))
		}
	}
}
