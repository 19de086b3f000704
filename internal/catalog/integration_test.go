//go:build integration

package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/manifest"
)

// openMigrated opens a catalog on a fresh database of the test stack and
// migrates it.
func openMigrated(t testing.TB) *Catalog {
	t.Helper()
	c := openFresh(t, stacktest.MySQLDSN(t))
	if _, err := c.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return c
}

func openFresh(t testing.TB, dsn string) *Catalog {
	t.Helper()
	c, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("open catalog: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testManifest is a two-collection set with a custom-sharded collection
// (string and number shard keys) and times with nanoseconds, which the
// catalog keeps to the microsecond.
func testManifest(cluster string, started time.Time) *manifest.Manifest {
	id := manifest.NewBackupID(started)
	eu, seven := manifest.StringKey("eu"), manifest.NumberKey(7)
	shard := func(col string, n uint32, key *manifest.ShardKeyValue, peer uint64) manifest.Shard {
		return manifest.Shard{
			ID: n, ShardKey: key, SourcePeer: peer,
			Replicas:    []manifest.Replica{{PeerID: peer, State: "Active"}},
			Object:      manifest.ShardObjectKey(cluster, id, col, n, manifest.CompressionZstd),
			Compression: manifest.CompressionZstd,
			Size:        int64(1000 + n), SHA256: fmt.Sprintf("%064x", 100+n),
			SnapshotSize: int64(5000 + n), SnapshotSHA256: fmt.Sprintf("%064x", 200+n),
			PointsCount: uint64(10 * (n + 1)),
			StartedAt:   started.Add(time.Duration(n)*time.Millisecond + 123),
			FinishedAt:  started.Add(time.Second + 456),
		}
	}
	return &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: id, Cluster: cluster,
		QdrantVersion: "1.15.4", ToolVersion: "test", SnapshotMethod: manifest.MethodStream,
		StartedAt: started, FinishedAt: started.Add(2 * time.Second),
		Window: manifest.Window{FirstStart: started.Add(123), LastStart: started.Add(2*time.Millisecond + 123), SkewMillis: 2},
		Peers:  []manifest.Peer{{ID: 11, URI: "http://127.0.0.2:6333"}, {ID: 12, URI: "http://127.0.0.3:6333"}},
		Collections: []manifest.Collection{
			{Name: "Docs", Config: json.RawMessage(`{}`), ShardingMethod: "auto", ShardNumber: 2, ReplicationFactor: 2,
				WriteConsistencyFactor: 1, PointsCount: 30,
				Shards: []manifest.Shard{shard("Docs", 0, nil, 11), shard("Docs", 1, nil, 12)}},
			{Name: "tenants", Config: json.RawMessage(`{}`), ShardingMethod: "custom", ShardNumber: 1, ReplicationFactor: 1,
				WriteConsistencyFactor: 1, PointsCount: 50,
				ShardKeys: []manifest.ShardKey{{Key: eu, ShardIDs: []uint32{2}}, {Key: seven, ShardIDs: []uint32{3}}},
				Shards:    []manifest.Shard{shard("tenants", 2, &eu, 11), shard("tenants", 3, &seven, 12)}},
		},
	}
}

// wantShards is what GetBackup should return for m: its shards ordered by
// collection and id, without replicas, times to the microsecond.
func wantShards(m *manifest.Manifest) []ShardRecord {
	var out []ShardRecord
	for _, c := range m.Collections {
		for _, s := range c.Shards {
			s.Replicas = nil
			s.StartedAt, s.FinishedAt = dbTime(s.StartedAt), dbTime(s.FinishedAt)
			out = append(out, ShardRecord{Collection: c.Name, Shard: s})
		}
	}
	return out
}

func checkRecordMatchesManifest(t *testing.T, got *BackupRecord, m *manifest.Manifest, status string) {
	t.Helper()
	checks := []struct {
		what      string
		got, want any
	}{
		{"status", got.Status, status},
		{"qdrant version", got.QdrantVersion, m.QdrantVersion},
		{"tool version", got.ToolVersion, m.ToolVersion},
		{"snapshot method", got.SnapshotMethod, m.SnapshotMethod},
		{"started", got.StartedAt, dbTime(m.StartedAt)},
		{"finished", got.FinishedAt, dbTime(m.FinishedAt)},
		{"window first", got.WindowFirstStart, dbTime(m.Window.FirstStart)},
		{"window last", got.WindowLastStart, dbTime(m.Window.LastStart)},
		{"skew", got.SkewMillis, m.Window.SkewMillis},
		{"collections", got.CollectionCount, len(m.Collections)},
		{"shards", got.ShardCount, m.ShardCount()},
		{"total bytes", got.TotalBytes, m.TotalSize()},
		{"points", got.PointsCount, uint64(100)},
		{"manifest key", got.ManifestKey, manifest.ManifestKey(m.Cluster, m.BackupID)},
		{"shard rows", got.Shards, wantShards(m)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.what, c.got, c.want)
		}
	}
}

