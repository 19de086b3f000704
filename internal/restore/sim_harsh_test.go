package restore

import (
	"context"
	"fmt"
	"testing"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// The mission round trips on the harsh realism profile (consensus delays
// up to 1.5 s per peer, recover-related proposals applied out of order,
// slow transfers), with two fixed seeds: every point equal, every replica
// Active as every peer sees it, and no shard data moved between peers
// unless the plan redistributes.
func TestMissionRoundTripsOnHarshRealism(t *testing.T) {
	if testing.Short() {
		t.Skip("harsh round trips take a while")
	}
	trips := []struct {
		name       string
		from, to   int
		targetNode bool
		want       Strategy
	}{
		{"three pods onto three", 3, 3, false, StrategyDirect},
		{"three pods onto two", 3, 2, false, StrategyConsolidate},
		{"three pods onto one target node", 3, 3, true, StrategyConsolidate},
		{"two pods onto four with redistribution", 2, 4, false, StrategyRedistribute},
	}
	for _, seed := range []uint64{3, 29} {
		for _, tt := range trips {
			t.Run(fmt.Sprintf("%s seed %d", tt.name, seed), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				src := startSimWith(t, qdrantsim.Options{Peers: tt.from, Version: "1.19.0", Seed: seed})
				src.load(t, "docs", tt.from, 1, 60)
				src.load(t, "replicated", 2, 2, 40)
				// Custom shard keys: shards exist only once their key does.
				src.load(t, "tenants", 1, 2, 30, "acme", "globex")
				store := storage.NewMemory()
				m := takeBackup(t, src, store, manifest.CompressionZstd)

				dst := startSimWith(t, qdrantsim.Options{Peers: tt.to, Version: "1.19.0", Seed: seed, Realism: qdrantsim.RealismHarsh})
				opts := PlanOptions{}
				if tt.targetNode {
					opts.TargetNode = fmt.Sprint(dst.topo.Peers[1].ID)
				}
				res, err := dst.restore(ctx, t, m, store, opts, func(o *RunOptions, _ *RunDeps) {
					o.Exec.AgreeTimeout = o.Exec.WaitTimeout
				})
				if err != nil {
					t.Fatalf("restore: %v", err)
				}
				if res.Plan.Strategy != tt.want {
					t.Errorf("strategy %s, want %s", res.Plan.Strategy, tt.want)
				}
				checkSimRestored(t, src, dst, "docs", "replicated", "tenants")
				moved := dst.sim.TransferredBytes()
				switch {
				case tt.want != StrategyRedistribute && moved != 0:
					t.Errorf("%d bytes of shard data moved between peers, want none", moved)
				case tt.want == StrategyRedistribute && moved == 0:
					t.Error("the redistribution moved no data")
				}
				if tt.targetNode {
					for _, c := range []string{"docs", "replicated", "tenants"} {
						cc, err := dst.any().CollectionCluster(ctx, c)
						if err != nil {
							t.Fatal(err)
						}
						for _, r := range cc.Replicas() {
							if fmt.Sprint(r.PeerID) != opts.TargetNode {
								t.Errorf("%q shard %d has a replica on peer %d", c, r.ShardID, r.PeerID)
							}
						}
					}
				}
				t.Logf("%s: phases %v, total %s, %d bytes moved", res.Plan.Strategy, res.Report.Phases, res.Report.Total, moved)
			})
		}
	}
}
