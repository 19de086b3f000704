package restore

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

func fastOptions() ExecOptions {
	return ExecOptions{Poll: time.Millisecond, Backoff: time.Millisecond, WaitTimeout: 5 * time.Second, TransferTimeout: 5 * time.Second}
}

// fakeTopology describes a fake cluster as discovery would.
func fakeTopology(f *fakeCluster) *discovery.Topology {
	pods := podNames(len(f.peers))
	topo := &discovery.Topology{}
	for i, p := range f.peers {
		topo.Peers = append(topo.Peers, discovery.Peer{ID: p, Pod: pods[i], Version: f.version[p]})
	}
	return topo
}

// runOnto restores m onto f through Run; edit adjusts the inputs.
func runOnto(t *testing.T, m *manifestT, f *fakeCluster, store *memStore, j Journal, opts PlanOptions, edit ...func(*RunOptions, *RunDeps)) (*RunResult, error) {
	t.Helper()
	ro := RunOptions{Manifest: m, Plan: opts, Exec: fastOptions()}
	rd := RunDeps{
		Deps:     Deps{Peers: f.clients(), Store: store, Journal: j, Logger: quietLogger(), Points: &fakePeer{f: f, id: f.peers[0]}},
		Topology: fakeTopology(f),
	}
	for _, e := range edit {
		e(&ro, &rd)
	}
	return Run(context.Background(), ro, rd)
}

// restoreOnto restores m onto f through Run; the plan must be valid and
// pass preflight.
func restoreOnto(t *testing.T, m *manifestT, f *fakeCluster, store *memStore, j Journal, opts PlanOptions) (*RestorePlan, *Report, error) {
	t.Helper()
	res, err := runOnto(t, m, f, store, j, opts)
	if res.Plan == nil || res.Report == nil {
		t.Fatalf("restore stopped before execution: %v", err)
	}
	return res.Plan, res.Report, err
}

// checkRestored asserts the outcome: every point equal, the final
// placement of the plan, every replica Active.
func checkRestored(t *testing.T, plan *RestorePlan, f *fakeCluster, store *memStore) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cp := range plan.Collections {
		c, ok := f.colls[cp.Target]
		if !ok {
			t.Fatalf("collection %q was not restored", cp.Target)
		}
		sameContent(t, store, *plan.Manifest.Collection(cp.Source), c.points())
		if cp.Reshard != nil {
			if len(c.shards) != int(cp.Reshard.ToShards) {
				t.Errorf("%q has %d shards, want %d", cp.Target, len(c.shards), cp.Reshard.ToShards)
			}
			continue
		}
		if len(c.shards) != len(cp.Shards) {
			t.Errorf("%q has %d shards, plan %d", cp.Target, len(c.shards), len(cp.Shards))
		}
		byKey := map[string]*fakeShard{}
		for _, s := range c.shards {
			if s.key != nil {
				byKey[s.key.String()] = s
			}
		}
		for _, sp := range cp.Shards {
			s := c.shards[sp.ID]
			if sp.ShardKey != nil {
				s = byKey[sp.ShardKey.String()]
			}
			if s == nil {
				t.Fatalf("%q: shard %d missing", cp.Target, sp.ID)
			}
			got := slices.Sorted(maps.Keys(s.replicas))
			if !slices.Equal(got, sortedCopy(sp.Final)) {
				t.Errorf("%q shard %d on peers %v, planned %v", cp.Target, sp.ID, got, sp.Final)
			}
			for p, st := range s.replicas {
				if st != qdrant.StateActive {
					t.Errorf("%q shard %d on peer %d is %s", cp.Target, sp.ID, p, st)
				}
				if !slices.EqualFunc(s.data[p], s.points(), func(a, b qdrant.Point) bool { return qdrant.ContentHash(&a) == qdrant.ContentHash(&b) }) {
					t.Errorf("%q shard %d on peer %d holds %d points unlike its other replicas", cp.Target, sp.ID, p, len(s.data[p]))
				}
			}
		}
		for _, a := range cp.Aliases {
			if f.aliases[a.Alias] != cp.Target {
				t.Errorf("alias %q points at %q, want %q", a.Alias, f.aliases[a.Alias], cp.Target)
			}
		}
	}
	if len(f.colls) > 0 {
		for name, c := range f.colls {
			if len(c.transfers) > 0 {
				t.Errorf("%q still has %d transfers", name, len(c.transfers))
			}
		}
	}
}

