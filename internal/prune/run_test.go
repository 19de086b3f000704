package prune

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/crypt/crypttest"
	"github.com/qbackup/qbackup/internal/inventory/inventorytest"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/storage/storagetest"
)

func TestPrune(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return now.AddDate(0, 0, d) }
	type fixture struct {
		store                                                           *storage.Memory
		cat                                                             *inventorytest.Catalog
		old, failedRow, mid, partial, orphan, newest, young, unreadable string
	}
	setup := func(t *testing.T) fixture {
		t.Helper()
		f := fixture{store: storage.NewMemory(), cat: inventorytest.NewCatalog()}
		ctx := context.Background()
		f.old = inventorytest.WriteSet(t, f.store, "prod", day(-5), catalog.StatusComplete, day(-5))
		f.failedRow = manifest.NewBackupID(day(-4))
		_ = f.cat.BackupFailed(ctx, "prod", f.failedRow, "peer down")
		f.mid = inventorytest.WriteSet(t, f.store, "prod", day(-3), catalog.StatusComplete, day(-3))
		f.partial = inventorytest.WriteSet(t, f.store, "prod", day(-2), catalog.StatusPartial, day(-2))
		f.orphan = inventorytest.WriteSet(t, f.store, "prod", day(-1), catalog.StatusFailed, day(-1))
		f.cat.Started("prod", f.orphan, day(-1))
		f.newest = inventorytest.WriteSet(t, f.store, "prod", now.Add(-3*time.Hour), catalog.StatusComplete, now.Add(-3*time.Hour))
		f.young = inventorytest.WriteSet(t, f.store, "prod", now.Add(-time.Hour), catalog.StatusFailed, now.Add(-time.Hour))
		// A manifest from a newer qbackup: never deleted.
		f.unreadable = manifest.NewBackupID(day(-6))
		f.store.PutAt(manifest.ManifestKey("prod", f.unreadable), []byte(`{"format_version": 99}`), day(-6))
		// Another cluster is left alone by a prune of "prod".
		inventorytest.WriteSet(t, f.store, "staging", day(-10), catalog.StatusComplete, day(-10))
		for _, id := range []string{f.old, f.mid, f.partial, f.newest} {
			m, err := manifest.Read(ctx, f.store, manifest.ManifestKey("prod", id))
			if err != nil {
				t.Fatal(err)
			}
			_ = f.cat.SyncManifest(ctx, m)
		}
		return f
	}
	actions := func(rep *Report) map[string]Action {
		out := map[string]Action{}
		for _, it := range rep.Items {
			out[it.BackupID] = it.Action
		}
		return out
	}
	opts := Options{Cluster: "prod", KeepLast: 2, Now: now, OrphanGrace: 6 * time.Hour}

	t.Run("a dry run reports the verdicts and changes nothing", func(t *testing.T) {
		f := setup(t)
		before := storagetest.Keys(t, f.store)
		o := opts
		o.DryRun = true
		rep, err := Run(context.Background(), o, f.store, f.cat)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]Action{
			f.newest: Keep, f.mid: Keep, f.old: Remove, f.partial: Remove,
			f.orphan: Remove, f.failedRow: Remove, f.young: Skip, f.unreadable: Skip,
		}
		if got := actions(rep); !mapsEqual(got, want) {
			t.Fatalf("actions %v\nwant %v", got, want)
		}
		if !slices.Equal(storagetest.Keys(t, f.store), before) {
			t.Fatalf("dry run changed storage")
		}
		if rows, _ := f.cat.IndexRows(context.Background(), "prod"); len(rows) != 6 {
			t.Fatalf("dry run changed the catalog: %d rows", len(rows))
		}
	})

	t.Run("a prune deletes storage then catalog rows and marks orphans failed", func(t *testing.T) {
		f := setup(t)
		if _, err := Run(context.Background(), opts, f.store, f.cat); err != nil {
			t.Fatal(err)
		}
		left := map[string]bool{}
		for _, k := range storagetest.Keys(t, f.store) {
			left[strings.SplitN(k, "/", 3)[1]] = true
		}
		for id, want := range map[string]bool{f.newest: true, f.mid: true, f.young: true, f.unreadable: true, f.old: false, f.partial: false, f.orphan: false} {
			if left[id] != want {
				t.Errorf("set %s in storage: %v, want %v", id, left[id], want)
			}
		}
		for id, want := range map[string]string{f.newest: catalog.StatusComplete, f.mid: catalog.StatusComplete, f.orphan: catalog.StatusFailed, f.old: "", f.partial: "", f.failedRow: ""} {
			row, reason, ok := f.cat.Row("prod", id)
			if want == "" && ok {
				t.Errorf("catalog row %s still there (%s)", id, row.Status)
			}
			if want != "" && (!ok || row.Status != want) {
				t.Errorf("catalog row %s: %+v, want %s", id, row, want)
			}
			if id == f.orphan && !strings.Contains(reason, "prune") {
				t.Errorf("orphan row reason %q", reason)
			}
		}
		if rows, _ := f.cat.IndexRows(context.Background(), "staging"); len(rows) != 0 {
			t.Errorf("staging rows touched: %v", rows)
		}
		found := false
		for _, k := range storagetest.Keys(t, f.store) {
			found = found || strings.HasPrefix(k, "staging/")
		}
		if !found {
			t.Error("a prune of prod deleted staging objects")
		}
	})

	t.Run("the objects of the run holding the storage lock are kept", func(t *testing.T) {
		store := storage.NewMemory()
		id := inventorytest.WriteSet(t, store, "prod", day(-2), catalog.StatusFailed, day(-2))
		rec := []byte(`{"holder":"slow-pod","backup_id":"` + id + `","since":"` + day(-2).Format(time.RFC3339) + `","expires":"` + now.Add(time.Minute).Format(time.RFC3339) + `","token":"t"}`)
		store.PutAt(manifest.LockKey("prod"), rec, now)
		rep, err := Run(context.Background(), opts, store, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := actions(rep)[id]; got != Skip {
			t.Fatalf("locked set: %s, want skip", got)
		}
		if len(storagetest.Keys(t, store)) != 2 {
			t.Fatalf("objects %v", storagetest.Keys(t, store))
		}
	})

	t.Run("a set the catalog knows as corrupt does not count and goes", func(t *testing.T) {
		store, cat := storage.NewMemory(), inventorytest.NewCatalog()
		older := inventorytest.WriteSet(t, store, "prod", day(-2), catalog.StatusComplete, day(-2))
		bad := inventorytest.WriteSet(t, store, "prod", day(-1), catalog.StatusComplete, day(-1))
		for _, id := range []string{older, bad} {
			m, err := manifest.Read(context.Background(), store, manifest.ManifestKey("prod", id))
			if err != nil {
				t.Fatal(err)
			}
			_ = cat.SyncManifest(context.Background(), m)
		}
		cat.SetVerifyStatus("prod", bad, catalog.VerifyCorrupt)
		rep, err := Run(context.Background(), Options{Cluster: "prod", KeepLast: 1, Now: now}, store, cat)
		if err != nil {
			t.Fatal(err)
		}
		if got := actions(rep); got[older] != Keep || got[bad] != Remove {
			t.Fatalf("actions %v", got)
		}
	})

	t.Run("without a catalog the newest complete set survives any policy", func(t *testing.T) {
		store := storage.NewMemory()
		a := inventorytest.WriteSet(t, store, "prod", day(-40), catalog.StatusComplete, day(-40))
		b := inventorytest.WriteSet(t, store, "prod", day(-1), catalog.StatusPartial, day(-1))
		rep, err := Run(context.Background(), Options{Cluster: "prod", KeepDaily: 1, Now: now}, store, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := actions(rep); got[a] != Keep || got[b] != Remove {
			t.Fatalf("actions %v", got)
		}
	})
}

func mapsEqual(a, b map[string]Action) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestPruneOrphanGrace(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		grace time.Duration
		want  Action
	}{
		{"no grace removes a fresh orphan at once", NoOrphanGrace, Remove},
		{"the zero value keeps the default grace", 0, Skip},
		{"a grace longer than the orphan's age keeps it", time.Hour, Skip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := storage.NewMemory()
			id := inventorytest.WriteSet(t, store, "prod", now.Add(-time.Minute), catalog.StatusFailed, now.Add(-time.Minute))
			rep, err := Run(context.Background(), Options{Cluster: "prod", Now: now, OrphanGrace: tt.grace}, store, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Items) != 1 || rep.Items[0].BackupID != id || rep.Items[0].Action != tt.want {
				t.Fatalf("items %+v, want %s of %s", rep.Items, tt.want, id)
			}
		})
	}
}

