package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/backup"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/restore"
	"github.com/qbackup/qbackup/internal/storage"
)

// Parallelism of both the product and the plain-HTTP baselines: the
// product's defaults.
const (
	parallel = backup.DefaultConcurrency
	perPeer  = backup.DefaultPerPeerConcurrency
)

// The metrics every benchmark here reports, besides ns/op, MB/s, B/op and
// allocs/op (MB/s being the product's throughput):
//
//	raw-MB/s          plain HTTP on the same shards and peers, same parallelism
//	vs-raw            product MB/s ÷ raw MB/s (1 = as fast as the peers allow)
//	cpu-vs-raw        raw CPU time ÷ product CPU time for the same bytes (both
//	                  ends run in this process, so this holds on a loaded machine)
//	MB/cpu-s          product bytes per CPU second of tool and peers together
//	peak-heap-MiB     peak HeapInuse growth during one operation
//	heap-vs-smallest  peak-heap-MiB ÷ that of the smallest shard size
func reportVsRaw(b *testing.B, bytes int64, prod, raw span) {
	b.Helper()
	b.SetBytes(bytes)
	b.ReportMetric(float64(bytes)*float64(b.N)/1e6/raw.wall.Seconds(), "raw-MB/s")
	b.ReportMetric(raw.wall.Seconds()/prod.wall.Seconds(), "vs-raw")
	b.ReportMetric(raw.cpu.Seconds()/prod.cpu.Seconds(), "cpu-vs-raw")
	b.ReportMetric(float64(bytes)*float64(b.N)/1e6/prod.cpu.Seconds(), "MB/cpu-s")
}

// heapReport reports the peak heap of a size and its ratio to the peak of
// the first (smallest) size, which it records.
// The benchmark framework calls a sub-benchmark more than once (growing
// b.N), so the smallest size is recognised by its size, not by order.
type heapReport struct {
	smallest int64
	first    float64
}

func (h *heapReport) report(b *testing.B, size int64, peak uint64) {
	b.Helper()
	mib := float64(peak) / (1 << 20)
	b.ReportMetric(mib, "peak-heap-MiB")
	if h.smallest == 0 || size <= h.smallest {
		h.smallest, h.first = size, max(mib, 1e-3)
		return
	}
	b.ReportMetric(mib/h.first, "heap-vs-smallest")
}

func snapshotBytes(m *manifest.Manifest) int64 {
	var n int64
	for _, c := range m.Collections {
		for _, s := range c.Shards {
			n += s.SnapshotSize
		}
	}
	return n
}

// BenchmarkBackup backs up 3 peers × QBACKUP_BENCH_SHARDS synthetic shards
// through backup.Run (streamed snapshots, real clients, file store) and,
// before every run, streams the same shards with plain HTTP into a discard.
func BenchmarkBackup(b *testing.B) {
	cfg := loadConfig(b)
	heap := &heapReport{}
	for _, mib := range cfg.shardMiB {
		b.Run(fmt.Sprintf("shard=%dMiB", mib), func(b *testing.B) {
			ctx := context.Background()
			c := startCluster(b, 5)
			c.createCollection(b, cfg.shards())
			c.fill(b, cfg.shards(), mib<<20)
			jobs := jobsOf(c.placement(b), cfg.shards())
			dir := cfg.tempDir(b)
			var prod, raw span
			var bytes int64
			var peak uint64
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				t0, c0 := time.Now(), cpuTime()
				if _, err := rawStream(ctx, c.urls, jobs, parallel, perPeer); err != nil {
					b.Fatal(err)
				}
				raw.add(t0, c0)
				store, err := storage.NewFile(filepath.Join(dir, fmt.Sprint(i)))
				if err != nil {
					b.Fatal(err)
				}
				hp := startHeapPeak()
				b.StartTimer()
				t0, c0 = time.Now(), cpuTime()
				res, err := backup.Run(ctx, backup.Options{Cluster: "bench", Concurrency: parallel, PerPeerConcurrency: perPeer, SampleSize: -1},
					backup.Deps{Topology: c.topo, Peers: c.peers(), Store: store, Logger: quiet()})
				prod.add(t0, c0)
				b.StopTimer()
				peak = max(peak, hp.Stop())
				if err != nil {
					b.Fatal(err)
				}
				bytes = snapshotBytes(res.Manifest)
				if err := removeAll(dir, fmt.Sprint(i)); err != nil {
					b.Fatal(err)
				}
			}
			reportVsRaw(b, bytes, prod, raw)
			heap.report(b, mib, peak)
		})
	}
}

// BenchmarkRestore restores one backup of those shards onto a fresh
// simulated cluster with the upload transfer (restore.Execute reading the
// file store) and, before every run, uploads the same snapshot files to
// another fresh cluster with plain HTTP.
func BenchmarkRestore(b *testing.B) {
	cfg := loadConfig(b)
	heap := &heapReport{}
	for _, mib := range cfg.shardMiB {
		b.Run(fmt.Sprintf("shard=%dMiB", mib), func(b *testing.B) {
			ctx := context.Background()
			src := startCluster(b, 5)
			src.createCollection(b, cfg.shards())
			src.fill(b, cfg.shards(), mib<<20)
			dir := cfg.tempDir(b)
			store, err := storage.NewFile(dir)
			if err != nil {
				b.Fatal(err)
			}
			res, err := backup.Run(ctx, backup.Options{Cluster: "bench", SampleSize: -1},
				backup.Deps{Topology: src.topo, Peers: src.peers(), Store: store, Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			src.close()
			m := res.Manifest
			var prod, raw span
			var peak uint64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				base := startCluster(b, 6)
				base.createCollection(b, cfg.shards())
				placement := base.placement(b)
				var ups []upload
				for _, s := range m.Collection(benchCollection).Shards {
					ups = append(ups, upload{job: job{shard: s.ID, peer: placement[s.ID]}, file: filepath.Join(dir, filepath.FromSlash(s.Object)), checksum: s.SnapshotSHA256})
				}
				t0, c0 := time.Now(), cpuTime()
				if _, err := rawUpload(ctx, base.urls, ups, parallel, perPeer); err != nil {
					b.Fatal(err)
				}
				raw.add(t0, c0)
				base.close()

				dst := startCluster(b, 6)
				hp := startHeapPeak()
				b.StartTimer()
				t0, c0 = time.Now(), cpuTime()
				// The production pipeline, as the CLI runs it (plan,
				// preflight, execute, verify), with the default settle
				// poll, which users get.
				_, err := restore.Run(ctx, restore.RunOptions{
					Manifest: m,
					Exec:     restore.ExecOptions{Parallel: parallel, PerPeer: perPeer},
				}, restore.RunDeps{
					Deps:     restore.Deps{Peers: dst.restorePeers(), Store: store, Logger: quiet()},
					Topology: dst.topo,
				})
				prod.add(t0, c0)
				b.StopTimer()
				peak = max(peak, hp.Stop())
				if err != nil {
					b.Fatal(err)
				}
				dst.close()
			}
			reportVsRaw(b, snapshotBytes(m), prod, raw)
			heap.report(b, mib, peak)
		})
	}
}
