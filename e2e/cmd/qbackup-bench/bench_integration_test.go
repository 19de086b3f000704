//go:build integration

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHarnessSmoke runs the whole harness once at a tiny size against the
// stack's MinIO: every variant, the peer rate cap, the skew case, and both
// outputs.
func TestHarnessSmoke(t *testing.T) {
	if os.Getenv("QBACKUP_TEST_S3_ENDPOINT") == "" {
		t.Skip("no test stack: source \"$(e2e/stack/stack.sh env-file)\"")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	qb := filepath.Join(dir, "qbackup")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", qb, "github.com/qbackup/qbackup/cmd/qbackup").CombinedOutput(); err != nil {
		t.Fatalf("build qbackup: %v\n%s", err, out)
	}
	res, md := filepath.Join(dir, "results.json"), filepath.Join(dir, "BENCHMARKS.md")
	var log strings.Builder
	err := run(ctx, []string{"--qbackup", qb, "--sizes", "6MiB", "--peer-rates", "20MiB", "--reps", "1", "--shards", "1",
		"--skew-shards", "2", "--skew-size", "3MiB", "--scaling-size", "3MiB", "--scaling-rate", "20MiB", "--scaling-shards", "1,2",
		"--scaling-peers", "1", "--scaling-peer-shards", "2", "--worker-scaling", "1,2", "--workers-size", "4MiB", "--workers-peers", "2",
		"--workers-shards", "4", "--workers-peer-rate", "20MiB", "--worker-rate", "8MiB",
		"--results", res, "--markdown", md, "--stack", ""}, &log, os.Stderr)
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	var r results
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range r.Figures {
		seen[f.Case+"/"+f.Variant] = true
		if len(f.Runs) != 1 || f.Summary.WallMedianS <= 0 || f.Summary.MaxRSSMiB <= 0 || f.DataBytes < f.SizeBytes {
			t.Errorf("figure %s/%s: %+v", f.Case, f.Variant, f)
		}
		if f.Variant == varBackup && f.Case != caseWorkersRestore && f.Summary.SkewMedianMS == nil {
			t.Errorf("figure %s/%s has no skew", f.Case, f.Variant)
		}
		if f.Case == caseWorkers || f.Case == caseWorkersRestore {
			// One set of 4 MiB, each worker capped at 8 MiB/s to MinIO:
			// no worker may have moved its share faster.
			s := f.Runs[0]
			if len(s.WorkerRSSMiB) != f.Workers || len(s.WorkerBytes) != f.Workers || len(s.WorkerWallS) != f.Workers {
				t.Errorf("worker-scaling with %d workers: per-worker figures %+v", f.Workers, s)
			}
			var sum int64
			for i, b := range s.WorkerBytes {
				sum += b
				if b <= 0 || s.WorkerRSSMiB[i] <= 0 {
					t.Errorf("worker-scaling with %d workers: worker %d moved %d bytes, rss %.0f MiB", f.Workers, i, b, s.WorkerRSSMiB[i])
				}
				if least := float64(b) / (8 << 20); s.WorkerWallS[i] < least*0.9 {
					t.Errorf("worker-scaling: worker %d took %.2fs for %d bytes, faster than its 8 MiB/s cap allows", i, s.WorkerWallS[i], b)
				}
			}
			if sum != f.DataBytes {
				t.Errorf("worker-scaling with %d workers: shares add up to %d bytes, the set has %d", f.Workers, sum, f.DataBytes)
			}
			seen[fmt.Sprintf("%s/%d", f.Case, f.Workers)] = true
		}
		// 20 MiB/s per peer: no peer may have moved its share faster.
		perPeer := float64(f.SizeBytes) / float64(f.Peers) / (20 << 20)
		if f.Summary.WallMedianS < perPeer*0.9 {
			t.Errorf("figure %s/%s: %.2fs, faster than the peer rate cap allows (%.2fs)", f.Case, f.Variant, f.Summary.WallMedianS, perPeer)
		}
	}
	for _, k := range []string{"backup/backup", "backup/raw-backup", "backup/naive-backup", "restore/restore", "restore/raw-restore", "skew/backup",
		"scaling/backup", "scaling/raw-backup", "scaling-restore/restore", "scaling-restore/raw-restore", "worker-scaling/1", "worker-scaling/2",
		"worker-scaling-restore/1", "worker-scaling-restore/2"} {
		if !seen[k] {
			t.Errorf("no figure %s in %s", k, res)
		}
	}
	if len(r.Goals) < 5 || r.Machine.Cores == 0 || r.Machine.GoVersion == "" {
		t.Errorf("goals %d, machine %+v", len(r.Goals), r.Machine)
	}
	text, err := os.ReadFile(md)
	if err != nil || !strings.Contains(string(text), "backup / raw GET→S3") {
		t.Errorf("BENCHMARKS.md: %v\n%s", err, text)
	}
	if !strings.Contains(string(text), "## Workers") || !strings.Contains(string(text), "| 2 |") {
		t.Errorf("BENCHMARKS.md has no workers table:\n%s", text)
	}
	// One scaling row per cluster: 3 peers × 1 and 2 shards, 1 peer × 2.
	for _, row := range []string{"| 3 | 1 |", "| 3 | 2 |", "| 1 | 2 |"} {
		if !strings.Contains(string(text), row) {
			t.Errorf("BENCHMARKS.md has no scaling row %q:\n%s", row, text)
		}
	}
}
