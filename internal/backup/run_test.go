package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func decodeManifest(t *testing.T, store *fakeStore, key string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Decode(bytes.NewReader(store.get(t, key)))
	if err != nil {
		t.Fatalf("decode manifest %s: %v", key, err)
	}
	return m
}

// assertNoSetObjects fails if anything but lock objects is in storage.
func assertNoSetObjects(t *testing.T, store *fakeStore) {
	t.Helper()
	for _, k := range store.keys() {
		t.Errorf("object left in storage: %s", k)
	}
}

func TestRunBacksUpEveryShardOnceAndWritesTheManifestLast(t *testing.T) {
	c := testCluster()
	store, cat := newFakeStore(), newFakeCatalog()
	res, err := Run(context.Background(), Options{Cluster: "prod", Holder: "test"}, testDeps(c, store, cat))
	if err != nil {
		t.Fatal(err)
	}
	if last := store.puts[len(store.puts)-1]; last != res.ManifestKey {
		t.Fatalf("last write was %s, want the manifest %s", last, res.ManifestKey)
	}
	m := decodeManifest(t, store, res.ManifestKey)
	if m.QdrantVersion != "1.15.5" || m.SnapshotMethod != manifest.MethodStream || m.Partial || len(m.Peers) != 3 {
		t.Fatalf("manifest header: %+v", m)
	}
	wantShards := map[string]int{"docs": 3, "images": 2, "tenants": 3}
	objects := 0
	for _, mc := range m.Collections {
		if len(mc.Shards) != wantShards[mc.Name] {
			t.Errorf("collection %s: %d shards, want %d", mc.Name, len(mc.Shards), wantShards[mc.Name])
		}
		if len(mc.Sample) != 5 {
			t.Errorf("collection %s: %d sample digests, want 5", mc.Name, len(mc.Sample))
		}
		for _, s := range mc.Shards {
			objects++
			fs := c.shard(mc.Name, s.ID)
			want := snapshotBytes(mc.Name, fs)
			got := store.get(t, s.Object)
			if !bytes.Equal(got, want) || s.SHA256 != sha(want) || s.SnapshotSHA256 != sha(want) || s.Size != int64(len(want)) {
				t.Errorf("%s shard %d: object does not match the snapshot", mc.Name, s.ID)
			}
			if s.PointsCount != fs.points {
				t.Errorf("%s shard %d: points %d, want %d", mc.Name, s.ID, s.PointsCount, fs.points)
			}
			if fs.replicas[s.SourcePeer] != "Active" {
				t.Errorf("%s shard %d: snapshotted from peer %d which has no Active replica", mc.Name, s.ID, s.SourcePeer)
			}
			if s.StartedAt.IsZero() || s.FinishedAt.Before(s.StartedAt) {
				t.Errorf("%s shard %d: times %v..%v", mc.Name, s.ID, s.StartedAt, s.FinishedAt)
			}
		}
	}
	if got := len(store.keys()); got != objects+1 {
		t.Errorf("%d objects in storage, want %d shard objects and the manifest", got, objects)
	}
	docs := m.Collection("docs")
	if len(docs.Aliases) != 1 || docs.Aliases[0] != "current" || docs.ReplicationFactor != 2 {
		t.Errorf("docs: aliases %v, rf %d", docs.Aliases, docs.ReplicationFactor)
	}
	ten := m.Collection("tenants")
	if ten.ShardingMethod != "custom" || len(ten.ShardKeys) != 2 || len(ten.ShardKeys[1].ShardIDs) != 2 {
		t.Errorf("tenants shard keys: %+v", ten.ShardKeys)
	}
	if m.Window.FirstStart.IsZero() || m.Window.SkewMillis != m.Window.LastStart.Sub(m.Window.FirstStart).Milliseconds() {
		t.Errorf("window %+v", m.Window)
	}
	row, _, ok := cat.Row("prod", m.BackupID)
	if !ok || row.Status != catalog.StatusComplete {
		t.Errorf("catalog row %+v, want complete", row)
	}
	if cat.holder != "" {
		t.Errorf("lease still held by %q", cat.holder)
	}
}

func TestRunSpreadsShardsOverPeers(t *testing.T) {
	c := testCluster()
	store := newFakeStore()
	res, err := Run(context.Background(), Options{Cluster: "prod", Collections: []string{"docs"}}, testDeps(c, store, nil))
	if err != nil {
		t.Fatal(err)
	}
	peers := map[uint64]bool{}
	for _, s := range res.Manifest.Collection("docs").Shards {
		peers[s.SourcePeer] = true
	}
	if len(peers) != 3 {
		t.Fatalf("docs shards came from peers %v, want all three", peers)
	}
}

