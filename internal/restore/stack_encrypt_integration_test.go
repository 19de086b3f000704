//go:build integration

package restore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/crypt/crypttest"
	"github.com/qbackup/qbackup/internal/storage"
)

// stackStore opens the stack's MinIO under a unique prefix, emptied when
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
	url := "s3://" + env.Bucket + "/restore-encrypt-test/" + hex.EncodeToString(b)
	store, err := storage.Open(context.Background(), url, storage.Options{
		S3Endpoint: env.Endpoint, S3Region: env.Region, S3PathStyle: true, PartSize: 5 << 20, Concurrency: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var keys []string
		_ = store.List(ctx, "", func(o storage.ObjectInfo) error { keys = append(keys, o.Key); return nil })
		for _, k := range keys {
			if err := store.Delete(ctx, k); err != nil {
				t.Errorf("clean up %s: %v", k, err)
			}
		}
	})
	return store
}

// heapPeak samples the heap in use until stop is called, which returns
// the largest growth over the level at the start. The collector runs at a
// quarter of its usual headroom meanwhile, so the peak follows what is
// live rather than garbage awaiting collection (age allocates each chunk
// it opens).
func heapPeak() (stop func() uint64) {
	old := debug.SetGCPercent(25)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; debug.SetGCPercent(old); return peak.Load() }
}

// TestEncryptedSetThroughMinIO: a backup encrypted for a recipient into
// the stack's MinIO stores age ciphertext, a restore with the identity
// brings the shard back (the simulator checks every byte of the
// synthetic snapshot it receives), and the heap of backup and restore
// does not grow with the shard: a shard four times larger peaks within a
// few MiB of the smaller one.
func TestEncryptedSetThroughMinIO(t *testing.T) {
	ctx := context.Background()
	recipients, ids, pub := crypttest.Key(t)
	peaks := map[int64]uint64{}
	for _, size := range []int64{16 << 20, 64 << 20} {
		t.Run(fmt.Sprintf("%dMiB", size>>20), func(t *testing.T) {
			store := stackStore(t)
			src := startSim(t, 2, "1.19.0")
			if err := src.any().CreateCollection(ctx, "big", json.RawMessage(`{"vectors":{"size":4,"distance":"Dot"},"shard_number":1,"replication_factor":1}`)); err != nil {
				t.Fatal(err)
			}
			if err := src.sim.SetSyntheticShard(ctx, "big", 0, size, 5); err != nil {
				t.Fatal(err)
			}

			stop := heapPeak()
			m := takeEncryptedBackup(t, src, store, "none", recipients)
			backupPeak := stop()

			s := m.Collections[0].Shards[0]
			if s.Encryption == nil || len(s.Encryption.Recipients) != 1 || s.Encryption.Recipients[0] != pub {
				t.Fatalf("shard encryption %+v, want age for %s", s.Encryption, pub)
			}
			if s.SnapshotSize < size || s.Size <= s.SnapshotSize {
				t.Fatalf("object %d bytes for a snapshot of %d: want the ciphertext, a little larger", s.Size, s.SnapshotSize)
			}
			r, err := store.Open(ctx, s.Object, 0)
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, len(crypt.Magic))
			_, err = io.ReadFull(r, head)
			r.Close()
			if err != nil || string(head) != crypt.Magic {
				t.Fatalf("object %s in MinIO starts with %q (%v), want %q", s.Object, head, err, crypt.Magic)
			}

			dst := startSim(t, 2, "1.19.0")
			stop = heapPeak()
			res, err := dst.restore(ctx, t, m, store, PlanOptions{}, func(_ *RunOptions, rd *RunDeps) { rd.Identities = ids })
			restorePeak := stop()
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			if res.Report.Bytes < s.Size {
				t.Errorf("restore read %d bytes of a %d byte object", res.Report.Bytes, s.Size)
			}
			info, err := dst.any().CollectionInfo(ctx, "big")
			if err != nil || info.PointsCount == 0 {
				t.Fatalf("restored collection: %+v, %v", info, err)
			}
			peaks[size] = max(backupPeak, restorePeak)
			t.Logf("%d MiB: peak heap growth backup %.1f MiB, restore %.1f MiB", size>>20,
				float64(backupPeak)/(1<<20), float64(restorePeak)/(1<<20))
		})
	}
	small, large := peaks[16<<20], peaks[64<<20]
	if small == 0 || large == 0 {
		t.Fatal("a size did not run")
	}
	// 48 MiB more data: a buffered stream would add that much.
	if large > small+16<<20 {
		t.Fatalf("peak heap grew from %.1f MiB to %.1f MiB with the shard: the stream is buffered", float64(small)/(1<<20), float64(large)/(1<<20))
	}
}
