//go:build integration

package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/storage/storagetest"
)

// s3Options are the options for the stack's MinIO, with the smallest part
// size S3 allows so that the conformance suite's 20 MiB object and its
// failure tests (at 7 MiB) go through real multipart uploads.
func s3Options(env stacktest.S3Env) storage.Options {
	return storage.Options{
		S3Endpoint:  env.Endpoint,
		S3Region:    env.Region,
		S3PathStyle: true,
		PartSize:    5 << 20,
		Concurrency: 2,
	}
}

// setCredentials puts the stack's keys where the AWS default chain finds
// them, as a pod's Secret would.
func setCredentials(t *testing.T, env stacktest.S3Env) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", env.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", env.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func uniquePrefix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "storage-test/" + hex.EncodeToString(b)
}

// openS3 opens a backend on a unique prefix and deletes everything under
// it when the test ends.
func openS3(t *testing.T, env stacktest.S3Env) (storage.Backend, string) {
	t.Helper()
	prefix := uniquePrefix(t)
	b, err := storage.Open(t.Context(), "s3://"+env.Bucket+"/"+prefix, s3Options(env))
	if err != nil {
		t.Fatalf("open S3 backend: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var ks []string
		_ = b.List(ctx, "", func(oi storage.ObjectInfo) error { ks = append(ks, oi.Key); return nil })
		for _, k := range ks {
			if err := b.Delete(ctx, k); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return b, prefix
}

// rawClient is a plain SDK client for checks behind the backend's back.
func rawClient(env stacktest.S3Env) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(env.Endpoint),
		Region:       env.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(env.AccessKey, env.SecretKey, ""),
	})
}

// pendingUploads lists the incomplete multipart uploads of the given full
// object keys. MinIO lists uploads only for an exact object name, not for
// a wider prefix, so the test names every key it broke an upload of.
func pendingUploads(t *testing.T, env stacktest.S3Env, keys ...string) []string {
	t.Helper()
	var ks []string
	for _, key := range keys {
		out, err := rawClient(env).ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{
			Bucket: aws.String(env.Bucket), Prefix: aws.String(key),
		})
		if err != nil {
			t.Fatalf("ListMultipartUploads: %v", err)
		}
		for _, u := range out.Uploads {
			ks = append(ks, aws.ToString(u.Key)+" "+aws.ToString(u.UploadId))
		}
	}
	return ks
}

func TestS3Conformance(t *testing.T) {
	env := stacktest.S3(t)
	setCredentials(t, env)
	var prefixes []string
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b, prefix := openS3(t, env)
		prefixes = append(prefixes, prefix)
		return b
	})
	// The failure tests of the suite broke multipart uploads midway (keys
	// from storagetest's failure tests).
	for _, p := range prefixes {
		if ups := pendingUploads(t, env, p+"/fresh/object", p+"/kept/object", p+"/cancelled/object"); len(ups) > 0 {
			t.Errorf("incomplete multipart uploads left under %s: %q", p, ups)
		}
	}
}

func TestS3CancelledPutAbortsTheMultipartUpload(t *testing.T) {
	env := stacktest.S3(t)
	setCredentials(t, env)
	b, prefix := openS3(t, env)
	// Cancel at several points: before, during and after the first part.
	for _, at := range []int64{0, 1 << 20, 5 << 20, 6 << 20, 11 << 20} {
		ctx, cancel := context.WithCancel(t.Context())
		body := &cancellingReader{left: 30 << 20, cancelAt: at, cancel: cancel}
		err := b.Put(ctx, "obj", body)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put cancelled at %d: got %v, want context.Canceled", at, err)
		}
	}
	if ups := pendingUploads(t, env, prefix+"/obj"); len(ups) > 0 {
		t.Errorf("incomplete multipart uploads left: %q", ups)
	}
	if _, err := b.Stat(t.Context(), "obj"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat after cancelled puts: %v, want ErrNotFound", err)
	}
}

type cancellingReader struct {
	left, at, cancelAt int64
	cancel             func()
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.at >= r.cancelAt {
		r.cancel()
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.left, 64<<10)
	clear(p[:n])
	r.left -= n
	r.at += n
	return int(n), nil
}

