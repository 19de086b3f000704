//go:build integration

package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/qbackup/qbackup/e2e/faultproxy"
)

// TestAStalledS3EndpointFailsTheBackupInBoundedTime: MinIO behind a proxy
// that stops forwarding in the middle of the uploads (the connections stay
// open, nothing moves): the backup fails within about --s3-max-attempts ×
// --s3-timeout per request, naming S3 and the endpoint. With a catalog
// the set is marked failed and the lease released; without one the lock
// object lives in the stalled store, cannot be deleted and expires.
func TestAStalledS3EndpointFailsTheBackupInBoundedTime(t *testing.T) {
	t.Parallel()
	for _, withCatalog := range []bool{true, false} {
		name := "with the catalog"
		if !withCatalog {
			name = "with the lock in storage"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sm := startSim(t, fastSim(3))
			sm.loadMixed(t)
			var cat *catalog
			if withCatalog {
				cat = newCatalog(t)
			}
			st := newS3Store(t)
			sc := newScenario(t, sm, st, cat)
			proxy := faultproxy.Start(t, strings.TrimPrefix(st.env_.Endpoint, "http://"))
			endpoint := "http://" + proxy.Addr()
			// Past the bucket check and the first requests, into the shard uploads.
			proxy.StallAfter(6 << 10)

			args := append([]string{"backup", "--cluster=" + sc.cluster, "--storage=" + st.url(), "--s3-endpoint=" + endpoint,
				"--s3-region=" + st.env_.Region, "--s3-path-style", "--s3-timeout=2s", "--s3-max-attempts=2", "--lease-ttl=20s"}, sm.discovery()...)
			start := time.Now()
			r := sc.qb.run(t, args...)
			took := time.Since(start)
			expect(t, r, exitFailed, "S3 at "+endpoint+" stopped answering", "--s3-timeout")
			select {
			case <-proxy.Stalled():
			default:
				t.Fatalf("the proxy never stalled (%d bytes forwarded): the fault was not exercised", proxy.Forwarded())
			}
			t.Logf("failed %s after the start (S3 timeout 2s, 2 attempts)", took.Round(100*time.Millisecond))
			if took > 45*time.Second {
				t.Errorf("the backup took %s to fail, want well under 45s", took)
			}
			if m := sc.manifests(t); len(m) != 0 {
				t.Errorf("manifests %v", m)
			}
			if !withCatalog {
				return
			}
			if h := cat.leaseHolder(t, sc.cluster); h != "" {
				t.Errorf("the cluster lease is still held by %q", h)
			}
			rows := cat.backups(t, sc.cluster)
			if len(rows) != 1 || rows[0].Status != "failed" || !strings.Contains(rows[0].Reason, "S3 at") {
				t.Errorf("catalog rows %+v, want one failed set naming S3", rows)
			}
		})
	}
}

// TestAStalledCatalogFailsTheBackupInBoundedTime: the catalog (behind
// a proxy) stops answering while the backup runs: the lease renewals fail,
// the run stops before the lease expires and exits within a few
// --catalog-timeout, naming the catalog, instead of waiting silently.
func TestAStalledCatalogFailsTheBackupInBoundedTime(t *testing.T) {
	t.Parallel()
	sm := startSim(t, fastSim(3))
	sm.loadMixed(t)
	cat := newCatalog(t)
	st := newS3Store(t)
	sc := newScenario(t, sm, st, cat)
	cfg, err := mysql.ParseDSN(cat.dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, cfg.Addr)
	cfg.Addr = proxy.Addr()
	qb := sc.qb.with("QBACKUP_CATALOG_DSN", cfg.FormatDSN())
	// One stream stalls, so the run is still going when the catalog stops.
	stall := int64(1500)
	sm.c.Peers()[1].SetFaults(faultOn(snapshotRoute, func(f *routeFault) { f.StallAfter = &stall }))

	p := qb.start(t, sc.backupArgs("--lease-ttl=6s", "--catalog-timeout=3s", "--stall-timeout=2m")...)
	waitForObjects(t, sc, p)
	proxy.Stall()
	stalled := time.Now()
	r := p.wait()
	took := time.Since(stalled)
	expect(t, r, exitFailed, "catalog at "+proxy.Addr(), "cluster lock lost", "--lease-ttl")
	t.Logf("failed %s after the catalog stalled (lease TTL 6s, catalog timeout 3s)", took.Round(100*time.Millisecond))
	if took > 30*time.Second {
		t.Errorf("the backup took %s to fail after the catalog stalled, want well under 30s", took)
	}
	if m := sc.manifests(t); len(m) != 0 {
		t.Errorf("manifests %v written without the lock", m)
	}
}
