package printer

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	msgs := []string{"restore progress", "backup progress", SummaryMessage}
	tests := []struct {
		name, line, want string
		ok               bool
	}{
		{"restore mid-recover",
			`{"time":"2026-12-07T03:00:00Z","level":"INFO","msg":"restore progress","phase":"recover","shards_done":3,"shards_total":12,"bytes_done":1288490188,"bytes_total":4294967296,"elapsed":"40s","eta":"1m50s"}`,
			"recover: 3/12 shards, 1.2 GiB of 4.0 GiB, 40s elapsed, ETA 1m50s", true},
		{"restore with failures and no ETA yet",
			`{"msg":"restore progress","phase":"create","shards_done":0,"shards_total":4,"shards_failed":1,"bytes_done":0,"bytes_total":2048,"elapsed":"1s"}`,
			"create: 0/4 shards (1 failed), 0 B of 2.0 KiB, 1s elapsed", true},
		{"backup",
			`{"msg":"backup progress","shards_done":5,"shards_total":8,"bytes":52428800,"elapsed":"10s","rate_mib_s":5,"eta":"6s"}`,
			"backup: 5/8 shards, 50.0 MiB, 5.0 MiB/s, 10s elapsed, ETA 6s", true},
		{"the summary of a run",
			`{"msg":"run complete","command":"restore <backup>","summary":"backup x restored (consolidate): 1 collections, 2 shards, 10 bytes, RTO 3s"}`,
			"backup x restored (consolidate): 1 collections, 2 shards, 10 bytes, RTO 3s", true},
		{"another message", `{"msg":"restore phase started","phase":"recover"}`, "", false},
		{"a text line", `time=... msg="restore progress"`, "", false},
		{"broken JSON", `{"msg":"restore progress",`, "", false},
		{"empty", ``, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ProgressLine([]byte(tt.line), msgs...)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ProgressLine = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestRebalanceLine: a rebalance run's milestones, written by slog's JSON
// handler as the run writes them in a pod (durations as nanoseconds),
// become --wait lines; anything else is not shown.
func TestRebalanceLine(t *testing.T) {
	record := func(msg string, args ...any) string {
		var b bytes.Buffer
		slog.New(slog.NewJSONHandler(&b, nil)).Info(msg, append([]any{"rebalance_id", "rb-20261207T030000Z", "cluster", "prod"}, args...)...)
		return strings.TrimSuffix(b.String(), "\n")
	}
	tests := []struct {
		name, line, want string
		ok               bool
	}{
		{"a collection starts", record("rebalancing collection", "collection", "docs", "operations", 4, "plan", "3 shards × 2 replicas over 4 pods"),
			"rebalance docs: 4 operations (3 shards × 2 replicas over 4 pods)", true},
		{"one operation", record("rebalancing collection", "collection", "docs", "operations", 1, "plan", ""), "rebalance docs: 1 operation", true},
		{"a collection ends", record("collection rebalanced", "collection", "docs", "duration", 12*time.Second+340*time.Millisecond), "docs rebalanced in 12s", true},
		{"resharding starts", record("resharding collection", "collection", "images", "from_shards", 2, "to_shards", 4, "method", "resharding"),
			"reshard images: 2 → 4 shards (resharding)", true},
		{"resharding ends", record("collection resharded", "collection", "images", "shards", 4, "duration", 95*time.Second), "images resharded to 4 shards in 1m35s", true},
		{"replicas planned after resharding", record("replicas of the resharded collection planned", "collection", "images", "operations", 2, "plan", "4 shards × 1 replica over 4 pods"),
			"replicas of images: 2 operations (4 shards × 1 replica over 4 pods)", true},
		{"replication factor", record("replication factor set", "collection", "docs", "replication_factor", 2), "docs: replication factor set to 2", true},
		{"nothing to do", record("nothing to rebalance: every collection is balanced and has its replication factor"),
			"nothing to rebalance: every collection is balanced and has its replication factor", true},
		{"another message", record("migrating points", "collection", "docs"), "", false},
		{"a text line", "Rebalance plan for cluster prod", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RebalanceLine([]byte(tt.line))
			if got != tt.want || ok != tt.ok {
				t.Errorf("RebalanceLine(%s) = %q, %v; want %q, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}