func TestRunRespectsTheConcurrencyLimits(t *testing.T) {
	c := newFakeCluster()
	var placement [][]uint64
	for i := range 24 {
		placement = append(placement, []uint64{uint64(i%3 + 1)})
	}
	c.addCollection("big", 1, placement)
	c.slowRead = time.Millisecond
	store := newFakeStore()
	_, err := Run(context.Background(), Options{Cluster: "prod", Concurrency: 5, PerPeerConcurrency: 2}, testDeps(c, store, nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.maxActive > 5 {
		t.Errorf("%d snapshots ran at once, limit 5", c.maxActive)
	}
	if c.maxActive < 4 {
		t.Errorf("at most %d snapshots ran at once: the run did not use its parallelism", c.maxActive)
	}
	for p, n := range c.maxPeer {
		if n > 2 {
			t.Errorf("peer %d served %d snapshots at once, limit 2", p, n)
		}
	}
}

func TestRunFailsTheSetOnATruncatedStream(t *testing.T) {
	cases := []struct {
		name    string
		cut     error
		wantErr error
	}{
		{"a body cut with an unexpected EOF fails the set", io.ErrUnexpectedEOF, io.ErrUnexpectedEOF},
		{"a body that ends cleanly without the tar end marker fails the set", nil, ErrTruncated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testCluster()
			c.truncate["images/1"] = tc.cut
			store, cat := newFakeStore(), newFakeCatalog()
			_, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(c, store, cat))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), `shard 1 of "images"`) {
				t.Errorf("error does not name the shard: %v", err)
			}
			assertNoSetObjects(t, store)
			assertFailedRow(t, cat, "prod")
		})
	}
}

func assertFailedRow(t *testing.T, cat *fakeCatalog, cluster string) {
	t.Helper()
	rows, _ := cat.IndexRows(context.Background(), cluster)
	if len(rows) != 1 || rows[0].Status != catalog.StatusFailed {
		t.Fatalf("catalog rows %+v, want one failed", rows)
	}
	if _, reason, _ := cat.Row(cluster, rows[0].BackupID); reason == "" {
		t.Errorf("failed row has no reason")
	}
	if cat.holder != "" {
		t.Errorf("lease still held by %q", cat.holder)
	}
}

func TestRunCancelledMidRunLeavesNothingAndMarksTheSetFailed(t *testing.T) {
	c := testCluster()
	c.block["docs/2"] = true
	store, cat := newFakeStore(), newFakeCatalog()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-c.blocked // the stream is half way
		// Let the other shards land in storage first, so the clean-up
		// has something to delete.
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	_, err := Run(ctx, Options{Cluster: "prod", WriteLock: true}, testDeps(c, store, cat))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("error %v, want a cancellation", err)
	}
	assertNoSetObjects(t, store)
	assertFailedRow(t, cat, "prod")
	if len(c.writesLocked) > 0 || c.lockCalls != 3 || c.unlockCalls != 3 {
		t.Errorf("write lock: locked %v, %d lock and %d unlock calls", c.writesLocked, c.lockCalls, c.unlockCalls)
	}
}

func TestRunTakesAndReleasesTheWriteLock(t *testing.T) {
	c := testCluster()
	store := newFakeStore()
	if _, err := Run(context.Background(), Options{Cluster: "prod", WriteLock: true}, testDeps(c, store, nil)); err != nil {
		t.Fatal(err)
	}
	if len(c.writesLocked) > 0 || c.lockCalls != 3 || c.unlockCalls != 3 {
		t.Errorf("write lock: locked %v, %d lock and %d unlock calls", c.writesLocked, c.lockCalls, c.unlockCalls)
	}
}

