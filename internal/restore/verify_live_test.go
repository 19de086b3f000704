package restore

import (
	"errors"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/manifest"
)

// TestVerifyOfALiveBackupChecksTheRangeAndReplicaAgreement: a set that
// records its count as a range verifies by the range and by replicas
// agreeing, not by the per-shard counts it read before the snapshots.
func TestVerifyOfALiveBackupChecksTheRangeAndReplicaAgreement(t *testing.T) {
	tests := []struct {
		name    string
		rng     func(total uint64) *manifest.CountRange
		skew    map[uint64]uint64
		wantErr string
	}{
		{"a count within the range verifies though the shard counts moved", func(n uint64) *manifest.CountRange { return &manifest.CountRange{Min: n - 3, Max: n + 5} }, nil, ""},
		{"a count below the range fails", func(n uint64) *manifest.CountRange { return &manifest.CountRange{Min: n + 1, Max: n + 5} }, nil, "the backup counted"},
		{"replicas that disagree fail", func(n uint64) *manifest.CountRange { return &manifest.CountRange{Min: n, Max: n} }, map[uint64]uint64{202: 1}, "disagree"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemStore()
			m := makeBackup(t, store, 3, "1.19.0", spec{name: "docs", shards: 3, rf: 2})
			c := &m.Collections[0]
			var total uint64
			for i := range c.Shards {
				total += c.Shards[i].PointsCount
				// Counts read before the snapshots, off under writes.
				c.Shards[i].PointsCount += 2
			}
			c.PointsCountRange = tt.rng(total)
			f := newFakeCluster(peerIDs(3), "1.19.0")
			f.countSkew = tt.skew
			_, _, err := restoreOnto(t, m, f, store, nil, PlanOptions{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("restore: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("restore: %v, want ErrVerify saying %q", err, tt.wantErr)
			}
		})
	}
}