func TestMigrateTwiceAppliesEverythingOnceThenNothing(t *testing.T) {
	ctx := t.Context()
	c := openFresh(t, stacktest.MySQLDSN(t))
	if err := c.CheckSchema(ctx); !errors.Is(err, ErrSchemaOutdated) {
		t.Fatalf("CheckSchema on an empty database = %v, want ErrSchemaOutdated", err)
	}
	all, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Migrate(ctx)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if len(first) != len(all) {
		t.Errorf("first migrate applied %d migrations, want %d", len(first), len(all))
	}
	second, err := c.Migrate(ctx)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(second) != 0 {
		t.Errorf("second migrate applied %v, want nothing", second)
	}
	if err := c.CheckSchema(ctx); err != nil {
		t.Errorf("CheckSchema after migrating: %v", err)
	}
	// The migration lock is released.
	l, err := c.AcquireLease(ctx, migrateLock, "probe", time.Minute)
	if err != nil {
		t.Fatalf("migration lock still held: %v", err)
	}
	_ = l.Release(ctx)
}

func TestConcurrentMigratorsApplyEachMigrationOnce(t *testing.T) {
	dsn := stacktest.MySQLDSN(t)
	all, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	const migrators = 4
	cats := make([]*Catalog, migrators)
	for i := range cats {
		cats[i] = openFresh(t, dsn)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied = map[int]int{}
	)
	for _, c := range cats {
		wg.Go(func() {
			done, err := c.Migrate(t.Context())
			if err != nil {
				t.Errorf("migrate: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range done {
				applied[m.Version]++
			}
		})
	}
	wg.Wait()
	for _, m := range all {
		if applied[m.Version] != 1 {
			t.Errorf("migration %04d_%s applied %d times, want once", m.Version, m.Name, applied[m.Version])
		}
	}
}

func TestMigrateRefusesACatalogFromANewerOrDifferentBuild(t *testing.T) {
	ctx := t.Context()
	dsn := stacktest.MySQLDSN(t)
	c := openFresh(t, dsn)
	if _, err := c.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.db.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (999, 'future', 'x', UTC_TIMESTAMP(6))"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Migrate(ctx); !errors.Is(err, ErrSchemaNewer) {
		t.Errorf("Migrate = %v, want ErrSchemaNewer", err)
	}
	if err := c.CheckSchema(ctx); !errors.Is(err, ErrSchemaNewer) {
		t.Errorf("CheckSchema = %v, want ErrSchemaNewer", err)
	}
	if _, err := c.db.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = 999"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.db.ExecContext(ctx, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 3"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Migrate(ctx); err == nil {
		t.Error("Migrate accepted a migration recorded with different content")
	}
}

func TestMigrateRecordsAMigrationAppliedButNotRecorded(t *testing.T) {
	// A migrator that died between a statement and its record.
	ctx := t.Context()
	c := openFresh(t, stacktest.MySQLDSN(t))
	if _, err := c.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.db.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version >= 4"); err != nil {
		t.Fatal(err)
	}
	done, err := c.Migrate(ctx)
	if err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	// Versions 4 on, CREATE TABLE and ALTER TABLE ADD COLUMN alike, are
	// found applied and recorded.
	all, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if want := len(all) - 3; len(done) != want {
		t.Errorf("re-recorded %d migrations, want %d", len(done), want)
	}
}

