//go:build integration

package scenarios

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// restoreArgs is `restore ref` of the scenario's backup onto target.
func (s *scenario) restoreArgs(target *sim, ref string, extra ...string) []string {
	args := append(s.args("restore", ref, "--wait-timeout=1m", "--transfer-timeout=1m"), target.discovery()...)
	return append(args, extra...)
}

// backupID takes a backup of the scenario's cluster and returns its id.
func (s *scenario) backup(t *testing.T) string {
	t.Helper()
	r := s.qb.run(t, s.backupArgs("-o", "json")...)
	ok(t, r)
	return decode[backupReport](t, "backup -o json", r.stdout).BackupID
}

func TestRestoreRefusalsChangeNothing(t *testing.T) {
	t.Parallel()
	src := startSim(t, fastSim(2))
	src.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":2}`)
	src.upsert(t, "docs", 1, 40, nil, func(i int) string { return fmt.Sprintf(`[%d,1,0.5,-1]`, i) })

	tests := []struct {
		name string
		// setup breaks the backup or prepares the target; it returns the
		// backup reference to restore.
		setup func(t *testing.T, sc *scenario, m *manifestDoc, target *sim) string
		code  int
		msgs  []string
		// slowTransfers keeps a started transfer in progress; the
		// restores that get past preflight need transfers to finish.
		slowTransfers bool
	}{
		{
			name: "a corrupted object (one byte flipped) stops the restore, which leaves the cluster as it was",
			setup: func(t *testing.T, sc *scenario, m *manifestDoc, target *sim) string {
				key := m.Collections[0].Shards[0].Object
				b := sc.st.read(t, key)
				b[len(b)/2] ^= 0x01
				sc.st.write(t, key, b)
				return m.BackupID
			},
			code: exitCorrupt, msgs: []string{"SHA-256", "the manifest says"},
		},
		{
			name: "a missing object is refused",
			setup: func(t *testing.T, sc *scenario, m *manifestDoc, target *sim) string {
				sc.st.remove(t, m.Collections[0].Shards[1].Object)
				return m.BackupID
			},
			code: exitCorrupt, msgs: []string{"missing"},
		},
		{
			name: "an unknown backup id is a usage error",
			setup: func(t *testing.T, sc *scenario, m *manifestDoc, target *sim) string {
				return "20200101T000000Z-dead"
			},
			code: exitUsage, msgs: []string{"20200101T000000Z-dead"},
		},
		{
			name: "an existing target collection without --overwrite is refused",
			setup: func(t *testing.T, sc *scenario, m *manifestDoc, target *sim) string {
				target.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":1}`)
				target.upsert(t, "docs", 500, 5, nil, func(i int) string { return `[9,9,9,9]` })
				return "latest"
			},
			code: exitClusterNotOK, msgs: []string{`collection "docs" exists`, "--overwrite"},
		},
		{
			name: "a shard transfer in progress is refused",
			setup: func(t *testing.T, sc *scenario, m *manifestDoc, target *sim) string {
				target.create(t, "live", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":1}`)
				target.upsert(t, "live", 1, 5, nil, func(i int) string { return `[1,2,3,4]` })
				from := target.replicas(t, "live")[0].Peer
				to := target.c.Peers()[0].ID()
				if to == from {
					to = target.c.Peers()[1].ID()
				}
				err := target.peer0().UpdateCollectionCluster(context.Background(), "live", qdrantsim.ClusterOperation{
					ReplicateShard: &qdrantsim.ShardTransferRequest{ShardID: 0, FromPeerID: from, ToPeerID: to}})
				if err != nil {
					t.Fatal(err)
				}
				// Every peer applies the transfer through consensus, some
				// later than others: the refusal needs it seen.
				eventually(t, 30*time.Second, "every peer to apply the transfer", target.c.Settled)
				return "latest"
			},
			code: exitClusterNotOK, msgs: []string{"wait for it or abort it"}, slowTransfers: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc := newScenario(t, src, newFileStore(t), nil)
			m := sc.manifest(t, sc.backup(t))
			opts := fastSim(2)
			if tt.slowTransfers {
				opts.TransferDelay = time.Minute
			}
			target := startSim(t, opts)
			ref := tt.setup(t, sc, m, target)
			before := target.state(t)
			r := sc.qb.run(t, sc.restoreArgs(target, ref)...)
			expect(t, r, tt.code, tt.msgs...)
			if after := target.state(t); after != before {
				t.Errorf("the refused restore changed the cluster:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// assertRestored compares every point of every collection of src with the
// restored copy on dst (named rename(name)) and checks that every replica
// is Active.
func assertRestored(t *testing.T, src, dst *sim, collections []string, rename func(string) string) {
	t.Helper()
	for _, c := range collections {
		assertSamePoints(t, src.points(t, c), dst.points(t, rename(c)), c)
		for _, r := range dst.replicas(t, rename(c)) {
			if r.State != "Active" {
				t.Errorf("%s: replica of shard %d on peer %d is %s", rename(c), r.Shard, r.Peer, r.State)
			}
		}
	}
}

func same(s string) string { return s }

// assertReported checks that a restore printed its plan with want in it
// and its final report.
func assertReported(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, w := range append(want, "Restore plan for backup", " done in ") {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("the restore output does not say %q:\n%s", w, r.stdout)
		}
	}
}

func TestRestoreOntoFewerPodsConsolidates(t *testing.T) {
	t.Parallel()
	src := startSim(t, fastSim(3))
	src.loadMixed(t)
	sc := newScenario(t, src, newS3Store(t), newCatalog(t))
	sc.backup(t)

	target := startSim(t, fastSim(2))
	r := sc.qb.run(t, sc.restoreArgs(target, "latest")...)
	ok(t, r)
	assertReported(t, r, "Strategy: consolidate — backup had 3 pods, cluster has 2")
	assertRestored(t, src, target, []string{"docs", "images", "tenants"}, same)
	if got := target.collections(t); !reflect.DeepEqual(got, []string{"docs", "images", "tenants"}) {
		t.Errorf("collections after restore: %v", got)
	}
	aliases, err := target.peer0().ListAliases(context.Background())
	if err != nil || len(aliases) != 1 || aliases[0].AliasName != "current" || aliases[0].CollectionName != "docs" {
		t.Errorf("aliases after restore: %v (%v)", aliases, err)
	}
	if got := sc.cat.restoreStatuses(t); !reflect.DeepEqual(got, []string{"complete"}) {
		t.Errorf("restores in the catalog: %v, want one complete", got)
	}
}

func TestRestoreOntoMorePodsRedistributes(t *testing.T) {
	t.Parallel()
	src := startSim(t, fastSim(2))
	src.create(t, "docs", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":4,"replication_factor":2}`)
	src.upsert(t, "docs", 1, 200, nil, func(i int) string { return fmt.Sprintf(`[%d,1,0.5,-1]`, i) })
	sc := newScenario(t, src, newFileStore(t), nil)
	sc.backup(t)

	target := startSim(t, fastSim(4))
	r := sc.qb.run(t, sc.restoreArgs(target, "latest")...)
	ok(t, r)
	assertReported(t, r, "Strategy: redistribute — backup had 2 pods, cluster has 4")
	assertRestored(t, src, target, []string{"docs"}, same)

	perShard := map[uint32]int{}
	perPeer := map[uint64]int{}
	for _, rep := range target.replicas(t, "docs") {
		perShard[rep.Shard]++
		perPeer[rep.Peer]++
	}
	for shard, n := range perShard {
		if n != 2 {
			t.Errorf("shard %d has %d replicas, the recorded replication factor is 2", shard, n)
		}
	}
	lo, hi := 1<<30, 0
	for _, p := range target.c.Peers() {
		lo, hi = min(lo, perPeer[p.ID()]), max(hi, perPeer[p.ID()])
	}
	if len(perShard) != 4 || hi-lo > 1 {
		t.Errorf("replicas per peer %v over %d shards: not balanced", perPeer, len(perShard))
	}
}

func TestRestoreWithRenameBesideLiveData(t *testing.T) {
	t.Parallel()
	live := startSim(t, fastSim(3))
	live.loadMixed(t)
	sc := newScenario(t, live, newFileStore(t), nil)
	sc.backup(t)
	before := live.state(t)

	r := sc.qb.run(t, sc.restoreArgs(live, "latest", "--rename=_drill")...)
	ok(t, r)
	assertReported(t, r, "docs → docs_drill", "tenants → tenants_drill")
	rename := func(s string) string { return s + "_drill" }
	assertRestored(t, live, live, []string{"docs", "images", "tenants"}, rename)
	want := []string{"docs", "docs_drill", "images", "images_drill", "tenants", "tenants_drill"}
	if got := live.collections(t); !reflect.DeepEqual(got, want) {
		t.Errorf("collections after the drill: %v, want %v", got, want)
	}
	// The live collections are as they were.
	for _, c := range []string{"docs", "images", "tenants"} {
		if !strings.Contains(before, fmt.Sprintf(`"points/%s"`, c)) {
			t.Fatalf("state has no %s", c)
		}
	}
	assertLiveUntouched(t, live, before, []string{"docs", "images", "tenants"})
}

// assertLiveUntouched checks that the points and replicas of collections
// are what they were in the state taken before.
func assertLiveUntouched(t *testing.T, s *sim, before string, collections []string) {
	t.Helper()
	was := decode[map[string]any](t, "state", before)
	now := decode[map[string]any](t, "state", s.state(t))
	for _, c := range collections {
		for _, k := range []string{"points/" + c, "replicas/" + c} {
			if !reflect.DeepEqual(was[k], now[k]) {
				t.Errorf("%s changed", k)
			}
		}
	}
}
