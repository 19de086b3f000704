package kube

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/restore"
)

// backupOf is a manifest of a backup taken on pods qdrant-0..n-1, one
// shard each.
func backupOf(n int) *manifest.Manifest {
	sum := strings.Repeat("0", 64)
	const id = "20261125T133000Z-3f9c"
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: id, Cluster: "default", QdrantVersion: "1.19.0",
		SnapshotMethod: manifest.MethodStream, StartedAt: time.Unix(0, 0), FinishedAt: time.Unix(60, 0),
	}
	col := manifest.Collection{Name: "docs", Config: []byte(`{}`), ShardingMethod: "auto", ShardNumber: uint32(n), ReplicationFactor: 1}
	for i := range n {
		m.Peers = append(m.Peers, manifest.Peer{ID: uint64(100 + i), Pod: pod(i), URI: "http://" + pod(i) + ":6335"})
		col.Shards = append(col.Shards, manifest.Shard{
			ID: uint32(i), SourcePeer: uint64(100 + i), Object: manifest.ShardObjectKey("default", id, "docs", uint32(i), "none"),
			Compression: "none", Size: 5, SHA256: sum, SnapshotSize: 5, SnapshotSHA256: sum,
		})
	}
	m.Collections = []manifest.Collection{col}
	return m
}

func pod(i int) string { return "qdrant-" + string(rune('0'+i)) }

func pods(n int) []string {
	var out []string
	for i := range n {
		out = append(out, pod(i))
	}
	return out
}

func TestPreviewPlanFromCounts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		then, now  int
		opts       restore.PlanOptions
		want       restore.Strategy
		wantErr    error
		wantReason string
	}{
		{name: "same count", then: 3, now: 3, want: restore.StrategyDirect},
		{name: "fewer pods", then: 3, now: 2, want: restore.StrategyConsolidate},
		{name: "more pods", then: 2, now: 3, want: restore.StrategyRedistribute},
		{name: "one pod", then: 3, now: 1, want: restore.StrategyConsolidate},
		{name: "target node", then: 3, now: 3, opts: restore.PlanOptions{TargetNode: "qdrant-1"}, want: restore.StrategyConsolidate, wantReason: "--target-node qdrant-1"},
		{name: "unknown target node", then: 3, now: 3, opts: restore.PlanOptions{TargetNode: "qdrant-9"}, wantErr: restore.ErrUnknownTargetNode},
		{name: "direct onto fewer pods", then: 3, now: 2, opts: restore.PlanOptions{Strategy: restore.StrategyDirect}, wantErr: restore.ErrTooFewPods},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PreviewPlan(backupOf(tc.then), pods(tc.now), tc.opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Strategy != tc.want || got.SourcePods != tc.then || got.TargetPods != tc.now {
				t.Errorf("got %+v, want %s from %d→%d", got, tc.want, tc.then, tc.now)
			}
			if !strings.Contains(got.Reason, tc.wantReason) {
				t.Errorf("reason %q lacks %q", got.Reason, tc.wantReason)
			}
		})
	}
}

// The preview says per collection what the Job would do, and why a
// collection is resharded.
func TestPreviewPlanNamesEachCollectionsPath(t *testing.T) {
	m := backupOf(2) // one collection, docs, 2 shards at factor 1
	for _, tc := range []struct {
		name string
		now  int
		opts restore.PlanOptions
		want []string
	}{
		{"auto onto more pods than shards", 4, restore.PlanOptions{AutoShards: true},
			[]string{"reshard", "2 → 4 shards through a staging copy: 2 shards × replication factor 1 cannot reach all 4 pods"}},
		{"explicit count", 3, restore.PlanOptions{Shards: 6}, []string{"reshard", "2 → 6 shards through a staging copy"}},
		{"keep", 4, restore.PlanOptions{}, []string{"redistribute", "2 shards"}},
		{"auto onto as many pods", 2, restore.PlanOptions{AutoShards: true}, []string{"direct", "2 shards"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PreviewPlan(m, pods(tc.now), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Collections) != len(m.Collections) {
				t.Fatalf("%d collection lines for %d collections", len(got.Collections), len(m.Collections))
			}
			line := string(got.Collections[0].Strategy) + ", " + got.Collections[0].Reason
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("collection line %q does not say %q", line, w)
				}
			}
		})
	}
}