func TestBackupLifecycle(t *testing.T) {
	ctx := t.Context()
	c := openMigrated(t)
	started := time.Date(2026, 11, 25, 13, 30, 0, 123456789, time.UTC)
	m := testManifest("prod", started)

	if err := c.BackupStarted(ctx, "prod", m.BackupID, "job-a", started); err != nil {
		t.Fatalf("BackupStarted: %v", err)
	}
	if err := c.BackupStarted(ctx, "prod", m.BackupID, "job-a", started); err != nil {
		t.Errorf("repeating BackupStarted for the same holder: %v", err)
	}
	if err := c.BackupStarted(ctx, "prod", m.BackupID, "job-b", started); err == nil {
		t.Error("BackupStarted accepted the same id for another holder")
	}
	list, err := c.ListBackups(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Status != StatusRunning || list[0].Holder != "job-a" || !list[0].FinishedAt.IsZero() {
		t.Fatalf("after start, list = %+v", list)
	}
	if _, err := c.LatestComplete(ctx, "prod"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LatestComplete with only a running set = %v, want ErrNotFound", err)
	}

	if err := c.BackupCompleted(ctx, m); err != nil {
		t.Fatalf("BackupCompleted: %v", err)
	}
	got, err := c.GetBackup(ctx, "prod", m.BackupID)
	if err != nil {
		t.Fatal(err)
	}
	checkRecordMatchesManifest(t, got, m, StatusComplete)
	if got.Holder != "job-a" || got.VerifyStatus != VerifyUnverified {
		t.Errorf("holder %q verify %q, want job-a unverified", got.Holder, got.VerifyStatus)
	}
	list, err = c.ListBackups(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !reflect.DeepEqual(list[0], got.BackupSummary) {
		t.Errorf("list = %+v\nwant [%+v]", list, got.BackupSummary)
	}

	if err := c.SetVerifyStatus(ctx, "prod", m.BackupID, VerifyVerified, "4 objects match"); err != nil {
		t.Fatalf("SetVerifyStatus: %v", err)
	}
	if err := c.SetVerifyStatus(ctx, "prod", m.BackupID, "fine", ""); err == nil {
		t.Error("SetVerifyStatus accepted an unknown status")
	}
	latest, err := c.LatestComplete(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if latest.BackupID != m.BackupID || latest.VerifyStatus != VerifyVerified || latest.VerifyDetail != "4 objects match" || latest.VerifiedAt.IsZero() {
		t.Errorf("latest = %+v", latest)
	}

	if err := c.DeleteBackup(ctx, "prod", m.BackupID); err != nil {
		t.Fatalf("DeleteBackup: %v", err)
	}
	if _, err := c.GetBackup(ctx, "prod", m.BackupID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetBackup after delete = %v, want ErrNotFound", err)
	}
	if err := c.DeleteBackup(ctx, "prod", m.BackupID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteBackup = %v, want ErrNotFound", err)
	}
	var n int
	if err := c.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM backup_shards").Scan(&n); err != nil || n != 0 {
		t.Errorf("shard rows left after delete: %d (%v)", n, err)
	}
}

func TestFailedBackupsAreListedWithTheirReasonAndNeverCountAsLatest(t *testing.T) {
	ctx := t.Context()
	c := openMigrated(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

	good := testManifest("prod", t0)
	if err := c.BackupStarted(ctx, "prod", good.BackupID, "job-1", t0); err != nil {
		t.Fatal(err)
	}
	if err := c.BackupCompleted(ctx, good); err != nil {
		t.Fatal(err)
	}
	failedID := manifest.NewBackupID(t0.Add(time.Hour))
	if err := c.BackupStarted(ctx, "prod", failedID, "job-2", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := c.BackupFailed(ctx, "prod", failedID, "peer 12 down mid-stream: unexpected EOF"); err != nil {
		t.Fatalf("BackupFailed: %v", err)
	}
	// A run that failed before it could record its start still shows.
	unrecordedID := manifest.NewBackupID(t0.Add(2 * time.Hour))
	if err := c.BackupFailed(ctx, "prod", unrecordedID, "catalog write failed"); err != nil {
		t.Fatalf("BackupFailed for an unrecorded set: %v", err)
	}
	if err := c.BackupFailed(ctx, "prod", good.BackupID, "late failure"); err == nil {
		t.Error("BackupFailed turned a complete set into a failed one")
	}
	if err := c.SetVerifyStatus(ctx, "prod", failedID, VerifyVerified, ""); err == nil {
		t.Error("SetVerifyStatus verified a failed set")
	}

	list, err := c.ListBackups(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ id, status, reason string }
	var gotRows []row
	for _, b := range list {
		gotRows = append(gotRows, row{b.BackupID, b.Status, b.Reason})
	}
	want := []row{
		{unrecordedID, StatusFailed, "catalog write failed"},
		{failedID, StatusFailed, "peer 12 down mid-stream: unexpected EOF"},
		{good.BackupID, StatusComplete, ""},
	}
	if !reflect.DeepEqual(gotRows, want) {
		t.Errorf("list (newest first):\n got %+v\nwant %+v", gotRows, want)
	}
	if list[0].StartedAt != t0.Add(2*time.Hour) {
		t.Errorf("unrecorded set's start = %s, want the time in its id", list[0].StartedAt)
	}
	latest, err := c.LatestComplete(ctx, "prod")
	if err != nil || latest.BackupID != good.BackupID {
		t.Errorf("LatestComplete = %v, %v; want %s", latest, err, good.BackupID)
	}
	if err := c.SetVerifyStatus(ctx, "prod", good.BackupID, VerifyCorrupt, "tenants/2: sha256 mismatch"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LatestComplete(ctx, "prod"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LatestComplete with the only complete set corrupt = %v, want ErrNotFound", err)
	}
	other, err := c.ListBackups(ctx, "staging")
	if err != nil || len(other) != 0 {
		t.Errorf("another cluster's list = %v, %v; want empty", other, err)
	}
}

func TestSyncManifestIsIdempotentAndKeepsVerification(t *testing.T) {
	ctx := t.Context()
	c := openMigrated(t)
	m := testManifest("prod", time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC))
	if err := c.SyncManifest(ctx, m); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	first, err := c.GetBackup(ctx, "prod", m.BackupID)
	if err != nil {
		t.Fatal(err)
	}
	checkRecordMatchesManifest(t, first, m, StatusComplete)
	if err := c.SetVerifyStatus(ctx, "prod", m.BackupID, VerifyVerified, ""); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.SyncManifest(ctx, m); err != nil {
			t.Fatalf("repeated sync: %v", err)
		}
	}
	again, err := c.GetBackup(ctx, "prod", m.BackupID)
	if err != nil {
		t.Fatal(err)
	}
	checkRecordMatchesManifest(t, again, m, StatusComplete)
	if again.VerifyStatus != VerifyVerified {
		t.Errorf("sync downgraded verify status to %q", again.VerifyStatus)
	}

	// A set recorded failed whose manifest turns up is complete after all;
	// a partial manifest stays partial; fewer shards replace the old rows.
	m2 := testManifest("prod", time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC))
	if err := c.BackupFailed(ctx, "prod", m2.BackupID, "lost reply"); err != nil {
		t.Fatal(err)
	}
	m2.Partial = true
	m2.Collections = m2.Collections[:1]
	if err := c.SyncManifest(ctx, m2); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBackup(ctx, "prod", m2.BackupID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusPartial || got.Reason != "" || len(got.Shards) != 2 || got.CollectionCount != 1 {
		t.Errorf("partial set = %+v", got.BackupSummary)
	}
	if _, err := c.LatestComplete(ctx, "prod"); err != nil {
		t.Errorf("LatestComplete: %v", err)
	}
	bad := *m
	bad.BackupID = "not-an-id"
	if err := c.SyncManifest(ctx, &bad); err == nil {
		t.Error("SyncManifest accepted an invalid manifest")
	}
}

func TestLeaseRefusesASecondHolderWithWhoAndSince(t *testing.T) {
	ctx := t.Context()
	c := openMigrated(t)
	a, err := c.AcquireLease(ctx, "cluster/prod", "job-a", time.Minute)
	if err != nil {
		t.Fatalf("first acquire: %v", err)
	}
	if got := a.ExpiresAt().Sub(a.AcquiredAt()); got != time.Minute {
		t.Errorf("expiry - acquisition = %s, want the TTL by the server's clock", got)
	}
	_, err = c.AcquireLease(ctx, "cluster/prod", "job-b", time.Minute)
	var held *LockHeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrLockHeld) {
		t.Fatalf("second acquire = %v, want a LockHeldError", err)
	}
	if held.Holder != "job-a" || !held.Since.Equal(a.AcquiredAt()) || !held.Expires.Equal(a.ExpiresAt()) || held.Name != "cluster/prod" {
		t.Errorf("held = %+v, lease acquired %s expires %s", held, a.AcquiredAt(), a.ExpiresAt())
	}
	// Other names are independent.
	s, err := c.AcquireLease(ctx, "cluster/staging", "job-b", time.Minute)
	if err != nil {
		t.Fatalf("acquire another name: %v", err)
	}

	before := a.ExpiresAt()
	time.Sleep(10 * time.Millisecond)
	if err := a.Renew(ctx); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if !a.ExpiresAt().After(before) {
		t.Errorf("renew did not move the expiry: %s then %s", before, a.ExpiresAt())
	}
	if err := a.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := a.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("second release = %v, want ErrLeaseLost", err)
	}
	if err := a.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("renew after release = %v, want ErrLeaseLost", err)
	}
	b, err := c.AcquireLease(ctx, "cluster/prod", "job-b", time.Minute)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if b.TookOverFrom() != "" {
		t.Errorf("a free lock reports a takeover from %q", b.TookOverFrom())
	}
	_ = b.Release(ctx)
	_ = s.Release(ctx)
}

