package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/crypt/crypttest"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/prune"
	"github.com/qbackup/qbackup/internal/verify"
	"github.com/qbackup/qbackup/internal/workerset"
)

// fastSetPolling shortens the pause between looks at a set's records.
func fastSetPolling(t *testing.T) {
	t.Helper()
	old := setPollInterval
	setPollInterval = 10 * time.Millisecond
	t.Cleanup(func() { setPollInterval = old })
}

// condStore is a Store with conditional creates, as every backend.
type condStore interface {
	Store
	workerset.Conditional
}

// workerStore is one worker's view of the shared store: failPut fails
// the Puts it names; once killed, nothing it does reaches storage any
// more, as for a process killed with SIGKILL.
type workerStore struct {
	condStore
	failPut func(key string) error
	killed  atomic.Bool
	// killAfterSnapshot kills the worker once its first shard object is
	// stored.
	killAfterSnapshot bool
}

var errWorkerKilled = errors.New("worker killed")

func (s *workerStore) Put(ctx context.Context, key string, r io.Reader) error {
	if s.killed.Load() {
		_, _ = io.Copy(io.Discard, r)
		return errWorkerKilled
	}
	if s.failPut != nil {
		if err := s.failPut(key); err != nil {
			_, _ = io.Copy(io.Discard, r)
			return err
		}
	}
	err := s.condStore.Put(ctx, key, r)
	if err == nil && s.killAfterSnapshot && strings.Contains(key, ".snapshot") {
		s.killed.Store(true)
	}
	return err
}

func (s *workerStore) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	if s.killed.Load() {
		return errWorkerKilled
	}
	return s.condStore.PutIfAbsent(ctx, key, r)
}

func (s *workerStore) Delete(ctx context.Context, key string) error {
	if s.killed.Load() {
		return errWorkerKilled
	}
	return s.condStore.Delete(ctx, key)
}

// workerOpts are the options of worker i of n.
func workerOpts(i, n int) Options {
	return Options{Cluster: "prod", Holder: fmt.Sprintf("qbackup-%d", i), Workers: n, WorkerIndex: i, SetID: "3f6e1c2a-job-uid",
		PartsWait: time.Minute, PlanWait: time.Minute}
}

// outcome is what one worker returned.
type outcome struct {
	res *Result
	err error
}

// runWorkers runs n workers at once, worker i with deps(i) and the
// options tweak gives, and returns their outcomes by index.
func runWorkers(t *testing.T, n int, deps func(i int) Deps, tweak func(i int, o *Options)) []outcome {
	t.Helper()
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			o := workerOpts(i, n)
			if tweak != nil {
				tweak(i, &o)
			}
			out[i].res, out[i].err = Run(context.Background(), o, deps(i))
		})
	}
	wg.Wait()
	return out
}

// manifestKeys lists the manifests in the store.
func manifestKeys(store *fakeStore) []string {
	var out []string
	for _, k := range store.keys() {
		if _, _, ok := manifest.ParseManifestKey(k); ok {
			out = append(out, k)
		}
	}
	return out
}

// js is v as JSON, to compare values holding pointers.
func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sameContent fails unless the two sets hold the same collections with
// the same shards (snapshot hashes and sizes, source peers, counts).
//
// Counts are compared as Qdrant reports them for the snapshot; the count
// ranges are not: they come from counts read again after the transfers,
// which Qdrant (and the simulator, with realism) only estimates, so two
// runs over the same data may record different ranges.
func sameContent(t *testing.T, a, b *manifest.Manifest) {
	t.Helper()
	if len(a.Collections) != len(b.Collections) {
		t.Fatalf("%d collections, want %d", len(b.Collections), len(a.Collections))
	}
	for i, ca := range a.Collections {
		cb := b.Collections[i]
		if ca.Name != cb.Name || string(ca.Config) != string(cb.Config) || ca.PointsCount != cb.PointsCount ||
			js(ca.ShardKeys) != js(cb.ShardKeys) || js(ca.Aliases) != js(cb.Aliases) || len(ca.Sample) != len(cb.Sample) {
			t.Errorf("collection %d: %s differs from %s:\n%s\n%s", i, cb.Name, ca.Name, js(cb), js(ca))
		}
		for k := range ca.Sample {
			if k < len(cb.Sample) && ca.Sample[k].SHA256 != cb.Sample[k].SHA256 {
				t.Errorf("collection %s: sample %d differs", ca.Name, k)
			}
		}
		if len(ca.Shards) != len(cb.Shards) {
			t.Fatalf("collection %s: %d shards, want %d", ca.Name, len(cb.Shards), len(ca.Shards))
		}
		for k, sa := range ca.Shards {
			sb := cb.Shards[k]
			if sa.ID != sb.ID || sa.SnapshotSHA256 != sb.SnapshotSHA256 || sa.SnapshotSize != sb.SnapshotSize || sa.SHA256 != sb.SHA256 ||
				sa.SourcePeer != sb.SourcePeer || sa.PointsCount != sb.PointsCount || js(sa.ShardKey) != js(sb.ShardKey) ||
				js(sa.Replicas) != js(sb.Replicas) || strings.TrimPrefix(sa.Object, manifest.BackupPrefix(a.Cluster, a.BackupID)) != strings.TrimPrefix(sb.Object, manifest.BackupPrefix(b.Cluster, b.BackupID)) {
				t.Errorf("collection %s shard %d: %+v, want %+v", ca.Name, sa.ID, sb, sa)
			}
		}
	}
}

