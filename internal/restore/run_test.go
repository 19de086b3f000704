package restore

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/qbackup/qbackup/internal/config"
)

// countingStore counts object reads, to tell whether preflight ran.
type countingStore struct {
	*memStore
	opens atomic.Int32
}

func (c *countingStore) Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	c.opens.Add(1)
	return c.memStore.Open(ctx, key, offset)
}

func TestRunTakesTheLeaseBetweenPlanAndPreflight(t *testing.T) {
	errHeld := errors.New("lease held by backup 20261206T0600Z")
	tests := []struct {
		name string
		// lease answers the hook; nil: no hook.
		lease       func(ctx context.Context) (context.Context, func(), error)
		opts        PlanOptions
		dryRun      bool
		wantErr     error
		wantLease   bool
		wantChanged bool
	}{
		{name: "without a hook the restore runs", wantChanged: true},
		{name: "the lease is held for the whole run", wantLease: true, wantChanged: true,
			lease: func(ctx context.Context) (context.Context, func(), error) { return ctx, func() {}, nil }},
		{name: "a held lease stops the restore before preflight", wantLease: true, wantErr: errHeld,
			lease: func(context.Context) (context.Context, func(), error) { return nil, nil, errHeld }},
		{name: "a lost lease cancels the run", wantLease: true, wantErr: context.Canceled,
			lease: func(ctx context.Context) (context.Context, func(), error) {
				lost, cancel := context.WithCancel(ctx)
				cancel()
				return lost, func() {}, nil
			}},
		{name: "a dry run takes no lease and changes nothing", dryRun: true,
			lease: func(ctx context.Context) (context.Context, func(), error) { return ctx, func() {}, nil }},
		{name: "a plan that cannot be made is invalid input and takes no lease", opts: PlanOptions{TargetNode: "qdrant-9"}, wantErr: config.ErrInvalidInput,
			lease: func(ctx context.Context) (context.Context, func(), error) { return ctx, func() {}, nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := newMemStore()
			m := makeBackup(t, mem, 2, "1.19.0", spec{name: "docs", shards: 2, rf: 1})
			store := &countingStore{memStore: mem}
			f := newFakeCluster(peerIDs(2), "1.19.0")
			var leased, released, printed bool
			res, err := runOnto(t, m, f, mem, nil, tt.opts, func(o *RunOptions, d *RunDeps) {
				d.Store = store
				o.DryRun = tt.dryRun
				d.PrintPlan = func(*RestorePlan) error { printed = true; return nil }
				if tt.lease == nil {
					return
				}
				d.HoldLease = func(ctx context.Context) (context.Context, func(), error) {
					leased = true
					if !printed {
						t.Error("lease taken before the plan was shown")
					}
					if n := store.opens.Load(); n > 0 || len(f.mutations) > 0 {
						t.Errorf("lease taken after %d object reads and %d cluster changes", n, len(f.mutations))
					}
					held, release, err := tt.lease(ctx)
					if release == nil {
						return held, nil, err
					}
					return held, func() { released = true; release() }, err
				}
			})
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Run: %v", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("Run error = %v, want %v", err, tt.wantErr)
			}
			if leased != tt.wantLease {
				t.Errorf("lease taken: %v, want %v", leased, tt.wantLease)
			}
			if leased && tt.wantErr != errHeld && !released {
				t.Error("lease not released")
			}
			if changed := len(f.mutations) > 0; changed != tt.wantChanged {
				t.Errorf("cluster changed: %v (%v), want %v", changed, f.mutations, tt.wantChanged)
			}
			if tt.wantErr == nil && res.Plan == nil {
				t.Error("no plan in the result")
			}
			if tt.wantChanged && (res.Report == nil || res.Preflight == nil) {
				t.Errorf("result lacks preflight or report: %+v", res)
			}
		})
	}
}
