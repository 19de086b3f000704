//go:build integration

package scenarios

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// uploadRoute is the shard snapshot upload route a restore recovers
// shards through.
const uploadRoute = "POST /collections/{collection_name}/shards/{shard_id}/snapshots/upload"

// crashCollections are the collections of the crash scenarios: 13 shards,
// enough that a restore with --parallel=1 can be stopped halfway.
var crashCollections = []string{"articles", "photos", "users"}

func (s *sim) loadManyShards(t *testing.T) {
	t.Helper()
	s.create(t, "articles", `{"vectors":{"size":4,"distance":"Cosine"},"shard_number":5}`)
	s.upsert(t, "articles", 1, 150, nil, func(i int) string { return fmt.Sprintf(`[%d,1,0.5,-1]`, i) })
	s.create(t, "photos", `{"vectors":{"image":{"size":3,"distance":"Dot"},"text":{"size":2,"distance":"Euclid"}},"shard_number":4}`)
	s.upsert(t, "photos", 1, 120, nil, func(i int) string { return fmt.Sprintf(`{"image":[%d,2,3],"text":[1,%d]}`, i, -i) })
	s.create(t, "users", `{"vectors":{"size":2,"distance":"Dot"},"shard_number":4,"replication_factor":2}`)
	s.upsert(t, "users", 1000, 100, nil, func(i int) string { return fmt.Sprintf(`[%d,4]`, i) })
}

// countedDiscovery is discovery of s through a proxy per peer that counts
// the shard uploads the peers have answered successfully: a recovered
// shard, as far as the cluster is concerned.
func (s *sim) countedDiscovery(t *testing.T) ([]string, *atomic.Int64) {
	t.Helper()
	var uploads atomic.Int64
	out := []string{"--discovery=static"}
	for _, p := range s.c.Peers() {
		target, _ := url.Parse(p.URL())
		proxy := httputil.NewSingleHostReverseProxy(target)
		// The upload cut short by the kill is expected, not worth a log line.
		proxy.ErrorLog = log.New(io.Discard, "", 0)
		proxy.ModifyResponse = func(res *http.Response) error {
			if res.Request.Method == http.MethodPost && strings.HasSuffix(res.Request.URL.Path, "/snapshots/upload") && res.StatusCode == http.StatusOK {
				uploads.Add(1)
			}
			return nil
		}
		srv := httptest.NewServer(proxy)
		t.Cleanup(srv.Close)
		out = append(out, "--qdrant-url="+srv.URL+"?grpc="+p.GRPCAddr())
	}
	return out, &uploads
}

// slowUploads delays every shard upload on every peer of s, so a restore
// with --parallel=1 spends a known time per shard.
func (s *sim) slowUploads(d time.Duration) {
	for _, p := range s.c.Peers() {
		p.SetFaults(faultOn(uploadRoute, func(f *routeFault) { f.Latency = duration(d) }))
	}
}

var restoreSummary = regexp.MustCompile(`(\d+) shards recovered, (\d+) skipped \(done by an earlier run\)`)

// recoveredSkipped reads the shards recovered and skipped from a restore's
// final report.
func recoveredSkipped(t *testing.T, r result) (int, int) {
	t.Helper()
	m := restoreSummary.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("the restore report does not say how many shards were recovered and skipped:\n%s", r.stdout)
	}
	rec, _ := strconv.Atoi(m[1])
	skip, _ := strconv.Atoi(m[2])
	return rec, skip
}

