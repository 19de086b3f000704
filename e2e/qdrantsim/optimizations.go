package qdrantsim

import (
	"context"
	"sort"
	"strings"
)

// GET /collections/{c}/optimizations (from 1.17): the optimizer's running,
// queued and completed optimizations and the idle segments of the
// receiving peer's local shards (src/actix/api/collections_api.rs
// get_optimizations, OptimizationsResponse in the OpenAPI document). The
// simulator has no optimizer: nothing runs, queues or completes, and each
// local replica is one idle segment. ?with= takes a comma-separated list
// of queued, completed and idle_segments, blanks around names ignored; an
// unknown name is a 400.

// OptimizationSegment is an OptimizationSegmentInfo.
type OptimizationSegment struct {
	UUID        string `json:"uuid"`
	PointsCount int    `json:"points_count"`
}

// OptimizationsSummary counts queued and idle segments.
type OptimizationsSummary struct {
	QueuedOptimizations int `json:"queued_optimizations"`
	QueuedSegments      int `json:"queued_segments"`
	QueuedPoints        int `json:"queued_points"`
	IdleSegments        int `json:"idle_segments"`
}

// OptimizationsResponse is the answer; the optional lists are left out
// unless asked for.
type OptimizationsResponse struct {
	Summary      OptimizationsSummary   `json:"summary"`
	Running      []any                  `json:"running"`
	Queued       *[]any                 `json:"queued,omitempty"`
	Completed    *[]any                 `json:"completed,omitempty"`
	IdleSegments *[]OptimizationSegment `json:"idle_segments,omitempty"`
}

// Optimizations answers GET /collections/{c}/optimizations?with=...
func (p *Peer) Optimizations(ctx context.Context, coll, with string) (*OptimizationsResponse, error) {
	var queued, completed, idle bool
	for _, field := range strings.Split(with, ",") {
		switch strings.TrimSpace(field) {
		case "":
		case "queued":
			queued = true
		case "completed":
			completed = true
		case "idle_segments":
			idle = true
		default:
			// OptimizationsRequestOptions::try_from prints the field
			// untrimmed.
			return nil, errf(KindBadInput, "Unknown field in 'with' parameter: %s", field)
		}
	}
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return nil, err
	}
	segs := []OptimizationSegment{}
	ids := make([]uint32, 0, len(p.data[col.name]))
	for id := range p.data[col.name] {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		d := p.data[col.name][id]
		segs = append(segs, OptimizationSegment{UUID: d.segment, PointsCount: d.count()})
	}
	res := &OptimizationsResponse{Summary: OptimizationsSummary{IdleSegments: len(segs)}, Running: []any{}}
	// A list asked for is sent even when empty; one not asked for is
	// left out.
	none := []any{}
	if queued {
		res.Queued = &none
	}
	if completed {
		res.Completed = &none
	}
	if idle {
		res.IdleSegments = &segs
	}
	return res, nil
}