func TestAnExpiredLeaseIsTakenOverAndItsOldHolderLosesIt(t *testing.T) {
	ctx := t.Context()
	c := openMigrated(t)
	a, err := c.AcquireLease(ctx, "cluster/prod", "job-a", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	b, err := c.AcquireLease(ctx, "cluster/prod", "job-b", time.Minute)
	if err != nil {
		t.Fatalf("take over expired lease: %v", err)
	}
	if b.TookOverFrom() != "job-a" {
		t.Errorf("TookOverFrom = %q, want job-a", b.TookOverFrom())
	}
	if err := a.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("old holder's renew = %v, want ErrLeaseLost", err)
	}
	if err := a.Release(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("old holder's release = %v, want ErrLeaseLost", err)
	}
	// The old holder's release did not free the new holder's lock.
	if _, err := c.AcquireLease(ctx, "cluster/prod", "job-c", time.Minute); !errors.Is(err, ErrLockHeld) {
		t.Errorf("third acquire = %v, want ErrLockHeld", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Errorf("new holder's release: %v", err)
	}
}

func TestAnExpiredLeaseNobodyTookIsStillRenewable(t *testing.T) {
	ctx := t.Context()
	c := openMigrated(t)
	a, err := c.AcquireLease(ctx, "cluster/prod", "job-a", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := a.Renew(ctx); err != nil {
		t.Errorf("renew of an expired, untaken lease: %v", err)
	}
}

func TestRacersForALeaseHaveExactlyOneWinner(t *testing.T) {
	for _, tt := range []struct {
		name    string
		expired bool
	}{
		{"when the lock is free", false},
		{"when the lock has expired", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := stacktest.MySQLDSN(t)
			first := openFresh(t, dsn)
			if _, err := first.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if tt.expired {
				if _, err := first.AcquireLease(ctx, "cluster/prod", "crashed-job", 50*time.Millisecond); err != nil {
					t.Fatal(err)
				}
				time.Sleep(150 * time.Millisecond)
			}
			const racers = 8
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				winners []string
				refused int
			)
			start := make(chan struct{})
			for i := range racers {
				c := openFresh(t, dsn) // separate pools, like separate jobs
				wg.Go(func() {
					<-start
					holder := fmt.Sprintf("job-%d", i)
					l, err := c.AcquireLease(ctx, "cluster/prod", holder, time.Minute)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						winners = append(winners, l.Holder())
					case errors.Is(err, ErrLockHeld):
						refused++
					default:
						t.Errorf("%s: %v", holder, err)
					}
				})
			}
			close(start)
			wg.Wait()
			if len(winners) != 1 || refused != racers-1 {
				t.Errorf("winners %v, refused %d; want exactly one winner", winners, refused)
			}
		})
	}
}

