//go:build integration

package scenarios

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// s3Faults is a reverse proxy in front of the stack's MinIO that answers
// chosen requests with an S3 error instead of forwarding them, as a
// throttling or failing S3 service would. The Host header is left as the
// client sent it, so SigV4 signatures still match at MinIO.
type s3Faults struct {
	srv *httptest.Server

	mu sync.Mutex
	// match picks the requests that may be failed.
	match func(r *http.Request) bool
	// remaining is how many more matching requests fail; negative means
	// every one.
	remaining int
	status    int
	code, msg string
	injected  []string
	// seen is every request, as method and raw query: enough to tell
	// the S3 operations apart.
	seen []string
}

func newS3Faults(t *testing.T, endpoint string) *s3Faults {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	f := &s3Faults{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.fail(r) {
			// Read the body as S3 does before answering, so the client
			// sees the error rather than a reset connection.
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(f.status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource><RequestId>fault</RequestId></Error>`,
				f.code, f.msg, r.URL.Path)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// fail records and reports whether r is to be failed.
func (f *s3Faults) fail(r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, r.Method+" "+r.URL.RawQuery)
	if f.match == nil || f.remaining == 0 || !f.match(r) {
		return false
	}
	if f.remaining > 0 {
		f.remaining--
	}
	f.injected = append(f.injected, r.Method+" "+r.URL.Path)
	return true
}

// inject fails the next n requests matching match (every one when n < 0)
// with status and the S3 error code and message.
func (f *s3Faults) inject(match func(r *http.Request) bool, n, status int, code, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.match, f.remaining, f.status, f.code, f.msg = match, n, status, code, msg
}

// sawRequest reports whether a request with method and a query parameter
// param reached the proxy.
func (f *s3Faults) sawRequest(method, param string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.seen {
		m, q, _ := strings.Cut(s, " ")
		if v, err := url.ParseQuery(q); m == method && err == nil && v.Has(param) {
			return true
		}
	}
	return false
}

func (f *s3Faults) injectedRequests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.injected...)
}

// shardUpload matches the requests that write shard objects: PutObject and
// UploadPart are PUTs of the object's key.
func shardUpload(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, ".snapshot")
}

// proxiedS3 is an s3Store that qbackup reaches through an s3Faults proxy;
// the test still inspects MinIO directly.
type proxiedS3 struct {
	*s3Store
	faults *s3Faults
}

func newProxiedS3(t *testing.T) *proxiedS3 {
	t.Helper()
	st := newS3Store(t)
	return &proxiedS3{s3Store: st, faults: newS3Faults(t, st.env_.Endpoint)}
}

func (p *proxiedS3) flags() []string {
	return []string{"--storage=" + p.url(), "--s3-endpoint=" + p.faults.srv.URL, "--s3-region=" + p.env_.Region, "--s3-path-style"}
}

const slowDownMsg = "Please reduce your request rate."

func TestBackupThroughThrottlingS3IsRetried(t *testing.T) {
	t.Parallel()
	sm := startSim(t, fastSim(3))
	sm.loadMixed(t)
	st := newProxiedS3(t)
	sc := newScenario(t, sm, st, newCatalog(t))

	st.faults.inject(shardUpload, 3, http.StatusServiceUnavailable, "SlowDown", slowDownMsg)
	t0 := time.Now()
	id := sc.backup(t)
	t.Logf("backup through 3 throttled uploads took %s", time.Since(t0).Round(time.Millisecond))

	if got := st.faults.injectedRequests(); len(got) != 3 {
		t.Fatalf("the proxy throttled %d uploads, want 3: %v", len(got), got)
	}
	m := sc.manifest(t, id)
	if n := len(sc.setObjects(t)); n != m.shardCount() {
		t.Errorf("%d shard objects in storage, the manifest lists %d", n, m.shardCount())
	}
	if up := st.uploads(t); len(up) != 0 {
		t.Errorf("multipart uploads left open: %v", up)
	}
	ok(t, sc.qb.run(t, sc.args("verify", "latest")...))
	rows := sc.cat.backups(t, sc.cluster)
	if len(rows) != 1 || rows[0].ID != id || rows[0].Status != "complete" || rows[0].Verify != "verified" {
		t.Errorf("catalog rows %+v, want %s complete and verified", rows, id)
	}
}

func TestBackupOntoFailingS3FailsCleanly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		status       int
		code, msg    string
		wantInStderr []string
	}{
		{
			name:   "persistent throttling fails the set after the retries",
			status: http.StatusServiceUnavailable, code: "SlowDown", msg: slowDownMsg,
			wantInStderr: []string{"failed: upload snapshot of shard", "S3: PutObject", "exceeded maximum number of attempts, 3", "StatusCode: 503", "SlowDown"},
		},
		{
			name:   "persistent internal errors fail the set after the retries",
			status: http.StatusInternalServerError, code: "InternalError", msg: "We encountered an internal error. Please try again.",
			wantInStderr: []string{"failed: upload snapshot of shard", "S3: PutObject", "exceeded maximum number of attempts, 3", "StatusCode: 500", "InternalError"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sm := startSim(t, fastSim(3))
			sm.loadMixed(t)
			st := newProxiedS3(t)
			sc := newScenario(t, sm, st, newCatalog(t))

			st.faults.inject(shardUpload, -1, tt.status, tt.code, tt.msg)
			t0 := time.Now()
			r := sc.qb.run(t, sc.backupArgs("--s3-max-attempts=3")...)
			t.Logf("failing backup took %s", time.Since(t0).Round(time.Millisecond))
			expect(t, r, exitFailed, tt.wantInStderr...)

			// Every attempt of the failed upload reached the store: the
			// SDK retried before giving up.
			if n := len(st.faults.injectedRequests()); n < 3 {
				t.Errorf("the proxy failed %d uploads, want at least the 3 attempts of one", n)
			}
			if keys := st.keys(t); len(sc.manifests(t)) != 0 || len(sc.setObjects(t)) != 0 {
				t.Errorf("a failed set left objects behind: %v", keys)
			}
			if up := st.uploads(t); len(up) != 0 {
				t.Errorf("multipart uploads left open: %v", up)
			}
			assertOneFailed(t, sc)
			if rows := sc.cat.backups(t, sc.cluster); !strings.Contains(rows[0].Reason, tt.code) {
				t.Errorf("the failed set's reason %q does not name the storage error %s", rows[0].Reason, tt.code)
			}
			if h := sc.cat.leaseHolder(t, sc.cluster); h != "" {
				t.Errorf("the backup lease is still held by %s", h)
			}
		})
	}
}

// partUpload matches UploadPart requests only: the multipart upload itself
// is created and must be aborted by qbackup.
func partUpload(r *http.Request) bool {
	return r.Method == http.MethodPut && r.URL.Query().Has("partNumber")
}

func TestBackupWhoseMultipartUploadFailsAbortsIt(t *testing.T) {
	t.Parallel()
	sm := startSim(t, fastSim(3))
	sm.loadMixed(t)
	// Larger than one part (16 MiB), so this shard goes up in parts.
	if err := sm.c.SetSyntheticShard(context.Background(), "images", 0, 20<<20, 7); err != nil {
		t.Fatal(err)
	}
	st := newProxiedS3(t)
	sc := newScenario(t, sm, st, newCatalog(t))

	st.faults.inject(partUpload, -1, http.StatusServiceUnavailable, "SlowDown", slowDownMsg)
	t0 := time.Now()
	r := sc.qb.run(t, sc.backupArgs("--s3-max-attempts=2")...)
	t.Logf("failing multipart backup took %s", time.Since(t0).Round(time.Millisecond))
	expect(t, r, exitFailed, `failed: upload snapshot of shard 0 of "images"`, "S3: UploadPart", "SlowDown")

	if n := len(st.faults.injectedRequests()); n < 2 {
		t.Errorf("the proxy failed %d part uploads, want at least the 2 attempts of one", n)
	}
	// The upload was really created, so the empty listing below shows
	// that qbackup aborted it.
	if !st.faults.sawRequest(http.MethodPost, "uploads") || !st.faults.sawRequest(http.MethodDelete, "uploadId") {
		t.Errorf("no multipart upload was created and aborted through the proxy")
	}
	if keys := st.keys(t); len(sc.manifests(t)) != 0 || len(sc.setObjects(t)) != 0 {
		t.Errorf("a failed set left objects behind: %v", keys)
	}
	if up := st.uploads(t); len(up) != 0 {
		t.Errorf("multipart uploads left open: %v", up)
	}
	assertOneFailed(t, sc)
}
