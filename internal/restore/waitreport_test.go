package restore

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// TestWaitReportSaysWhatIsWaitedOnWithoutRepeatingItself: a transfer
// towards a stopped peer polled every 0.5 s for two minutes gives a line
// when the wait starts and one every 30 s, each naming the transfer, how
// long it runs and the last error — not a line per poll.
func TestWaitReportSaysWhatIsWaitedOnWithoutRepeatingItself(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	w := newWaitReport(log, "docs", start, 30*time.Minute)
	stuck := []qdrant.ShardTransfer{{ShardID: 2, From: 1, To: 3, Sync: true}}
	refused := errors.New("peer 3 unreachable")
	for i := 0; i <= 240; i++ { // 2 minutes of polls
		w.update(start.Add(time.Duration(i)*500*time.Millisecond), []string{"shard 2 [1:Active 3:Partial]"}, stuck, refused)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 { // at 0, 30, 60, 90, 120 s
		t.Fatalf("%d lines for 2 minutes of the same wait, want 5:\n%s", len(lines), buf.String())
	}
	last := lines[len(lines)-1]
	for _, want := range []string{"collection=docs", "replication of shard 2 from peer 1 to peer 3 (running 2m0s)",
		"shard 2 [1:Active 3:Partial]", "last_error=\"peer 3 unreachable\"", "waited=2m0s", "gives_up_in=28m0s"} {
		if !strings.Contains(last, want) {
			t.Errorf("line %q does not say %q", last, want)
		}
	}

	// A change is reported at once (after the minimum gap).
	buf.Reset()
	w.update(start.Add(123*time.Second), []string{"shard 2 [1:Active 3:Active]"}, nil, nil)
	if !strings.Contains(buf.String(), "shard 2 [1:Active 3:Active]") {
		t.Errorf("a changed wait is not reported: %q", buf.String())
	}
}
