//go:build integration

package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/catalogsync"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/prune"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/verify"
)

// stackStore opens the stack's MinIO under a unique prefix, deleted when
// the test ends.
func stackStore(t *testing.T) storage.Backend {
	t.Helper()
	env := stacktest.S3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", env.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", env.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	url := "s3://" + env.Bucket + "/backup-test/" + hex.EncodeToString(b)
	store, err := storage.Open(context.Background(), url, storage.Options{
		S3Endpoint: env.Endpoint, S3Region: env.Region, S3PathStyle: true, PartSize: 5 << 20, Concurrency: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := deletePrefix(ctx, store, ""); err != nil {
			t.Errorf("clean up %s: %v", url, err)
		}
	})
	return store
}

func stackCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.Open(ctx, stacktest.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	if _, err := cat.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestBackupIntoMinIOWithTheCatalog(t *testing.T) {
	env := startSim(t, "1.19.0")
	store := stackStore(t)
	cat := stackCatalog(t)
	ctx := context.Background()

	res, err := Run(ctx, Options{Cluster: "stack", Concurrency: 4, PerPeerConcurrency: 2}, env.deps(store, NewCatalog(cat)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Read(ctx, store, res.ManifestKey)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("manifest and catalog agree", func(t *testing.T) {
		rec, err := cat.GetBackup(ctx, "stack", m.BackupID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != catalog.StatusComplete || len(rec.Shards) != m.ShardCount() || rec.TotalBytes != m.TotalSize() {
			t.Fatalf("catalog %+v, manifest has %d shards and %d bytes", rec.BackupSummary, m.ShardCount(), m.TotalSize())
		}
		byKey := map[string]manifest.Shard{}
		for _, c := range m.Collections {
			for _, s := range c.Shards {
				byKey[s.Object] = s
			}
		}
		for _, s := range rec.Shards {
			ms, ok := byKey[s.Object]
			if !ok || ms.SHA256 != s.SHA256 || ms.Size != s.Size || ms.PointsCount != s.PointsCount || ms.SourcePeer != s.SourcePeer {
				t.Errorf("catalog shard %+v differs from the manifest's %+v", s.Shard, ms)
			}
		}
	})

	t.Run("every object matches its SHA-256 and points counts match the cluster", func(t *testing.T) {
		for _, c := range m.Collections {
			if c.PointsCount != env.counts[c.Name] {
				t.Errorf("%s: %d points, the cluster has %d", c.Name, c.PointsCount, env.counts[c.Name])
			}
			for _, s := range c.Shards {
				assertObjectSHA(t, store, s.Object, s.SHA256)
			}
		}
	})

	t.Run("a second run while the lease is held fails with the holder", func(t *testing.T) {
		l, err := cat.AcquireLease(ctx, lease.Name("stack"), "other-job", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release(ctx)
		_, err = Run(ctx, Options{Cluster: "stack"}, env.deps(store, NewCatalog(cat)))
		var held *LockHeldError
		if !errors.Is(err, ErrLockHeld) || !errors.As(err, &held) || held.Holder != "other-job" {
			t.Fatalf("error %v, want the lease held by other-job", err)
		}
	})

	t.Run("catalog sync is idempotent and prune keeps the newest set", func(t *testing.T) {
		for range 2 {
			if _, err := catalogsync.Run(ctx, store, cat, nil); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := prune.Run(ctx, prune.Options{Cluster: "stack", KeepLast: 1}, store, cat)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range rep.Items {
			if it.BackupID == m.BackupID && it.Action != prune.Keep {
				t.Fatalf("the only complete set: %+v", it)
			}
		}
	})
}

func TestLargeShardIntoMinIOUsesMultipartAndACancelledRunLeavesNothing(t *testing.T) {
	env := startSim(t, "1.19.0")
	ctx := context.Background()
	if err := env.sim.SetSyntheticShard(ctx, "images", 0, 24<<20, 3); err != nil {
		t.Fatal(err)
	}
	store := stackStore(t)
	cat := stackCatalog(t)

	res, err := Run(ctx, Options{Cluster: "big"}, env.deps(store, NewCatalog(cat)))
	if err != nil {
		t.Fatal(err)
	}
	s := res.Manifest.Collection("images").Shards[0]
	if s.Size < 24<<20 {
		t.Fatalf("large shard object has %d bytes", s.Size)
	}
	if rep, err := verify.Run(ctx, store, res.Manifest, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v", err)
	}

	// Stall the large stream half way and cancel the run (SIGTERM).
	stall := int64(12 << 20)
	for _, p := range env.sim.Peers() {
		p.SetFaults(qdrantsim.Faults{Routes: []qdrantsim.RouteFault{{
			Route: "GET /collections/{collection_name}/shards/{shard_id}/snapshot", StallAfter: &stall}}})
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = Run(cctx, Options{Cluster: "big"}, env.deps(store, NewCatalog(cat)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the cancellation", err)
	}
	rows, err := cat.IndexRows(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	var failed string
	for _, r := range rows {
		if r.Status == catalog.StatusFailed {
			failed = r.BackupID
		}
	}
	if failed == "" {
		t.Fatalf("no failed row: %+v", rows)
	}
	sets, err := inventory.Scan(ctx, store, manifest.ClusterPrefix("big"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 1 || sets[0].ID != res.Manifest.BackupID {
		t.Fatalf("sets in storage after the cancelled run: %+v", sets)
	}
}
