package restore

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// progressLines decodes the progress lines a JSON logger wrote.
func progressLines(t *testing.T, buf *syncBuffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == ProgressMessage {
			lines = append(lines, m)
		}
	}
	return lines
}

// syncBuffer is a bytes.Buffer safe for the reporter's ticker goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogProgressCountsShardsBytesAndExtrapolates(t *testing.T) {
	plan := &RestorePlan{Collections: []CollectionPlan{
		{Target: "docs", Shards: []ShardPlan{{ID: 0, Object: "a", Size: 100}, {ID: 1, Object: "b", Size: 300}}},
		{Target: "users", Shards: []ShardPlan{{ID: 0, Object: "c", Size: 600}, {ID: 1}}}, // no object: not counted
	}}
	var buf syncBuffer
	p := NewLogProgress(slog.New(slog.NewJSONHandler(&buf, nil)), time.Hour, plan)
	now := time.Unix(1000, 0)
	p.now = func() time.Time { return now }
	p.start = now

	p.PhaseStarted(PhaseCreate)
	now = now.Add(2 * time.Second)
	p.PhaseStarted(PhaseRecover)
	p.ShardSkipped("docs", 0) // an earlier run's: done, but no rate
	now = now.Add(10 * time.Second)
	p.ShardDone("docs", 1, nil) // 300 bytes in 10 s: 600 more take 20 s
	p.ShardDone("users", 0, errors.New("refused"))
	p.report() // what the ticker logs
	p.Stop()

	lines := progressLines(t, &buf)
	if len(lines) != 4 {
		t.Fatalf("got %d progress lines, want one per phase start, the tick and one at the end: %v", len(lines), lines)
	}
	first, tick, last := lines[0], lines[2], lines[3]
	if first["phase"] != PhaseCreate || first["shards_total"] != 3.0 || first["bytes_total"] != 1000.0 || first["shards_done"] != 0.0 {
		t.Errorf("first line = %v, want phase create, 0/3 shards, 1000 bytes in all", first)
	}
	if _, ok := lines[1]["eta"]; ok {
		t.Errorf("an ETA before any shard was recovered: %v", lines[1])
	}
	want := map[string]any{"phase": PhaseRecover, "shards_done": 2.0, "bytes_done": 400.0, "shards_failed": 1.0, "eta": "20s", "elapsed": "12s"}
	for k, v := range want {
		if tick[k] != v {
			t.Errorf("line during recovery: %s = %v, want %v (line %v)", k, tick[k], v, tick)
		}
	}
	if _, ok := last["eta"]; ok || last["phase"] != PhaseFinished || last["shards_done"] != 2.0 {
		t.Errorf("last line = %v, want phase %s, 2 shards done, no ETA", last, PhaseFinished)
	}
}

func TestRestoreLogsProgressThatAddsUpAcrossARerun(t *testing.T) {
	store := newMemStore()
	m := makeBackup(t, store, 2, "1.19.0", spec{name: "docs", shards: 4, rf: 1})
	f := newFakeCluster(peerIDs(2), "1.19.0")
	dieAfterShards(t, m, f, store, 2)

	var buf syncBuffer
	res, err := runOnto(t, m, f, store, &StoreJournal{Store: store, Cluster: m.Cluster}, PlanOptions{}, func(_ *RunOptions, d *RunDeps) {
		d.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
		d.ProgressEvery = time.Hour
	})
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	lines := progressLines(t, &buf)
	var phases []string
	for _, l := range lines[:len(lines)-1] {
		phases = append(phases, l["phase"].(string))
	}
	if !strings.HasPrefix(strings.Join(phases, ","), "create,recover,settle") {
		t.Errorf("progress lines at phase starts = %v, want create, recover, settle first", phases)
	}
	var size float64
	for _, s := range res.Plan.Collections[0].Shards {
		size += float64(s.Size)
	}
	last := lines[len(lines)-1]
	if last["shards_done"] != 4.0 || last["shards_total"] != 4.0 || last["bytes_done"] != size || last["bytes_total"] != size {
		t.Errorf("last progress line = %v, want 4/4 shards and %v/%v bytes (the skipped shards count as done)", last, size, size)
	}
	if res.Report.ShardsSkipped < 1 {
		t.Errorf("the rerun skipped %d shards; the test needs some", res.Report.ShardsSkipped)
	}
}
