package qdrantsim

import (
	"bytes"
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
	// startCluster's default profile is off (see there): the status
	// reports the profile the cluster runs.
	if resp.StatusCode != 200 || st.PendingDrops != 2 || st.Seed != 7 || st.Realism != RealismOff { // realism off because it is the profile startCluster gives, which the status must report
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

func TestCollectionRecoveryReturnsOnceEveryPeerHasTheCollection(t *testing.T) {
	c := startCluster(t, slowConsensus(3))
	peers := c.Peers()
	cl := newClient(t, peers[0])
	createCollection(t, cl, "c", 1, 1)
	upsertN(t, cl, "c", 5)
	var d SnapshotDescription
	cl.ok("POST", "/collections/c/snapshots", nil, &d)
	status, _, data := get(t, peers[0].URL()+"/collections/c/snapshots/"+d.Name, nil)
	if status != 200 {
		t.Fatalf("download: %d", status)
	}
	if status, body := uploadCollection(t, cl, "copy", "c.snapshot", data, ""); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	for _, p := range peers {
		if status, _ := newClient(t, p).do("GET", "/collections/copy", nil); status != 200 {
			t.Errorf("peer %d right after the recovery returned: GET /collections/copy = %d, want 200", p.ID(), status)
		}
	}
}
