package restore

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// Intervals of the lines converge logs while it waits: a line when what it
// waits for changes (at most one per waitReportMinGap), and one every
// waitReportEvery while nothing changes, so a stuck wait (a transfer
// towards a stopped peer, say) says what it waits on and for how long
// instead of going silent or repeating itself at every poll.
const (
	waitReportMinGap = 2 * time.Second
	waitReportEvery  = 30 * time.Second
)

// waitReport logs what a converge waits for.
type waitReport struct {
	log      *slog.Logger
	start    time.Time
	deadline time.Time
	// first sighting of each running transfer, to say how long it runs
	seen   map[string]time.Time
	last   string
	lastAt time.Time
}

func newWaitReport(log *slog.Logger, name string, start time.Time, timeout time.Duration) *waitReport {
	return &waitReport{log: log.With("collection", name), start: start, deadline: start.Add(timeout), seen: map[string]time.Time{}}
}

// update is called at every poll with the shards not yet settled, the
// running transfers and the last error of an operation.
func (w *waitReport) update(now time.Time, pending []string, transfers []qdrant.ShardTransfer, lastErr error) {
	running := map[string]time.Time{}
	var ts []string
	for _, t := range transfers {
		kind := "move"
		if t.Sync {
			kind = "replication"
		}
		key := fmt.Sprintf("%s of shard %d from peer %d to peer %d", kind, t.ShardID, t.From, t.To)
		since, ok := w.seen[key]
		if !ok {
			since = now
		}
		running[key] = since
		ts = append(ts, fmt.Sprintf("%s (running %s)", key, now.Sub(since).Round(time.Second)))
	}
	w.seen = running
	// The wording of the line without durations decides whether
	// something changed.
	what := strings.Join(pending, ", ")
	var keys []string
	for k := range running {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	state := what + "|" + strings.Join(keys, ";")
	if lastErr != nil {
		state += "|" + lastErr.Error()
	}
	changed := state != w.last
	if changed && now.Sub(w.lastAt) < waitReportMinGap || !changed && now.Sub(w.lastAt) < waitReportEvery {
		return
	}
	if what == "" && len(ts) == 0 {
		return
	}
	w.last, w.lastAt = state, now
	args := []any{"waited", now.Sub(w.start).Round(time.Second).String(), "gives_up_in", w.deadline.Sub(now).Round(time.Second).String()}
	if what != "" {
		args = append(args, "shards_not_settled", what)
	}
	if len(ts) > 0 {
		args = append(args, "transfers", strings.Join(ts, "; "))
	}
	if lastErr != nil {
		args = append(args, "last_error", lastErr.Error())
	}
	w.log.Info("waiting for the replicas of the collection", args...)
}
