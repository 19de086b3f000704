package restore

import (
	"context"
	"testing"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/storage"
)

// checkSimRestored asserts every point of src's collections equal in dst
// and every replica of dst Active, as every peer sees it.
func checkSimRestored(t *testing.T, src, dst *simCluster, collections ...string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range collections {
		want, got := allPoints(t, src.any(), c), allPoints(t, dst.any(), c)
		if len(got) != len(want) {
			t.Errorf("%q: %d points restored of %d", c, len(got), len(want))
		}
		for id, h := range want {
			if got[id] != h {
				t.Errorf("%q: point %s differs", c, id)
			}
		}
		for id, cl := range dst.clients {
			cc, err := cl.CollectionCluster(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range cc.Replicas() {
				if r.State != qdrant.StateActive {
					t.Errorf("%q shard %d on peer %d is %s as peer %d sees it", c, r.ShardID, r.PeerID, r.State, id)
				}
			}
		}
	}
}

// A direct or consolidating restore recovers every replica from the
// backup: no shard data moves between peers.
func TestRestoreWithoutRedistributionMovesNoShardData(t *testing.T) {
	tests := []struct {
		name     string
		from, to int
		opts     PlanOptions
	}{
		{"three pods restored onto three", 3, 3, PlanOptions{}},
		{"three pods consolidated onto two", 3, 2, PlanOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			src := startSim(t, tt.from, "1.19.0")
			src.load(t, "docs", tt.from, 1, 60)
			src.load(t, "replicated", 3, 2, 40)
			src.load(t, "tenants", 1, 2, 30, "acme", "globex")
			store := storage.NewMemory()
			m := takeBackup(t, src, store, manifest.CompressionZstd)
			dst := startSim(t, tt.to, "1.19.0")
			res, err := dst.restore(ctx, t, m, store, tt.opts)
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			if res.Plan.Strategy == StrategyRedistribute {
				t.Fatalf("strategy %s", res.Plan.Strategy)
			}
			checkSimRestored(t, src, dst, "docs", "replicated", "tenants")
			if n := dst.sim.TransferredBytes(); n != 0 {
				t.Errorf("%d bytes of shard data moved between peers, want none", n)
			}
		})
	}
}

// Replica state proposals of the recovery that consensus loses do not
// lose restored data: the restore checks what every peer agreed on.
func TestRestoreSurvivesLostRecoveryProposals(t *testing.T) {
	ctx := context.Background()
	src := startSim(t, 3, "1.19.0")
	src.load(t, "docs", 6, 1, 60)
	src.load(t, "replicated", 3, 2, 30)
	store := storage.NewMemory()
	m := takeBackup(t, src, store, manifest.CompressionNone)
	dst := startSimWith(t, qdrantsim.Options{Peers: 2, Version: "1.19.0"})
	_, err := dst.restore(ctx, t, m, store, PlanOptions{}, func(o *RunOptions, d *RunDeps) {
		// Every shard's recovery loses the next proposal made.
		d.Progress = dropOnStart{dst.sim}
		o.Exec.Parallel = 1
	})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if dst.sim.DroppedProposals() == 0 {
		t.Fatal("no proposal was lost")
	}
	checkSimRestored(t, src, dst, "docs", "replicated")
}

type dropOnStart struct{ sim *qdrantsim.Cluster }

func (d dropOnStart) ShardStarted(string, uint32, uint64, int64) { d.sim.DropProposals(1) }
func (d dropOnStart) ShardDone(string, uint32, error)            {}
