package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/restore"
)

// TestRestoreShardsAuto: docs (3 shards, replication factor 2) backed up
// on 3 peers and restored onto 7. Without --shards its 6 replicas leave a
// pod empty, which the plan says; --shards auto reshards it to 4 shards,
// the smallest count whose 8 replicas reach every pod, and every point
// comes back with a replica on every peer.
func TestRestoreShardsAuto(t *testing.T) {
	src := startCLISim(t, qdrantsim.Options{})
	mustQbackup(t, src.args("backup")...)
	c, err := qdrantsim.Start(context.Background(), qdrantsim.Options{Peers: 7, Tick: 10 * time.Millisecond, TransferDelay: 50 * time.Millisecond,
		PeerDownDelay: 60 * time.Millisecond, AutoRecoveryDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	dst := &cliSim{c: c, storage: src.storage}

	// --no-reshard wins over auto (the installed default) and keeps the
	// count, as --shards=keep does.
	for _, keep := range [][]string{nil, {"--shards=keep"}, {"--shards=auto", "--no-reshard"}} {
		out := mustQbackup(t, dst.args(append([]string{"restore", "latest", "--dry-run"}, keep...)...)...)
		if !strings.Contains(out, "leave 1 of 7 pods without its data; --shards auto would reshard it to 4 shards") {
			t.Errorf("the plan with %v does not say a pod stays empty:\n%s", keep, out)
		}
	}
	var plan restore.RestorePlan
	if err := json.Unmarshal([]byte(mustQbackup(t, dst.args("restore", "latest", "--shards=auto", "--dry-run", "-o", "json")...)), &plan); err != nil {
		t.Fatalf("restore --shards=auto --dry-run -o json: %v", err)
	}
	if r := plan.Collections[0].Reshard; r == nil || r.FromShards != 3 || r.ToShards != 4 {
		t.Fatalf("planned reshard %+v, want 3 → 4 shards", r)
	}

	mustQbackup(t, dst.args("restore", "latest", "--shards=auto")...)
	checkSamePoints(t, dst, pointsVia(t, src.c.Peers()[0]))
	placement, _ := replicasOf(t, dst)
	peers := map[uint64]bool{}
	for _, reps := range placement {
		for p := range reps {
			peers[p] = true
		}
	}
	if len(placement) != 4 || len(peers) != 7 {
		t.Errorf("docs has %d shards on %d of 7 peers, want 4 shards reaching every peer: %v", len(placement), len(peers), placement)
	}
}

func TestRestoreShardsRefusesBadValues(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{"abc", []string{"--shards abc (QBACKUP_SHARDS): not a shard count", "from 1 to 1000, auto, or keep"}},
		{"0", []string{"--shards 0 (QBACKUP_SHARDS): must be 1 to 1000, auto, or keep", "leave it out"}},
		{"-1", []string{"--shards -1", "must be 1 to 1000"}},
		{"1001", []string{"--shards 1001", "must be 1 to 1000"}},
		{"Auto", []string{"--shards Auto", "not a shard count"}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			// Refused before anything is read: the storage does not exist.
			code, _, errOut := qbackup(t, "restore", "latest", "--shards="+tt.value, "--storage=file:///nonexistent/qbackup", "--discovery=static", "--qdrant-url=http://127.0.0.1:1")
			if code != 2 {
				t.Errorf("exit %d, want 2\n%s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("message does not say %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestRestoreNoReshardRefusesACount: --no-reshard beside a shard count
// is a contradiction, refused before anything is read.
func TestRestoreNoReshardRefusesACount(t *testing.T) {
	code, _, errOut := qbackup(t, "restore", "latest", "--shards=6", "--no-reshard", "--storage=file:///nonexistent/qbackup", "--discovery=static", "--qdrant-url=http://127.0.0.1:1")
	if code != 2 || !strings.Contains(errOut, "--no-reshard and --shards 6 (QBACKUP_SHARDS) contradict each other: give one of them") {
		t.Errorf("exit %d, want 2 naming the contradiction:\n%s", code, errOut)
	}
}

// TestRestoreRedistributeLimitRefusesBadValues: --redistribute-limit
// outside 0 (uncapped) to 16 exits 2 before anything is read.
func TestRestoreRedistributeLimitRefusesBadValues(t *testing.T) {
	for value, want := range map[string]string{
		"-1": "--redistribute-limit -1 (QBACKUP_REDISTRIBUTE_LIMIT): must be at least 0",
		"17": "--redistribute-limit 17 (QBACKUP_REDISTRIBUTE_LIMIT): must be at most 16",
	} {
		code, _, errOut := qbackup(t, "restore", "latest", "--redistribute-limit="+value, "--storage=file:///nonexistent/qbackup", "--discovery=static", "--qdrant-url=http://127.0.0.1:1")
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("--redistribute-limit=%s: exit %d, want 2 saying %q:\n%s", value, code, want, errOut)
		}
	}
}