func TestRestoreKilledMidwayResumesOnRerun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		store   func(t *testing.T) store
		catalog bool
	}{
		{name: "without a catalog, from the journal in file storage", store: func(t *testing.T) store { return newFileStore(t) }},
		{name: "with the catalog, from S3", store: func(t *testing.T) store { return newS3Store(t) }, catalog: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := startSim(t, fastSim(3))
			src.loadManyShards(t)
			var cat *catalog
			if tt.catalog {
				cat = newCatalog(t)
			}
			sc := newScenario(t, src, tt.store(t), cat)
			id := sc.backup(t)
			shards := sc.manifest(t, id).shardCount()
			if shards < 12 {
				t.Fatalf("the backup has %d shards, the scenario needs at least 12", shards)
			}

			target := startSim(t, fastSim(3))
			target.slowUploads(150 * time.Millisecond)
			disc, uploads := target.countedDiscovery(t)
			// A killed run leaves its lock until it expires; a short one
			// keeps the rerun's wait for it short.
			args := append(sc.args("restore", id, "--wait-timeout=1m", "--transfer-timeout=1m", "--parallel=1", "--lease-ttl=6s"), disc...)
			qb := sc.qb.with("QBACKUP_LOG_FORMAT", "json")

			p := qb.start(t, args...)
			const before = 4
			eventually(t, 30*time.Second, fmt.Sprintf("%d shards recovered", before), func() bool { return uploads.Load() >= before })
			p.signal(t, sigkill)
			r := p.wait()
			if r.code != 128+9 {
				t.Fatalf("the restore was not killed midway: exit %d\n%s", r.code, r)
			}
			for _, line := range strings.Split(r.stderr, "\n") {
				if strings.Contains(line, `"level":"ERROR"`) {
					t.Errorf("the restore logged an error before it was killed: %s", line)
				}
			}
			// With --parallel=1 each shard is recorded before the next starts,
			// so every shard but the last uploaded is recorded as done.
			done := int(uploads.Load())

			target.slowUploads(0)
			// A rerun at once finds the dead run's lock, names it and
			// exits 3 without touching the cluster ...
			uploaded := uploads.Load()
			r = qb.run(t, args...)
			expect(t, r, exitLocked, "holds the cluster lock", "--lease-wait")
			if n := uploads.Load(); n != uploaded {
				t.Errorf("the refused rerun uploaded %d shards", n-uploaded)
			}
			// ... and one that waits takes it over when it expires.
			r = qb.run(t, append(args, "--lease-wait=1m")...)
			ok(t, r)
			if !strings.Contains(r.stderr, "waiting for the cluster lock") {
				t.Errorf("the rerun does not say it waited for the dead run's lock:\n%s", r.stderr)
			}
			rec, skip := recoveredSkipped(t, r)
			if skip < done-1 || skip > done || rec+skip != shards {
				t.Errorf("the rerun recovered %d and skipped %d shards; %d of %d were uploaded before the kill", rec, skip, done, shards)
			}
			if !strings.Contains(r.stderr, "shard recovered by an earlier run") {
				t.Errorf("the rerun does not log the shards it skipped:\n%s", r.stderr)
			}
			assertRestored(t, src, target, crashCollections, same)
			if got := target.collections(t); !reflect.DeepEqual(got, crashCollections) {
				t.Errorf("collections after the rerun: %v, want %v", got, crashCollections)
			}
			if cat != nil {
				if got := cat.restoreStatuses(t); !reflect.DeepEqual(got, []string{"complete"}) {
					t.Errorf("restores in the catalog: %v, want the one restore, complete", got)
				}
			}
		})
	}
}

func TestRestoreWithAPeerFailingStopsAndTheRerunCompletes(t *testing.T) {
	t.Parallel()
	src := startSim(t, fastSim(3))
	src.loadManyShards(t)
	sc := newScenario(t, src, newFileStore(t), nil)
	id := sc.backup(t)

	target := startSim(t, fastSim(3))
	bad := target.c.Peers()[1]
	bad.SetFaults(faultOn(uploadRoute, func(f *routeFault) { f.Status = http.StatusServiceUnavailable }))
	args := sc.restoreArgs(target, id)

	t0 := time.Now()
	r := sc.qb.run(t, args...)
	t.Logf("restore with a failing peer took %s", time.Since(t0).Round(time.Millisecond))
	expect(t, r, exitFailed, fmt.Sprintf("peer %d: upload snapshot", bad.ID()), "recover shard", "503")
	if !strings.Contains(r.stderr, "retrying") {
		t.Errorf("the failing uploads were not retried:\n%s", r.stderr)
	}

	bad.SetFaults(qdrantsim.Faults{})
	r = sc.qb.run(t, args...)
	ok(t, r)
	if _, skip := recoveredSkipped(t, r); skip == 0 {
		t.Errorf("the rerun skipped no shard: the healthy peers' shards were recovered by the first run")
	}
	assertRestored(t, src, target, crashCollections, same)
}