func TestRunWhileTheLockIsHeld(t *testing.T) {
	t.Run("a held catalog lease fails with ErrLockHeld naming the holder", func(t *testing.T) {
		c := testCluster()
		store, cat := newFakeStore(), newFakeCatalog()
		cat.holder, cat.since = "backup-job-1", time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
		_, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(c, store, cat))
		if !errors.Is(err, ErrLockHeld) || !strings.Contains(err.Error(), "backup-job-1") || !strings.Contains(err.Error(), "2026-11-25T13:00:00Z") {
			t.Fatalf("error %v, want ErrLockHeld naming holder and time", err)
		}
		assertNoSetObjects(t, store)
	})
	t.Run("a live storage lock fails with ErrLockHeld naming the holder", func(t *testing.T) {
		c := testCluster()
		store := newFakeStore()
		since := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
		store.set(manifest.LockKey("prod"), lockJSON(t, "other-pod", since, time.Now().Add(time.Hour)), since)
		_, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(c, store, nil))
		if !errors.Is(err, ErrLockHeld) || !strings.Contains(err.Error(), "other-pod") || !strings.Contains(err.Error(), since.Format(time.RFC3339)) {
			t.Fatalf("error %v, want ErrLockHeld naming holder and time", err)
		}
		if got := store.keys(); len(got) != 1 {
			t.Fatalf("storage %v, want only the other run's lock", got)
		}
	})
	t.Run("an expired storage lock is taken over", func(t *testing.T) {
		c := testCluster()
		store := newFakeStore()
		since := time.Now().Add(-time.Hour)
		store.set(manifest.LockKey("prod"), lockJSON(t, "dead-pod", since, time.Now().Add(-time.Minute)), since)
		if _, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(c, store, nil)); err != nil {
			t.Fatal(err)
		}
		for _, k := range store.keys() {
			if k == manifest.LockKey("prod") {
				t.Fatal("the lock object was not released")
			}
		}
	})
}

func lockJSON(t *testing.T, holder string, since, expires time.Time) []byte {
	t.Helper()
	return []byte(`{"holder":"` + holder + `","backup_id":"20261125T120000Z-0000","since":"` + since.UTC().Format(time.RFC3339Nano) +
		`","expires":"` + expires.UTC().Format(time.RFC3339Nano) + `","token":"x"}`)
}