func TestPruneKeepsSetsUnderObjectLock(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		lock       *manifest.ObjectLock
		wantAction Action
		wantReason string
	}{
		{name: "a set outside the policy without a lock is removed", wantAction: Remove},
		{name: "a set outside the policy under a lock is kept, saying until when",
			lock:       &manifest.ObjectLock{Mode: "COMPLIANCE", RetainUntil: now.Add(time.Hour)},
			wantAction: Skip, wantReason: "under object lock (COMPLIANCE) until 2026-11-25T13:00:00Z"},
		{name: "a set whose lock has expired is removed",
			lock:       &manifest.ObjectLock{Mode: "GOVERNANCE", RetainUntil: now.Add(-time.Second)},
			wantAction: Remove},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := storage.NewMemory()
			old := inventorytest.WriteSet(t, store, "prod", now.Add(-48*time.Hour), catalog.StatusComplete, now.Add(-48*time.Hour))
			newest := inventorytest.WriteSet(t, store, "prod", now.Add(-time.Hour), catalog.StatusComplete, now.Add(-time.Hour))
			if tt.lock != nil {
				inventorytest.LockSet(t, store, "prod", old, tt.lock, now.Add(-48*time.Hour))
			}
			rep, err := Run(context.Background(), Options{Cluster: "prod", Now: now, KeepLast: 1}, store, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]ReportItem{}
			for _, it := range rep.Items {
				if _, dup := got[it.BackupID]; dup {
					t.Errorf("set %s reported twice", it.BackupID)
				}
				got[it.BackupID] = it
			}
			if got[newest].Action != Keep {
				t.Errorf("newest set: %+v, want kept", got[newest])
			}
			it := got[old]
			if it.Action != tt.wantAction || !strings.Contains(strings.Join(it.Reasons, "; "), tt.wantReason) {
				t.Fatalf("old set: %+v, want %s with %q", it, tt.wantAction, tt.wantReason)
			}
			_, err = manifest.Read(context.Background(), store, manifest.ManifestKey("prod", old))
			if stillThere := err == nil; stillThere != (tt.wantAction == Skip) {
				t.Fatalf("old set's manifest present: %v, want %v", stillThere, tt.wantAction == Skip)
			}
		})
	}
}