func TestWorkersCommitOneSetEqualToASingleRun(t *testing.T) {
	fastSetPolling(t)
	c := testCluster()
	single := newFakeStore()
	one, err := Run(context.Background(), Options{Cluster: "prod", Holder: "single"}, testDeps(c, single, nil))
	if err != nil {
		t.Fatal(err)
	}

	store, cat := newFakeStore(), newFakeCatalog()
	outs := runWorkers(t, 3, func(int) Deps { return testDeps(c, store, cat) }, nil)
	for i, o := range outs {
		if o.err != nil {
			t.Fatalf("worker %d: %v", i, o.err)
		}
	}
	res := outs[0].res
	if res == nil || res.Manifest == nil {
		t.Fatalf("worker 0 committed nothing: %+v", res)
	}
	for i := 1; i < 3; i++ {
		if p := outs[i].res.Part; p == nil || outs[i].res.Manifest != nil || p.Worker != i || p.BackupID != res.Manifest.BackupID {
			t.Errorf("worker %d: %+v, want its part of %s", i, outs[i].res, res.Manifest.BackupID)
		}
	}
	if keys := manifestKeys(store); len(keys) != 1 {
		t.Fatalf("manifests %v, want one", keys)
	}
	if len(cat.Completed) != 1 || cat.Len() != 1 {
		t.Fatalf("catalog: %d completions, %d rows; want one set", len(cat.Completed), cat.Len())
	}
	var last string
	for _, k := range store.puts {
		if strings.HasPrefix(k, manifest.BackupPrefix("prod", res.Manifest.BackupID)) {
			last = k
		}
	}
	if last != res.ManifestKey {
		t.Errorf("last write of the set %s, want the manifest", last)
	}
	m := decodeManifest(t, store, res.ManifestKey)
	sameContent(t, decodeManifest(t, single, one.ManifestKey), m)
	if rep, err := verify.Run(context.Background(), store, m, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	// Every shard object written once, by one worker; of the records
	// only the note for late workers is left.
	puts := map[string]int{}
	for _, k := range store.puts {
		puts[k]++
	}
	for _, k := range store.keys() {
		if strings.HasPrefix(k, workerset.Prefix("prod")) && k != workerset.CommitKey("prod", "3f6e1c2a-job-uid") {
			t.Errorf("coordination record left: %s", k)
		}
		if puts[k] != 1 && strings.Contains(k, ".snapshot") {
			t.Errorf("%s written %d times", k, puts[k])
		}
	}
	if c.maxActive == 0 {
		t.Fatal("no snapshot was streamed")
	}

	// A late attempt of worker 0 (its pod killed after the commit) takes
	// no second set: it reports the committed one.
	before := len(store.puts)
	again, err := Run(context.Background(), workerOpts(0, 3), testDeps(c, store, cat))
	if err != nil || again.Manifest == nil || again.Manifest.BackupID != m.BackupID {
		t.Fatalf("late worker 0: %+v %v", again, err)
	}
	for _, k := range store.puts[before:] {
		if strings.Contains(k, ".snapshot") || strings.HasSuffix(k, "plan.json") {
			t.Errorf("late worker 0 wrote %s", k)
		}
	}
	if keys := manifestKeys(store); len(keys) != 1 {
		t.Fatalf("manifests %v, want one", keys)
	}
}

func TestWorkerOptionsRefused(t *testing.T) {
	cases := []struct {
		name  string
		tweak func(o *Options)
		want  string
	}{
		{"negative workers", func(o *Options) { o.Workers = -1 }, "-1 workers"},
		{"index beyond the workers", func(o *Options) { o.WorkerIndex = 3 }, "worker index 3 of 3 workers: want 0 to 2"},
		{"negative index", func(o *Options) { o.WorkerIndex = -1 }, "worker index -1"},
		{"index of a single worker", func(o *Options) { o.Workers, o.WorkerIndex = 1, 1 }, "worker index 1 of 1 worker"},
		{"no set id", func(o *Options) { o.SetID = "" }, "need a set id"},
		{"set id with a slash", func(o *Options) { o.SetID = "a/b" }, `set id "a/b"`},
		{"encrypted manifest", func(o *Options) { rec, _, _ := crypttest.Key(t); o.EncryptManifest, o.Encrypt = true, rec }, "encrypted manifest"},
		{"write lock", func(o *Options) { o.WriteLock = true }, "write lock"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := newFakeStore()
			o := workerOpts(0, 3)
			tc.tweak(&o)
			_, err := Run(context.Background(), o, testDeps(testCluster(), store, nil))
			if !errors.Is(err, ErrBadWorkers) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadWorkers naming %q", err, tc.want)
			}
			if keys := store.keys(); len(keys) > 0 {
				t.Fatalf("storage touched: %v", keys)
			}
		})
	}
}

