package backup

import (
	"fmt"
	"testing"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// BenchmarkChooseReplicas picks the replica to snapshot for 1,000
// collections × 12 shards, RF 2 over 6 peers: the backup's share of the
// control-plane goal "planning 1,000 × 12 shards ≤ 1 s", reported as
// goal-share (< 1 is met).
func BenchmarkChooseReplicas(b *testing.B) {
	const collections, shards, rf, peers = 1000, 12, 2, 6
	var in []ShardReplicas
	for c := range collections {
		for s := range shards {
			sr := ShardReplicas{Collection: fmt.Sprintf("col-%04d", c), ShardID: uint32(s)}
			for r := range rf {
				sr.Replicas = append(sr.Replicas, ReplicaInfo{
					PeerID: uint64(1 + (c+s+r)%peers), State: qdrant.StateActive, PointsCount: uint64(1000 + (c*7+s*13)%500),
				})
			}
			in = append(in, sr)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		got, missing := ChooseReplicas(in)
		if len(got) != collections*shards || len(missing) != 0 {
			b.Fatalf("chose %d replicas (%d unavailable), want %d", len(got), len(missing), collections*shards)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "goal-share")
}
