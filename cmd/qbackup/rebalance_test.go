package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/rebalance"
)

// consolidatedOnOne backs up the 3-peer cluster of startCLISim (docs: 3
// shards, replication factor 2, 200 points), restores it onto a 1-peer
// cluster (consolidated: every shard on that peer, factor 1), and scales
// that cluster to 4 peers, as after a disaster and a later scale-up. It
// returns the source and the scaled-up cluster.
func consolidatedOnOne(t *testing.T) (src, dst *cliSim) {
	t.Helper()
	src = startCLISim(t, qdrantsim.Options{})
	mustQbackup(t, src.args("backup")...)
	c, err := qdrantsim.Start(context.Background(), qdrantsim.Options{Peers: 1, Tick: 10 * time.Millisecond, TransferDelay: 50 * time.Millisecond,
		PeerDownDelay: 60 * time.Millisecond, AutoRecoveryDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	dst = &cliSim{c: c, storage: src.storage}
	mustQbackup(t, dst.args("restore", "latest")...)
	for range 3 {
		if _, err := c.AddPeer(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return src, dst
}

// replicasOf reads docs' placement through peer 0: shard → peer → state,
// and the running transfers.
func replicasOf(t *testing.T, s *cliSim) (map[uint32]map[uint64]string, int) {
	t.Helper()
	info, err := s.c.Peers()[0].CollectionClusterInfo(context.Background(), "docs")
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]map[uint64]string{}
	add := func(shard uint32, peer uint64, state string) {
		if out[shard] == nil {
			out[shard] = map[uint64]string{}
		}
		out[shard][peer] = state
	}
	for _, l := range info.LocalShards {
		add(l.ShardID, info.PeerID, l.State)
	}
	for _, r := range info.RemoteShards {
		add(r.ShardID, r.PeerID, r.State)
	}
	return out, len(info.ShardTransfers)
}

// checkBalanced checks that docs has rf Active replicas per shard, spread
// over every peer with at most one replica of difference, and no transfer.
func checkBalanced(t *testing.T, s *cliSim, rf int) map[uint32][]uint64 {
	t.Helper()
	reps, transfers := replicasOf(t, s)
	if transfers > 0 {
		t.Errorf("%d transfers still running", transfers)
	}
	load := map[uint64]int{}
	out := map[uint32][]uint64{}
	for shard, peers := range reps {
		if len(peers) != rf {
			t.Errorf("shard %d has replicas %v, want %d", shard, peers, rf)
		}
		for peer, state := range peers {
			if state != "Active" {
				t.Errorf("shard %d on peer %d is %s", shard, peer, state)
			}
			load[peer]++
			out[shard] = append(out[shard], peer)
		}
		slices.Sort(out[shard])
	}
	lo, hi := -1, 0
	for _, p := range s.c.Peers() {
		n := load[p.ID()]
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	if hi-lo > 1 {
		t.Errorf("replicas per peer %v: not balanced", load)
	}
	return out
}

// pointsVia reads every point of docs through one peer (which reads its
// local replicas first), as id → JSON of vector and payload.
func pointsVia(t *testing.T, p *qdrantsim.Peer) map[string]string {
	t.Helper()
	out := map[string]string{}
	limit := 500
	var offset *qdrantsim.PointID
	for {
		res, err := p.Scroll(context.Background(), "docs", qdrantsim.ScrollRequest{Offset: offset, Limit: &limit,
			WithPayload: json.RawMessage("true"), WithVector: json.RawMessage("true")})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Points {
			b, _ := json.Marshal(struct {
				V json.RawMessage
				P map[string]any
			}{r.Vector, r.Payload})
			id, _ := json.Marshal(r.ID)
			out[string(id)] = string(b)
		}
		if res.NextPageOffset == nil {
			return out
		}
		offset = res.NextPageOffset
	}
}

// checkSamePoints checks that every peer of s reads exactly want.
func checkSamePoints(t *testing.T, s *cliSim, want map[string]string) {
	t.Helper()
	for _, p := range s.c.Peers() {
		got := pointsVia(t, p)
		if len(got) != len(want) {
			t.Errorf("peer %d reads %d points, want %d", p.ID(), len(got), len(want))
			continue
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("peer %d: point %s is %s, want %s", p.ID(), id, got[id], w)
				break
			}
		}
	}
}

// TestRebalanceGrowsBackAfterAConsolidatedRestore: a backup of 3 peers
// restored onto 1 peer, the cluster scaled to 4, then rebalance with the
// factor raised back to 2: every shard on 2 Active replicas, balanced over
// the 4 peers, and every point equal to the source's through every peer.
// A second rebalance finds nothing to do.
func TestRebalanceGrowsBackAfterAConsolidatedRestore(t *testing.T) {
	src, dst := consolidatedOnOne(t)
	before, _ := replicasOf(t, dst)
	for shard, peers := range before {
		if len(peers) != 1 {
			t.Fatalf("the restore did not consolidate: shard %d on %v", shard, peers)
		}
	}
	// The dry run prints the plan as JSON and changes nothing.
	var plan rebalance.Plan
	if err := json.Unmarshal([]byte(mustQbackup(t, dst.args("rebalance", "--replication-factor=2", "--dry-run", "-o", "json")...)), &plan); err != nil {
		t.Fatalf("rebalance --dry-run -o json: %v", err)
	}
	if len(plan.Collections) != 1 || plan.Collections[0].SetReplicationFactor != 2 || len(plan.Collections[0].Ops) == 0 {
		t.Errorf("dry-run plan %+v", plan)
	}
	if after, _ := replicasOf(t, dst); !maps.EqualFunc(before, after, maps.Equal) {
		t.Fatalf("the dry run changed the placement: %v, was %v", after, before)
	}
	out := mustQbackup(t, dst.args("rebalance", "--replication-factor=2")...)
	for _, want := range []string{"set replication_factor to 2 first", "replicate_shard", "Rebalance rb-"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	checkBalanced(t, dst, 2)
	checkSamePoints(t, dst, pointsVia(t, src.c.Peers()[0]))
	info, err := dst.c.Peers()[0].CollectionInfo(context.Background(), "docs")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(info); !strings.Contains(string(b), `"replication_factor":2`) {
		t.Errorf("the collection's replication factor was not set to 2: %s", b)
	}
	again := mustQbackup(t, dst.args("rebalance", "--dry-run")...)
	if !strings.Contains(again, "Nothing to do") {
		t.Errorf("a second rebalance plans changes:\n%s", again)
	}
}

// TestRebalanceUnderWritesLosesNothing: the simulator's write load writes
// to docs during the whole rebalance; no write fails, and afterwards every
// peer reads the same points, as many as before plus those written minus
// those deleted.
func TestRebalanceUnderWritesLosesNothing(t *testing.T) {
	_, dst := consolidatedOnOne(t)
	before := len(pointsVia(t, dst.c.Peers()[0]))
	dst.c.SetWriteLoad(qdrantsim.WriteLoad{Rate: 300, Collections: []string{"docs"}})
	time.Sleep(100 * time.Millisecond)
	mustQbackup(t, dst.args("rebalance", "--replication-factor=2")...)
	time.Sleep(100 * time.Millisecond)
	dst.c.SetWriteLoad(qdrantsim.WriteLoad{})
	st := dst.c.WriteStats()
	if st.Upserts == 0 || st.Deletes+st.Overwrites == 0 {
		t.Fatalf("the write load did not write enough: %+v", st)
	}
	if st.Failed > 0 {
		t.Errorf("%d writes failed during the rebalance, last: %s", st.Failed, st.LastError)
	}
	checkBalanced(t, dst, 2)
	want := pointsVia(t, dst.c.Peers()[0])
	if n := before + int(st.Upserts) - int(st.Deletes); len(want) != n {
		t.Errorf("%d points after the rebalance, want %d (%d before, %d written, %d deleted)", len(want), n, before, st.Upserts, st.Deletes)
	}
	checkSamePoints(t, dst, want)
}

// TestRebalanceRerunAfterAKillResumes: a rebalance stopped while its
// first transfers run leaves its journal; the rerun says it resumes and
// ends on the placement the journal planned.
func TestRebalanceRerunAfterAKillResumes(t *testing.T) {
	_, dst := consolidatedOnOne(t)
	stopRebalanceWhen(t, dst, func(ctx context.Context) bool {
		info, err := dst.c.Peers()[0].CollectionClusterInfo(ctx, "docs")
		return err == nil && len(info.ShardTransfers) > 0
	}, "rebalance", "--replication-factor=2")
	rec := readRebalanceJournal(t, dst)
	if rec.Status == rebalance.StatusComplete || len(rec.Plan.Collections) == 0 {
		t.Fatalf("journal after the stop: %+v", rec)
	}
	planned := rec.Plan.Collections[0].Final()

	again := mustQbackup(t, dst.args("rebalance", "--replication-factor=2")...)
	if !strings.Contains(again, "Resuming interrupted rebalance "+rec.ID) {
		t.Errorf("the rerun does not say it resumes %s:\n%s", rec.ID, again)
	}
	got := checkBalanced(t, dst, 2)
	for shard, peers := range planned {
		slices.Sort(peers)
		if !slices.Equal(got[shard], peers) {
			t.Errorf("shard %d ends on %v, the journaled plan said %v", shard, got[shard], peers)
		}
	}
	if rec := readRebalanceJournal(t, dst); rec.Status != rebalance.StatusComplete {
		t.Errorf("journal after the rerun: %s, want complete", rec.Status)
	}
}

func readRebalanceJournal(t *testing.T, s *cliSim) rebalance.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(strings.TrimPrefix(s.storage, "file://"), manifest.RebalanceJournalKey("prod")))
	if err != nil {
		t.Fatal(err)
	}
	var rec rebalance.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestRebalanceTakesTheClusterLock: while a backup or a restore holds the
// cluster lock, a rebalance exits 3 naming the holder and moves nothing.
func TestRebalanceTakesTheClusterLock(t *testing.T) {
	_, dst := consolidatedOnOne(t)
	store := openStore(t, dst)
	before, _ := replicasOf(t, dst)
	for _, holder := range []struct{ name, op string }{
		{"backup-pod-1", "backup 20261206T070000Z-abcd"},
		{"restore-pod-1", "restore of backup 20261206T070000Z-abcd"},
	} {
		t.Run(holder.op, func(t *testing.T) {
			_, release, err := lease.Hold(context.Background(), lease.Options{Cluster: "prod", Holder: holder.name, Operation: holder.op, Store: store})
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			code, _, errOut := qbackup(t, dst.args("rebalance")...)
			if code != cli.ExitLocked || !strings.Contains(errOut, holder.name) || !strings.Contains(errOut, holder.op) {
				t.Fatalf("exit %d, want %d naming %s and %q\nstderr: %s", code, cli.ExitLocked, holder.name, holder.op, errOut)
			}
			if after, _ := replicasOf(t, dst); !maps.EqualFunc(before, after, maps.Equal) {
				t.Errorf("the refused rebalance changed the placement: %v, was %v", after, before)
			}
		})
	}
}

// TestRebalanceRefusesBadInput: bad flags exit 2 before anything is
// contacted (no cluster is running for them), and an unknown collection
// exits 2 with nothing changed.
func TestRebalanceRefusesBadInput(t *testing.T) {
	base := []string{"rebalance", "--cluster=prod", "--storage=file://" + t.TempDir(), "--discovery=static", "--qdrant-url=http://127.0.0.1:1", "--log-format=text"}
	for _, tc := range []struct {
		flag, want string
	}{
		{"--transfer-limit=0", "--transfer-limit 0 (QBACKUP_TRANSFER_LIMIT): must be at least 1"},
		{"--transfer-limit=17", "must be at most 16"},
		{"--journal=catalog", "a rebalance keeps its journal in the backup store"},
		{"--journal=relative/dir", "is not a journal location"},
		{"--collections=docs,,images", "entry 2 is empty"},
		{"--collections=docs, images", `" images" has leading or trailing spaces`},
		{"--replication-factor=0", "--replication-factor 0 (QBACKUP_REPLICATION_FACTOR): must be at least 1"},
		{"--transfer-timeout=0s", "--transfer-timeout 0s (QBACKUP_TRANSFER_TIMEOUT): must be at least 1s"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			code, _, errOut := qbackup(t, append(slices.Clone(base), tc.flag)...)
			if code != cli.ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d saying %q\nstderr: %s", code, cli.ExitUsage, tc.want, errOut)
			}
		})
	}
	t.Run("unknown collection", func(t *testing.T) {
		_, dst := consolidatedOnOne(t)
		before, _ := replicasOf(t, dst)
		code, _, errOut := qbackup(t, dst.args("rebalance", "--collections=nope")...)
		if code != cli.ExitUsage || !strings.Contains(errOut, `"nope": no such collection: the cluster has docs`) {
			t.Errorf("exit %d, want %d naming the collection\nstderr: %s", code, cli.ExitUsage, errOut)
		}
		if after, _ := replicasOf(t, dst); !maps.EqualFunc(before, after, maps.Equal) {
			t.Errorf("the refused rebalance changed the placement")
		}
	})
}

// TestRebalanceOffAPeerThatIsGone: with one of 3 peers down (allowed
// with --allow-node-mismatch), the rebalance spreads docs over the 2
// reachable peers: each shard ends with 2 Active replicas there, the
// replicas of the down peer are dropped (through consensus), and every
// point reads as before.
//
// Qdrant marks a stopped peer's replicas Dead only after a while: until
// then they are listed Active, and must not be copied from.
func TestRebalanceOffAPeerThatIsGone(t *testing.T) {
	s := startCLISimWith(t, qdrantsim.Options{}, func(o *qdrantsim.Options) { o.PeerDownDelay = time.Hour })
	want := pointsVia(t, s.c.Peers()[0])
	gone := s.c.Peers()[2]
	var args []string
	for _, a := range s.args("rebalance", "--allow-node-mismatch", "--transfer-timeout=5s") {
		if !strings.Contains(a, gone.URL()) {
			args = append(args, a)
		}
	}
	gone.Stop()
	out := mustQbackup(t, args...)
	if !strings.Contains(out, "drop_replica") {
		t.Errorf("the plan drops nothing:\n%s", out)
	}
	reps, transfers := replicasOf(t, s)
	if transfers > 0 {
		t.Errorf("%d transfers still running", transfers)
	}
	for shard, peers := range reps {
		if len(peers) != 2 || peers[gone.ID()] != "" {
			t.Errorf("shard %d on %v, want 2 replicas off peer %d", shard, peers, gone.ID())
		}
		for peer, state := range peers {
			if state != "Active" {
				t.Errorf("shard %d on peer %d is %s", shard, peer, state)
			}
		}
	}
	for _, p := range s.c.Peers()[:2] {
		if got := pointsVia(t, p); !maps.Equal(got, want) {
			t.Errorf("peer %d reads %d points, want the %d of before", p.ID(), len(got), len(want))
		}
	}
}

// stopRebalanceWhen runs qbackup with args against s and stops it (the
// Job's SIGTERM) as soon as reached reports true, read off the test's
// goroutine (a failed read is false, tried again); the run must exit as
// interrupted.
func stopRebalanceWhen(t *testing.T, s *cliSim, reached func(ctx context.Context) bool, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		for ctx.Err() == nil && !reached(ctx) {
			time.Sleep(time.Millisecond)
		}
	}()
	var out, errOut strings.Builder
	code := run(ctx, s.args(args...), &out, &errOut)
	wg.Wait()
	if code != cli.ExitInterrupted {
		t.Fatalf("the stopped rebalance exited %d, want %d\n%s", code, cli.ExitInterrupted, errOut.String())
	}
}