func TestKeepAliveHoldsAShortLeaseAndReportsItsLoss(t *testing.T) {
	ctx := t.Context()
	c := openMigrated(t)
	a, err := c.AcquireLease(ctx, "cluster/prod", "job-a", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	kctx, stop := context.WithCancel(ctx)
	lost := a.KeepAlive(kctx, 50*time.Millisecond)
	time.Sleep(time.Second)
	if _, err := c.AcquireLease(ctx, "cluster/prod", "job-b", time.Minute); !errors.Is(err, ErrLockHeld) {
		t.Errorf("acquire while kept alive = %v, want ErrLockHeld", err)
	}
	stop()
	if err, open := <-lost; open || err != nil {
		t.Errorf("after stop: err %v, channel open %v; want closed without error", err, open)
	}

	// Let it expire, have someone take it over, and the keep-alive notices.
	time.Sleep(400 * time.Millisecond)
	b, err := c.AcquireLease(ctx, "cluster/prod", "job-b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Release(ctx) }()
	select {
	case err := <-a.KeepAlive(ctx, 20*time.Millisecond):
		if !errors.Is(err, ErrLeaseLost) {
			t.Errorf("keep-alive reported %v, want ErrLeaseLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("keep-alive did not report the lost lease")
	}
}

func TestRestoreProgressSurvivesARerun(t *testing.T) {
	ctx := t.Context()
	c := openMigrated(t)
	backupID := manifest.NewBackupID(time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC))
	plan := json.RawMessage(`{"mode":"consolidate","target_peers":[21]}`)
	r := RestoreRecord{RestoreID: "r-1", Cluster: "prod", BackupID: backupID, Target: "staging: 1 pod", Plan: plan,
		StartedAt: time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)}
	if err := c.RestoreStarted(ctx, r); err != nil {
		t.Fatalf("RestoreStarted: %v", err)
	}
	set := func(col string, shard uint32, state, msg string) {
		t.Helper()
		if err := c.SetRestoreShard(ctx, "r-1", RestoreShard{Collection: col, ShardID: shard, TargetPeer: 21, State: state, Error: msg}); err != nil {
			t.Fatalf("SetRestoreShard %s/%d %s: %v", col, shard, state, err)
		}
	}
	for i := range uint32(3) {
		set("docs", i, ShardPending, "")
	}
	set("docs", 0, ShardRecovered, "")
	set("docs", 0, ShardVerified, "")
	set("docs", 1, ShardFailed, "upload: connection reset")
	if err := c.SetRestoreShard(ctx, "r-1", RestoreShard{Collection: "docs", ShardID: 2, TargetPeer: 21, State: "done"}); err == nil {
		t.Error("SetRestoreShard accepted an unknown state")
	}
	if err := c.RestoreFinished(ctx, "r-1", RestoreFailed, "shard docs/1 failed"); err != nil {
		t.Fatal(err)
	}

	// The rerun: same id, running again, progress kept.
	r.StartedAt = r.StartedAt.Add(time.Hour)
	if err := c.RestoreStarted(ctx, r); err != nil {
		t.Fatalf("RestoreStarted for the rerun: %v", err)
	}
	got, err := c.GetRestore(ctx, "r-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != RestoreRunning || got.Reason != "" || !got.FinishedAt.IsZero() ||
		!got.StartedAt.Equal(time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)) {
		t.Errorf("rerun record = %+v", got)
	}
	type row struct {
		shard    uint32
		state    string
		attempts int
		err      string
	}
	progress := func() []row {
		t.Helper()
		shards, err := c.RestoreShards(ctx, "r-1")
		if err != nil {
			t.Fatal(err)
		}
		var out []row
		for _, s := range shards {
			out = append(out, row{s.ShardID, s.State, s.Attempts, s.Error})
		}
		return out
	}
	want := []row{{0, ShardVerified, 1, ""}, {1, ShardFailed, 1, "upload: connection reset"}, {2, ShardPending, 0, ""}}
	if got := progress(); !reflect.DeepEqual(got, want) {
		t.Errorf("progress after rerun start:\n got %+v\nwant %+v", got, want)
	}
	set("docs", 1, ShardRecovered, "")
	set("docs", 2, ShardRecovered, "")
	want = []row{{0, ShardVerified, 1, ""}, {1, ShardRecovered, 2, ""}, {2, ShardRecovered, 1, ""}}
	if got := progress(); !reflect.DeepEqual(got, want) {
		t.Errorf("progress after the rerun:\n got %+v\nwant %+v", got, want)
	}
	if err := c.RestoreFinished(ctx, "r-1", RestoreComplete, ""); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetRestore(ctx, "r-1")
	if err != nil {
		t.Fatal(err)
	}
	var gotPlan, wantPlan any
	_ = json.Unmarshal(got.Plan, &gotPlan)
	_ = json.Unmarshal(plan, &wantPlan)
	if got.Status != RestoreComplete || got.FinishedAt.IsZero() || !reflect.DeepEqual(gotPlan, wantPlan) || got.Target != r.Target {
		t.Errorf("finished record = %+v", got)
	}
	list, err := c.ListRestores(ctx, "prod")
	if err != nil || len(list) != 1 || list[0].RestoreID != "r-1" {
		t.Errorf("ListRestores = %+v, %v", list, err)
	}

	other := r
	other.BackupID = manifest.NewBackupID(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC))
	if err := c.RestoreStarted(ctx, other); err == nil {
		t.Error("RestoreStarted reused a restore id for another backup")
	}
	if err := c.RestoreFinished(ctx, "r-unknown", RestoreComplete, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("RestoreFinished of an unknown restore = %v, want ErrNotFound", err)
	}
	if _, err := c.GetRestore(ctx, "r-unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRestore of an unknown restore = %v, want ErrNotFound", err)
	}
	if shards, err := c.RestoreShards(ctx, "r-unknown"); err != nil || len(shards) != 0 {
		t.Errorf("RestoreShards of an unknown restore = %v, %v; want empty", shards, err)
	}
}

