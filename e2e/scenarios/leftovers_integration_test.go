//go:build integration

package scenarios

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

const storedDownloadRoute = "GET /collections/{collection_name}/shards/{shard_id}/snapshots/{snapshot_name}"

// storedSnapshots lists every stored shard snapshot on every peer, as
// peer/collection/shard/name.
func (s *sim) storedSnapshots(t *testing.T) []string {
	t.Helper()
	var out []string
	for i, p := range s.c.Peers() {
		for _, coll := range []string{"docs", "images", "tenants"} {
			for shard := uint32(0); shard < 8; shard++ {
				list, err := p.ListShardSnapshots(context.Background(), coll, shard)
				if err != nil {
					continue // not a local shard of this peer
				}
				for _, d := range list {
					out = append(out, fmt.Sprintf("%d/%s/%d/%s", i, coll, shard, d.Name))
				}
			}
		}
	}
	return out
}

// TestAKilledStoredBackupLeavesNothingAfterTheNextBackup: a backup with
// --snapshot-method=stored killed (SIGKILL) while its snapshots sit on
// the peers leaves them there; the next backup deletes every one of them
// and their records in storage, and prune then leaves no orphan.
func TestAKilledStoredBackupLeavesNothingAfterTheNextBackup(t *testing.T) {
	t.Parallel()
	sm := startSim(t, fastSim(3))
	sm.loadMixed(t)
	st := newFileStore(t)
	sc := newScenario(t, sm, st, nil)
	stall := int64(1500)
	for _, p := range sm.c.Peers() {
		p.SetFaults(faultOn(storedDownloadRoute, func(f *routeFault) { f.StallAfter = &stall }))
	}
	p := sc.qb.start(t, sc.backupArgs("--snapshot-method=stored", "--concurrency=8", "--per-peer-concurrency=4", "--lease-ttl=3s")...)
	eventually(t, time.Minute, "stored snapshots on the peers", func() bool { return len(sm.storedSnapshots(t)) >= 6 })
	p.signal(t, sigkill)
	r := p.wait()
	if r.code != 128+9 {
		t.Fatalf("exit code %d, want the kill's\n%s", r.code, r)
	}
	left := sm.storedSnapshots(t)
	records := objectsOf(st.keys(t), ".json")
	t.Logf("the killed run left %d snapshots on the peers: %v", len(left), left)
	if len(left) == 0 {
		t.Fatal("the killed run left no snapshot: the fault was not exercised")
	}
	for _, p := range sm.c.Peers() {
		p.ClearFaults()
	}
	time.Sleep(3500 * time.Millisecond) // the dead run's lock expires

	ok(t, sc.qb.run(t, sc.backupArgs()...))
	if after := sm.storedSnapshots(t); len(after) != 0 {
		t.Errorf("after the next backup the peers still hold %v", after)
	}
	for _, k := range st.keys(t) {
		if strings.Contains(k, "/.stored/") {
			t.Errorf("record left in storage: %s (records before: %v)", k, records)
		}
	}
	ok(t, sc.qb.run(t, sc.args("prune", "--orphan-grace=0")...))
	if n := len(sc.manifests(t)); n != 1 {
		t.Errorf("%d sets after prune, want the second backup's", n)
	}
}
