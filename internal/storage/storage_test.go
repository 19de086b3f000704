package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/storage/storagetest"
)

func TestMemoryConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return storage.NewMemory() })
}

func TestFileConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b, err := storage.Open(t.Context(), "file://"+filepath.Join(t.TempDir(), "root"), storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// The conformance suite cannot see the file backend's hidden temporary
// files; look at the directory itself.
func TestFileFailedPutsLeaveNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	b, err := storage.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	broken := errors.New("body broke")
	err = b.Put(t.Context(), "c/b/obj", io.MultiReader(strings.NewReader("partial"), errReader{broken}))
	if !errors.Is(err, broken) {
		t.Fatalf("Put: got %v, want the body's error", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Put(ctx, "c/b/obj2", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: got %v", err)
	}
	if err := b.PutIfAbsent(t.Context(), "c/b/lock", strings.NewReader("1")); err != nil {
		t.Fatal(err)
	}
	if err := b.PutIfAbsent(t.Context(), "c/b/lock", strings.NewReader("2")); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second PutIfAbsent: %v", err)
	}
	var files []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if len(files) != 1 || files[0] != "c/b/lock" {
		t.Errorf("files on disk = %q, want only c/b/lock", files)
	}
}

func TestFileRefusesTemporaryFileNames(t *testing.T) {
	b, err := storage.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(t.Context(), "a/.qbackup-tmp-123", strings.NewReader("x")); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("Put of a temporary-file name: got %v, want ErrInvalidKey", err)
	}
}

// TestFileSweepsTemporaryFilesOfKilledWrites: a process killed while it
// wrote leaves its temporary file; prune removes the stale ones under its
// prefix, and nothing else.
func TestFileSweepsTemporaryFilesOfKilledWrites(t *testing.T) {
	dir := t.TempDir()
	b, err := storage.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := b.Put(ctx, "prod/set/docs/0.snapshot", strings.NewReader("kept")); err != nil {
		t.Fatal(err)
	}
	old, fresh := time.Now().Add(-2*time.Hour), time.Now()
	for p, mtime := range map[string]time.Time{
		"prod/set/docs/.qbackup-tmp-1": old, "prod/.stored/set/7/docs/.qbackup-tmp-2": old,
		"prod/set/docs/.qbackup-tmp-3": fresh, "other/set/.qbackup-tmp-4": old,
	} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(full, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	n, err := b.AbortStaleUploads(ctx, "prod/", func(key string, initiated time.Time) bool {
		seen = append(seen, key)
		return time.Since(initiated) > time.Hour
	})
	if err != nil || n != 2 {
		t.Fatalf("swept %d (err %v), want the 2 stale ones under prod/; asked about %v", n, err, seen)
	}
	for p, want := range map[string]bool{
		"prod/set/docs/.qbackup-tmp-1": false, "prod/.stored/set/7/docs/.qbackup-tmp-2": false,
		"prod/set/docs/.qbackup-tmp-3": true, "other/set/.qbackup-tmp-4": true, "prod/set/docs/0.snapshot": true,
	} {
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p)))
		if got := err == nil; got != want {
			t.Errorf("%s exists: %v, want %v", p, got, want)
		}
	}
}