func TestOpenReportsWrongCredentialsAndAMissingDatabase(t *testing.T) {
	ctx := t.Context()
	dsn := stacktest.MySQLDSN(t)
	cfg, err := parseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	wrong := cfg.Clone()
	wrong.Passwd = "definitely-not-" + testPassword
	_, err = Open(ctx, wrong.FormatDSN())
	if err == nil || !strings.Contains(err.Error(), "refused user") || strings.Contains(err.Error(), wrong.Passwd) {
		t.Errorf("wrong password: %v", err)
	}
	missing := cfg.Clone()
	missing.DBName = "qbt_does_not_exist"
	_, err = Open(ctx, missing.FormatDSN())
	if err == nil || !strings.Contains(err.Error(), `catalog database "qbt_does_not_exist" does not exist`) {
		t.Errorf("missing database: %v", err)
	}
}

func TestOpenForcesUTCTimesWhateverTheDSNSays(t *testing.T) {
	ctx := t.Context()
	cfg, err := parseDSN(stacktest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	dsn := cfg.FormatDSN() + "&parseTime=false&loc=Local"
	c := openFresh(t, dsn)
	if _, err := c.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	started := time.Date(2026, 11, 25, 13, 30, 0, 0, time.FixedZone("CET", 3600))
	id := manifest.NewBackupID(started)
	if err := c.BackupStarted(ctx, "prod", id, "job-a", started); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBackup(ctx, "prod", id)
	if err != nil {
		t.Fatal(err)
	}
	if !got.StartedAt.Equal(started) || got.StartedAt.Location() != time.UTC {
		t.Errorf("started = %s, want %s in UTC", got.StartedAt, started.UTC())
	}
}

func TestBackupCompletedRecordsManyShardsInBatches(t *testing.T) {
	ctx := t.Context()
	c := openMigrated(t)
	m := testManifest("prod", time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC))
	base := m.Collections[0].Shards[0]
	shards := make([]manifest.Shard, 2*shardBatch+7)
	for i := range shards {
		s := base
		s.ID = uint32(i)
		s.Object = manifest.ShardObjectKey("prod", m.BackupID, "Docs", s.ID, manifest.CompressionZstd)
		shards[i] = s
	}
	m.Collections[0].Shards = shards
	m.Collections[0].ShardNumber = uint32(len(shards))
	if err := c.BackupCompleted(ctx, m); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBackup(ctx, "prod", m.BackupID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ShardCount != m.ShardCount() || len(got.Shards) != m.ShardCount() {
		t.Errorf("recorded %d shards (%d rows), want %d", got.ShardCount, len(got.Shards), m.ShardCount())
	}
	if got.TotalBytes != m.TotalSize() {
		t.Errorf("total bytes %d, want %d", got.TotalBytes, m.TotalSize())
	}
}
