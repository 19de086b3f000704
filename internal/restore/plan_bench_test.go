package restore

import (
	"fmt"
	"testing"

	"github.com/qbackup/qbackup/internal/manifest"
)

// BenchmarkPlan plans a restore of 1,000 collections × 12 shards (RF 2,
// recorded on 3 pods) onto fewer, as many and more pods. The goal is
// ≤ 1 s per plan; the benchmark reports the plan time as a share of it
// (goal-share < 1 is met).
func BenchmarkPlan(b *testing.B) {
	const collections, shards, rf = 1000, 12, 2
	var fns []func([]manifest.Peer) manifest.Collection
	for i := range collections {
		fns = append(fns, auto(fmt.Sprintf("col-%04d", i), shards, rf))
	}
	m := backup(3, "1.19.0", fns...)
	for _, pods := range []int{1, 2, 3, 6} {
		b.Run(fmt.Sprintf("1000x12-onto-%d-pods", pods), func(b *testing.B) {
			target := Target{Peers: targetPeers(pods, "1.19.0")}
			b.ReportAllocs()
			for b.Loop() {
				p, err := Plan(m, target, PlanOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if p.ShardCount != collections*shards {
					b.Fatalf("planned %d shards, want %d", p.ShardCount, collections*shards)
				}
			}
			perPlan := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(perPlan/1.0, "goal-share")
		})
	}
}
