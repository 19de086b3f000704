package printer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SummaryMessage is the message of the line a run logs when it succeeded,
// with what it did as the summary attribute (for a restore, its RTO).
const SummaryMessage = "run complete"

// progressRecord holds the attributes of a backup's or a restore's
// periodic progress log line (backup.LogProgress, restore.LogProgress).
type progressRecord struct {
	Msg          string   `json:"msg"`
	Summary      string   `json:"summary"`
	Phase        string   `json:"phase"`
	ShardsDone   int      `json:"shards_done"`
	ShardsTotal  int      `json:"shards_total"`
	ShardsFailed int      `json:"shards_failed"`
	Bytes        *int64   `json:"bytes"`
	BytesDone    *int64   `json:"bytes_done"`
	BytesTotal   *int64   `json:"bytes_total"`
	Rate         *float64 `json:"rate_mib_s"`
	Elapsed      string   `json:"elapsed"`
	ETA          string   `json:"eta"`
}

// ProgressLine renders one JSON log line of a running backup or restore
// as a short line for a person watching it (kubectl qbackup ... --wait):
// "recover: 3/12 shards, 1.2 GiB of 4.0 GiB, 40s elapsed, ETA 1m50s". It
// says false for any other line, so a whole log can be fed through it;
// messages are the progress lines' messages to show. A line with a
// summary (SummaryMessage) is shown as its summary.
func ProgressLine(line []byte, messages ...string) (string, bool) {
	if len(line) == 0 || line[0] != '{' {
		return "", false
	}
	var r progressRecord
	if err := json.Unmarshal(line, &r); err != nil || !slices.Contains(messages, r.Msg) {
		return "", false
	}
	if r.Summary != "" {
		return r.Summary, true
	}
	parts := []string{fmt.Sprintf("%d/%d shards", r.ShardsDone, r.ShardsTotal)}
	if r.ShardsFailed > 0 {
		parts[0] += fmt.Sprintf(" (%d failed)", r.ShardsFailed)
	}
	switch {
	case r.BytesDone != nil && r.BytesTotal != nil:
		parts = append(parts, Bytes(*r.BytesDone)+" of "+Bytes(*r.BytesTotal))
	case r.Bytes != nil:
		parts = append(parts, Bytes(*r.Bytes))
	}
	if r.Rate != nil && *r.Rate > 0 {
		parts = append(parts, fmt.Sprintf("%.1f MiB/s", *r.Rate))
	}
	if r.Elapsed != "" {
		parts = append(parts, r.Elapsed+" elapsed")
	}
	if r.ETA != "" {
		parts = append(parts, "ETA "+r.ETA)
	}
	what := r.Phase
	if what == "" {
		what, _, _ = strings.Cut(r.Msg, " ")
	}
	return what + ": " + strings.Join(parts, ", "), true
}

// rebalanceRecord holds the attributes of a rebalance run's milestone log
// lines (internal/rebalance, run.go: one as each collection's resharding,
// replication factor and moves start and end).
type rebalanceRecord struct {
	Msg               string `json:"msg"`
	Collection        string `json:"collection"`
	Operations        *int   `json:"operations"`
	Plan              string `json:"plan"`
	Duration          *int64 `json:"duration"` // nanoseconds, as slog's JSON writes a time.Duration
	FromShards        int    `json:"from_shards"`
	ToShards          int    `json:"to_shards"`
	Shards            int    `json:"shards"`
	Method            string `json:"method"`
	ReplicationFactor int    `json:"replication_factor"`
}

// RebalanceLine renders a rebalance run's milestone JSON log line as a
// short line for a person waiting on the Job (kubectl qbackup rebalance
// --wait), which otherwise shows nothing between "running" and the
// outcome while shards move for minutes: "rebalance docs: 4 operations
// (plan)", "docs rebalanced in 12s". False for any other line.
func RebalanceLine(line []byte) (string, bool) {
	if len(line) == 0 || line[0] != '{' {
		return "", false
	}
	var r rebalanceRecord
	if err := json.Unmarshal(line, &r); err != nil {
		return "", false
	}
	took := ""
	if r.Duration != nil {
		took = " in " + Duration(time.Duration(*r.Duration))
	}
	ops := func() string {
		if r.Operations == nil {
			return ""
		}
		s := fmt.Sprintf(": %d %s", *r.Operations, plural(*r.Operations, "operation", "operations"))
		if r.Plan != "" {
			s += " (" + r.Plan + ")"
		}
		return s
	}
	switch r.Msg {
	case "resharding collection":
		return fmt.Sprintf("reshard %s: %d → %d shards (%s)", r.Collection, r.FromShards, r.ToShards, r.Method), true
	case "collection resharded":
		return fmt.Sprintf("%s resharded to %d shards%s", r.Collection, r.Shards, took), true
	case "replicas of the resharded collection planned":
		return "replicas of " + r.Collection + ops(), true
	case "replication factor set":
		return fmt.Sprintf("%s: replication factor set to %d", r.Collection, r.ReplicationFactor), true
	case "rebalancing collection":
		return "rebalance " + r.Collection + ops(), true
	case "collection rebalanced":
		return r.Collection + " rebalanced" + took, true
	case "nothing to rebalance: every collection is balanced and has its replication factor":
		return r.Msg, true
	}
	return "", false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