func TestExecuteRestoresEveryPointWhateverThePodCount(t *testing.T) {
	tests := []struct {
		name  string
		pods  int // in the backup
		now   int // in the cluster
		specs []spec
		opts  PlanOptions
	}{
		{"three pods onto three restore directly", 3, 3, []spec{{name: "docs", shards: 3, rf: 1, aliases: []string{"docs-live"}}, {name: "replicated", shards: 3, rf: 2, zstd: true}}, PlanOptions{}},
		{"three pods onto two consolidate", 3, 2, []spec{{name: "docs", shards: 3, rf: 1}, {name: "replicated", shards: 6, rf: 2}}, PlanOptions{}},
		{"three pods onto one consolidate with the replication factor reduced", 3, 1, []spec{{name: "docs", shards: 3, rf: 1}, {name: "replicated", shards: 3, rf: 2, zstd: true}}, PlanOptions{}},
		{"two pods onto four restore then redistribute", 2, 4, []spec{{name: "docs", shards: 4, rf: 1}, {name: "replicated", shards: 2, rf: 2}}, PlanOptions{}},
		{"custom shard keys are created before their shards are recovered", 3, 2, []spec{{name: "tenants", rf: 1, keys: []string{"b", "a", "c"}, indexes: map[string]string{"tag": "keyword"}}}, PlanOptions{}},
		{"a target node takes every shard", 3, 3, []spec{{name: "docs", shards: 3, rf: 2}}, PlanOptions{TargetNode: "qdrant-2"}},
		{"a new shard count copies the points", 2, 2, []spec{{name: "docs", shards: 2, rf: 1, perShard: 20}}, PlanOptions{Shards: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemStore()
			m := makeBackup(t, store, tt.pods, "1.19.0", tt.specs...)
			f := newFakeCluster(peerIDs(tt.now), "1.19.0")
			j := &StoreJournal{Store: store, Cluster: m.Cluster}
			plan, rep, err := restoreOnto(t, m, f, store, j, tt.opts)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			checkRestored(t, plan, f, store)
			for _, c := range rep.Collections {
				if !c.Verified {
					t.Errorf("collection %q not verified", c.Name)
				}
			}
			progress, _ := j.Shards(context.Background(), rep.RestoreID)
			for _, p := range progress {
				if p.State != ShardVerified {
					t.Errorf("shard %d of %q recorded as %s", p.ShardID, p.Collection, p.State)
				}
			}
			if rep.Total <= 0 || len(rep.Phases) == 0 {
				t.Errorf("report lacks times: %+v", rep)
			}
		})
	}
}

func TestExecuteCreatesShardKeysAndIndexesBeforeRecovering(t *testing.T) {
	store := newMemStore()
	m := makeBackup(t, store, 2, "1.19.0", spec{name: "tenants", rf: 1, keys: []string{"x", "y"}, indexes: map[string]string{"tag": "keyword"}})
	f := newFakeCluster(peerIDs(2), "1.19.0")
	if _, _, err := restoreOnto(t, m, f, store, nil, PlanOptions{}); err != nil {
		t.Fatal(err)
	}
	first := func(prefix string) int {
		return slices.IndexFunc(f.mutations, func(s string) bool { return strings.HasPrefix(s, prefix) })
	}
	keys, index, recovery := first("create shard key"), first("create index"), first("recover")
	if keys < 0 || index < 0 || recovery < 0 || keys > recovery || index > recovery {
		t.Fatalf("want shard keys and indexes before recovery, got %q", f.mutations)
	}
}

func TestExecuteRetriesTransientFailures(t *testing.T) {
	store := newMemStore()
	m := makeBackup(t, store, 2, "1.19.0", spec{name: "docs", shards: 2, rf: 1})
	f := newFakeCluster(peerIDs(2), "1.19.0")
	f.failUpload["docs/1"] = fakeFailure{n: 2, status: http.StatusServiceUnavailable}
	plan, _, err := restoreOnto(t, m, f, store, nil, PlanOptions{})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	checkRestored(t, plan, f, store)
}

