package retention

import (
	"fmt"
	"sort"
	"time"
)

// Status is what a prune knows about a set.
type Status string

// Set statuses.
const (
	// Complete: the manifest exists and the set is not partial.
	Complete Status = "complete"
	// Partial: the manifest exists but shards were left out on request.
	Partial Status = "partial"
	// Failed: no manifest (the run failed or was killed).
	Failed Status = "failed"
	// Corrupt: the manifest exists but verification found bad objects;
	// it cannot be restored as a whole, so it is no good backup either.
	Corrupt Status = "corrupt"
)

// Set is one backup set as retention sees it.
type Set struct {
	ID     string
	Time   time.Time
	Status Status
}

// Policy holds the keep counts; zero disables a rule. A policy with every
// count zero keeps every complete set (there is nothing to decide by), and
// still removes failed and partial sets.
type Policy struct {
	KeepLast    int
	KeepDaily   int
	KeepWeekly  int
	KeepMonthly int
}

// IsZero reports whether no rule is set.
func (p Policy) IsZero() bool {
	return p.KeepLast <= 0 && p.KeepDaily <= 0 && p.KeepWeekly <= 0 && p.KeepMonthly <= 0
}

// Decision is the verdict on one set, with the rules that explain it
// (e.g. "last", "daily 2026-11-25", "newest complete", "failed").
type Decision struct {
	Set     Set
	Keep    bool
	Reasons []string
}

type bucketRule struct {
	name   string
	left   int
	last   string
	bucket func(time.Time) string
}

// Apply returns one decision per set, newest first (ties broken by id,
// descending, since ids sort by start time).
func Apply(p Policy, sets []Set) []Decision {
	sorted := append([]Set(nil), sets...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if !sorted[i].Time.Equal(sorted[j].Time) {
			return sorted[i].Time.After(sorted[j].Time)
		}
		return sorted[i].ID > sorted[j].ID
	})

	rules := []*bucketRule{
		{name: "daily", left: p.KeepDaily, bucket: func(t time.Time) string { return t.UTC().Format("2006-01-02") }},
		{name: "weekly", left: p.KeepWeekly, bucket: func(t time.Time) string {
			y, w := t.UTC().ISOWeek()
			return fmt.Sprintf("%04d-W%02d", y, w)
		}},
		{name: "monthly", left: p.KeepMonthly, bucket: func(t time.Time) string { return t.UTC().Format("2006-01") }},
	}
	keepLast := p.KeepLast
	newestSeen := false

	out := make([]Decision, 0, len(sorted))
	for _, s := range sorted {
		d := Decision{Set: s}
		if s.Status != Complete {
			d.Reasons = append(d.Reasons, string(s.Status))
			out = append(out, d)
			continue
		}
		if !newestSeen {
			newestSeen = true
			d.Keep = true
			d.Reasons = append(d.Reasons, "newest complete")
		}
		if p.IsZero() {
			d.Keep = true
			d.Reasons = append(d.Reasons, "no retention rule")
		}
		if keepLast > 0 {
			keepLast--
			d.Keep = true
			d.Reasons = append(d.Reasons, "last")
		}
		for _, r := range rules {
			if r.left <= 0 {
				continue
			}
			b := r.bucket(s.Time)
			if b == r.last {
				continue
			}
			r.last = b
			r.left--
			d.Keep = true
			d.Reasons = append(d.Reasons, r.name+" "+b)
		}
		if !d.Keep {
			d.Reasons = append(d.Reasons, "outside the policy")
		}
		out = append(out, d)
	}
	return out
}