// uploadStore is a store with incomplete multipart uploads, as S3 has.
type uploadStore struct {
	*storage.Memory
	uploads map[string]time.Time // key → initiated
}

func (s *uploadStore) AbortStaleUploads(ctx context.Context, prefix string, stale func(string, time.Time) bool) (int, error) {
	n := 0
	for k, at := range s.uploads {
		if strings.HasPrefix(k, prefix) && stale(k, at) {
			delete(s.uploads, k)
			n++
		}
	}
	return n, nil
}

// TestPruneAbortsUploadsKilledRunsLeft: prune aborts the incomplete
// uploads older than the orphan grace (all of them with no grace), never
// those of the set whose run holds the storage lock.
func TestPruneAbortsUploadsKilledRunsLeft(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	const running = "20261206T115900Z-bbbb"
	cases := []struct {
		name  string
		grace time.Duration
		left  []string
	}{
		{"the default grace keeps young uploads", 0, []string{"prod/20261206T110000Z-cccc/docs/0.snapshot", "prod/" + running + "/docs/0.snapshot"}},
		{"no grace aborts all but the running set's", NoOrphanGrace, []string{"prod/" + running + "/docs/0.snapshot"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := &uploadStore{Memory: storage.NewMemory(), uploads: map[string]time.Time{
				"prod/20261201T000000Z-aaaa/docs/0.snapshot": now.Add(-5 * 24 * time.Hour),
				"prod/20261206T110000Z-cccc/docs/0.snapshot": now.Add(-time.Hour),
				"prod/" + running + "/docs/0.snapshot":       now.Add(-time.Minute),
			}}
			lock := `{"holder":"pod","backup_id":"` + running + `","since":"2026-12-06T11:59:00Z","expires":"2026-12-06T12:01:00Z","token":"t"}`
			if err := store.Put(context.Background(), "prod/.locks/backup.json", strings.NewReader(lock)); err != nil {
				t.Fatal(err)
			}
			if _, err := Run(context.Background(), Options{Cluster: "prod", Now: now, OrphanGrace: c.grace}, store, nil); err != nil {
				t.Fatal(err)
			}
			var left []string
			for k := range store.uploads {
				left = append(left, k)
			}
			slices.Sort(left)
			if !slices.Equal(left, c.left) {
				t.Errorf("uploads left %v, want %v", left, c.left)
			}
		})
	}
}