func TestRunHoldsTheStorageLockWhileRunning(t *testing.T) {
	c := testCluster()
	c.block["docs/0"] = true
	store := newFakeStore()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Options{Cluster: "prod", Holder: "first"}, testDeps(c, store, nil))
		done <- err
	}()
	<-c.blocked
	_, err := Run(context.Background(), Options{Cluster: "prod", Holder: "second"}, testDeps(testCluster(), newStoreView(store), nil))
	if !errors.Is(err, ErrLockHeld) || !strings.Contains(err.Error(), "first") {
		t.Fatalf("second run: %v, want ErrLockHeld held by first", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	assertNoSetObjects(t, store)
}

// newStoreView shares the objects of s (the second run sees the same bucket).
func newStoreView(s *fakeStore) *fakeStore { return s }

func TestRunWithZstdRoundTrips(t *testing.T) {
	c := testCluster()
	store := newFakeStore()
	res, err := Run(context.Background(), Options{Cluster: "prod", Compression: manifest.CompressionZstd}, testDeps(c, store, nil))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for _, mc := range res.Manifest.Collections {
		for _, s := range mc.Shards {
			if !strings.HasSuffix(s.Object, ".snapshot.zst") || s.Compression != manifest.CompressionZstd {
				t.Errorf("%s shard %d: object %s, compression %s", mc.Name, s.ID, s.Object, s.Compression)
			}
			obj := store.get(t, s.Object)
			if sha(obj) != s.SHA256 || int64(len(obj)) != s.Size {
				t.Errorf("%s shard %d: object hash/size do not match the manifest", mc.Name, s.ID)
			}
			plain, err := dec.DecodeAll(obj, nil)
			if err != nil {
				t.Fatalf("%s shard %d: decompress: %v", mc.Name, s.ID, err)
			}
			want := snapshotBytes(mc.Name, c.shard(mc.Name, s.ID))
			if !bytes.Equal(plain, want) || sha(plain) != s.SnapshotSHA256 || s.SnapshotSize != int64(len(want)) {
				t.Errorf("%s shard %d: decompressed object differs from the snapshot", mc.Name, s.ID)
			}
			if s.Size >= s.SnapshotSize {
				t.Errorf("%s shard %d: %d compressed bytes for %d plain ones", mc.Name, s.ID, s.Size, s.SnapshotSize)
			}
		}
	}
}

func TestRunWithStoredSnapshots(t *testing.T) {
	t.Run("a dropped download resumes and the peer snapshots are deleted", func(t *testing.T) {
		c := testCluster()
		c.dropOnce["docs/1"] = true
		store := newFakeStore()
		res, err := Run(context.Background(), Options{Cluster: "prod", SnapshotMethod: manifest.MethodStored}, testDeps(c, store, nil))
		if err != nil {
			t.Fatal(err)
		}
		if res.Manifest.SnapshotMethod != manifest.MethodStored {
			t.Errorf("method %s", res.Manifest.SnapshotMethod)
		}
		s := res.Manifest.Collection("docs").Shards[1]
		if want := snapshotBytes("docs", c.shard("docs", 1)); sha(want) != s.SHA256 {
			t.Errorf("resumed download differs from the snapshot")
		}
		if len(c.stored) != 0 || c.created != 8 || c.downloads != 9 {
			t.Errorf("peer snapshots left %d, created %d, downloads %d; want 0, 8, 9", len(c.stored), c.created, c.downloads)
		}
	})
	t.Run("a failed upload still deletes the peer snapshots", func(t *testing.T) {
		c := testCluster()
		store := newFakeStore()
		store.putErr = func(key string) error {
			if strings.Contains(key, "images/1.snapshot") {
				return errBoom
			}
			return nil
		}
		_, err := Run(context.Background(), Options{Cluster: "prod", SnapshotMethod: manifest.MethodStored}, testDeps(c, store, nil))
		if !errors.Is(err, errBoom) {
			t.Fatalf("error %v, want the upload failure", err)
		}
		if len(c.stored) != 0 {
			t.Errorf("%d snapshots left on the peers", len(c.stored))
		}
		assertNoSetObjects(t, store)
	})
}

func TestRunRefusesBadInputBeforeWritingAnything(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		prepare func(*fakeCluster)
		wantErr error
		wantMsg []string
	}{
		{
			name:    "an unknown collection in the filter",
			opts:    Options{Collections: []string{"docs", "nope"}},
			wantErr: ErrUnknownCollection,
			wantMsg: []string{`"nope"`, "docs, images, tenants"},
		},
		{
			name: "a shard without an Active replica",
			prepare: func(c *fakeCluster) {
				s := c.shard("docs", 1)
				s.replicas[2], s.replicas[3] = "Dead", "Partial"
			},
			wantErr: ErrNoActiveReplica,
			wantMsg: []string{`collection "docs" shard 1`, "peer 2 Dead", "peer 3 Partial"},
		},
		{
			name: "a shard whose only Active replica is in a transfer",
			prepare: func(c *fakeCluster) {
				c.collections["images"].transfer = []qdrant.ShardTransfer{{ShardID: 0, From: 1, To: 3}}
			},
			wantErr: ErrNoActiveReplica,
			wantMsg: []string{`collection "images" shard 0`, "in a transfer"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testCluster()
			if tc.prepare != nil {
				tc.prepare(c)
			}
			store, cat := newFakeStore(), newFakeCatalog()
			tc.opts.Cluster = "prod"
			_, err := Run(context.Background(), tc.opts, testDeps(c, store, cat))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			for _, s := range tc.wantMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			assertNoSetObjects(t, store)
			if rows, _ := cat.IndexRows(context.Background(), ""); len(rows) != 0 || len(cat.leases) != 0 {
				t.Errorf("catalog touched: rows %v, leases %d", rows, len(cat.leases))
			}
		})
	}
}

func TestRunAllowPartialRecordsAPartialSet(t *testing.T) {
	c := testCluster()
	c.shard("images", 1).replicas[2] = "Dead"
	store, cat := newFakeStore(), newFakeCatalog()
	res, err := Run(context.Background(), Options{Cluster: "prod", AllowPartial: true}, testDeps(c, store, cat))
	if err != nil {
		t.Fatal(err)
	}
	m := decodeManifest(t, store, res.ManifestKey)
	if !m.Partial || len(m.Collection("images").Shards) != 1 || len(res.Missing) != 1 {
		t.Fatalf("partial %v, images shards %d, missing %v", m.Partial, len(m.Collection("images").Shards), res.Missing)
	}
	if row, _, _ := cat.Row("prod", m.BackupID); row.Status != catalog.StatusPartial {
		t.Errorf("catalog status %s, want partial", row.Status)
	}
}

func TestRunFailsClearlyWhenTheCatalogCannotRecordTheStart(t *testing.T) {
	c := testCluster()
	store, cat := newFakeStore(), newFakeCatalog()
	cat.startErr = errBoom
	_, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(c, store, cat))
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "catalog") {
		t.Fatalf("error %v", err)
	}
	if c.maxActive != 0 {
		t.Errorf("%d snapshots were started", c.maxActive)
	}
	assertNoSetObjects(t, store)
}

