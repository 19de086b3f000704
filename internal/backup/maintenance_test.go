package backup

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
)

func TestVerify(t *testing.T) {
	c := testCluster()
	store := newFakeStore()
	res, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(c, store, nil))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest

	t.Run("an intact set verifies", func(t *testing.T) {
		rep, err := Verify(context.Background(), store, m, nil)
		if err != nil || !rep.OK() || rep.Objects != m.ShardCount() || rep.Bytes != m.TotalSize() {
			t.Fatalf("report %+v, error %v", rep, err)
		}
	})
	t.Run("a changed object and a missing one are both named", func(t *testing.T) {
		changed := m.Collection("docs").Shards[0].Object
		data := slices.Clone(store.get(t, changed))
		data[100] ^= 0xff
		store.set(changed, data, time.Now())
		missing := m.Collection("images").Shards[1].Object
		if err := store.Delete(context.Background(), missing); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(context.Background(), store, m, nil)
		if !errors.Is(err, ErrCorrupt) || len(rep.Bad) != 2 {
			t.Fatalf("report %+v, error %v", rep, err)
		}
		for _, k := range []string{changed, missing, "missing", "sha256"} {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("error does not mention %q: %v", k, err)
			}
		}
	})
}

// storedBackup writes a minimal committed (or, without a manifest,
// orphaned) set straight into storage.
func storedBackup(t *testing.T, store *fakeStore, cluster string, at time.Time, status string, mod time.Time) string {
	t.Helper()
	id := manifest.NewBackupID(at)
	obj := manifest.ShardObjectKey(cluster, id, "docs", 0, manifest.CompressionNone)
	data := []byte("snapshot " + id)
	store.set(obj, data, mod)
	if status == StatusFailed {
		return id
	}
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: id, Cluster: cluster, QdrantVersion: "1.15.5",
		SnapshotMethod: manifest.MethodStream, StartedAt: at, FinishedAt: at.Add(time.Minute), Partial: status == StatusPartial,
		Collections: []manifest.Collection{{
			Name: "docs", Config: []byte(`{}`), ShardingMethod: "auto", ShardNumber: 1, ReplicationFactor: 1, WriteConsistencyFactor: 1,
			Shards: []manifest.Shard{{ID: 0, Object: obj, Compression: manifest.CompressionNone, Size: int64(len(data)),
				SHA256: sha(data), SnapshotSize: int64(len(data)), SnapshotSHA256: sha(data)}},
		}},
	}
	b, err := manifest.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	store.set(manifest.ManifestKey(cluster, id), b, mod)
	return id
}

