package restore

import (
	"context"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

func TestAutoShardCount(t *testing.T) {
	tests := []struct {
		shards, rf uint32
		pods       int
		want       uint32
	}{
		{3, 1, 6, 6},  // three pods would hold nothing
		{3, 2, 6, 3},  // 3 × 2 replicas already cover 6 pods
		{3, 2, 7, 4},  // 7 pods need 4 shards at RF 2
		{4, 1, 3, 4},  // never fewer shards than today
		{1, 1, 1, 1},  // one pod
		{2, 0, 5, 5},  // no factor recorded counts as 1
		{1, 3, 10, 4}, // ceil(10 / 3)
	}
	for _, tt := range tests {
		if got := AutoShardCount(tt.shards, tt.rf, tt.pods); got != tt.want {
			t.Errorf("AutoShardCount(%d shards, RF %d, %d pods) = %d, want %d", tt.shards, tt.rf, tt.pods, got, tt.want)
		}
	}
}

// A 3-shard RF 1 backup restored onto 6 pods: --shards auto reshards it so
// that every pod holds data; without it the plan keeps 3 shards and says
// that 3 pods hold none.
func TestShardsAutoFillsEveryPod(t *testing.T) {
	ctx := context.Background()
	src := startSim(t, 3, "1.19.0")
	src.load(t, "docs", 3, 1, 90)
	src.load(t, "replicated", 3, 2, 40) // 3 × 2 covers 6 pods: kept
	src.load(t, "tenants", 1, 1, 30, "acme", "globex")
	store := storage.NewMemory()
	m := takeBackup(t, src, store, manifest.CompressionZstd)

	t.Run("plan without auto says which pods stay empty", func(t *testing.T) {
		dst := startSim(t, 6, "1.19.0")
		p, err := Plan(m, dst.target(t), PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		docs := collectionPlan(t, p, "docs")
		if docs.Reshard != nil {
			t.Fatalf("docs resharded without --shards auto: %+v", docs.Reshard)
		}
		if w := strings.Join(docs.Warnings, "\n"); !strings.Contains(w, "3 shards × replication factor 1 leave 3 of 6 pods without its data; --shards auto would reshard it to 6 shards") {
			t.Errorf("docs warnings do not say that 3 pods hold no data:\n%s", w)
		}
		if w := strings.Join(collectionPlan(t, p, "tenants").Warnings, "\n"); !strings.Contains(w, "custom sharding keeps its shards per key") {
			t.Errorf("tenants warnings do not say custom sharding keeps its shards:\n%s", w)
		}
	})

	t.Run("auto reshards and every pod holds data", func(t *testing.T) {
		dst := startSim(t, 6, "1.19.0")
		res, err := dst.restore(ctx, t, m, store, PlanOptions{AutoShards: true})
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
		docs := collectionPlan(t, res.Plan, "docs")
		if docs.Reshard == nil || docs.Reshard.ToShards != 6 || docs.Strategy != StrategyReshard || len(docs.Transfers) != 0 {
			t.Fatalf("docs plan: reshard %+v, strategy %s, %d transfers; want 3 → 6 shards, reshard, no transfers of the staging copy", docs.Reshard, docs.Strategy, len(docs.Transfers))
		}
		if w := strings.Join(docs.Warnings, "\n"); !strings.Contains(w, "leave 3 of 6 pods without its data: resharding 3 → 6 shards") {
			t.Errorf("docs plan does not say why it reshards:\n%s", w)
		}
		for _, name := range []string{"replicated", "tenants"} {
			if cp := collectionPlan(t, res.Plan, name); cp.Reshard != nil {
				t.Errorf("%s resharded: %+v", name, cp.Reshard)
			}
		}
		checkSimRestored(t, src, dst, "docs", "replicated", "tenants")

		cc, err := dst.any().CollectionCluster(ctx, "docs")
		if err != nil {
			t.Fatal(err)
		}
		shards, peers := map[uint32]bool{}, map[uint64]bool{}
		for _, r := range cc.Replicas() {
			shards[r.ShardID], peers[r.PeerID] = true, true
		}
		if len(shards) != 6 || len(peers) != 6 {
			t.Errorf("docs has %d shards on %d of 6 peers, want 6 shards with a replica on every peer", len(shards), len(peers))
		}
		// The staging copy is gone.
		names, err := dst.any().ListCollections(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if strings.HasSuffix(n, "-qbackup-reshard") {
				t.Errorf("staging collection %q left behind", n)
			}
		}
	})
}

func collectionPlan(t *testing.T, p *RestorePlan, name string) CollectionPlan {
	t.Helper()
	for _, c := range p.Collections {
		if c.Source == name {
			return c
		}
	}
	t.Fatalf("no plan for collection %q", name)
	return CollectionPlan{}
}