func TestRunFilterAcceptsAliases(t *testing.T) {
	store := newFakeStore()
	res, err := Run(context.Background(), Options{Cluster: "prod", Collections: []string{"current", "tenants"}}, testDeps(testCluster(), store, nil))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range res.Manifest.Collections {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "docs,tenants" {
		t.Fatalf("collections %v, want docs (through its alias) and tenants", names)
	}
}

func TestRunRetriesOnlyTransientSnapshotStarts(t *testing.T) {
	unavailable := &qdrant.APIError{Op: "stream", Peer: "p", Status: 503, Message: "Service unavailable: shard temporarily unavailable"}
	badRequest := &qdrant.APIError{Op: "stream", Peer: "p", Status: 400, Message: "Wrong input: Shard 0 is not a local shard"}
	t.Run("a 503 before the stream starts is retried", func(t *testing.T) {
		c := testCluster()
		c.startFaults["images/0"] = []error{unavailable, unavailable}
		if _, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(c, newFakeStore(), nil)); err != nil {
			t.Fatal(err)
		}
		if c.startCalls != 8+2 {
			t.Errorf("%d stream starts, want 8 plus 2 retries", c.startCalls)
		}
	})
	t.Run("a 400 fails the set at once", func(t *testing.T) {
		c := testCluster()
		c.startFaults["images/0"] = []error{badRequest}
		store := newFakeStore()
		_, err := Run(context.Background(), Options{Cluster: "prod", Concurrency: 1}, testDeps(c, store, nil))
		var ae *qdrant.APIError
		if !errors.As(err, &ae) || ae.Status != 400 {
			t.Fatalf("error %v, want the 400", err)
		}
		assertNoSetObjects(t, store)
	})
}

func TestAnOperatorsWriteLockOnOnePeerIsLeftAlone(t *testing.T) {
	c := testCluster()
	c.writesLocked = map[uint64]bool{2: true}
	if _, err := Run(context.Background(), Options{Cluster: "prod", WriteLock: true}, testDeps(c, newFakeStore(), nil)); err != nil {
		t.Fatal(err)
	}
	if !c.writesLocked[2] || len(c.writesLocked) != 1 || c.lockCalls != 2 || c.unlockCalls != 2 {
		t.Errorf("write locks %v after the run, %d lock and %d unlock calls; want peer 2's lock kept and the others locked and unlocked",
			c.writesLocked, c.lockCalls, c.unlockCalls)
	}
}

func TestABackupRefusesWhileARestoreHoldsTheClusterLock(t *testing.T) {
	for _, withCatalog := range []bool{false, true} {
		t.Run(fmt.Sprintf("catalog %v", withCatalog), func(t *testing.T) {
			store := newFakeStore()
			opts := lease.Options{Cluster: "prod", Holder: "restore-pod", Operation: "restore of backup 20261205T000000Z-0000", Store: store}
			var cat *fakeCatalog
			if withCatalog {
				cat = newFakeCatalog()
				opts.Catalog = cat
			}
			_, release, err := lease.Hold(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			deps := testDeps(testCluster(), store, nil)
			if withCatalog {
				deps.Catalog = cat
			}
			_, err = Run(context.Background(), Options{Cluster: "prod", Holder: "backup-pod"}, deps)
			if !errors.Is(err, ErrLockHeld) || !strings.Contains(err.Error(), "restore-pod") || !strings.Contains(err.Error(), "restore of backup 20261205T000000Z-0000") {
				t.Fatalf("error %v, want ErrLockHeld naming the restore", err)
			}
		})
	}
}

func TestAPeerRefusingTheWriteLockUnlocksTheOthersAndFailsTheRun(t *testing.T) {
	c := testCluster()
	c.lockErr = map[uint64]error{3: errBoom}
	store, cat := newFakeStore(), newFakeCatalog()
	_, err := Run(context.Background(), Options{Cluster: "prod", WriteLock: true}, testDeps(c, store, cat))
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "peer 3") {
		t.Fatalf("error %v, want the lock failure of peer 3", err)
	}
	if len(c.writesLocked) > 0 || c.lockCalls != 3 || c.unlockCalls != 3 {
		t.Errorf("write locks %v after the run, %d lock and %d unlock calls; want every peer asked, then unlocked",
			c.writesLocked, c.lockCalls, c.unlockCalls)
	}
	assertNoSetObjects(t, store)
}
