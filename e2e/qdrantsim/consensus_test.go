package qdrantsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// slowConsensus is a realistic cluster whose peers apply entries late
// enough for a test to observe the gap.
func slowConsensus(peers int) Options {
	return Options{Peers: peers, Realism: RealismDefault, ConsensusDelayMin: 300 * time.Millisecond,
		ConsensusDelayMax: 400 * time.Millisecond, AutoRecoveryDelay: time.Hour}
}

func TestShardRecoveryReturnsBeforeItsStateProposalsApply(t *testing.T) {
	c := startCluster(t, slowConsensus(2))
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 1)
	upsertN(t, cl, "c", 5)
	data := snapshotShard(t, c, "c", 0, false)
	owner := holders(c, "c", 0)[0]
	target := nonHolder(c, "c", 0)
	tc, oc := newClient(t, target), newClient(t, peerByID(c, owner))
	if status, body := uploadShard(t, tc, "c", 0, data, "priority=snapshot"); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	self := fmt.Sprintf("0/%d", target.ID())
	other := fmt.Sprintf("0/%d", owner)
	// Right after the 200 neither peer has applied the activation: the
	// receiver lists its new replica as Dead, the owner does not list it.
	if got := replicaStates(t, tc, "c"); got[self] != StateDead || got[other] != StateActive {
		t.Errorf("receiver's view right after the upload: %v, want itself Dead and the owner Active", got)
	}
	if got := replicaStates(t, oc, "c"); got[self] != "" || got[other] != StateActive {
		t.Errorf("owner's view right after the upload: %v, want no replica on the receiver", got)
	}
	waitFor(t, "both peers apply the recovery's proposals", func() bool {
		r, o := replicaStates(t, tc, "c"), replicaStates(t, oc, "c")
		return r[self] == StateActive && r[other] == StateDead && o[self] == StateActive && o[other] == StateDead
	})
}

func TestCollectionCreateWaitsForEveryPeerDeleteOnlyForTheReceiver(t *testing.T) {
	opts := slowConsensus(3)
	opts.ConsensusDelayMin = 0
	opts.ConsensusDelayMax = 600 * time.Millisecond
	c := startCluster(t, opts)
	peers := c.Peers()
	cl := newClient(t, peers[0])
	lagged := 0
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("c%d", i)
		createCollection(t, cl, name, 1, 1)
		for _, p := range peers {
			if status, _ := newClient(t, p).do("GET", "/collections/"+name, nil); status != 200 {
				t.Fatalf("peer %d after create returned: %d, want 200 (creation syncs every peer)", p.ID(), status)
			}
		}
		cl.ok("DELETE", "/collections/"+name, nil, nil)
		if status, _ := cl.do("GET", "/collections/"+name, nil); status != 404 {
			t.Fatalf("receiver after delete returned: %d, want 404", status)
		}
		for _, p := range peers[1:] {
			if status, _ := newClient(t, p).do("GET", "/collections/"+name, nil); status == 200 {
				lagged++
			}
		}
	}
	if lagged == 0 {
		t.Error("no other peer ever still listed a deleted collection: deletion waited for every peer")
	}
	waitFor(t, "every peer applied the deletions", c.Settled)
}