func TestWorkerWaitsForThePlanAtMostPlanWait(t *testing.T) {
	fastSetPolling(t)
	store := newFakeStore()
	o := workerOpts(1, 3)
	o.PlanWait = 50 * time.Millisecond
	_, err := Run(context.Background(), o, testDeps(testCluster(), store, nil))
	if err == nil || !strings.Contains(err.Error(), "wrote no plan within 50ms (--plan-wait)") {
		t.Fatalf("err = %v", err)
	}
	if keys := store.keys(); len(keys) > 0 {
		t.Fatalf("storage touched: %v", keys)
	}
}

// TestKilledWorkerLeavesNoSetAndPruneLeavesNothing: worker 2 dies after
// storing one shard (nothing it does reaches storage any more, so it
// cleans up nothing and records nothing). Worker 0 gives up after
// PartsWait and fails the set; prune then removes every object.
func TestKilledWorkerLeavesNoSetAndPruneLeavesNothing(t *testing.T) {
	fastSetPolling(t)
	c := testCluster()
	store, cat := newFakeStore(), newFakeCatalog()
	killed := &workerStore{condStore: store, killAfterSnapshot: true}
	outs := runWorkers(t, 3, func(i int) Deps {
		if i == 2 {
			return testDeps(c, killed, cat)
		}
		return testDeps(c, store, cat)
	}, func(i int, o *Options) { o.PartsWait = 300 * time.Millisecond })
	if outs[1].err != nil {
		t.Fatalf("worker 1: %v", outs[1].err)
	}
	if outs[2].err == nil || !killed.killed.Load() {
		t.Fatalf("worker 2 was not killed: %v", outs[2].err)
	}
	if outs[0].err == nil || !strings.Contains(outs[0].err.Error(), "workers [2] wrote no part within 300ms (--parts-wait)") {
		t.Fatalf("worker 0: %v", outs[0].err)
	}
	if keys := manifestKeys(store); len(keys) != 0 {
		t.Fatalf("committed: %v", keys)
	}
	if len(cat.Completed) != 0 {
		t.Fatal("the catalog recorded a completion")
	}
	rows, _ := cat.IndexRows(context.Background(), "")
	for _, row := range rows {
		if row.Status != catalog.StatusFailed {
			t.Fatalf("catalog row %+v, want failed", row)
		}
	}
	// The killed worker's object may be left; the records are.
	if len(store.keys()) == 0 {
		t.Fatal("nothing left for prune to find: the test proves nothing")
	}
	// A late attempt of a worker finds the set failed and adds nothing.
	late := workerOpts(1, 3)
	if _, err := Run(context.Background(), late, testDeps(c, store, cat)); err == nil || !strings.Contains(err.Error(), "set 3f6e1c2a-job-uid failed") {
		t.Fatalf("late worker: %v", err)
	}
	if _, err := prune.Run(context.Background(), prune.Options{Cluster: "prod", OrphanGrace: prune.NoOrphanGrace, KeepLast: 1}, store, cat); err != nil {
		t.Fatal(err)
	}
	assertNoSetObjects(t, store)
}

