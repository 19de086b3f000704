package restore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/qbackup/qbackup/internal/qdrant"
)

var errKilled = errors.New("the restore was killed")

// dyingWriter copies the first batches and then fails every write, as a
// restore killed in the middle of a reshard copy.
type dyingWriter struct {
	PointWriter
	mu      sync.Mutex
	batches int
}

func (w *dyingWriter) UpsertPoints(ctx context.Context, coll string, pts []qdrant.Point) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.batches == 0 {
		return errKilled
	}
	w.batches--
	return w.PointWriter.UpsertPoints(ctx, coll, pts)
}

// TestAReshardKilledMidCopyIsFinishedByTheRerun: whatever is left of a
// reshard killed while copying — the staging collection and a partly
// filled target, the target alone after the staging collection was
// deleted by hand, or both without the journal — the rerun ends with
// every point in the resharded collection, and the alias on it only then.
func TestAReshardKilledMidCopyIsFinishedByTheRerun(t *testing.T) {
	cases := []struct {
		name string
		// after the killed run, before the rerun
		meddle func(t *testing.T, f *fakeCluster, staging string)
		// fresh journal for the rerun: the progress is lost
		loseJournal bool
		overwrite   bool
	}{
		{name: "the rerun resumes"},
		{name: "the staging collection was deleted by hand", meddle: func(t *testing.T, f *fakeCluster, staging string) {
			if err := f.clients()[f.peers[0]].DeleteCollection(context.Background(), staging); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the journal was lost and the rerun overwrites", loseJournal: true, overwrite: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := newMemStore()
			m := makeBackup(t, store, 2, "1.19.0", spec{name: "docs", shards: 2, rf: 1, perShard: 40})
			m.Collections[0].Aliases = []string{"current"}
			f := newFakeCluster(peerIDs(2), "1.19.0")
			journal := Journal(&StoreJournal{Store: store, Cluster: m.Cluster})
			small := func(o *RunOptions, d *RunDeps) { o.Exec.CopyBatch = 10 }

			_, err := runOnto(t, m, f, store, journal, PlanOptions{Shards: 3}, small, func(_ *RunOptions, d *RunDeps) {
				d.Points = &dyingWriter{PointWriter: d.Points, batches: 2}
			})
			if !errors.Is(err, errKilled) {
				t.Fatalf("first run: %v, want it killed mid-copy", err)
			}
			staging := "docs-qbackup-reshard"
			f.mu.Lock()
			partial := len(f.colls["docs"].points())
			_, stagingLeft := f.colls[staging]
			f.mu.Unlock()
			if partial == 0 || partial >= 80 || !stagingLeft {
				t.Fatalf("after the kill: %d of 80 points in docs, staging left %v; want a partial copy", partial, stagingLeft)
			}
			if aliases, _ := f.clients()[f.peers[0]].ListAliases(context.Background()); aliases["current"] != "" {
				t.Errorf("the alias points at %q before the reshard finished", aliases["current"])
			}
			if c.meddle != nil {
				c.meddle(t, f, staging)
			}
			if c.loseJournal {
				journal = &StoreJournal{Store: newMemStore(), Cluster: m.Cluster}
			}

			res, err := runOnto(t, m, f, store, journal, PlanOptions{Shards: 3, Overwrite: c.overwrite}, small)
			if err != nil {
				t.Fatalf("rerun: %v", err)
			}
			checkRestored(t, res.Plan, f, store)
			live, _ := f.clients()[f.peers[0]].ListCollections(context.Background())
			if slices.Contains(live, staging) {
				t.Errorf("staging collection left: %v", live)
			}
			if aliases, _ := f.clients()[f.peers[0]].ListAliases(context.Background()); aliases["current"] != "docs" {
				t.Errorf("alias current → %q, want docs", aliases["current"])
			}
		})
	}
}
