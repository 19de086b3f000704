package restore

import (
	"errors"
	"testing"

	"github.com/qbackup/qbackup/internal/catalog"
)

func TestRerunAfterACompleteRestoreStartsOver(t *testing.T) {
	cat := &fakeCatalog{restores: map[string]catalog.RestoreRecord{}, shards: map[string][]catalog.RestoreShard{}}
	for _, jt := range []struct {
		name string
		open func(store *memStore, cluster string) Journal
	}{
		{"with the storage journal", func(store *memStore, cluster string) Journal { return &StoreJournal{Store: store, Cluster: cluster} }},
		{"with the catalog journal", func(*memStore, string) Journal { return &CatalogJournal{Catalog: cat} }},
	} {
		t.Run(jt.name, func(t *testing.T) {
			store := newMemStore()
			m := makeBackup(t, store, 2, "1.19.0", spec{name: "docs", shards: 2, rf: 1})
			f := newFakeCluster(peerIDs(2), "1.19.0")
			_, first, err := restoreOnto(t, m, f, store, jt.open(store, m.Cluster), PlanOptions{})
			if err != nil {
				t.Fatalf("first restore: %v", err)
			}

			// The same restore again: the collections it restored are now
			// live data, not leftovers of an unfinished run.
			if _, err := runOnto(t, m, f, store, jt.open(store, m.Cluster), PlanOptions{}); !errors.Is(err, ErrCollectionExists) {
				t.Fatalf("rerun without --overwrite: %v, want ErrCollectionExists", err)
			}

			uploads := len(f.uploads)
			plan, again, err := restoreOnto(t, m, f, store, jt.open(store, m.Cluster), PlanOptions{Overwrite: true})
			if err != nil {
				t.Fatalf("rerun with --overwrite: %v", err)
			}
			checkRestored(t, plan, f, store)
			if again.ShardsRecovered != 2 || again.ShardsSkipped != 0 {
				t.Errorf("rerun recovered %d and skipped %d of 2 shards, want a restore from scratch", again.ShardsRecovered, again.ShardsSkipped)
			}
			if again.RestoreID == first.RestoreID {
				t.Errorf("rerun under the id %s of the complete restore", again.RestoreID)
			}
			if len(f.uploads) < uploads {
				t.Errorf("uploads went down: %d → %d", uploads, len(f.uploads))
			}
		})
	}
}