func TestFileDeleteRemovesEmptyDirectories(t *testing.T) {
	dir := t.TempDir()
	b, err := storage.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := b.Put(ctx, "c/backup/col/0.snapshot", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "c/other", strings.NewReader("y")); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "c/backup/col/0.snapshot"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c", "backup")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty directory c/backup still there (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c", "other")); err != nil {
		t.Errorf("sibling object gone: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("root removed: %v", err)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	cases := []struct {
		name, url string
		opts      storage.Options
		want      string
		// badURL: the error matches ErrInvalidURL (the command exits with
		// the usage code).
		badURL bool
	}{
		{"an unknown scheme", "gs://bucket/x", storage.Options{}, "scheme must be s3:// or file://", true},
		{"a bare path", "/var/backups", storage.Options{}, "scheme must be s3:// or file://", true},
		{"a relative file path", "file://backups/x", storage.Options{}, "file URLs take no host", true},
		{"a relative opaque file path", "file:backups", storage.Options{}, "file path must be absolute", true},
		{"an s3 URL without slashes", "s3:bucket", storage.Options{}, "malformed", true},
		{"an unclean file path", "file:///var/../etc", storage.Options{}, "must be clean", true},
		{"an s3 URL without bucket", "s3:///prefix", storage.Options{}, "no bucket", true},
		{"a URL that does not parse", "s3://bu cket/%zz", storage.Options{}, "malformed", true},
		{"credentials in the URL", "s3://AKIA:topsecret@bucket/p", storage.Options{}, "credentials in the URL are not supported", true},
		{"an s3 prefix with dot-dot", "s3://bucket/a/../b", storage.Options{}, "invalid object key", true},
		{"a bucket name too short", "s3://ab/p", storage.Options{}, "3-63 characters", true},
		{"a bucket name with capitals", "s3://My-Bucket/p", storage.Options{}, "contains 'M'", true},
		{"a bucket name with an underscore", "s3://my_bucket/p", storage.Options{}, "contains '_'", true},
		{"a bucket name ending in a hyphen", "s3://bucket-/p", storage.Options{}, "starting and ending with a letter or digit", true},
		{"a bucket name with two dots", "s3://my..bucket/p", storage.Options{}, "two adjacent dots", true},
		{"a bucket name shaped like an IP address", "s3://192.168.1.1/p", storage.Options{}, "is an IP address", true},
		{"an endpoint without scheme", "s3://bucket/p", storage.Options{S3Endpoint: "minio:9000"}, "must be an http:// or https:// URL", true},
		{"an endpoint with credentials", "s3://bucket/p", storage.Options{S3Endpoint: "http://AKIA:topsecret@minio:9000"}, "credentials in the URL", true},
		{"a part size below the S3 minimum", "s3://bucket/p", storage.Options{PartSize: 1 << 20}, "between 5 MiB and 5 GiB", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := storage.Open(t.Context(), c.url, c.opts)
			if err == nil {
				t.Fatalf("Open(%q) = %v, want an error", c.url, b)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if errors.Is(err, storage.ErrInvalidURL) != c.badURL {
				t.Errorf("errors.Is(%q, ErrInvalidURL) = %v, want %v", err, !c.badURL, c.badURL)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error leaks the secret: %q", err)
			}
		})
	}
}

func TestOpenFileCreatesNothingUntilTheFirstWrite(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	b, err := storage.Open(t.Context(), "file://"+root, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(root)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open created %s: %v", filepath.Dir(root), err)
	}
	if got := b.(interface{ String() string }).String(); got != "file://"+root {
		t.Errorf("String() = %q", got)
	}
	if err := b.Put(t.Context(), "k/v", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		t.Fatalf("root not created by the first write: %v", err)
	}
}

func TestOpenFileRefusesUnusablePaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		mustExist bool
		want      string
	}{
		{"a missing directory for a command that only reads", filepath.Join(dir, "typo"), true, "no such directory (nothing was created)"},
		{"a file instead of a directory", file, false, "not a directory"},
		{"a path under a file", filepath.Join(file, "sub"), false, "a parent of it is a file"},
		{"a missing path under a file", filepath.Join(file, "sub", "deeper"), false, "a parent of it is a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := storage.Open(t.Context(), "file://"+tt.path, storage.Options{MustExist: tt.mustExist})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, storage.ErrInvalidURL) {
				t.Fatalf("Open(%s) = %v, want an invalid-URL error saying %q", tt.path, err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "typo")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("a directory was created: %v", err)
			}
		})
	}
}

func TestMemoryFaults(t *testing.T) {
	ctx := t.Context()
	m := storage.NewMemory()
	m.Inject(storage.Fault{Op: storage.OpPut, Prefix: "c/", After: 3, Times: 1})
	err := m.Put(ctx, "c/x", strings.NewReader("0123456789"))
	if !errors.Is(err, storage.ErrInjected) {
		t.Fatalf("Put with fault: %v", err)
	}
	if _, err := m.Stat(ctx, "c/x"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("object stored despite the failed Put: %v", err)
	}
	if err := m.Put(ctx, "c/x", strings.NewReader("0123456789")); err != nil {
		t.Errorf("Put after the fault was used up: %v", err)
	}

	denied := errors.New("denied")
	m.Inject(storage.Fault{Op: storage.OpOpen, Prefix: "c/x", Err: denied})
	if _, err := m.Open(ctx, "c/x", 0); !errors.Is(err, denied) {
		t.Errorf("Open with fault: %v", err)
	}
	if err := m.Put(ctx, "d/y", strings.NewReader("other prefix")); err != nil {
		t.Errorf("Put outside the fault's prefix: %v", err)
	}
	m.ClearFaults()
	if _, err := m.Open(ctx, "c/x", 0); err != nil {
		t.Errorf("Open after ClearFaults: %v", err)
	}
}

func TestResumableReaderSurvivesBrokenStreams(t *testing.T) {
	ctx := t.Context()
	m := storage.NewMemory()
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	if err := m.Put(ctx, "obj", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	// Each of the first 4 streams breaks after 100 KB; opens fail twice.
	m.Inject(storage.Fault{Op: storage.OpRead, Prefix: "obj", After: 100_000, Times: 4})
	m.Inject(storage.Fault{Op: storage.OpOpen, Prefix: "obj", Times: 2})
	rc := storage.NewResumableReaderWith(ctx, m, "obj", int64(len(data)), fastRetry(3))
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not equal to the %d written", len(got), len(data))
	}
}

