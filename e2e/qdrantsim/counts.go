package qdrantsim

import (
	"context"
	"math"
	"time"
)

// Approximate counts (Options.ApproximateCounts), modelled on what Qdrant
// really does:
//
//   - local_shards[].points_count in cluster info and points_count in
//     collection info come from a non-exact count without filter
//     (collection/collection_ops.rs cluster_info: CountRequestInternal
//     {exact: false}), which is each segment's available point count
//     (segment/read_view/payload.rs estimate_point_count). Deleted points
//     are NOT counted: the id tracker drops them at once, so there is no
//     "counts deleted points until optimisation" lag to model.
//   - The lag is elsewhere: an update sent with wait=false is answered
//     once it is in the WAL and applied later by the shard's update worker
//     (local_shard/shard_ops.rs append_and_dispatch,
//     await_update_result). Until then no read sees it — not counts, exact
//     or not, nor scrolls. The simulator queues such updates per replica
//     and applies them, in order, after Options.UpdateApplyDelay; a later
//     wait=true update on the replica first applies what is queued, as the
//     worker processes the queue in order. Snapshots include queued
//     updates, as Qdrant's include the WAL that replays them.
//   - POST .../points/count with exact=false and a filter is a cardinality
//     estimate (local_shard/shard_ops.rs count → estimate_cardinality): a
//     condition on a field without payload index is "unknown", half the
//     points (index/field_index/mod.rs CardinalityEstimation::unknown),
//     and conditions combine by index/query_estimator.rs (must: product of
//     fractions, should: 1 - product of misses, must_not: complement).
//     Only exact=true counts the matches.

// defaultUpdateApplyDelay is the update worker's lag when
// ApproximateCounts is on and no delay is configured.
const defaultUpdateApplyDelay = 20 * time.Millisecond

// waitKey carries an update's wait flag from the REST/gRPC layer.
type waitKey struct{}

// WithWait marks ctx as an update sent with the given wait flag. Go callers
// that do not mark it get wait=true.
func WithWait(ctx context.Context, wait bool) context.Context {
	return context.WithValue(ctx, waitKey{}, wait)
}

func waitFrom(ctx context.Context) bool {
	w, ok := ctx.Value(waitKey{}).(bool)
	return !ok || w
}

// updateApplier wraps the per-replica update fn: applied now (after what
// is queued) for wait=true or without ApproximateCounts, queued for the
// update worker otherwise. c.mu must be held when the result runs.
func (c *Cluster) updateApplier(ctx context.Context, fn func(d *replicaData)) func(d *replicaData) {
	if !c.opts.ApproximateCounts || waitFrom(ctx) {
		return func(d *replicaData) {
			d.flushPending()
			fn(d)
		}
	}
	delay := c.opts.UpdateApplyDelay
	return func(d *replicaData) {
		d.pending = append(d.pending, fn)
		time.AfterFunc(delay, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			// One firing per queued update applies the oldest one left:
			// order is kept even if timers fire out of order, and
			// updates a flush already applied are not applied twice.
			if len(d.pending) > 0 {
				next := d.pending[0]
				d.pending = d.pending[1:]
				next(d)
			}
		})
	}
}

// flushPending applies every queued update of d, in order.
func (d *replicaData) flushPending() {
	for len(d.pending) > 0 {
		next := d.pending[0]
		d.pending = d.pending[1:]
		next(d)
	}
}

// estimateCountLocked is a non-exact filtered count of one replica:
// CardinalityEstimation.exp over its points, with col's payload indexes
// deciding which conditions are known. c.mu must be held.
func estimateCountLocked(col *collection, d *replicaData, f *Filter) uint64 {
	total := len(d.points)
	if d.synthetic != nil {
		total = int(d.synthetic.Points)
	}
	if f == nil || total == 0 {
		return uint64(total)
	}
	e := estimator{col: col, d: d, total: total}
	return uint64(e.filter(f))
}

type estimator struct {
	col   *collection
	d     *replicaData
	total int
}

// filter is query_estimator.rs estimate_filter: must, should and must_not
// parts combined as a must.
func (e estimator) filter(f *Filter) int {
	var parts []int
	if len(f.Must) > 0 {
		parts = append(parts, e.must(f.Must))
	}
	if len(f.Should) > 0 {
		parts = append(parts, e.should(f.Should))
	}
	if len(f.MustNot) > 0 {
		var inv []int
		for i := range f.MustNot {
			inv = append(inv, e.total-e.condition(&f.MustNot[i]))
		}
		parts = append(parts, e.combineMust(inv))
	}
	return e.combineMust(parts)
}

func (e estimator) must(cs []Condition) int {
	var ex []int
	for i := range cs {
		ex = append(ex, e.condition(&cs[i]))
	}
	return e.combineMust(ex)
}

// combineMust is combine_must_estimations' exp: the product of the
// fractions times the total, rounded.
func (e estimator) combineMust(ex []int) int {
	p := 1.0
	for _, x := range ex {
		p *= float64(x) / float64(e.total)
	}
	return int(math.Round(p * float64(e.total)))
}

// should is expected_should_estimation.
func (e estimator) should(cs []Condition) int {
	miss := 1.0
	for i := range cs {
		miss *= 1 - float64(e.condition(&cs[i]))/float64(e.total)
	}
	return int(math.Round((1 - miss) * float64(e.total)))
}

// condition is condition_cardinality
// (struct_payload_index/read_view/filtering.rs): has_id counts the ids
// that exist; a field, is_empty or is_null condition on an indexed field
// is estimated by its index — the simulator counts the matches, as the
// index does for keyword and integer matches — and without an index it is
// unknown: total/2.
func (e estimator) condition(c *Condition) int {
	switch {
	case c.HasID != nil:
		n := 0
		for _, id := range c.HasID {
			if _, ok := e.d.points[id]; ok {
				n++
			}
		}
		return n
	case c.Key != "" || c.IsNul != nil || c.Empty != nil:
		key := c.Key
		if c.IsNul != nil {
			key = c.IsNul.Key
		}
		if c.Empty != nil {
			key = c.Empty.Key
		}
		if _, indexed := e.col.payloadSchema[key]; !indexed {
			return e.total / 2
		}
		n := 0
		for _, pt := range e.d.points {
			if c.check(pt.payload, pt, e.col.payloadSchema) {
				n++
			}
		}
		return n
	}
	return e.filter(&c.Filter)
}
