package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/rebalance"
)

// docsShards is docs' shard count and shard_number as peer 0 reports them.
func docsShards(t *testing.T, s *cliSim) (int, uint32) {
	t.Helper()
	info, err := s.c.Peers()[0].CollectionClusterInfo(context.Background(), "docs")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := s.c.Peers()[0].CollectionInfo(context.Background(), "docs")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ci)
	var cfg struct {
		Config struct {
			Params struct {
				ShardNumber uint32 `json:"shard_number"`
			} `json:"params"`
		} `json:"config"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return info.ShardCount, cfg.Config.Params.ShardNumber
}

// clusterSnapshot is everything a refused rebalance must leave as it was:
// docs' collection info and cluster info through every peer, and the
// collections.
func clusterSnapshot(t *testing.T, s *cliSim) string {
	t.Helper()
	var parts []string
	for _, p := range s.c.Peers() {
		ci, err := p.CollectionInfo(context.Background(), "docs")
		if err != nil {
			t.Fatal(err)
		}
		cc, err := p.CollectionClusterInfo(context.Background(), "docs")
		if err != nil {
			t.Fatal(err)
		}
		names, err := p.ListCollections(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal([]any{ci, cc, names})
		parts = append(parts, string(b))
	}
	return strings.Join(parts, "\n")
}

// TestRebalanceReshardRefusedWithoutQdrantReshardingOrWritesPaused: on a
// cluster without Qdrant's resharding (open-source Qdrant), --shards
// without --writes-paused exits 2 saying why and what to do, dry run or
// not, and leaves the collection exactly as it was.
func TestRebalanceReshardRefusedWithoutQdrantReshardingOrWritesPaused(t *testing.T) {
	s := startCLISim(t, qdrantsim.Options{})
	before := clusterSnapshot(t, s)
	for _, args := range [][]string{{"rebalance", "--shards=6"}, {"rebalance", "--shards=6", "--dry-run"}, {"rebalance", "--shards=1"}} {
		code, out, errOut := qbackup(t, s.args(args...)...)
		if code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, cli.ExitUsage, out, errOut)
		}
		for _, want := range []string{`collection "docs": 3 → `, "cluster.resharding_enabled is off", "--writes-paused", "--shards keep", "Nothing was changed"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%v: stderr does not say %q:\n%s", args, want, errOut)
			}
		}
	}
	if after := clusterSnapshot(t, s); after != before {
		t.Errorf("the refused rebalance changed the cluster:\nbefore %s\nafter  %s", before, after)
	}
	// The default keeps the shard count: nothing is refused.
	mustQbackup(t, s.args("rebalance", "--dry-run")...)
}

// TestRebalanceReshardsByPointCopyWithWritesPaused: without Qdrant's
// resharding, --writes-paused rebuilds docs with the new shard count:
// every point equal through every peer, the alias kept, no staging
// collection left, replicas balanced with the replication factor.
func TestRebalanceReshardsByPointCopyWithWritesPaused(t *testing.T) {
	s := startCLISim(t, qdrantsim.Options{})
	p0 := s.c.Peers()[0]
	var actions []qdrantsim.AliasAction
	if err := json.Unmarshal([]byte(`[{"create_alias":{"collection_name":"docs","alias_name":"current"}}]`), &actions); err != nil {
		t.Fatal(err)
	}
	if err := p0.UpdateAliases(context.Background(), actions); err != nil {
		t.Fatal(err)
	}
	want := pointsVia(t, p0)
	out := mustQbackup(t, s.args("rebalance", "--shards=6", "--writes-paused")...)
	if !strings.Contains(out, "reshard 3 → 6 shards by point copy") {
		t.Errorf("the plan does not say how it reshards:\n%s", out)
	}
	if n, sn := docsShards(t, s); n != 6 || sn != 6 {
		t.Errorf("docs has %d shards (shard_number %d), want 6", n, sn)
	}
	checkSamePoints(t, s, want)
	checkBalanced(t, s, 2)
	names, err := p0.ListCollections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"docs"}) {
		t.Errorf("collections after the copy: %v, want docs alone", names)
	}
	aliases, err := p0.ListAliases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(aliases); !strings.Contains(string(b), `"current"`) || !strings.Contains(string(b), `"docs"`) {
		t.Errorf("alias current → docs not kept: %s", b)
	}
	if rec := readRebalanceJournal(t, s); rec.Status != rebalance.StatusComplete {
		t.Errorf("journal: %s, want complete", rec.Status)
	}
}

// TestRebalanceReshardsWithQdrantsReshardingUnderWrites: on a cluster that
// offers Qdrant's resharding, --shards goes up and then down one shard at
// a time while the simulator's write load writes to docs, with consensus
// and transfers as slow as the realism profile makes them: no write
// fails, nothing is lost, every peer reads the same points, and the
// replicas end balanced with the replication factor.
func TestRebalanceReshardsWithQdrantsReshardingUnderWrites(t *testing.T) {
	s := startCLISimWith(t, qdrantsim.Options{ReshardingEnabled: true, Realism: qdrantsim.RealismDefault}, func(o *qdrantsim.Options) {
		o.TransferDelay = 0 // transfers last their bytes at the profile's rate
	})
	for _, step := range []struct {
		shards string
		want   int
	}{{"5", 5}, {"3", 3}} {
		before := len(pointsVia(t, s.c.Peers()[0]))
		st0 := s.c.WriteStats()
		s.c.SetWriteLoad(qdrantsim.WriteLoad{Rate: 300, Collections: []string{"docs"}})
		time.Sleep(100 * time.Millisecond)
		t0 := time.Now()
		out := mustQbackup(t, s.args("rebalance", "--shards="+step.shards)...)
		took := time.Since(t0)
		time.Sleep(100 * time.Millisecond)
		s.c.SetWriteLoad(qdrantsim.WriteLoad{})
		if !strings.Contains(out, "with Qdrant's resharding") {
			t.Errorf("--shards %s: the plan does not say it uses Qdrant's resharding:\n%s", step.shards, out)
		}
		st := s.c.WriteStats()
		st.Upserts, st.Deletes, st.Failed = st.Upserts-st0.Upserts, st.Deletes-st0.Deletes, st.Failed-st0.Failed
		if st.Upserts == 0 {
			t.Fatalf("the write load did not write: %+v", st)
		}
		if st.Failed > 0 {
			t.Errorf("--shards %s: %d writes failed, last: %s", step.shards, st.Failed, st.LastError)
		}
		t.Logf("--shards %s: rebalance took %s, %d points written and %d deleted meanwhile", step.shards, took.Round(time.Millisecond), st.Upserts, st.Deletes)
		if n, sn := docsShards(t, s); n != step.want || sn != uint32(step.want) {
			t.Errorf("docs has %d shards (shard_number %d), want %d", n, sn, step.want)
		}
		checkBalanced(t, s, 2)
		got := pointsVia(t, s.c.Peers()[0])
		if n := before + int(st.Upserts) - int(st.Deletes); len(got) != n {
			t.Errorf("--shards %s: %d points, want %d (%d before, %d written, %d deleted)", step.shards, len(got), n, before, st.Upserts, st.Deletes)
		}
		checkSamePoints(t, s, got)
		if rec := readRebalanceJournal(t, s); rec.Status != rebalance.StatusComplete || rec.Reshard["docs"] == nil || rec.Reshard["docs"].Steps != 2 {
			t.Errorf("journal: %+v", rec)
		}
	}
}

// TestRebalanceReshardRerunAfterAKillResumes: a rebalance stopped while
// Qdrant's resharding migrates points leaves the resharding running and
// journaled; the rerun recognises it as its own and finishes it.
func TestRebalanceReshardRerunAfterAKillResumes(t *testing.T) {
	s := startCLISimWith(t, qdrantsim.Options{ReshardingEnabled: true}, func(o *qdrantsim.Options) { o.TransferDelay = 300 * time.Millisecond })
	want := pointsVia(t, s.c.Peers()[0])
	stopRebalanceWhen(t, s, func(ctx context.Context) bool {
		info, err := s.c.Peers()[0].CollectionClusterInfo(ctx, "docs")
		return err == nil && len(info.ShardTransfers) > 0
	}, "rebalance", "--shards=4")
	info, err := s.c.Peers()[0].CollectionClusterInfo(context.Background(), "docs")
	if err != nil {
		t.Fatal(err)
	}
	rec := readRebalanceJournal(t, s)
	if len(info.ReshardingOperations) != 1 || rec.Reshard["docs"] == nil || rec.Reshard["docs"].UUID != info.ReshardingOperations[0].UUID {
		t.Fatalf("after the stop: resharding %+v, journal %+v", info.ReshardingOperations, rec.Reshard)
	}
	again := mustQbackup(t, s.args("rebalance", "--shards=4")...)
	if !strings.Contains(again, "Resuming interrupted rebalance "+rec.ID) {
		t.Errorf("the rerun does not say it resumes %s:\n%s", rec.ID, again)
	}
	if n, _ := docsShards(t, s); n != 4 {
		t.Errorf("docs has %d shards, want 4", n)
	}
	checkBalanced(t, s, 2)
	checkSamePoints(t, s, want)
}

// TestRebalancePointCopyRerunAfterAKillResumes: a point copy stopped once
// the collection was deleted for its rebuild (every point then only in the
// staging collection) is resumed by the rerun from the journal: the
// collection comes back with the new shard count and every point.
func TestRebalancePointCopyRerunAfterAKillResumes(t *testing.T) {
	// Consensus delays keep the collection absent long enough to stop
	// the run there.
	s := startCLISim(t, qdrantsim.Options{Realism: qdrantsim.RealismDefault})
	want := pointsVia(t, s.c.Peers()[0])
	stopRebalanceWhen(t, s, func(ctx context.Context) bool {
		names, err := s.c.Peers()[0].ListCollections(ctx)
		return err == nil && !slices.Contains(names, "docs")
	}, "rebalance", "--shards=6", "--writes-paused")
	rec := readRebalanceJournal(t, s)
	if rec.Reshard["docs"] == nil || !rec.Reshard["docs"].StagingCopied {
		t.Fatalf("journal after the stop: %+v", rec.Reshard)
	}
	again := mustQbackup(t, s.args("rebalance", "--shards=6", "--writes-paused")...)
	if !strings.Contains(again, "Resuming interrupted rebalance "+rec.ID) {
		t.Errorf("the rerun does not say it resumes %s:\n%s", rec.ID, again)
	}
	if n, sn := docsShards(t, s); n != 6 || sn != 6 {
		t.Errorf("docs has %d shards (shard_number %d), want 6", n, sn)
	}
	checkSamePoints(t, s, want)
	if names, err := s.c.Peers()[0].ListCollections(context.Background()); err != nil || !slices.Equal(names, []string{"docs"}) {
		t.Errorf("collections after the rerun: %v %v, want docs alone", names, err)
	}
}

// TestRebalanceShardsAutoPutsDataOnEveryPod: a 3-shard collection at
// replication factor 1 on 6 pods leaves 3 pods empty; --shards auto on a
// cluster with Qdrant's resharding takes it to 6 shards, one on every
// pod, every point equal. The dry run's JSON plan names the change.
func TestRebalanceShardsAutoPutsDataOnEveryPod(t *testing.T) {
	s := startCLISimWith(t, qdrantsim.Options{Peers: 6, ReshardingEnabled: true}, nil)
	ctx := context.Background()
	p0 := s.c.Peers()[0]
	if _, err := p0.DeleteCollection(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	var req qdrantsim.CreateCollection
	if err := json.Unmarshal([]byte(`{"vectors":{"size":4,"distance":"Cosine"},"shard_number":3,"replication_factor":1}`), &req); err != nil {
		t.Fatal(err)
	}
	if err := p0.CreateCollection(ctx, "docs", req); err != nil {
		t.Fatal(err)
	}
	s.upsert(t, 1, 300)
	want := pointsVia(t, p0)

	var plan rebalance.Plan
	if err := json.Unmarshal([]byte(mustQbackup(t, s.args("rebalance", "--shards=auto", "--dry-run", "-o", "json")...)), &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Collections) != 1 || plan.Collections[0].Reshard == nil || plan.Collections[0].Reshard.To != 6 || plan.Collections[0].Reshard.Method != rebalance.ReshardQdrant {
		t.Fatalf("dry-run plan: %+v", plan.Collections)
	}
	if n, _ := docsShards(t, s); n != 3 {
		t.Fatalf("the dry run resharded: %d shards", n)
	}
	mustQbackup(t, s.args("rebalance", "--shards=auto")...)
	if n, sn := docsShards(t, s); n != 6 || sn != 6 {
		t.Errorf("docs has %d shards (shard_number %d), want 6", n, sn)
	}
	checkBalanced(t, s, 1)
	for _, p := range s.c.Peers() {
		info, err := p.CollectionClusterInfo(ctx, "docs")
		if err != nil {
			t.Fatal(err)
		}
		if len(info.LocalShards) != 1 || info.LocalShards[0].PointsCount == 0 {
			t.Errorf("peer %d holds %+v, want one shard with points", p.ID(), info.LocalShards)
		}
	}
	checkSamePoints(t, s, want)
}
