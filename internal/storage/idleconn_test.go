package storage_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/storage"
)

func fakeS3Credentials(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
}

// TestS3StalledEndpointFailsWithinTheTimeout: an endpoint that accepts
// the connection and then answers nothing fails every request after
// attempts × --s3-timeout, with a message naming S3 and the endpoint,
// while one that answers slowly but steadily does not fail.
func TestS3StalledEndpointFailsWithinTheTimeout(t *testing.T) {
	fakeS3Credentials(t)
	const idle = 300 * time.Millisecond
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodHead && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0:
			return // HeadBucket: the bucket exists
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/slow"):
			// Ten bytes, one every 100 ms: 1 s in all, > idle, but never
			// idle for idle.
			w.Header().Set("Content-Length", "10")
			for range 10 {
				_, _ = w.Write([]byte{'x'})
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
			return
		}
		<-stop // stalls: reads no more of the body, answers nothing
	}))
	defer srv.Close()
	defer close(stop)

	b, err := storage.Open(t.Context(), "s3://bucket/prefix", storage.Options{
		S3Endpoint: srv.URL, S3PathStyle: true, MaxAttempts: 2, S3Timeout: idle,
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a slow but steady download succeeds", func(t *testing.T) {
		r, err := b.Open(t.Context(), "slow", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil || string(got) != "xxxxxxxxxx" {
			t.Fatalf("read %q, %v; want ten bytes", got, err)
		}
	})

	calls := []struct {
		name string
		call func() error
	}{
		{"a put", func() error { return b.Put(t.Context(), "obj", strings.NewReader(strings.Repeat("s", 1<<20))) }},
		{"a stat", func() error { _, err := b.Stat(t.Context(), "obj"); return err }},
		{"a list", func() error {
			return b.List(t.Context(), "", func(storage.ObjectInfo) error { return nil })
		}},
	}
	for _, c := range calls {
		t.Run(c.name+" fails after the attempts", func(t *testing.T) {
			start := time.Now()
			err := c.call()
			took := time.Since(start)
			if !errors.Is(err, storage.ErrS3Stalled) {
				t.Fatalf("error %v, want one matching ErrS3Stalled", err)
			}
			for _, want := range []string{"S3 at " + srv.URL, "--s3-timeout"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not contain %q", err, want)
				}
			}
			// Two attempts of 300 ms plus the SDK's backoff (< 1 s here).
			if took < 2*idle || took > 2*idle+3*time.Second {
				t.Errorf("failed after %s, want about 2 × %s", took, idle)
			}
		})
	}
}