func TestRerunAfterAFailureSkipsRecoveredShards(t *testing.T) {
	store := newMemStore()
	m := makeBackup(t, store, 3, "1.19.0", spec{name: "docs", shards: 3, rf: 1}, spec{name: "users", shards: 3, rf: 2})
	f := newFakeCluster(peerIDs(3), "1.19.0")
	j := &StoreJournal{Store: store, Cluster: m.Cluster}
	// A peer that keeps failing: retries run out and the restore stops.
	f.failUpload["users/2"] = fakeFailure{n: 100, status: http.StatusServiceUnavailable}
	_, rep, err := restoreOnto(t, m, f, store, j, PlanOptions{})
	if err == nil {
		t.Fatal("Execute succeeded with a shard that cannot be recovered")
	}
	progress, _ := j.Shards(context.Background(), rep.RestoreID)
	states := map[string]string{}
	for _, p := range progress {
		states[p.Collection+"/"+string(rune('0'+p.ShardID))] = p.State
	}
	if states["users/2"] != ShardFailed {
		t.Fatalf("failed shard recorded as %q: %v", states["users/2"], states)
	}
	before := maps.Clone(f.uploads)

	// The peer is back; the rerun resumes (preflight accepts the
	// collections it created) and recovers only what is missing.
	f.failUpload = map[string]fakeFailure{}
	plan, rep, err := restoreOnto(t, m, f, store, &StoreJournal{Store: store, Cluster: m.Cluster}, PlanOptions{})
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	checkRestored(t, plan, f, store)
	for ref, n := range before {
		if ref != "users/2" && f.uploads[ref] != n {
			t.Errorf("shard %s recovered again on the rerun", ref)
		}
	}
	// Every planned replica of the shard receives the snapshot once.
	if want := len(plan.Collections[1].Shards[2].Replicas); f.uploads["users/2"] != want || rep.ShardsRecovered != 1 {
		t.Errorf("rerun recovered %d shards (users/2 %d times), want only users/2, on its %d replicas", rep.ShardsRecovered, f.uploads["users/2"], want)
	}
}

func TestRerunAfterACrashResumes(t *testing.T) {
	store := newMemStore()
	m := makeBackup(t, store, 2, "1.19.0", spec{name: "docs", shards: 4, rf: 1})
	f := newFakeCluster(peerIDs(2), "1.19.0")
	dieAfterShards(t, m, f, store, 2)
	if n := len(f.mutations); n == 0 {
		t.Fatal("first run changed nothing")
	}
	plan, rep, err := restoreOnto(t, m, f, store, &StoreJournal{Store: store, Cluster: m.Cluster}, PlanOptions{})
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	checkRestored(t, plan, f, store)
	if rep.ShardsSkipped < 1 || rep.ShardsSkipped+rep.ShardsRecovered != 4 {
		t.Errorf("rerun skipped %d and recovered %d of 4 shards", rep.ShardsSkipped, rep.ShardsRecovered)
	}
}

