package restore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// TestPreflightRefusesPresignedTransfersWhenPeersRefuseURLs: a target
// (1.18+) with snapshot URL recovery disabled makes preflight refuse
// --transfer presigned, naming --transfer upload, before anything is
// created; with URL recovery enabled the probe passes and creates
// nothing.
func TestPreflightRefusesPresignedTransfersWhenPeersRefuseURLs(t *testing.T) {
	ctx := context.Background()
	src := startSim(t, 2, "1.19.0")
	src.load(t, "docs", 2, 2, 30)
	mem := storage.NewMemory()
	m := takeBackup(t, src, mem, manifest.CompressionNone)
	store := presigningStore{Backend: mem, base: "http://127.0.0.1:1"}

	for _, tt := range []struct {
		name    string
		disable bool
	}{
		{"URL recovery disabled", true},
		{"URL recovery enabled", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dst := startSimWith(t, qdrantsim.Options{Peers: 2, Version: "1.19.0", DisableSnapshotURLRecovery: tt.disable})
			plan, err := Plan(m, dst.target(t), PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			deps := Deps{Peers: dst.peers(), Store: store, Logger: quietLogger()}
			_, err = Preflight(ctx, plan, deps, PreflightOptions{Transfer: TransferPresigned})
			if tt.disable {
				if !errors.Is(err, ErrURLRecoveryDisabled) || !strings.Contains(err.Error(), "--transfer upload") {
					t.Fatalf("preflight = %v, want ErrURLRecoveryDisabled naming --transfer upload", err)
				}
			} else if err != nil {
				t.Fatalf("preflight = %v", err)
			}
			names, err := dst.any().ListCollections(ctx)
			if err != nil || len(names) != 0 {
				t.Errorf("collections after preflight: %v (%v), want none", names, err)
			}
		})
	}
}