// TestRetriedWorkerRedoesOnlyItsShare: worker 2 fails (the Job retries
// its index), the retry stores its share, worker 0 commits; the other
// workers' objects are written once.
func TestRetriedWorkerRedoesOnlyItsShare(t *testing.T) {
	fastSetPolling(t)
	c := testCluster()
	store, cat := newFakeStore(), newFakeCatalog()
	failing := &workerStore{condStore: store, failPut: func(key string) error {
		if strings.Contains(key, ".snapshot") {
			return errBoom
		}
		return nil
	}}
	var wg sync.WaitGroup
	var res0 *Result
	var err0 error
	wg.Go(func() { res0, err0 = Run(context.Background(), workerOpts(0, 3), testDeps(c, store, cat)) })
	if _, err := Run(context.Background(), workerOpts(1, 3), testDeps(c, store, cat)); err != nil {
		t.Fatalf("worker 1: %v", err)
	}
	if _, err := Run(context.Background(), workerOpts(2, 3), testDeps(c, failing, cat)); !errors.Is(err, errBoom) {
		t.Fatalf("worker 2, first attempt: %v", err)
	}
	if ok, _ := workerset.Exists(context.Background(), store, workerset.WorkerFailedKey("prod", "3f6e1c2a-job-uid", 2)); !ok {
		t.Fatal("the failure of worker 2 is not recorded")
	}
	before := len(store.puts)
	retry, err := Run(context.Background(), workerOpts(2, 3), testDeps(c, store, cat))
	if err != nil || retry.Part == nil || retry.Part.Already {
		t.Fatalf("worker 2, retry: %+v %v", retry, err)
	}
	wg.Wait()
	if err0 != nil {
		t.Fatalf("worker 0: %v", err0)
	}
	m := decodeManifest(t, store, res0.ManifestKey)
	if rep, err := verify.Run(context.Background(), store, m, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v", err)
	}
	puts := map[string]int{}
	for _, k := range store.puts {
		puts[k]++
	}
	redone := 0
	for _, k := range store.puts[before:] {
		if strings.Contains(k, ".snapshot") {
			redone++
		}
	}
	for _, k := range store.keys() {
		if strings.Contains(k, ".snapshot") && puts[k] != 1 {
			t.Errorf("%s written %d times", k, puts[k])
		}
	}
	if redone == 0 || redone == m.ShardCount() {
		t.Fatalf("the retry stored %d of %d shards, want its share only", redone, m.ShardCount())
	}
	// Once committed, a further attempt of an index does nothing.
	again, err := Run(context.Background(), workerOpts(1, 3), testDeps(c, store, cat))
	if err != nil || again.Part == nil || !again.Part.Already || again.Part.BackupID != m.BackupID {
		t.Fatalf("late worker 1: %+v %v", again, err)
	}
}