// dieAfterShards runs a restore of m that dies (its context cancelled
// from the progress callback, as on SIGTERM) once n shards are recovered.
func dieAfterShards(t *testing.T, m *manifestT, f *fakeCluster, store *memStore, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := runOnto(t, m, f, store, &StoreJournal{Store: store, Cluster: m.Cluster}, PlanOptions{}, func(o *RunOptions, d *RunDeps) {
		d.Progress = &cancelAfter{n: n, cancel: cancel}
		o.Exec.Parallel = 1
		d.HoldLease = func(context.Context) (context.Context, func(), error) { return ctx, func() {}, nil }
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first run error = %v, want context.Canceled", err)
	}
}

// cancelAfter cancels the run once n shards are done.
type cancelAfter struct {
	n      int
	cancel func()
}

func (c *cancelAfter) ShardStarted(string, uint32, uint64, int64) {}
func (c *cancelAfter) ShardDone(_ string, _ uint32, err error) {
	if err == nil {
		c.n--
		if c.n == 0 {
			c.cancel()
		}
	}
}

func TestOverwriteReplacesTheLiveCollection(t *testing.T) {
	store := newMemStore()
	m := makeBackup(t, store, 2, "1.19.0", spec{name: "docs", shards: 2, rf: 1, aliases: []string{"search"}})
	f := newFakeCluster(peerIDs(2), "1.19.0")
	live := &fakePeer{f: f, id: 201}
	if err := live.CreateCollection(context.Background(), "docs", []byte(`{"vectors":{"size":2,"distance":"Dot"},"shard_number":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := live.CreateCollection(context.Background(), "other", []byte(`{"vectors":{"size":2,"distance":"Dot"},"shard_number":1}`)); err != nil {
		t.Fatal(err)
	}
	f.aliases["search"] = "other"
	plan, _, err := restoreOnto(t, m, f, store, nil, PlanOptions{Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	checkRestored(t, plan, f, store)
	if f.aliases["search"] != "docs" {
		t.Errorf("alias search points at %q", f.aliases["search"])
	}
}

func TestRenameRestoresBesideTheLiveCollection(t *testing.T) {
	store := newMemStore()
	m := makeBackup(t, store, 2, "1.15.0", spec{name: "docs", shards: 2, rf: 1, aliases: []string{"docs-alias"}})
	f := newFakeCluster(peerIDs(2), "1.19.0")
	live := &fakePeer{f: f, id: 201}
	if err := live.CreateCollection(context.Background(), "docs", []byte(`{"vectors":{"size":2,"distance":"Dot"},"shard_number":1}`)); err != nil {
		t.Fatal(err)
	}
	plan, _, err := restoreOnto(t, m, f, store, nil, PlanOptions{Rename: Rename{Suffix: "-drill"}})
	if err != nil {
		t.Fatal(err)
	}
	checkRestored(t, plan, f, store)
	if _, ok := f.colls["docs"]; !ok || f.aliases["docs-alias"] != "docs-drill" {
		t.Errorf("live collection touched or alias wrong: %v %v", slices.Sorted(maps.Keys(f.colls)), f.aliases)
	}
}

type manifestT = manifest.Manifest

// A recovery whose replica state proposal was lost leaves its replica
// Dead; Qdrant refills it from another replica. The restore does not
// record such a shard on the strength of the HTTP answer: it recovers it
// again until every peer shows the planned replicas Active.
func TestRecoveryWithALostProposalIsDoneAgain(t *testing.T) {
	store := newMemStore()
	m := makeBackup(t, store, 2, "1.19.0", spec{name: "docs", shards: 1, rf: 2})
	f := newFakeCluster(peerIDs(2), "1.19.0")
	// The first attempt fails half way and leaves a Dead, empty replica;
	// the second one restores the data but its Active proposal is lost.
	f.failUpload["docs/0"] = fakeFailure{n: 1, status: http.StatusInternalServerError, dummy: true}
	f.loseActivation["docs/0"] = 1
	plan, rep, err := restoreOnto(t, m, f, store, &StoreJournal{Store: store, Cluster: m.Cluster}, PlanOptions{})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	checkRestored(t, plan, f, store)
	if replicas := len(plan.Collections[0].Shards[0].Replicas); f.uploads["docs/0"] <= replicas {
		t.Errorf("%d recoveries of a shard with %d replicas: the unagreed recovery was not done again", f.uploads["docs/0"], replicas)
	}
	if rep.ShardsRecovered != 1 {
		t.Errorf("%d shards recorded as recovered, want 1", rep.ShardsRecovered)
	}
}

// TestRecoveryPlacesTheDataWithoutTransfers: Qdrant places a new
// collection's replicas itself (least loaded peers), which is not where
// the plan recovers each shard. The data goes straight onto the planned
// peers (a recovery onto a peer without a replica adds one) and the empty
// replicas Qdrant placed are dropped: a direct restore starts no
// transfer at all.
func TestRecoveryPlacesTheDataWithoutTransfers(t *testing.T) {
	store := newMemStore()
	m := makeBackup(t, store, 3, "1.19.0", spec{name: "docs", shards: 3, rf: 1}, spec{name: "users", shards: 3, rf: 2})
	f := newFakeCluster(peerIDs(3), "1.19.0")
	// A collection already on the cluster loads the first peer, so
	// Qdrant's placement of the restored ones starts elsewhere.
	if err := (&fakePeer{f: f, id: f.peers[0]}).CreateCollection(context.Background(), "other",
		[]byte(`{"vectors":{"size":2,"distance":"Dot"},"shard_number":1,"replication_factor":1}`)); err != nil {
		t.Fatal(err)
	}
	plan, _, err := restoreOnto(t, m, f, store, nil, PlanOptions{})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	checkRestored(t, plan, f, store)
	placedElsewhere := 0
	for _, cp := range plan.Collections {
		for _, sp := range cp.Shards {
			for _, p := range sp.Replicas {
				if !slices.Contains(f.placedAtCreation[cp.Target][sp.ID], p) {
					placedElsewhere++
				}
			}
		}
	}
	if placedElsewhere == 0 {
		t.Fatal("Qdrant placed every replica where the plan wants it: the case tests nothing")
	}
	var drops int
	for _, mu := range f.mutations {
		if strings.HasPrefix(mu, "transfer") {
			t.Errorf("the restore started a transfer: %s (mutations %q)", mu, f.mutations)
		}
		if strings.HasPrefix(mu, "drop") {
			drops++
		}
	}
	if drops != placedElsewhere {
		t.Errorf("%d replicas dropped, want the %d empty ones Qdrant placed off the plan", drops, placedElsewhere)
	}
}
