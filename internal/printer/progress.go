package printer

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
