package backup

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
)

// TestSweepKeepsWhatItCannotDeleteAndDropsWhatIsGone: the sweep deletes
// the snapshots recorded by other runs, keeps the records of the current
// run and of peers no longer in the cluster, and drops a record whose
// snapshot is already gone.
func TestSweepKeepsWhatItCannotDeleteAndDropsWhatIsGone(t *testing.T) {
	ctx := context.Background()
	c := testCluster()
	deps := testDeps(c, newFakeStore(), nil)
	store := deps.Store.(*fakeStore)
	ledger := storedLedger{store: store, cluster: "prod"}
	peer1 := deps.Peers[1]
	left, err := peer1.CreateShardSnapshot(ctx, "docs", 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	recs := []struct {
		rec  storedRecord
		kept bool
	}{
		{storedRecord{BackupID: "20261206T100000Z-aaaa", PeerID: 1, Collection: "docs", ShardID: 0, RequestedAt: now, Name: left.Name}, false},
		{storedRecord{BackupID: "20261206T100000Z-aaaa", PeerID: 1, Collection: "docs", ShardID: 1, RequestedAt: now, Name: "docs-shard-1-gone.snapshot"}, false},
		{storedRecord{BackupID: "20261206T100000Z-aaaa", PeerID: 9, Collection: "docs", ShardID: 2, RequestedAt: now, Name: "x.snapshot"}, true},
		{storedRecord{BackupID: "20261206T110000Z-cccc", PeerID: 1, Collection: "docs", ShardID: 0, RequestedAt: now}, true},
	}
	for _, r := range recs {
		if err := ledger.put(ctx, r.rec); err != nil {
			t.Fatal(err)
		}
	}
	n, err := sweepLeftSnapshots(ctx, store, "prod", "20261206T110000Z-cccc", deps.Peers, slog.New(slog.DiscardHandler))
	if err != nil || n != 1 {
		t.Fatalf("sweep deleted %d snapshots, error %v; want the one left, no error", n, err)
	}
	if list, _ := peer1.ListShardSnapshots(ctx, "docs", 0); len(list) != 0 {
		t.Errorf("snapshot left on the peer: %v", list)
	}
	keys := store.keys()
	for _, r := range recs {
		key := manifest.StoredSnapshotKey("prod", r.rec.BackupID, r.rec.PeerID, r.rec.Collection, r.rec.ShardID)
		if got := slices.Contains(keys, key); got != r.kept {
			t.Errorf("record %s kept %v, want %v", key, got, r.kept)
		}
	}
}
