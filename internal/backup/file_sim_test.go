package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/catalogsync"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/prune"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/verify"
)

// TestRunIntoFileStorageWithoutACatalog is the demo path end to end: the
// simulator, file:// storage, the storage lock, then verify, sync and
// prune over what the runs left.
func TestRunIntoFileStorageWithoutACatalog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	env := startSim(t, "1.19.0")
	store, err := storage.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var results []*Result
	for range 2 {
		res, err := Run(ctx, Options{Cluster: "demo", Compression: manifest.CompressionZstd}, env.deps(store, nil))
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
		time.Sleep(1100 * time.Millisecond) // distinct ids by second, like scheduled runs
	}
	for _, res := range results {
		m, err := manifest.Read(ctx, store, res.ManifestKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verify.Run(ctx, store, m, nil); err != nil {
			t.Fatal(err)
		}
		for _, c := range m.Collections {
			for _, s := range c.Shards {
				assertObjectSHA(t, store, s.Object, s.SHA256)
			}
		}
	}
	if _, err := store.Stat(ctx, manifest.LockKey("demo")); err == nil {
		t.Error("the storage lock was not released")
	}

	// A run killed hard leaves objects and no manifest.
	killed := manifest.NewBackupID(time.Now().Add(-48 * time.Hour))
	if err := store.Put(ctx, manifest.ShardObjectKey("demo", killed, "docs", 0, manifest.CompressionNone), bytesReader([]byte("partial"))); err != nil {
		t.Fatal(err)
	}
	cat := newFakeCatalog()
	if rep, err := catalogsync.Run(ctx, store, cat, nil); err != nil || len(rep.Synced) != 2 {
		t.Fatalf("sync: %+v %v", rep, err)
	}
	rep, err := prune.Run(ctx, prune.Options{Cluster: "demo", KeepLast: 1, OrphanGrace: time.Nanosecond}, store, cat)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rep.Removed()); n != 2 {
		t.Fatalf("removed %+v, want the older set and the killed one", rep.Removed())
	}
	sets, err := inventory.Scan(ctx, store, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 1 || sets[0].ID != results[1].Manifest.BackupID {
		t.Fatalf("sets left: %+v", sets)
	}
	if row, _, _ := cat.Row("demo", killed); row.Status != catalog.StatusFailed {
		t.Errorf("killed set row: %+v", row)
	}
}

func assertObjectSHA(t *testing.T, store Store, key, want string) {
	t.Helper()
	r, err := store.Open(context.Background(), key, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("%s: sha256 %s, manifest says %s", key, got, want)
	}
}
