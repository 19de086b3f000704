package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/workerset"
)

// workerOpts are the options of worker i of a 3-worker restore whose
// records live in store.
func workerOpts(store storage.Backend, workers, i int, final bool) WorkerOptions {
	return WorkerOptions{Workers: workers, Index: i, SetID: "job-uid-1", Holder: fmt.Sprintf("restore-%d", i), Store: store,
		PlanWait: 30 * time.Second, PartsWait: time.Minute, FinalAttempt: final, Poll: 10 * time.Millisecond}
}

// runWorkers runs the workers of one restore at once, as the pods of an
// Indexed Job; edit adjusts worker i's inputs.
func runWorkers(t *testing.T, dst *simCluster, m *manifest.Manifest, store storage.Backend, workers int, edit func(i int, ro *RunOptions, rd *RunDeps)) ([]*RunResult, []error) {
	t.Helper()
	res, errs := make([]*RunResult, workers), make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			res[i], errs[i] = dst.restore(context.Background(), t, m, store, PlanOptions{}, func(ro *RunOptions, rd *RunDeps) {
				ro.Workers = workerOpts(store, workers, i, true)
				if edit != nil {
					edit(i, ro, rd)
				}
			})
		})
	}
	wg.Wait()
	return res, errs
}

// replicaPlacement is every shard's replica peers of the collections.
func replicaPlacement(t *testing.T, c *simCluster, collections ...string) map[string][]uint64 {
	t.Helper()
	out := map[string][]uint64{}
	for _, name := range collections {
		cc, err := c.any().CollectionCluster(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range cc.Replicas() {
			k := fmt.Sprintf("%s/%d", name, r.ShardID)
			out[k] = append(out[k], r.PeerID)
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// setKeys are the keys left under the sets' folder.
func setKeys(t *testing.T, store storage.Backend, cluster string) []string {
	t.Helper()
	var keys []string
	if err := store.List(context.Background(), workerset.Prefix(cluster), func(o storage.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

func loadWorkersSource(t *testing.T, compression ...string) (*simCluster, storage.Backend, *manifest.Manifest) {
	t.Helper()
	src := startSim(t, 3, "1.19.0")
	src.load(t, "docs", 6, 1, 120)
	src.load(t, "replicated", 3, 2, 60)
	src.load(t, "tenants", 1, 1, 30, "acme", "globex")
	store := storage.NewMemory()
	return src, store, takeBackup(t, src, store, append(compression, manifest.CompressionZstd)[0])
}

// TestRestoreByThreeWorkers: three workers restore every point, each
// recovering a share, onto the same placement as a single run; worker 0
// alone reports the restore and the set leaves only its commit note.
func TestRestoreByThreeWorkers(t *testing.T) {
	src, store, m := loadWorkersSource(t)
	collections := []string{"docs", "replicated", "tenants"}

	single := startSim(t, 3, "1.19.0")
	one, err := single.restore(context.Background(), t, m, store, PlanOptions{}, func(_ *RunOptions, rd *RunDeps) {
		// Its own journal: the same restore id in a journal where it is
		// complete would make the workers' restore the next of its series.
		rd.Journal = &StoreJournal{Store: storage.NewMemory(), Cluster: m.Cluster}
	})
	if err != nil {
		t.Fatalf("single restore: %v", err)
	}

	dst := startSim(t, 3, "1.19.0")
	t0 := time.Now()
	res, errs := runWorkers(t, dst, m, store, 3, nil)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	t.Logf("one run: RTO %s; three workers: RTO %s, all done in %s", one.Report.Total.Round(time.Millisecond),
		res[0].Report.Total.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	checkSimRestored(t, src, dst, collections...)
	for _, c := range collections {
		if got, want := allPoints(t, dst.any(), c), allPoints(t, single.any(), c); !maps.Equal(got, want) {
			t.Errorf("%q: the 3-worker restore differs from the single one", c)
		}
	}
	if got, want := replicaPlacement(t, dst, collections...), replicaPlacement(t, single, collections...); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("placement %v, a single run's %v", got, want)
	}

	rep := res[0].Report
	if rep == nil || res[0].Share != nil {
		t.Fatalf("worker 0 reports %+v", res[0])
	}
	if rep.ShardsRecovered != one.Report.ShardsRecovered || rep.Bytes != one.Report.Bytes || rep.RestoreID != one.Report.RestoreID {
		t.Errorf("worker 0 reports %d shards, %d bytes, restore %s; a single run %d, %d, %s",
			rep.ShardsRecovered, rep.Bytes, rep.RestoreID, one.Report.ShardsRecovered, one.Report.Bytes, one.Report.RestoreID)
	}
	var phases []string
	for _, p := range rep.Phases {
		phases = append(phases, p.Name)
	}
	if !slices.Contains(phases, PhaseVerify) || !slices.Contains(phases, PhaseStrictMode) {
		t.Errorf("worker 0 ran phases %v", phases)
	}
	sum := 0
	for i := 1; i < 3; i++ {
		sh := res[i].Share
		if sh == nil || res[i].Report != nil || sh.Worker != i || sh.RestoreID != rep.RestoreID {
			t.Fatalf("worker %d reports %+v %+v", i, sh, res[i].Report)
		}
		if sh.Recovered == 0 {
			t.Errorf("worker %d recovered nothing", i)
		}
		sum += sh.Recovered
	}
	if sum >= rep.ShardsRecovered {
		t.Errorf("workers 1 and 2 recovered %d of %d shards: worker 0 did none", sum, rep.ShardsRecovered)
	}
	if keys := setKeys(t, store, m.Cluster); !slices.Equal(keys, []string{workerset.CommitKey(m.Cluster, "job-uid-1")}) {
		t.Errorf("set records left: %v", keys)
	}

	// A late attempt of any index finds the restore done.
	for i := range 3 {
		late, err := dst.restore(context.Background(), t, m, store, PlanOptions{}, func(ro *RunOptions, _ *RunDeps) {
			ro.Workers = workerOpts(store, 3, i, true)
		})
		if err != nil || late.Share == nil || !late.Share.Already || late.Share.RestoreID != rep.RestoreID {
			t.Errorf("late worker %d: %+v, %v", i, late, err)
		}
	}
}

// failingStore fails every read of the objects named.
type failingStore struct {
	storage.Backend
	fail func(key string) bool
}

func (f failingStore) Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	if f.fail(key) {
		return nil, errors.New("injected read failure")
	}
	return f.Backend.Open(ctx, key, offset)
}

// workerShare is the objects worker w of a 3-worker restore of m onto
// dst recovers, computed as worker 0 will.
func workerShare(t *testing.T, dst *simCluster, m *manifest.Manifest, workers, w int) map[string]bool {
	t.Helper()
	plan, err := Plan(m, dst.target(t), PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	objects := map[string]bool{}
	mine := mineOf(shares(plan, workers), w)
	for _, cp := range plan.Collections {
		for _, s := range cp.Shards {
			if mine[cp.Target][s.ID] {
				objects[s.Object] = true
			}
		}
	}
	return objects
}

// TestRestoreWorkerRetried: worker 1 fails on one of its objects with a
// retry left; worker 0 keeps waiting, the retry of index 1 resumes from
// its journal (the shards it recovered are skipped) and the restore
// completes with every point.
func TestRestoreWorkerRetried(t *testing.T) {
	src, store, m := loadWorkersSource(t)
	dst := startSim(t, 3, "1.19.0")
	share := workerShare(t, dst, m, 3, 1)
	if len(share) < 2 {
		t.Fatalf("worker 1's share has %d objects; the test needs two", len(share))
	}
	bad := slices.Sorted(maps.Keys(share))[0]

	retried := make(chan *RunResult, 1)
	res, errs := runWorkers(t, dst, m, store, 3, func(i int, ro *RunOptions, rd *RunDeps) {
		if i != 1 {
			return
		}
		ro.Workers.FinalAttempt = false
		rd.Store = failingStore{Backend: store, fail: func(k string) bool { return k == bad }}
		go func() {
			// The Job starts the index again once its pod failed: when
			// its failure is recorded.
			for {
				if ok, _ := workerset.Exists(context.Background(), store, workerset.WorkerFailedKey(m.Cluster, "job-uid-1", 1)); ok {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			r, err := dst.restore(context.Background(), t, m, store, PlanOptions{}, func(ro *RunOptions, _ *RunDeps) {
				ro.Workers = workerOpts(store, 3, 1, true)
			})
			if err != nil {
				t.Errorf("retry of worker 1: %v", err)
			}
			retried <- r
		}()
	})
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "injected read failure") {
		t.Fatalf("worker 1's first attempt: %v", errs[1])
	}
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("workers 0 and 2: %v, %v", errs[0], errs[2])
	}
	r := <-retried
	if r == nil || r.Share == nil || r.Share.Recovered != 1 || r.Share.Skipped != len(share)-1 {
		t.Fatalf("the retry reports %+v: want the failed shard recovered and the other %d skipped", r.Share, len(share)-1)
	}
	checkSimRestored(t, src, dst, "docs", "replicated", "tenants")
	if res[0].Report == nil {
		t.Fatalf("worker 0 reports no restore")
	}
}

// TestRestoreWorkerFailedForGood: worker 1 fails with no retry left;
// worker 0 fails the restore, naming it, and records the failure for the
// other workers.
func TestRestoreWorkerFailedForGood(t *testing.T) {
	_, store, m := loadWorkersSource(t)
	dst := startSim(t, 3, "1.19.0")
	bad := slices.Sorted(maps.Keys(workerShare(t, dst, m, 3, 1)))[0]
	_, errs := runWorkers(t, dst, m, store, 3, func(i int, ro *RunOptions, rd *RunDeps) {
		if i == 1 {
			rd.Store = failingStore{Backend: store, fail: func(k string) bool { return k == bad }}
		}
	})
	if errs[1] == nil {
		t.Fatal("worker 1 did not fail")
	}
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "worker 1") || !strings.Contains(errs[0].Error(), "does not retry it") {
		t.Fatalf("worker 0: %v", errs[0])
	}
	if ok, _ := workerset.Exists(context.Background(), store, workerset.FailedKey(m.Cluster, "job-uid-1")); !ok {
		t.Error("no failed.json for the other workers")
	}
}

// TestRestoreWorkerOptionsRefused: options that do not describe one
// worker of a set are bad input, refused before anything is read.
func TestRestoreWorkerOptionsRefused(t *testing.T) {
	store := storage.NewMemory()
	tests := []struct {
		name string
		opts WorkerOptions
		want string
	}{
		{"negative workers", WorkerOptions{Workers: -1}, "want at least 1"},
		{"an index of a single run", WorkerOptions{Workers: 1, Index: 1}, "want 0"},
		{"an index beyond the workers", WorkerOptions{Workers: 3, Index: 3, SetID: "x", Store: store}, "want 0 to 2"},
		{"no set id", WorkerOptions{Workers: 3, Store: store}, "set id"},
		{"a bad set id", WorkerOptions{Workers: 3, SetID: "a/b", Store: store}, `set id "a/b"`},
		{"no store", WorkerOptions{Workers: 3, SetID: "x"}, "backup store"},
		{"a store without create-if-absent", WorkerOptions{Workers: 3, SetID: "x", Store: plainStore{store}}, "only if absent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if !errors.Is(err, config.ErrInvalidInput) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%v, want invalid input with %q", err, tt.want)
			}
		})
	}
	if err := (WorkerOptions{Workers: 3, Index: 2, SetID: "x", Store: store}).Validate(); err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
}

// plainStore hides PutIfAbsent.
type plainStore struct{ workerset.Store }

// TestRestoreSetOfABackupRefused: a restore worker given a backup set's
// id refuses it instead of reading it as a restore plan.
func TestRestoreSetOfABackupRefused(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	if err := workerset.Put(ctx, store, workerset.PlanKey("prod", "x"), workerset.Plan{Format: workerset.Format, SetID: "x", Cluster: "prod"}, true); err != nil {
		t.Fatal(err)
	}
	_, _, err := readSetPlan(ctx, workerset.Member{Store: store, Cluster: "prod", SetID: "x"})
	if !errors.Is(err, config.ErrInvalidInput) || !strings.Contains(err.Error(), "backup set") {
		t.Fatalf("%v", err)
	}
}

// corruptingStore serves the objects named with their first byte
// changed.
type corruptingStore struct {
	storage.Backend
	bad func(key string) bool
}

func (c corruptingStore) Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	r, err := c.Backend.Open(ctx, key, offset)
	if err != nil || !c.bad(key) {
		return r, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(b) > 0 {
		b[0] ^= 0xff
	}
	return io.NopCloser(strings.NewReader(string(b))), nil
}

// TestRestoreWorkerFindsACorruptObject: a corrupt object in worker 1's
// share fails the restore at once (no retry gets past it) as corrupt, and
// worker 0 removes the collections the restore created, as a single run
// does.
func TestRestoreWorkerFindsACorruptObject(t *testing.T) {
	// Uncompressed: the whole object streams to the peer, and its hash is
	// checked at its end.
	_, store, m := loadWorkersSource(t, manifest.CompressionNone)
	dst := startSim(t, 3, "1.19.0")
	bad := slices.Sorted(maps.Keys(workerShare(t, dst, m, 3, 1)))[0]
	_, errs := runWorkers(t, dst, m, store, 3, func(i int, ro *RunOptions, rd *RunDeps) {
		ro.Workers.FinalAttempt = false // a retry would not help: the failure is final anyway
		if i == 1 {
			rd.Store = corruptingStore{Backend: store, bad: func(k string) bool { return k == bad }}
		}
	})
	if !errors.Is(errs[1], ErrObjectChecksum) {
		t.Fatalf("worker 1: %v, want a checksum error", errs[1])
	}
	if !errors.Is(errs[0], ErrObjectChecksum) || !strings.Contains(errs[0].Error(), "collections this restore created were removed") {
		t.Fatalf("worker 0: %v, want the corrupt object and the collections removed", errs[0])
	}
	live, err := dst.any().ListCollections(context.Background())
	if err != nil || len(live) != 0 {
		t.Fatalf("collections left: %v %v", live, err)
	}
}

// countingPresigner counts the reads of shard objects through it.
type countingPresigner struct {
	presigningStore
	objects map[string]bool
	mu      sync.Mutex
	reads   int
}

func (c *countingPresigner) Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	if c.objects[key] {
		c.mu.Lock()
		c.reads++
		c.mu.Unlock()
	}
	return c.presigningStore.Open(ctx, key, offset)
}

// TestRestoreWorkersWithPresignedURLs: with --transfer=presigned the
// peers pull every object themselves; the workers only issue the recover
// calls. The one read of each object is worker 0's preflight, which
// hashes what no worker streams.
func TestRestoreWorkersWithPresignedURLs(t *testing.T) {
	src, mem, m := loadWorkersSource(t, manifest.CompressionNone)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc, err := mem.Open(r.Context(), strings.TrimPrefix(r.URL.Path, "/"), 0)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer rc.Close()
		io.Copy(w, rc)
	}))
	t.Cleanup(srv.Close)
	objects := map[string]bool{}
	for _, c := range m.Collections {
		for _, s := range c.Shards {
			objects[s.Object] = true
		}
	}
	stores := make([]*countingPresigner, 3)
	for i := range stores {
		stores[i] = &countingPresigner{presigningStore: presigningStore{Backend: mem, base: srv.URL}, objects: objects}
	}
	dst := startSim(t, 3, "1.19.0")
	res, errs := runWorkers(t, dst, m, mem, 3, func(i int, ro *RunOptions, rd *RunDeps) {
		ro.Exec.Transfer = TransferPresigned
		rd.Store = stores[i]
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	checkSimRestored(t, src, dst, "docs", "replicated", "tenants")
	if res[1].Share.Recovered == 0 || res[2].Share.Recovered == 0 {
		t.Errorf("shares %+v %+v: each worker should have issued recoveries", res[1].Share, res[2].Share)
	}
	if got := []int{stores[0].reads, stores[1].reads, stores[2].reads}; got[0] != len(objects) || got[1] != 0 || got[2] != 0 {
		t.Errorf("object reads by worker %v: want %d by worker 0's preflight and none to recover", got, len(objects))
	}
}

// TestRestoreWorkerWhosePartIsWritten: a late attempt of an index whose
// part is stored (its pod killed after its work) does nothing again and
// touches neither the cluster nor the journal.
func TestRestoreWorkerWhosePartIsWritten(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	m := &manifest.Manifest{BackupID: "20261207T060000Z-0001", Cluster: "prod"}
	raw := `{"restore_id":"r-1","plan":{"backup_id":"20261207T060000Z-0001","cluster":"prod"},"shares":[]}`
	plan := workerset.Plan{Format: workerset.Format, Kind: workerset.KindRestore, SetID: "job-uid-1", Cluster: "prod",
		BackupID: m.BackupID, Workers: 3, Holder: "restore-0", Restore: []byte(raw)}
	if err := workerset.Put(ctx, store, workerset.PlanKey("prod", "job-uid-1"), plan, true); err != nil {
		t.Fatal(err)
	}
	if err := workerset.Put(ctx, store, workerset.PartKey("prod", "job-uid-1", 1), workerset.Part{Format: workerset.Format, BackupID: "r-1", Worker: 1}, false); err != nil {
		t.Fatal(err)
	}
	journal := &StoreJournal{Store: store, Cluster: "prod"}
	res, err := Run(ctx, RunOptions{Manifest: m, Workers: workerOpts(store, 3, 1, true)},
		RunDeps{Deps: Deps{Store: store, Journal: journal, Logger: quietLogger()}, Topology: &discovery.Topology{}})
	if err != nil || res.Share == nil || !res.Share.Already || res.Share.RestoreID != "r-1" {
		t.Fatalf("late worker 1: %+v, %v", res, err)
	}
	if keys := setKeys(t, store, "prod"); len(keys) != 2 {
		t.Errorf("records %v: the late worker wrote something", keys)
	}
	if ok, _ := workerset.Exists(ctx, store, manifest.RestoreJournalKey("prod", "r-1.w1")); ok {
		t.Error("the late worker began a journal")
	}
}

// TestRestoreWorkerZeroRetried: worker 0 fails in its own share after it
// published the plan, with a retry left; the other workers go on and
// write their parts, and worker 0's retry takes the published plan up,
// skips what it recovered, and finishes the restore.
func TestRestoreWorkerZeroRetried(t *testing.T) {
	src, store, m := loadWorkersSource(t)
	dst := startSim(t, 3, "1.19.0")
	share := workerShare(t, dst, m, 3, 0)
	if len(share) < 2 {
		t.Fatalf("worker 0's share has %d objects; the test needs two", len(share))
	}
	bad := slices.Sorted(maps.Keys(share))[0]
	_, errs := runWorkers(t, dst, m, store, 3, func(i int, ro *RunOptions, rd *RunDeps) {
		if i == 0 {
			ro.Workers.FinalAttempt = false
			rd.Store = failingStore{Backend: store, fail: func(k string) bool { return k == bad }}
		}
	})
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "injected read failure") {
		t.Fatalf("worker 0's first attempt: %v", errs[0])
	}
	if errs[1] != nil || errs[2] != nil {
		t.Fatalf("workers 1 and 2 should not stop for worker 0's retried failure: %v, %v", errs[1], errs[2])
	}
	if ok, _ := workerset.Exists(context.Background(), store, workerset.FailedKey(m.Cluster, "job-uid-1")); ok {
		t.Fatal("a failure with a retry left failed the set")
	}
	// A retry configured otherwise than the published plan is refused
	// before it changes anything, naming each difference (one with
	// retries left, so that the set stays open for the next).
	_, err := dst.restore(context.Background(), t, m, store, PlanOptions{Collections: []string{"docs"}, Overwrite: true}, func(ro *RunOptions, _ *RunDeps) {
		ro.Workers = workerOpts(store, 3, 0, false)
	})
	if !errors.Is(err, config.ErrInvalidInput) || !strings.Contains(err.Error(), "--collections all, this attempt's docs") ||
		!strings.Contains(err.Error(), "--overwrite false, this attempt's true") {
		t.Fatalf("a retry with other options: %v, want invalid input naming --collections and --overwrite", err)
	}
	res, err := dst.restore(context.Background(), t, m, store, PlanOptions{}, func(ro *RunOptions, _ *RunDeps) {
		ro.Workers = workerOpts(store, 3, 0, true)
	})
	if err != nil {
		t.Fatalf("worker 0's retry: %v", err)
	}
	if res.Report.ShardsSkipped != len(share)-1 || res.Report.ShardsRecovered == 0 {
		t.Errorf("worker 0's retry recovered %d and skipped %d shards; want its failed shard again and the other %d skipped (plus the others' shares)",
			res.Report.ShardsRecovered, res.Report.ShardsSkipped, len(share)-1)
	}
	checkSimRestored(t, src, dst, "docs", "replicated", "tenants")
}