func TestPruneLeavesRowsOfUnknownLocationAlone(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	store := storage.NewMemory()
	cat := inventorytest.NewCatalog()
	newest := inventorytest.WriteSet(t, store, "prod", now.Add(-time.Hour), catalog.StatusComplete, now.Add(-time.Hour))
	if err := cat.SyncManifest(ctx, mustManifest(t, store, "prod", newest)); err != nil {
		t.Fatal(err)
	}
	// Rows with nothing in this store: one recorded before locations were
	// (it may be another store's), one of this store whose set was deleted.
	legacy := manifest.NewBackupID(now.Add(-48 * time.Hour))
	cat.Put(catalog.IndexRow{Cluster: "prod", BackupID: legacy, Status: catalog.StatusComplete, StartedAt: now.Add(-48 * time.Hour), Unlocated: true})
	missing := manifest.NewBackupID(now.Add(-72 * time.Hour))
	cat.Put(catalog.IndexRow{Cluster: "prod", BackupID: missing, Status: catalog.StatusMissing, StartedAt: now.Add(-72 * time.Hour)})

	rep, err := Run(ctx, Options{Cluster: "prod", KeepLast: 1, Now: now}, store, cat)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]Action{}
	for _, it := range rep.Items {
		actions[it.BackupID] = it.Action
	}
	if actions[legacy] != Skip || actions[missing] != Remove || actions[newest] != Keep {
		t.Errorf("actions %v; want the unlocated row skipped, the missing one removed, the newest kept", actions)
	}
	if _, _, ok := cat.Row("prod", legacy); !ok {
		t.Error("prune deleted a row of unknown location")
	}
	if _, _, ok := cat.Row("prod", missing); ok {
		t.Error("prune kept the row of a set gone from its store")
	}
}

func mustManifest(t *testing.T, store *storage.Memory, cluster, id string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Read(context.Background(), store, manifest.ManifestKey(cluster, id))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPruneJudgesEncryptedSetsWithoutTheKey(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return now.AddDate(0, 0, d) }
	rec, _, _ := crypttest.Key(t)
	store := storage.NewMemory()
	locked := inventorytest.WriteEncryptedSet(t, store, rec, inventorytest.EncryptedSet{Cluster: "prod", At: day(-6), Mod: day(-6), Lock: &manifest.ObjectLock{Mode: "GOVERNANCE", RetainUntil: day(3)}})
	old := inventorytest.WriteEncryptedSet(t, store, rec, inventorytest.EncryptedSet{Cluster: "prod", At: day(-5), Mod: day(-5)})
	mid := inventorytest.WriteEncryptedSet(t, store, rec, inventorytest.EncryptedSet{Cluster: "prod", At: day(-3), Mod: day(-3)})
	newest := inventorytest.WriteEncryptedSet(t, store, rec, inventorytest.EncryptedSet{Cluster: "prod", At: day(-2), Mod: day(-2)})
	// Newer than every complete set, yet never one of the two kept.
	partial := inventorytest.WriteEncryptedSet(t, store, rec, inventorytest.EncryptedSet{Cluster: "prod", At: day(-1), Mod: day(-1), Partial: true})
	// An encrypted manifest without its readable part (the commit
	// marker): a run killed while committing, an orphan like any other.
	orphan := inventorytest.WriteEncryptedSet(t, store, rec, inventorytest.EncryptedSet{Cluster: "prod", At: day(-4), Mod: day(-4)})
	_ = store.Delete(context.Background(), manifest.ManifestKey("prod", orphan))
	// A readable part whose encrypted manifest is gone: never judged
	// blindly.
	blind := inventorytest.WriteEncryptedSet(t, store, rec, inventorytest.EncryptedSet{Cluster: "prod", At: day(-7), Mod: day(-7)})
	_ = store.Delete(context.Background(), manifest.EncryptedManifestKey("prod", blind))

	rep, err := Run(context.Background(), Options{Cluster: "prod", KeepLast: 2, Now: now}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ReportItem{}
	for _, it := range rep.Items {
		got[it.BackupID] = it
	}
	want := map[string]struct {
		status string
		action Action
		reason string
	}{
		newest:  {catalog.StatusComplete, Keep, ""},
		mid:     {catalog.StatusComplete, Keep, ""},
		old:     {catalog.StatusComplete, Remove, ""},
		partial: {catalog.StatusPartial, Remove, ""},
		orphan:  {catalog.StatusFailed, Remove, "no manifest"},
		locked:  {catalog.StatusComplete, Skip, "under object lock (GOVERNANCE) until " + day(3).Format(time.RFC3339)},
		blind:   {"unreadable", Skip, "manifest.json.age is missing"},
	}
	for id, w := range want {
		it := got[id]
		if it.Status != w.status || it.Action != w.action || !strings.Contains(strings.Join(it.Reasons, "; "), w.reason) {
			t.Errorf("%s: %s/%s %q; want %s/%s with %q", id, it.Status, it.Action, it.Reasons, w.status, w.action, w.reason)
		}
	}
	left := map[string]bool{}
	for _, k := range storagetest.Keys(t, store) {
		left[strings.SplitN(k, "/", 3)[1]] = true
	}
	for id, w := range want {
		if stays := w.action != Remove; left[id] != stays {
			t.Errorf("set %s in storage: %v, want %v", id, left[id], stays)
		}
	}
}
