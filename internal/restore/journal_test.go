package restore

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/manifest"
)

// fakeCatalog keeps restore rows in memory.
type fakeCatalog struct {
	mu       sync.Mutex
	restores map[string]catalog.RestoreRecord
	shards   map[string][]catalog.RestoreShard
}

func (f *fakeCatalog) RestoreStarted(_ context.Context, r catalog.RestoreRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.Status = catalog.RestoreRunning
	f.restores[r.RestoreID] = r
	return nil
}

func (f *fakeCatalog) SetRestoreShard(_ context.Context, id string, s catalog.RestoreShard) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := slices.DeleteFunc(f.shards[id], func(r catalog.RestoreShard) bool { return r.Collection == s.Collection && r.ShardID == s.ShardID })
	f.shards[id] = append(rows, s)
	return nil
}

func (f *fakeCatalog) RestoreShards(_ context.Context, id string) ([]catalog.RestoreShard, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.shards[id]), nil
}

func (f *fakeCatalog) RestoreFinished(_ context.Context, id, status, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.restores[id]
	r.Status, r.Reason = status, reason
	f.restores[id] = r
	return nil
}

func (f *fakeCatalog) GetRestore(_ context.Context, id string) (*catalog.RestoreRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.restores[id]
	if !ok {
		return nil, fmt.Errorf("restore %s: %w", id, catalog.ErrNotFound)
	}
	return &r, nil
}

func TestJournalsKeepProgressAcrossRuns(t *testing.T) {
	store := newMemStore()
	cat := &fakeCatalog{restores: map[string]catalog.RestoreRecord{}, shards: map[string][]catalog.RestoreShard{}}
	journals := []struct {
		name string
		open func() Journal
	}{
		{"the storage journal", func() Journal { return &StoreJournal{Store: store, Cluster: "prod"} }},
		{"the catalog journal", func() Journal { return &CatalogJournal{Catalog: cat} }},
	}
	for _, jt := range journals {
		t.Run(jt.name, func(t *testing.T) {
			ctx := context.Background()
			plan, err := Plan(backup(2, "1.19.0", auto("docs", 2, 1)), Target{Peers: targetPeers(2, "1.19.0")}, PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			id := RestoreID(plan)
			j := jt.open()
			if got, err := j.Shards(ctx, id); err != nil || len(got) != 0 {
				t.Fatalf("progress before any run: %v, %v", got, err)
			}
			if err := j.Begin(ctx, id, plan); err != nil {
				t.Fatal(err)
			}
			if err := j.SetShard(ctx, ShardProgress{Collection: "docs", ShardID: 1, Peer: 202, State: ShardRecovered}); err != nil {
				t.Fatal(err)
			}
			if err := j.Finish(ctx, StatusFailed, "killed"); err != nil {
				t.Fatal(err)
			}
			again := jt.open()
			if err := again.Begin(ctx, id, plan); err != nil {
				t.Fatal(err)
			}
			got, err := again.Shards(ctx, id)
			if err != nil || len(got) != 1 || got[0].State != ShardRecovered || got[0].Peer != 202 {
				t.Fatalf("progress after a rerun began: %+v, %v", got, err)
			}
		})
	}
}

func TestRestoreIDIsStableForTheSameRestore(t *testing.T) {
	m := backup(2, "1.19.0", auto("docs", 2, 1))
	a, _ := Plan(m, Target{Peers: targetPeers(2, "1.19.0")}, PlanOptions{})
	b, _ := Plan(m, Target{Peers: targetPeers(2, "1.19.0"), Collections: []string{"docs"}}, PlanOptions{})
	c, _ := Plan(m, Target{Peers: targetPeers(2, "1.19.0")}, PlanOptions{Rename: Rename{Suffix: "-x"}})
	if RestoreID(a) != RestoreID(b) {
		t.Errorf("a rerun (collections now exist) changed the restore id")
	}
	if RestoreID(a) == RestoreID(c) {
		t.Errorf("a restore under other names has the same id")
	}
}

func TestRestoreOntoOtherPeersIsANewRestore(t *testing.T) {
	m := backup(3, "1.19.0", auto("docs", 3, 1))
	onTwo, _ := Plan(m, Target{Peers: targetPeers(2, "1.19.0")}, PlanOptions{})
	onOne, _ := Plan(m, Target{Peers: targetPeers(1, "1.19.0")}, PlanOptions{Overwrite: true})
	if onTwo.Strategy != onOne.Strategy {
		t.Fatalf("strategies %s and %s: the case needs the same strategy", onTwo.Strategy, onOne.Strategy)
	}
	if RestoreID(onTwo) == RestoreID(onOne) {
		t.Errorf("restoring onto 1 pod after a restore onto 2 would resume the progress recorded on the lost pod")
	}
	reversed := targetPeers(2, "1.19.0")
	slices.Reverse(reversed)
	swapped, _ := Plan(m, Target{Peers: reversed}, PlanOptions{})
	if RestoreID(onTwo) != RestoreID(swapped) {
		t.Errorf("the order peers are discovered in changed the restore id")
	}
}

// putCountingStore counts the writes of each object.
type putCountingStore struct {
	*memStore
	mu   sync.Mutex
	puts map[string]int
}

func (c *putCountingStore) Put(ctx context.Context, key string, r io.Reader) error {
	c.mu.Lock()
	c.puts[key]++
	c.mu.Unlock()
	return c.memStore.Put(ctx, key, r)
}

// TestTheJournalRecordsACollectionsShardsInOneWrite: the storage journal
// is one object rewritten whole at every change, so the shards a restore
// records together (pending before creating a collection, verified after
// verifying it) take one write each time, through the fallback wrapper
// too; recoveries, which end one by one, take one write per shard.
func TestTheJournalRecordsACollectionsShardsInOneWrite(t *testing.T) {
	const shards = 6
	for _, wrap := range []struct {
		name string
		open func(Journal) Journal
	}{
		{"storage journal", func(j Journal) Journal { return j }},
		{"storage journal behind the fallback", func(j Journal) Journal { return &FallbackJournal{Journal: j} }},
	} {
		t.Run(wrap.name, func(t *testing.T) {
			store := newMemStore()
			m := makeBackup(t, store, 2, "1.19.0", spec{name: "docs", shards: shards, rf: 1})
			counting := &putCountingStore{memStore: store, puts: map[string]int{}}
			f := newFakeCluster(peerIDs(2), "1.19.0")
			plan, rep, err := restoreOnto(t, m, f, store, wrap.open(&StoreJournal{Store: counting, Cluster: m.Cluster}), PlanOptions{})
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			checkRestored(t, plan, f, store)
			key := manifest.RestoreJournalKey(m.Cluster, rep.RestoreID)
			// begin, pending, one per recovered shard, verified, finish
			if got, want := counting.puts[key], 1+1+shards+1+1; got != want {
				t.Errorf("the journal was written %d times, want %d (%v)", got, want, counting.puts)
			}
			progress, err := (&StoreJournal{Store: store, Cluster: m.Cluster}).Shards(context.Background(), rep.RestoreID)
			if err != nil || len(progress) != shards {
				t.Fatalf("journal holds %d shards (%v), want %d", len(progress), err, shards)
			}
			for _, p := range progress {
				if p.State != ShardVerified {
					t.Errorf("shard %d recorded as %s", p.ShardID, p.State)
				}
			}
		})
	}
}