func TestResumableReaderGivesUp(t *testing.T) {
	ctx := t.Context()
	m := storage.NewMemory()
	if err := m.Put(ctx, "obj", strings.NewReader("0123456789")); err != nil {
		t.Fatal(err)
	}
	t.Run("after max attempts without progress", func(t *testing.T) {
		m.ClearFaults()
		m.Inject(storage.Fault{Op: storage.OpOpen, Prefix: "obj"})
		_, err := io.ReadAll(storage.NewResumableReaderWith(ctx, m, "obj", 10, fastRetry(3)))
		if !errors.Is(err, storage.ErrInjected) || !strings.Contains(err.Error(), "after 3 attempts") {
			t.Errorf("got %v, want giving up after 3 attempts", err)
		}
	})
	t.Run("at once on a permanent error", func(t *testing.T) {
		m.ClearFaults()
		m.Inject(storage.Fault{Op: storage.OpOpen, Prefix: "obj", Err: storage.ErrNotFound})
		start := time.Now()
		_, err := io.ReadAll(storage.NewResumableReaderWith(ctx, m, "obj", 10,
			storage.ResumeOptions{MaxAttempts: 5, MinBackoff: time.Second}))
		if !errors.Is(err, storage.ErrNotFound) || time.Since(start) > 500*time.Millisecond {
			t.Errorf("got %v after %s, want ErrNotFound at once", err, time.Since(start))
		}
	})
	t.Run("when the context ends during a backoff", func(t *testing.T) {
		m.ClearFaults()
		m.Inject(storage.Fault{Op: storage.OpRead, Prefix: "obj", After: 4})
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		got, err := io.ReadAll(storage.NewResumableReaderWith(cctx, m, "obj", 10,
			storage.ResumeOptions{MaxAttempts: 100, MinBackoff: time.Second}))
		if !errors.Is(err, context.DeadlineExceeded) || string(got) != "0123" {
			t.Errorf("got %q, %v; want the first 4 bytes then DeadlineExceeded", got, err)
		}
	})
}

func TestValidateKey(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "c/.locks/backup.json", "c/col%2F/0.snapshot", "..a", "a..", "a/...", "ü"} {
		if err := storage.ValidateKey(ok); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "/", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "a\\b", "a\x00"} {
		if err := storage.ValidateKey(bad); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", bad, err)
		}
	}
}

func fastRetry(attempts int) storage.ResumeOptions {
	return storage.ResumeOptions{MaxAttempts: attempts, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestOpenS3MarksMissingBucketsAndRejectedCredentials(t *testing.T) {
	cases := []struct {
		name   string
		status int
		code   string
		want   error
	}{
		{"a missing bucket", http.StatusNotFound, "NoSuchBucket", storage.ErrBucketNotFound},
		{"an unknown access key", http.StatusForbidden, "InvalidAccessKeyId", storage.ErrAccessDenied},
		{"a wrong secret key", http.StatusForbidden, "SignatureDoesNotMatch", storage.ErrAccessDenied},
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// HeadBucket answers carry no body: the SDK reads the status.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("x-amz-error-code", c.code)
				w.WriteHeader(c.status)
			}))
			defer srv.Close()
			_, err := storage.Open(t.Context(), "s3://bucket/prefix", storage.Options{S3Endpoint: srv.URL, S3PathStyle: true, MaxAttempts: 1})
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want one matching %v", err, c.want)
			}
			if errors.Is(err, storage.ErrInvalidURL) {
				t.Errorf("a well-formed URL is reported as malformed: %v", err)
			}
		})
	}
}

// TestS3PutOverPlainHTTPSendsAnUnsignedPayload: object bytes sent to an
// http:// endpoint are not hashed for the signature (the manifest's
// SHA-256 covers them end to end); the request itself stays signed.
func TestS3PutOverPlainHTTPSendsAnUnsignedPayload(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	var mu sync.Mutex
	seen := map[string]string{} // method → x-amz-content-sha256
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen[r.Method] = r.Header.Get("X-Amz-Content-Sha256")
		mu.Unlock()
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("ETag", `"etag"`)
	}))
	defer srv.Close()
	b, err := storage.Open(t.Context(), "s3://bucket/prefix", storage.Options{S3Endpoint: srv.URL, S3PathStyle: true, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(t.Context(), "obj", strings.NewReader("some snapshot bytes")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := seen[http.MethodPut]; got != "UNSIGNED-PAYLOAD" {
		t.Errorf("PutObject x-amz-content-sha256 = %q, want UNSIGNED-PAYLOAD", got)
	}
}