// TestFinalWorkerFailureFailsTheSetAtOnce: a worker the Job will not
// retry fails the set without worker 0 waiting out PartsWait.
func TestFinalWorkerFailureFailsTheSetAtOnce(t *testing.T) {
	fastSetPolling(t)
	c := testCluster()
	store, cat := newFakeStore(), newFakeCatalog()
	failing := &workerStore{condStore: store, failPut: func(key string) error {
		if strings.Contains(key, ".snapshot") {
			return errBoom
		}
		return nil
	}}
	start := time.Now()
	outs := runWorkers(t, 3, func(i int) Deps {
		if i == 1 {
			return testDeps(c, failing, cat)
		}
		return testDeps(c, store, cat)
	}, func(i int, o *Options) { o.FinalAttempt = i == 1 })
	if outs[0].err == nil || !strings.Contains(outs[0].err.Error(), "worker 1 (qbackup-1) failed and the Job does not retry it") {
		t.Fatalf("worker 0: %v", outs[0].err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatal("worker 0 waited instead of failing at once")
	}
	if keys := manifestKeys(store); len(keys) != 0 {
		t.Fatalf("committed: %v", keys)
	}
	if _, err := prune.Run(context.Background(), prune.Options{Cluster: "prod", OrphanGrace: prune.NoOrphanGrace, KeepLast: 1}, store, cat); err != nil {
		t.Fatal(err)
	}
	assertNoSetObjects(t, store)
}

// TestCommitIsNeverTwice: two committers of one set (two pods of index 0
// after a lost lock) commit it once; a claim left by a committer that
// died before its manifest is never overridden.
func TestCommitIsNeverTwice(t *testing.T) {
	fastSetPolling(t)
	c := testCluster()
	store, cat := newFakeStore(), newFakeCatalog()
	plan, parts := plannedSet(t, c, store, cat)

	var wg sync.WaitGroup
	results := make([]*Result, 2)
	errs := make([]error, 2)
	for k := range 2 {
		wg.Go(func() {
			o, err := workerOpts(0, 3).withDefaults()
			if err != nil {
				errs[k] = err
				return
			}
			o.Holder = fmt.Sprintf("committer-%d", k)
			r := newTestRun(o, testDeps(c, store, cat))
			r.useSet(plan.BackupID, plan.StartedAt, nil)
			results[k], errs[k] = r.commitSet(context.Background(), plan, parts)
		})
	}
	wg.Wait()
	manifestPuts := 0
	for _, k := range store.puts {
		if _, _, ok := manifest.ParseManifestKey(k); ok {
			manifestPuts++
		}
	}
	if manifestPuts != 1 {
		t.Fatalf("manifest written %d times, want once (errors %v)", manifestPuts, errs)
	}
	committed := 0
	for k := range 2 {
		var claimed *CommitClaimedError
		if errs[k] == nil && results[k] != nil && results[k].Manifest != nil {
			committed++
		} else if !errors.As(errs[k], &claimed) {
			t.Errorf("committer %d: %v", k, errs[k])
		}
	}
	if committed == 0 {
		t.Fatal("neither committer reports the set committed")
	}

	// A claim whose holder never wrote the manifest: not committed twice.
	store2, cat2 := newFakeStore(), newFakeCatalog()
	plan2, parts2 := plannedSet(t, c, store2, cat2)
	if err := workerset.Put(context.Background(), store2, workerset.CommitKey("prod", plan2.SetID), workerset.Commit{Format: 1, Holder: "dead-pod", At: time.Now()}, true); err != nil {
		t.Fatal(err)
	}
	o, _ := workerOpts(0, 3).withDefaults()
	r := newTestRun(o, testDeps(c, store2, cat2))
	r.useSet(plan2.BackupID, plan2.StartedAt, nil)
	_, err := r.commitSet(context.Background(), plan2, parts2)
	var claimed *CommitClaimedError
	if !errors.As(err, &claimed) || claimed.Holder != "dead-pod" {
		t.Fatalf("err = %v, want the claim of dead-pod", err)
	}
	if keys := manifestKeys(store2); len(keys) != 0 || len(cat2.Completed) != 0 {
		t.Fatalf("committed over another's claim: %v", keys)
	}
}

// plannedSet runs workers 1 and 2 and worker 0 up to its commit, and
// returns the plan and the parts.
func plannedSet(t *testing.T, c *fakeCluster, store *fakeStore, cat *fakeCatalog) (*workerset.Plan, []*workerset.Part) {
	t.Helper()
	ctx := context.Background()
	o, err := workerOpts(0, 3).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRun(o, testDeps(c, store, cat))
	state, err := readCluster(ctx, r.peers, nil, "", 4)
	if err != nil {
		t.Fatal(err)
	}
	var shards []ShardReplicas
	for _, col := range state.collections {
		shards = append(shards, col.shards...)
	}
	choices, _ := ChooseReplicas(shards)
	start := time.Now().UTC()
	r.useSet(manifest.NewBackupID(start), start, nil)
	plan, err := r.makePlan(ctx, start, state, choices, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := workerset.Put(ctx, store, workerset.PlanKey("prod", plan.SetID), plan, true); err != nil {
		t.Fatal(err)
	}
	if _, err := r.doShare(ctx, plan); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 3; i++ {
		if _, err := Run(ctx, workerOpts(i, 3), testDeps(c, store, cat)); err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	parts, err := r.readParts(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	return plan, parts
}

// newTestRun is a run as Run sets it up, for tests of its steps.
func newTestRun(o Options, deps Deps) *run {
	r := &run{opts: o, deps: deps, clock: systemClock{}, progress: nopProgress{}, setStore: deps.Store}
	r.log = slog.New(slog.DiscardHandler)
	r.peers, _ = peerRefs(deps)
	return r
}

// blockingPeer holds every snapshot stream open until its request ends.
type blockingPeer struct{ Peer }

func (p blockingPeer) StreamShardSnapshot(ctx context.Context, collection string, shard uint32) (io.ReadCloser, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestWorkersStopOnceTheSetFails: worker 0 is held inside its share when
// worker 1 fails with no retry left; worker 0 stops at once and fails the
// set, and worker 2, held too, stops on failed.json instead of finishing
// a share nobody will commit.
func TestWorkersStopOnceTheSetFails(t *testing.T) {
	fastSetPolling(t)
	c := testCluster()
	store, cat := newFakeStore(), newFakeCatalog()
	failing := &workerStore{condStore: store, failPut: func(key string) error {
		if strings.Contains(key, ".snapshot") {
			return errBoom
		}
		return nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]outcome, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			d := testDeps(c, store, cat)
			if i == 1 {
				d = testDeps(c, failing, cat)
			} else {
				for id, p := range d.Peers {
					d.Peers[id] = blockingPeer{p}
				}
			}
			o := workerOpts(i, 3)
			o.FinalAttempt = true
			out[i].res, out[i].err = Run(ctx, o, d)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("the workers did not stop when the set failed")
	}
	if out[0].err == nil || !strings.Contains(out[0].err.Error(), "worker 1 (qbackup-1) failed and the Job does not retry it") {
		t.Fatalf("worker 0: %v", out[0].err)
	}
	if out[2].err == nil || !strings.Contains(out[2].err.Error(), "set 3f6e1c2a-job-uid failed (worker 0") {
		t.Fatalf("worker 2: %v", out[2].err)
	}
	if keys := manifestKeys(store); len(keys) != 0 {
		t.Fatalf("committed: %v", keys)
	}
}

// TestWorkerConfiguredOtherwiseThanThePlanIsRefused: a worker (also a
// retried worker 0, which takes the published plan up) whose options
// differ from those the set was planned with stops before it snapshots
// anything, naming each difference.
func TestWorkerConfiguredOtherwiseThanThePlanIsRefused(t *testing.T) {
	planned := workerset.Plan{Format: workerset.Format, SetID: "3f6e1c2a-job-uid", Cluster: "prod", BackupID: "20261207T101010Z-abcd",
		Workers: 3, Holder: "qbackup-0", StartedAt: time.Now(), Compression: "none", Selected: []string{"docs", "tenants"}}
	cases := []struct {
		name  string
		index int
		tweak func(o *Options)
		want  []string
	}{
		{"worker 1, other collections", 1, func(o *Options) { o.Collections = []string{"docs"} }, []string{"--collections docs,tenants, this worker's docs"}},
		{"retried worker 0, all collections and partial", 0, func(o *Options) { o.AllowPartial = true },
			[]string{"--collections docs,tenants, this worker's all", "--allow-partial false, this worker's true"}},
		{"worker 2, compression", 2, func(o *Options) { o.Collections, o.Compression = []string{"tenants", "docs"}, "zstd" },
			[]string{"compression none, this worker's zstd"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := newFakeStore()
			if err := workerset.Put(context.Background(), store, workerset.PlanKey("prod", planned.SetID), planned, true); err != nil {
				t.Fatal(err)
			}
			before := len(store.puts)
			o := workerOpts(tc.index, 3)
			o.Compression = "none"
			tc.tweak(&o)
			_, err := Run(context.Background(), o, testDeps(testCluster(), store, nil))
			if !errors.Is(err, ErrBadWorkers) {
				t.Fatalf("err = %v, want ErrBadWorkers", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			for _, k := range store.puts[before:] {
				if strings.Contains(k, ".snapshot") {
					t.Errorf("refused worker wrote %s", k)
				}
			}
		})
	}
}