func TestS3PresignedURLServesTheObject(t *testing.T) {
	env := stacktest.S3(t)
	setCredentials(t, env)
	b, _ := openS3(t, env)
	if err := b.Put(t.Context(), "c/b/col/0.snapshot", strings.NewReader("snapshot bytes")); err != nil {
		t.Fatal(err)
	}
	ps, ok := b.(storage.Presigner)
	if !ok {
		t.Fatal("S3 backend does not implement storage.Presigner")
	}
	u, err := ps.Presign(t.Context(), "c/b/col/0.snapshot", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u, env.SecretKey) {
		t.Fatal("presigned URL contains the secret key")
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "snapshot bytes" {
		t.Errorf("GET presigned URL: %s %q", resp.Status, body)
	}
	// Without the signature the object is not public.
	plain := u[:strings.IndexByte(u, '?')]
	resp2, err := http.Get(plain)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp2.Body.Close()
	if resp2.StatusCode == http.StatusOK {
		t.Errorf("unsigned GET succeeded: the bucket is public, the presign test proves nothing")
	}
}

func TestS3OpenErrorsSayWhatToDo(t *testing.T) {
	env := stacktest.S3(t)
	t.Run("a missing bucket", func(t *testing.T) {
		setCredentials(t, env)
		_, err := storage.Open(t.Context(), "s3://qbackup-no-such-bucket-"+uniquePrefix(t)[13:]+"/x", s3Options(env))
		t.Logf("Open error: %v", err)
		if err == nil || !strings.Contains(err.Error(), "does not exist at "+env.Endpoint+": create it or fix --storage") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a wrong secret key", func(t *testing.T) {
		setCredentials(t, env)
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-"+env.SecretKey)
		_, err := storage.Open(t.Context(), "s3://"+env.Bucket+"/x", s3Options(env))
		t.Logf("Open error: %v", err)
		if err == nil || !strings.Contains(err.Error(), "S3 rejected the credentials") ||
			!strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY") {
			t.Errorf("got %v", err)
		}
		if err != nil && strings.Contains(err.Error(), env.SecretKey) {
			t.Errorf("error leaks the secret key: %v", err)
		}
	})
	t.Run("an unknown access key", func(t *testing.T) {
		setCredentials(t, env)
		t.Setenv("AWS_ACCESS_KEY_ID", "NOSUCHKEY")
		_, err := storage.Open(t.Context(), "s3://"+env.Bucket+"/x", s3Options(env))
		t.Logf("Open error: %v", err)
		if err == nil || !strings.Contains(err.Error(), "S3 rejected the credentials") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("no credentials at all", func(t *testing.T) {
		setCredentials(t, env)
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		_, err := storage.Open(ctx, "s3://"+env.Bucket+"/x", s3Options(env))
		t.Logf("Open error: %v", err)
		if err == nil || !strings.Contains(err.Error(), "no usable credentials") {
			t.Errorf("got %v", err)
		}
	})
	for _, missing := range []string{"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"} {
		t.Run("only one of the key pair: "+missing+" missing", func(t *testing.T) {
			setCredentials(t, env)
			t.Setenv(missing, "")
			_, err := storage.Open(t.Context(), "s3://"+env.Bucket+"/x", s3Options(env))
			if err == nil || !strings.Contains(err.Error(), missing+" is missing") || !errors.Is(err, storage.ErrAccessDenied) {
				t.Errorf("got %v, want it to name %s and match ErrAccessDenied (exit 2)", err, missing)
			}
		})
	}
	t.Run("an unreachable endpoint", func(t *testing.T) {
		setCredentials(t, env)
		opts := s3Options(env)
		opts.S3Endpoint = "http://127.0.0.1:1"
		opts.MaxAttempts = 1
		_, err := storage.Open(t.Context(), "s3://"+env.Bucket+"/x", opts)
		t.Logf("Open error: %v", err)
		if err == nil || !strings.Contains(err.Error(), "cannot reach S3 at http://127.0.0.1:1") {
			t.Errorf("got %v", err)
		}
	})
}

// TestS3UploadsShareABoundedPoolOfPartBuffers: more concurrent Puts than
// part buffers all complete with their exact content, and no more buffers
// than the pool's size are ever made — upload memory is bounded whatever
// the number and size of the objects.
func TestS3UploadsShareABoundedPoolOfPartBuffers(t *testing.T) {
	env := stacktest.S3(t)
	setCredentials(t, env)
	opts := s3Options(env)
	opts.PartBuffers = 2
	b, err := storage.Open(t.Context(), "s3://"+env.Bucket+"/"+uniquePrefix(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{0, 1, 5 << 20, 5<<20 + 1, 12 << 20, 11 << 20, 17 << 20, 4 << 10}
	bodies := make([][]byte, len(sizes))
	for i, n := range sizes {
		bodies[i] = make([]byte, n)
		if _, err := rand.Read(bodies[i]); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, len(sizes))
	for i := range sizes {
		go func() {
			errs <- b.Put(t.Context(), fmt.Sprintf("pool/%d", i), bytes.NewReader(bodies[i]))
		}()
	}
	for range sizes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if made := storage.PartBuffersMade(b); made > opts.PartBuffers {
		t.Errorf("%d part buffers made, the pool holds %d", made, opts.PartBuffers)
	}
	for i, want := range bodies {
		r, err := b.Open(t.Context(), fmt.Sprintf("pool/%d", i), 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("object %d: %d bytes read back, want the %d written", i, len(got), len(want))
		}
	}
	t.Cleanup(func() {
		for i := range sizes {
			_ = b.Delete(context.Background(), fmt.Sprintf("pool/%d", i))
		}
	})
}

// cutReader gives n bytes, then an error wrapping io.ErrUnexpectedEOF, as
// a snapshot stream cut by the peer does.
type cutReader struct{ n int }

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, fmt.Errorf("body cut: %w", io.ErrUnexpectedEOF)
	}
	k := min(len(p), c.n)
	clear(p[:k])
	c.n -= k
	return k, nil
}

// TestS3CutSourceFailsThePut: a source that fails with an error wrapping
// io.ErrUnexpectedEOF is a failure, never a short object.
func TestS3CutSourceFailsThePut(t *testing.T) {
	env := stacktest.S3(t)
	setCredentials(t, env)
	b, _ := openS3(t, env)
	for _, n := range []int{2000, 7 << 20} { // within the first part, and after it
		key := fmt.Sprintf("cut/%d", n)
		err := b.Put(t.Context(), key, &cutReader{n: n})
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Put of a source cut after %d bytes = %v, want its error", n, err)
		}
		if _, err := b.Stat(t.Context(), key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("a source cut after %d bytes left an object: %v", n, err)
		}
	}
}
