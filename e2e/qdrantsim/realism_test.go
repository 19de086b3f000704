package qdrantsim

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestHarshProfileReordersRecoveryProposals(t *testing.T) {
	for _, tc := range []struct {
		name       string
		outOfOrder float64
		want       bool
	}{
		{"always out of order", 1, true},
		{"in order", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 3, Realism: RealismHarsh, OutOfOrder: tc.outOfOrder,
				ConsensusDelayMin: 100 * time.Millisecond, ConsensusDelayMax: 300 * time.Millisecond, AutoRecoveryDelay: time.Hour})
			if tc.outOfOrder == 0 {
				c.mu.Lock()
				c.opts.OutOfOrder = 0 // the profile's 5% would make this case random
				c.mu.Unlock()
			}
			cl := newClient(t, c.Peers()[0])
			createCollection(t, cl, "c", 1, 1)
			upsertN(t, cl, "c", 5)
			data := snapshotShard(t, c, "c", 0, false)
			owner := holders(c, "c", 0)[0]
			target := nonHolder(c, "c", 0).ID()
			if status, body := uploadShard(t, newClient(t, peerByID(c, target)), "c", 0, data, "priority=snapshot"); status != 200 {
				t.Fatalf("upload: %d %s", status, body)
			}
			// Each peer's pending views: reordered means one shows the owner
			// Dead before the recovered replica is Active.
			reordered := 0
			func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				for _, p := range c.peers {
					for _, it := range p.view.queue {
						col := it.view.colls["c"]
						if col == nil || col.shards[0] == nil {
							continue // an entry from before the collection existed
						}
						s := col.shards[0]
						if r := s.replicas[owner]; r != nil && r.state == StateDead && s.replicas[target] == nil {
							reordered++
							break
						}
					}
				}
			}()
			want := 0
			if tc.want {
				want = len(c.Peers())
			}
			if reordered != want {
				t.Errorf("%d of %d peers apply the owner's Dead before the activation, want %d", reordered, len(c.Peers()), want)
			}
			waitFor(t, "views converge", c.Settled)
			if got := replicaStates(t, cl, "c"); got[fmt.Sprintf("0/%d", target)] != StateActive || got[fmt.Sprintf("0/%d", owner)] != StateDead {
				t.Errorf("final view %v", got)
			}
		})
	}
}

func TestRealismProfiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      string
		opts     Options
		want     Options
		wantErrs string
	}{
		// The profile resolution itself: off is the documented default of
		// the simulator when neither the option nor the env names one.
		{"empty and no env is off", "", Options{}, Options{Realism: RealismOff}, ""}, // realism off because the documented default is what is under test
		{"env selects the profile", "default", Options{}, Options{Realism: RealismDefault, ConsensusDelayMin: 20 * time.Millisecond,
			ConsensusDelayMax: 250 * time.Millisecond, TransferRate: 200 * MiB, AutoRecoveryDelay: 300 * time.Millisecond, ApproximateCounts: true}, ""},
		{"explicit beats env", "harsh", Options{Realism: RealismOff}, Options{Realism: RealismOff}, ""}, // realism off because an explicit profile must win over the env, whichever it is
		{"harsh", "", Options{Realism: RealismHarsh}, Options{Realism: RealismHarsh, ConsensusDelayMin: 20 * time.Millisecond,
			ConsensusDelayMax: 1500 * time.Millisecond, TransferRate: 20 * MiB, OutOfOrder: 0.05, AutoRecoveryDelay: 300 * time.Millisecond, ApproximateCounts: true}, ""},
		{"fields override the profile", "", Options{Realism: RealismHarsh, ConsensusDelayMax: time.Second, TransferRate: 5, AutoRecoveryDelay: time.Second},
			Options{Realism: RealismHarsh, ConsensusDelayMax: time.Second, TransferRate: 5, OutOfOrder: 0.05, AutoRecoveryDelay: time.Second, ApproximateCounts: true}, ""},
		{"a transfer delay keeps fixed-duration transfers", "", Options{Realism: RealismDefault, TransferDelay: time.Minute},
			Options{Realism: RealismDefault, TransferDelay: time.Minute, ConsensusDelayMin: 20 * time.Millisecond, ConsensusDelayMax: 250 * time.Millisecond,
				AutoRecoveryDelay: 300 * time.Millisecond, ApproximateCounts: true}, ""},
		{"unknown", "", Options{Realism: "brutal"}, Options{}, `realism "brutal"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RealismEnv, tc.env)
			got := tc.opts
			err := applyRealism(&got)
			if tc.wantErrs != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrs) {
					t.Fatalf("err = %v, want %q", err, tc.wantErrs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Errorf("resolved\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

func TestSeedReproducesIdsAndDelays(t *testing.T) {
	run := func(seed uint64) (*Cluster, []uint64, []time.Duration) {
		c := startCluster(t, Options{Peers: 3, Seed: seed, Realism: RealismDefault})
		var ids []uint64
		for _, p := range c.Peers() {
			ids = append(ids, p.ID())
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		var delays []time.Duration
		for i := 0; i < 8; i++ {
			delays = append(delays, c.consensusDelay())
		}
		return c, ids, delays
	}
	_, ids1, d1 := run(99)
	_, ids2, d2 := run(99)
	_, ids3, _ := run(100)
	if fmt.Sprint(ids1, d1) != fmt.Sprint(ids2, d2) {
		t.Errorf("same seed differs: %v %v vs %v %v", ids1, d1, ids2, d2)
	}
	if fmt.Sprint(ids1) == fmt.Sprint(ids3) {
		t.Errorf("different seeds gave the same peer ids %v", ids1)
	}
	for _, d := range d1 {
		if d < 20*time.Millisecond || d > 250*time.Millisecond {
			t.Errorf("default profile delay %v outside 20-250ms", d)
		}
	}
	c, err := Start(context.Background(), Options{Peers: 2, Realism: RealismOff}) // realism off because only the picked seed is under test
	if err != nil {
		t.Fatal(err)
	}
	picked, pickedIDs := c.Seed(), []uint64{c.Peers()[0].ID(), c.Peers()[1].ID()}
	c.Close()
	if picked == 0 {
		t.Fatal("Seed() of a cluster started with seed 0 is 0")
	}
	c2, _, _ := run(picked)
	if got := []uint64{c2.Peers()[0].ID(), c2.Peers()[1].ID()}; fmt.Sprint(got) != fmt.Sprint(pickedIDs) {
		t.Errorf("replaying picked seed %d: peer ids %v, want %v", picked, got, pickedIDs)
	}
}

// fakeT records what LogSeedOnFailure does.
type fakeT struct {
	failed   bool
	cleanups []func()
	logs     []string
}

func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Failed() bool      { return f.failed }
func (f *fakeT) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func TestLogSeedOnFailure(t *testing.T) {
	c := startCluster(t, Options{Peers: 1, Seed: 4242, Realism: RealismHarsh})
	for _, failed := range []bool{true, false} {
		f := &fakeT{failed: failed}
		c.LogSeedOnFailure(f)
		for _, fn := range f.cleanups {
			fn()
		}
		logged := strings.Join(f.logs, "\n")
		if failed != strings.Contains(logged, "seed=4242 realism=harsh") {
			t.Errorf("failed=%v: logged %q", failed, logged)
		}
	}
}
