//go:build integration

package scenarios

import (
	"context"
	"fmt"
	"reflect"
	"slices"
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
	for _, k := range objectsOf(st.keys(t), ".json") {
		if strings.Contains(k, "/.stored/") {
			t.Errorf("record left in storage: %s (records before: %v)", k, records)
		}
	}
	// A record the kill caught mid-write is a temporary file of the store,
	// invisible to listings; prune removes those once they are stale.
	ok(t, sc.qb.run(t, sc.args("prune", "--orphan-grace=0")...))
	if n := len(sc.manifests(t)); n != 1 {
		t.Errorf("%d sets after prune, want the second backup's", n)
	}
	for _, k := range st.keys(t) {
		if strings.Contains(k, "/.stored/") || strings.Contains(k, ".qbackup-tmp-") {
			t.Errorf("left in storage after prune: %s", k)
		}
	}
}

// aliases maps alias → collection as peer 0 sees them.
func (s *sim) aliases(t *testing.T) map[string]string {
	t.Helper()
	list, err := s.peer0().ListAliases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range list {
		out[a.AliasName] = a.CollectionName
	}
	return out
}

const upsertRoute = "PUT /collections/{collection_name}/points"

// TestAReshardKilledMidCopyIsFinishedByTheRerun: a restore with --shards
// killed (SIGKILL) while it copies points into the resharded collection
// leaves the staging collection and a partly filled target; the rerun
// completes with every point — also after the staging collection was
// deleted by hand — and the alias moves only to the complete collection.
func TestAReshardKilledMidCopyIsFinishedByTheRerun(t *testing.T) {
	t.Parallel()
	for _, deleteStaging := range []bool{false, true} {
		name := "the rerun resumes the staging collection"
		if deleteStaging {
			name = "the rerun restarts after the staging collection was deleted by hand"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := startSim(t, fastSim(2))
			src.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
			const points = 1200 // about five copy batches
			src.upsert(t, "docs", 1, points, nil, func(i int) string { return fmt.Sprintf(`[%d,1,0.5,-1]`, i) })
			src.alias(t, "current", "docs")
			sc := newScenario(t, src, newFileStore(t), nil)
			id := sc.backup(t)

			target := startSim(t, fastSim(3))
			for _, p := range target.c.Peers() {
				p.SetFaults(faultOn(upsertRoute, func(f *routeFault) { f.Latency = duration(700 * time.Millisecond) }))
			}
			args := sc.restoreArgs(target, id, "--shards=3", "--lease-ttl=3s")
			p := sc.qb.start(t, args...)
			eventually(t, time.Minute, "points copied into the resharded collection", func() bool {
				return slices.Contains(target.collections(t), "docs") && len(target.points(t, "docs")) > 0
			})
			p.signal(t, sigkill)
			if r := p.wait(); r.code != 128+9 {
				t.Fatalf("the restore was not killed mid-copy: exit %d\n%s", r.code, r)
			}
			copied := len(target.points(t, "docs"))
			if copied >= points || !slices.Contains(target.collections(t), "docs-qbackup-reshard") {
				t.Fatalf("after the kill: %d of %d points copied, collections %v; want a partial copy beside its staging collection",
					copied, points, target.collections(t))
			}
			t.Logf("killed with %d of %d points copied", copied, points)
			if a := target.aliases(t); a["current"] != "" {
				t.Errorf("the alias points at %q before the reshard finished", a["current"])
			}
			for _, p := range target.c.Peers() {
				p.ClearFaults()
			}
			if deleteStaging {
				if _, err := target.peer0().DeleteCollection(context.Background(), "docs-qbackup-reshard"); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(3500 * time.Millisecond) // the dead run's lock expires
			ok(t, sc.qb.run(t, args...))
			assertSamePoints(t, src.points(t, "docs"), target.points(t, "docs"), "docs")
			if got := target.collections(t); !reflect.DeepEqual(got, []string{"docs"}) {
				t.Errorf("collections after the rerun: %v, want docs alone", got)
			}
			if a := target.aliases(t); a["current"] != "docs" {
				t.Errorf("alias current → %q, want docs", a["current"])
			}
		})
	}
}
