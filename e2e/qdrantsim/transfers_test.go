package qdrantsim

import (
	"context"
	"fmt"
	"testing"
	"time"
)

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
