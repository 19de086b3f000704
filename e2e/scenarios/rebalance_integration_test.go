//go:build integration

package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// TestRebalanceAfterScaleUpOnKubernetes is the sequence the rebalance is
// for, on the real API server with the node agent: a 3-pod backup, the
// StatefulSet down to 1 pod and every collection lost, `kubectl qbackup
// restore latest` consolidating onto that pod, the StatefulSet back up to
// 4, then `kubectl qbackup rebalance --wait` while a workload keeps
// writing to docs: every collection ends balanced over the 4 pods with
// every replica Active, docs back at its replication factor of 2
// (--replication-factor), every restored point as it was and no write of
// the workload lost.
//
// Not parallel: every slot is taken by the parallel scenarios, which run
// after the sequential ones, so this one can share slot 12 safely.
func TestRebalanceAfterScaleUpOnKubernetes(t *testing.T) {
	start := time.Now()
	ms := newStatefulMission(t, 12)
	ms.pluginJob(t, "backup")
	ms.shrink(t, 1)
	ms.restoreLatest(t, "consolidate")
	ms.sm.assertEverything(t, ms.want)
	ms.scaleQdrant(t, 4)
	if n := len(ms.sm.c.Peers()); n != 4 {
		t.Fatalf("%d peers after scaling to 4", n)
	}
	t.Logf("restored onto 1 pod and scaled to 4: %s", time.Since(start).Round(time.Millisecond))

	ms.sm.c.SetWriteLoad(qdrantsim.WriteLoad{Rate: 200, Collections: []string{"docs"}})
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	r, job, out := ms.pluginJob(t, "rebalance", "--collections=docs", "--replication-factor=2", "--yes")
	if !strings.Contains(out, "set replication_factor to 2 first") || !strings.Contains(out, "rebalance complete") {
		t.Errorf("the rebalance job did not show its plan or its end:\n%s", out)
	}
	// The preview asked Qdrant through the peers query Job first.
	if !strings.Contains(r.stdout, "Rebalance over the 4 Ready pods of namespace "+ms.ns+" (Qdrant peers: 4)\n  Qdrant reports 4 peers, 4 pods Ready: they agree\n") {
		t.Errorf("the rebalance preview does not show Qdrant's agreeing count:\n%s", r)
	}
	if got, want := job.Annotations["qbackup.io/previewed-plan"], "rebalance (Ready pods: 4, Qdrant peers: 4)"; got != want {
		t.Errorf("the rebalance Job's plan annotation is %q, want %q", got, want)
	}
	// While it waited, the plugin showed the run's milestones from the
	// pod's log.
	for _, want := range []string{"\n  docs: replication factor set to 2\n", "\n  rebalance docs: ", "\n  docs rebalanced in "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("kubectl qbackup rebalance --wait did not show %q while it waited:\n%s", want, r)
		}
	}
	t.Logf("kubectl qbackup rebalance --wait printed:\n%s%s", r.stdout, r.stderr)
	_, _, out = ms.pluginJob(t, "rebalance", "--yes")
	if !strings.Contains(out, "Rebalance plan") {
		t.Errorf("the second rebalance job did not show its plan:\n%s", out)
	}
	time.Sleep(200 * time.Millisecond)
	ms.sm.c.SetWriteLoad(qdrantsim.WriteLoad{})
	t.Logf("two rebalance jobs done in %s", time.Since(began).Round(time.Millisecond))

	st := ms.sm.c.WriteStats()
	if st.Upserts == 0 || st.Failed > 0 {
		t.Errorf("write load during the rebalance: %+v, want writes and none failed", st)
	}
	got := ms.sm.everything(t)
	for c, want := range ms.want.points {
		if c != "docs" {
			assertSamePoints(t, want, got.points[c], c)
			continue
		}
		for id, p := range want {
			if got.points[c][id] != p {
				t.Errorf("docs point %s is %q after the rebalance, was %q", id, got.points[c][id], p)
			}
		}
		if n := len(want) + int(st.Upserts) - int(st.Deletes); len(got.points[c]) != n {
			t.Errorf("docs holds %d points, want %d (%d restored, %d written, %d deleted by the workload)", len(got.points[c]), n, len(want), st.Upserts, st.Deletes)
		}
	}
	for c := range ms.want.points {
		for _, r := range ms.sm.replicas(t, c) {
			if r.State != "Active" {
				t.Errorf("%s: replica of shard %d on peer %d is %s", c, r.Shard, r.Peer, r.State)
			}
		}
	}
	for shard, n := range ms.sm.replicasPerShard(t, "docs") {
		if n != 2 {
			t.Errorf("docs shard %d has %d replicas, want 2", shard, n)
		}
	}
	ms.assertBalanced(t)
	t.Logf("done in %s", time.Since(start).Round(time.Millisecond))
}