func TestPrune(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return now.AddDate(0, 0, d) }
	type fixture struct {
		store                                                           *fakeStore
		cat                                                             *fakeCatalog
		old, failedRow, mid, partial, orphan, newest, young, unreadable string
	}
	setup := func(t *testing.T) fixture {
		t.Helper()
		f := fixture{store: newFakeStore(), cat: newFakeCatalog()}
		ctx := context.Background()
		f.old = storedBackup(t, f.store, "prod", day(-5), StatusComplete, day(-5))
		f.failedRow = manifest.NewBackupID(day(-4))
		_ = f.cat.BackupFailed(ctx, "prod", f.failedRow, "peer down")
		f.mid = storedBackup(t, f.store, "prod", day(-3), StatusComplete, day(-3))
		f.partial = storedBackup(t, f.store, "prod", day(-2), StatusPartial, day(-2))
		f.orphan = storedBackup(t, f.store, "prod", day(-1), StatusFailed, day(-1))
		_ = f.cat.BackupStarted(ctx, "prod", f.orphan, "killed-pod", day(-1))
		f.newest = storedBackup(t, f.store, "prod", now.Add(-3*time.Hour), StatusComplete, now.Add(-3*time.Hour))
		f.young = storedBackup(t, f.store, "prod", now.Add(-time.Hour), StatusFailed, now.Add(-time.Hour))
		// A manifest from a newer qbackup: never deleted.
		f.unreadable = manifest.NewBackupID(day(-6))
		f.store.set(manifest.ManifestKey("prod", f.unreadable), []byte(`{"format_version": 99}`), day(-6))
		// Another cluster is left alone by a prune of "prod".
		storedBackup(t, f.store, "staging", day(-10), StatusComplete, day(-10))
		for _, id := range []string{f.old, f.mid, f.partial, f.newest} {
			m, err := manifest.Read(ctx, f.store, manifest.ManifestKey("prod", id))
			if err != nil {
				t.Fatal(err)
			}
			_ = f.cat.SyncManifest(ctx, m)
		}
		return f
	}
	actions := func(rep *PruneReport) map[string]string {
		out := map[string]string{}
		for _, it := range rep.Items {
			out[it.BackupID] = it.Action
		}
		return out
	}
	opts := PruneOptions{Cluster: "prod", KeepLast: 2, Now: now, OrphanGrace: 6 * time.Hour}

	t.Run("a dry run reports the verdicts and changes nothing", func(t *testing.T) {
		f := setup(t)
		before := f.store.keys()
		o := opts
		o.DryRun = true
		rep, err := Prune(context.Background(), o, f.store, f.cat)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			f.newest: PruneKeep, f.mid: PruneKeep, f.old: PruneRemove, f.partial: PruneRemove,
			f.orphan: PruneRemove, f.failedRow: PruneRemove, f.young: PruneSkip, f.unreadable: PruneSkip,
		}
		if got := actions(rep); !mapsEqual(got, want) {
			t.Fatalf("actions %v\nwant %v", got, want)
		}
		if !slices.Equal(f.store.keys(), before) {
			t.Fatalf("dry run changed storage")
		}
		if rows, _ := f.cat.ListBackups(context.Background(), "prod"); len(rows) != 6 {
			t.Fatalf("dry run changed the catalog: %d rows", len(rows))
		}
	})

	t.Run("a prune deletes storage then catalog rows and marks orphans failed", func(t *testing.T) {
		f := setup(t)
		if _, err := Prune(context.Background(), opts, f.store, f.cat); err != nil {
			t.Fatal(err)
		}
		left := map[string]bool{}
		for _, k := range f.store.keys() {
			left[strings.SplitN(k, "/", 3)[1]] = true
		}
		for id, want := range map[string]bool{f.newest: true, f.mid: true, f.young: true, f.unreadable: true, f.old: false, f.partial: false, f.orphan: false} {
			if left[id] != want {
				t.Errorf("set %s in storage: %v, want %v", id, left[id], want)
			}
		}
		for id, want := range map[string]string{f.newest: StatusComplete, f.mid: StatusComplete, f.orphan: StatusFailed, f.old: "", f.partial: "", f.failedRow: ""} {
			row, reason, ok := f.cat.row("prod", id)
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
		if rows, _ := f.cat.ListBackups(context.Background(), "staging"); len(rows) != 0 {
			t.Errorf("staging rows touched: %v", rows)
		}
		found := false
		for _, k := range f.store.keys() {
			found = found || strings.HasPrefix(k, "staging/")
		}
		if !found {
			t.Error("a prune of prod deleted staging objects")
		}
	})

	t.Run("the objects of the run holding the storage lock are kept", func(t *testing.T) {
		store := newFakeStore()
		id := storedBackup(t, store, "prod", day(-2), StatusFailed, day(-2))
		rec := []byte(`{"holder":"slow-pod","backup_id":"` + id + `","since":"` + day(-2).Format(time.RFC3339) + `","expires":"` + now.Add(time.Minute).Format(time.RFC3339) + `","token":"t"}`)
		store.set(manifest.LockKey("prod"), rec, now)
		rep, err := Prune(context.Background(), opts, store, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := actions(rep)[id]; got != PruneSkip {
			t.Fatalf("locked set: %s, want skip", got)
		}
		if len(store.keys()) != 2 {
			t.Fatalf("objects %v", store.keys())
		}
	})

	t.Run("a set the catalog knows as corrupt does not count and goes", func(t *testing.T) {
		store, cat := newFakeStore(), newFakeCatalog()
		older := storedBackup(t, store, "prod", day(-2), StatusComplete, day(-2))
		bad := storedBackup(t, store, "prod", day(-1), StatusComplete, day(-1))
		for _, id := range []string{older, bad} {
			m, err := manifest.Read(context.Background(), store, manifest.ManifestKey("prod", id))
			if err != nil {
				t.Fatal(err)
			}
			_ = cat.SyncManifest(context.Background(), m)
		}
		cat.rows["prod/"+bad].VerifyStatus = VerifyCorrupt
		rep, err := Prune(context.Background(), PruneOptions{Cluster: "prod", KeepLast: 1, Now: now}, store, cat)
		if err != nil {
			t.Fatal(err)
		}
		if got := actions(rep); got[older] != PruneKeep || got[bad] != PruneRemove {
			t.Fatalf("actions %v", got)
		}
	})

	t.Run("without a catalog the newest complete set survives any policy", func(t *testing.T) {
		store := newFakeStore()
		a := storedBackup(t, store, "prod", day(-40), StatusComplete, day(-40))
		b := storedBackup(t, store, "prod", day(-1), StatusPartial, day(-1))
		rep, err := Prune(context.Background(), PruneOptions{Cluster: "prod", KeepDaily: 1, Now: now}, store, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := actions(rep); got[a] != PruneKeep || got[b] != PruneRemove {
			t.Fatalf("actions %v", got)
		}
	})
}

func mapsEqual(a, b map[string]string) bool {
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

func TestSyncCatalogRecordsEveryManifestAndIsIdempotent(t *testing.T) {
	store := newFakeStore()
	now := time.Now().UTC()
	a := storedBackup(t, store, "prod", now.Add(-2*time.Hour), StatusComplete, now)
	b := storedBackup(t, store, "prod", now.Add(-time.Hour), StatusPartial, now)
	c := storedBackup(t, store, "staging/eu", now.Add(-time.Hour), StatusComplete, now)
	storedBackup(t, store, "prod", now, StatusFailed, now) // no manifest: not a backup
	cat := newFakeCatalog()
	for range 2 {
		rep, err := SyncCatalog(context.Background(), store, cat, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Synced) != 3 {
			t.Fatalf("synced %v", rep.Synced)
		}
	}
	rows, _ := cat.ListBackups(context.Background(), "")
	if len(rows) != 3 {
		t.Fatalf("rows %+v", rows)
	}
	for cluster, id := range map[string]string{"prod": a, "staging/eu": c} {
		if row, _, ok := cat.row(cluster, id); !ok || row.Status != StatusComplete {
			t.Errorf("row %s/%s: %+v", cluster, id, row)
		}
	}
	if row, _, _ := cat.row("prod", b); row.Status != StatusPartial {
		t.Errorf("partial set recorded as %s", row.Status)
	}
}