func TestTransferDurationScalesWithBytes(t *testing.T) {
	const rate = 8 * MiB
	c := startCluster(t, Options{Peers: 2, TransferRate: rate})
	cl := newClient(t, c.Peers()[0])
	for _, tc := range []struct {
		size     int64
		min, max time.Duration
	}{
		{1 * MiB, 0, 400 * time.Millisecond},
		{6 * MiB, 700 * time.Millisecond, 3 * time.Second},
	} {
		name := fmt.Sprintf("s%d", tc.size)
		createCollection(t, cl, name, 1, 1)
		if err := c.SetSyntheticShard(context.Background(), name, 0, tc.size, 1); err != nil {
			t.Fatal(err)
		}
		before := c.TransferredBytes()
		from, to := holders(c, name, 0)[0], nonHolder(c, name, 0).ID()
		start := time.Now()
		cl.ok("POST", "/collections/"+name+"/cluster", map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": from, "to_peer_id": to}}, nil)
		waitFor(t, "transfer of "+name, func() bool { return stateOf(c, name, 0, to) == StateActive })
		took := time.Since(start)
		if took < tc.min || took > tc.max {
			t.Errorf("%d bytes at %d B/s took %v, want within [%v, %v]", tc.size, rate, took, tc.min, tc.max)
		}
		if got := c.TransferredBytes() - before; got != tc.size {
			t.Errorf("transferred %d bytes, want %d", got, tc.size)
		}
	}
}

func TestTransferIntoAReplicaReplacesItsData(t *testing.T) {
	// A shard snapshot from another cluster restored next to an empty
	// replica; a transfer from the empty replica into the restored one is
	// accepted and wipes the restored data.
	src := startCluster(t, Options{Peers: 1})
	createCollection(t, newClient(t, src.Peers()[0]), "c", 1, 1)
	upsertN(t, newClient(t, src.Peers()[0]), "c", 10)
	data := snapshotShard(t, src, "c", 0, false)

	c := startCluster(t, Options{Peers: 2})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 1)
	owner := holders(c, "c", 0)[0]
	target := nonHolder(c, "c", 0)
	if status, body := uploadShard(t, newClient(t, target), "c", 0, data, "priority=no_sync"); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	var restored CollectionClusterInfo
	newClient(t, target).ok("GET", "/collections/c/cluster", nil, &restored)
	if len(restored.LocalShards) != 1 || restored.LocalShards[0].PointsCount != 11 || restored.LocalShards[0].State != StateActive {
		t.Fatalf("restored replica: %+v", restored.LocalShards)
	}
	cl.ok("POST", "/collections/c/cluster", map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": owner, "to_peer_id": target.ID()}}, nil)
	waitFor(t, "transfer done", func() bool {
		var info CollectionClusterInfo
		cl.ok("GET", "/collections/c/cluster", nil, &info)
		return len(info.ShardTransfers) == 0
	})
	var info CollectionClusterInfo
	newClient(t, target).ok("GET", "/collections/c/cluster", nil, &info)
	if len(info.LocalShards) != 1 || info.LocalShards[0].PointsCount != 0 {
		t.Errorf("restored replica after a transfer from an empty one: %+v, want its data replaced (0 points)", info.LocalShards)
	}
}

func TestAutomaticRecoveryKeepsOneTransferPerPeer(t *testing.T) {
	c := startCluster(t, Options{Peers: 3, TransferDelay: 250 * time.Millisecond})
	peers := c.Peers()
	cl := newClient(t, peers[0])
	createCollection(t, cl, "c", 4, 3)
	upsertN(t, cl, "c", 40)
	victim := peers[2]
	victim.Stop()
	waitFor(t, "victim's replicas Dead", func() bool {
		for s := uint32(0); s < 4; s++ {
			if stateOf(c, "c", s, victim.ID()) != StateDead {
				return false
			}
		}
		return true
	})
	if err := victim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	maxIn, maxOut := 0, 0
	waitFor(t, "every replica recovered", func() bool {
		c.mu.Lock()
		in, out := map[uint64]int{}, map[uint64]int{}
		for _, tr := range c.transfers {
			in[tr.to]++
			out[tr.from]++
		}
		c.mu.Unlock()
		for _, n := range in {
			maxIn = max(maxIn, n)
		}
		for _, n := range out {
			maxOut = max(maxOut, n)
		}
		for s := uint32(0); s < 4; s++ {
			if stateOf(c, "c", s, victim.ID()) != StateActive {
				return false
			}
		}
		return true
	})
	if maxIn != 1 || maxOut != 1 {
		t.Errorf("most concurrent automatic transfers: %d into a peer, %d out of a peer; want 1 and 1", maxIn, maxOut)
	}
}

func TestWalDeltaFallsBackWhenTheWalCannotCover(t *testing.T) {
	for _, tc := range []struct {
		name       string
		restore    bool
		rate       int64
		wantMethod string
		full       bool
	}{
		{"replica behind by a few writes gets the delta", false, 200, MethodWalDelta, false},
		{"replica of a recovered snapshot gets the whole shard", true, 20_000, MethodSnapshot, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 2, Realism: RealismDefault, TransferRate: tc.rate, AutoRecoveryDelay: 100 * time.Millisecond})
			peers := c.Peers()
			cl := newClient(t, peers[0])
			createCollection(t, cl, "c", 1, 2)
			upsertN(t, cl, "c", 50)
			behind := peers[1]
			if tc.restore {
				data := snapshotShard(t, c, "c", 0, false)
				if status, body := uploadShard(t, newClient(t, behind), "c", 0, data, "priority=replica"); status != 200 {
					t.Fatalf("upload: %d %s", status, body)
				}
			} else {
				behind.Stop()
				waitFor(t, "stopped replica Dead", func() bool { return stateOf(c, "c", 0, behind.ID()) == StateDead })
				cl.ok("PUT", "/collections/c/points?wait=true", map[string]any{"points": []map[string]any{
					{"id": 100, "vector": []float32{1, 2, 3, 4}}, {"id": 101, "vector": []float32{1, 2, 3, 4}}}}, nil)
				if err := behind.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			c.mu.Lock()
			srcBytes := replicaBytes(peers[0].data["c"][0])
			c.mu.Unlock()
			before := c.TransferredBytes()
			methods := map[string]bool{}
			waitFor(t, "replica recovered", func() bool {
				c.mu.Lock()
				for _, tr := range c.transfers {
					methods[tr.method] = true
				}
				c.mu.Unlock()
				return len(methods) > 0 && stateOf(c, "c", 0, behind.ID()) == StateActive
			})
			if !methods[tc.wantMethod] || (tc.wantMethod == MethodWalDelta && len(methods) != 1) {
				t.Errorf("transfer methods seen %v, want %s", methods, tc.wantMethod)
			}
			moved := c.TransferredBytes() - before
			if tc.full && moved != srcBytes {
				t.Errorf("moved %d bytes, want the whole shard's %d", moved, srcBytes)
			}
			if !tc.full && (moved == 0 || moved >= srcBytes/4) {
				t.Errorf("moved %d bytes, want the delta of 2 points (whole shard %d)", moved, srcBytes)
			}
		})
	}
}

