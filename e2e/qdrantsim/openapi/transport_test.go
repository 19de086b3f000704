package openapi_test

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim/openapi"
)

// recorder is a Reporter that collects instead of failing the test.
type recorder struct {
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errors...)
}

// streamBytes is the size of the bodies streamed in these tests.
const streamBytes = 4 << 20

// fakeQdrant answers a few routes the way Qdrant does, and a few wrongly.
func fakeQdrant(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, result string) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"result":%s,"status":"ok","time":0.001}`, result)
	}
	mux.HandleFunc("PUT /collections/{name}", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		ok(w, "true")
	})
	mux.HandleFunc("GET /collections/{name}/exists", func(w http.ResponseWriter, r *http.Request) {
		// Wrong on purpose: Qdrant answers {"exists": bool}.
		ok(w, "true")
	})
	mux.HandleFunc("GET /collections/{name}/shards/{id}/snapshot", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := make([]byte, 1<<20)
		for sent := 0; sent < streamBytes; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("POST /collections/{name}/shards/{id}/snapshots/upload", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if n < streamBytes {
			w.WriteHeader(http.StatusBadRequest)
		}
		ok(w, "true")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func client(t *testing.T, s openapi.Spec) (*http.Client, *openapi.Transport, *recorder) {
	t.Helper()
	rec := &recorder{}
	tr := openapi.NewTransport(rec, validator(t, s), nil)
	return &http.Client{Transport: tr}, tr, rec
}

func do(t *testing.T, c *http.Client, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode, body
}

func TestTransportPassesValidExchangesThrough(t *testing.T) {
	srv := fakeQdrant(t)
	c, tr, rec := client(t, openapi.Spec115)

	req, _ := http.NewRequest("PUT", srv.URL+"/collections/demo", strings.NewReader(`{"vectors":{"size":4,"distance":"Dot"}}`))
	req.Header.Set("Content-Type", "application/json")
	status, body := do(t, c, req)
	if status != 200 || !strings.Contains(string(body), `"result":true`) {
		t.Errorf("create: %d %s", status, body)
	}
	// The streaming route (the 1.15 exception) must arrive complete.
	req, _ = http.NewRequest("GET", srv.URL+"/collections/demo/shards/0/snapshot", nil)
	status, body = do(t, c, req)
	if status != 200 || len(body) != streamBytes {
		t.Errorf("stream: status %d, %d bytes, want 200 and %d", status, len(body), streamBytes)
	}
	if got := rec.all(); len(got) != 0 {
		t.Errorf("violations reported: %q", got)
	}
	if tr.Checked() != 2 {
		t.Errorf("checked %d exchanges, want 2", tr.Checked())
	}
}

func TestTransportReportsViolations(t *testing.T) {
	srv := fakeQdrant(t)
	c, tr, rec := client(t, openapi.Spec119)

	req, _ := http.NewRequest("GET", srv.URL+"/collections/demo/exists", nil)
	if status, _ := do(t, c, req); status != 200 {
		t.Errorf("exists: status %d, want the server's 200 passed through", status)
	}
	req, _ = http.NewRequest("PUT", srv.URL+"/collections/demo", strings.NewReader(`{"vectors":{"size":"4","distance":"Dot"}}`))
	req.Header.Set("Content-Type", "application/json")
	do(t, c, req)
	req, _ = http.NewRequest("GET", srv.URL+"/collections/demo/backup", nil)
	do(t, c, req)

	got := rec.all()
	want := []string{"(collection_exists)", "(create_collection)", "route not in the OpenAPI document"}
	if len(got) != len(want) {
		t.Fatalf("reported %d violations, want %d: %q", len(got), len(want), got)
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("violation %d = %q, want it to mention %q", i, got[i], w)
		}
	}
	if len(tr.Violations()) != len(want) {
		t.Errorf("Violations() has %d entries, want %d", len(tr.Violations()), len(want))
	}
}

func TestTransportExpectInvalidRequest(t *testing.T) {
	srv := fakeQdrant(t)
	c, _, rec := client(t, openapi.Spec119)
	ctx := openapi.ExpectInvalidRequest(context.Background())

	// Off-contract on purpose: nothing to report.
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/collections/demo/backup", nil)
	if status, _ := do(t, c, req); status != 404 {
		t.Errorf("unknown route: status %d, want 404", status)
	}
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("violations reported for a request sent as invalid: %q", got)
	}
	// Marked invalid but valid: the test would prove nothing, so report it.
	req, _ = http.NewRequestWithContext(ctx, "PUT", srv.URL+"/collections/demo", strings.NewReader(`{"vectors":{"size":4,"distance":"Dot"}}`))
	req.Header.Set("Content-Type", "application/json")
	do(t, c, req)
	if got := rec.all(); len(got) != 1 || !strings.Contains(got[0], "was sent as invalid") {
		t.Errorf("want one report of a valid request sent as invalid, got %q", got)
	}
}

func TestTransportStreamsUploads(t *testing.T) {
	srv := fakeQdrant(t)
	for _, tt := range []struct {
		field      string
		violations int
	}{{field: "snapshot"}, {field: "file", violations: 1}} {
		t.Run(tt.field, func(t *testing.T) {
			c, _, rec := client(t, openapi.Spec119)
			pr, pw := io.Pipe()
			mw := multipartWriter(pw)
			go func() {
				fw, err := mw.CreateFormFile(tt.field, "demo-shard-0.snapshot")
				if err == nil {
					_, err = io.CopyN(fw, zeros{}, streamBytes)
				}
				if err == nil {
					err = mw.Close()
				}
				pw.CloseWithError(err)
			}()
			req, _ := http.NewRequest("POST", srv.URL+"/collections/demo/shards/0/snapshots/upload", pr)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			if status, body := do(t, c, req); status != 200 {
				t.Errorf("upload: %d %s", status, body)
			}
			if got := rec.all(); len(got) != tt.violations {
				t.Errorf("violations: %q, want %d", got, tt.violations)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

func multipartWriter(w io.Writer) *multipart.Writer { return multipart.NewWriter(w) }

// TestTransportDoesNotBufferStreams checks that snapshot downloads and
// uploads flow through the transport as they are produced: each side waits
// for the other to have seen the first bytes before sending the rest, which
// would stall if the transport held a body back until its end.
func TestTransportDoesNotBufferStreams(t *testing.T) {
	const chunk = 64 << 10
	const patience = 5 * time.Second
	release := make(chan struct{})
	received := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /collections/{name}/shards/{id}/snapshot", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(make([]byte, chunk))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(patience):
		}
		w.Write(make([]byte, chunk))
	})
	mux.HandleFunc("POST /collections/{name}/shards/{id}/snapshots/upload", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadFull(r.Body, make([]byte, chunk)); err == nil {
			close(received)
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"result":true,"status":"ok","time":0.001}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, _, rec := client(t, openapi.Spec119)

	start := time.Now()
	resp, err := c.Get(srv.URL + "/collections/demo/shards/0/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, chunk)); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited >= patience {
		t.Errorf("first download bytes arrived after %v: the transport held the stream back", waited)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(rest) != chunk {
		t.Errorf("rest of the download: %d bytes, want %d", len(rest), chunk)
	}

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	stalled := make(chan bool, 1)
	go func() {
		fw, _ := mw.CreateFormFile("snapshot", "s.snapshot")
		fw.Write(make([]byte, chunk))
		select {
		case <-received:
			stalled <- false
		case <-time.After(patience):
			stalled <- true
		}
		fw.Write(make([]byte, chunk))
		pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequest("POST", srv.URL+"/collections/demo/shards/0/snapshots/upload", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if status, body := do(t, c, req); status != 200 {
		t.Errorf("upload: %d %s", status, body)
	}
	if <-stalled {
		t.Error("the server saw no upload bytes before the client finished: the transport held the upload back")
	}
	if got := rec.all(); len(got) != 0 {
		t.Errorf("violations: %q", got)
	}
}