func TestDroppedProposalIsNeverApplied(t *testing.T) {
	c := startCluster(t, Options{Peers: 2, ConsensusTimeout: 100 * time.Millisecond, AutoRecoveryDelay: time.Hour})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 1)
	upsertN(t, cl, "c", 5)
	owner := holders(c, "c", 0)[0]
	target := nonHolder(c, "c", 0)
	commit := c.ConsensusStatus().Commit

	// A lost transfer start: the caller times out as on Qdrant, nothing runs.
	c.DropProposals(1)
	op := map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": owner, "to_peer_id": target.ID()}}
	if msg := cl.errorOf("POST", "/collections/c/cluster", op, 500); !strings.Contains(msg, "Waiting for consensus operation commit failed") {
		t.Errorf("lost proposal error: %q", msg)
	}
	if st := c.ConsensusStatus(); st.Commit != commit || st.DroppedProposals != 1 || stateOf(c, "c", 0, target.ID()) != "" {
		t.Errorf("after a lost transfer start: %+v, target state %q; want nothing committed", st, stateOf(c, "c", 0, target.ID()))
	}

	// A lost activation after a shard recovery: the recovered replica
	// stays Dead on its peer and unknown to the others.
	data := snapshotShard(t, c, "c", 0, false)
	c.DropProposals(1)
	if status, body := uploadShard(t, newClient(t, target), "c", 0, data, "priority=snapshot"); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	time.Sleep(50 * time.Millisecond)
	self := fmt.Sprintf("0/%d", target.ID())
	if got := replicaStates(t, newClient(t, target), "c"); got[self] != StateDead {
		t.Errorf("receiver's view after a lost activation: %v, want its replica Dead", got)
	}
	if got := replicaStates(t, newClient(t, peerByID(c, owner)), "c"); got[self] != "" || got[fmt.Sprintf("0/%d", owner)] != StateDead {
		t.Errorf("owner's view after a lost activation: %v, want itself Dead (the next proposal) and no receiver replica", got)
	}
}

func TestAdminDropsProposals(t *testing.T) {
	c := startCluster(t, Options{Peers: 1, ConsensusTimeout: 50 * time.Millisecond})
	srv := httptest.NewServer(c.AdminHandler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/consensus/drop", "application/json", bytes.NewReader([]byte(`{"count":2}`)))
	if err != nil {
		t.Fatal(err)
	}
	var st ConsensusStatus
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if resp.StatusCode != 200 || st.PendingDrops != 2 || st.Seed != 7 || st.Realism != RealismOff {
		t.Fatalf("POST /consensus/drop = %d %+v", resp.StatusCode, st)
	}
	cl := newClient(t, c.Peers()[0])
	cl.errorOf("PUT", "/collections/a", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, 500)
	if status, _ := cl.do("GET", "/collections/a", nil); status != 404 {
		t.Errorf("collection of a lost proposal: GET = %d, want 404", status)
	}
	if got := c.ConsensusStatus(); got.PendingDrops != 1 || got.DroppedProposals != 1 {
		t.Errorf("status after one lost proposal: %+v", got)
	}
}

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
		{"empty and no env is off", "", Options{}, Options{Realism: RealismOff}, ""},
		{"env selects the profile", "default", Options{}, Options{Realism: RealismDefault, ConsensusDelayMin: 20 * time.Millisecond,
			ConsensusDelayMax: 250 * time.Millisecond, TransferRate: 200 * MiB, AutoRecoveryDelay: 300 * time.Millisecond, ApproximateCounts: true}, ""},
		{"explicit beats env", "harsh", Options{Realism: RealismOff}, Options{Realism: RealismOff}, ""},
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
	c, err := Start(context.Background(), Options{Peers: 2, Realism: RealismOff})
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
