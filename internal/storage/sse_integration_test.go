//go:build integration

package storage_test

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/storage"
)

// withCustomerKey adds the SSE-C headers of key to a HeadObject.
func withCustomerKey(in *s3.HeadObjectInput, key []byte) {
	sum := md5.Sum(key)
	in.SSECustomerAlgorithm = aws.String("AES256")
	in.SSECustomerKey = aws.String(base64.StdEncoding.EncodeToString(key))
	in.SSECustomerKeyMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
}

// TestS3ServerSideEncryption writes through every write path of the S3
// backend (a single PutObject, a multipart upload of several parts, a
// conditional put) with each kind of server-side encryption, against a
// MinIO with TLS and a KMS, and checks with HeadObject what the store
// reports for each object; reads go back through the backend.
func TestS3ServerSideEncryption(t *testing.T) {
	p := stacktest.StartPrivateS3(t)
	setCredentials(t, p.S3Env)
	t.Setenv("AWS_CA_BUNDLE", p.CAFile)

	customerKey := make([]byte, 32)
	if _, err := rand.Read(customerKey); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 11<<20+123) // three parts of 5 MiB: a real multipart upload
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		enc      storage.Encryption
		wantMode types.ServerSideEncryption
		wantKMS  string // the key id HeadObject reports, suffix
	}{
		{name: "SSE-S3", enc: storage.Encryption{Mode: storage.SSEAES256}, wantMode: types.ServerSideEncryptionAes256},
		{name: "SSE-KMS with the store's key", enc: storage.Encryption{Mode: storage.SSEKMS, KMSKeyID: p.KMSKeyName}, wantMode: types.ServerSideEncryptionAwsKms, wantKMS: p.KMSKeyName},
		{name: "SSE-C", enc: storage.Encryption{CustomerKey: customerKey}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			prefix := "sse/" + string(rune('a'+i))
			opts := storage.Options{S3Endpoint: p.Endpoint, S3Region: p.Region, S3PathStyle: true, PartSize: 5 << 20, Encryption: tt.enc}
			b, err := storage.Open(ctx, "s3://"+p.Bucket+"/"+prefix, opts)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			objects := map[string][]byte{"small.json": []byte(`{"manifest":true}`), "big.snapshot": big}
			for k, data := range objects {
				if err := b.Put(ctx, k, bytes.NewReader(data)); err != nil {
					t.Fatalf("put %s: %v", k, err)
				}
			}
			cond, ok := b.(storage.Conditional)
			if !ok {
				t.Fatal("no conditional put")
			}
			objects["lock.json"] = []byte(`{"holder":"x"}`)
			if err := cond.PutIfAbsent(ctx, "lock.json", bytes.NewReader(objects["lock.json"])); err != nil {
				t.Fatalf("conditional put: %v", err)
			}
			for k, data := range objects {
				head := &s3.HeadObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(prefix + "/" + k)}
				if tt.enc.CustomerKey != nil {
					// Without the key the store answers nothing about
					// the object: that it asks for the key is the proof.
					if _, err := p.Client.HeadObject(ctx, head); err == nil {
						t.Fatalf("HeadObject of %s without the SSE-C key succeeded", k)
					}
					withCustomerKey(head, customerKey)
				}
				out, err := p.Client.HeadObject(ctx, head)
				if err != nil {
					t.Fatalf("HeadObject %s: %v", k, err)
				}
				if tt.enc.CustomerKey != nil {
					if aws.ToString(out.SSECustomerAlgorithm) != "AES256" {
						t.Errorf("%s: SSECustomerAlgorithm %q, want AES256", k, aws.ToString(out.SSECustomerAlgorithm))
					}
				} else {
					if out.ServerSideEncryption != tt.wantMode {
						t.Errorf("%s: ServerSideEncryption %q, want %q", k, out.ServerSideEncryption, tt.wantMode)
					}
					if tt.wantKMS != "" && !strings.HasSuffix(aws.ToString(out.SSEKMSKeyId), tt.wantKMS) {
						t.Errorf("%s: SSEKMSKeyId %q, want the key %q", k, aws.ToString(out.SSEKMSKeyId), tt.wantKMS)
					}
				}
				if got, want := aws.ToInt64(out.ContentLength), int64(len(data)); got != want {
					t.Errorf("%s: size %d, want %d", k, got, want)
				}
				// Reads through the backend: whole and from an offset.
				for _, off := range []int64{0, int64(len(data)) / 2} {
					rc, err := b.Open(ctx, k, off)
					if err != nil {
						t.Fatalf("open %s at %d: %v", k, off, err)
					}
					got, err := io.ReadAll(rc)
					_ = rc.Close()
					if err != nil || !bytes.Equal(got, data[off:]) {
						t.Fatalf("read %s at %d: %d bytes, %v; want the %d bytes written", k, off, len(got), err, len(data)-int(off))
					}
				}
				if info, err := b.Stat(ctx, k); err != nil || info.Size != int64(len(data)) {
					t.Fatalf("stat %s: %+v, %v", k, info, err)
				}
			}
			if tt.enc.CustomerKey == nil {
				return
			}
			// The same objects through a backend without the key, and
			// with another key: refused, with the variable named.
			other := make([]byte, 32)
			if _, err := rand.Read(other); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				key  []byte
				want string
			}{
				{"without the key", nil, "set QBACKUP_S3_SSE_C_KEY"},
				{"with another key", other, "QBACKUP_S3_SSE_C_KEY does not open it"},
			} {
				o := opts
				o.Encryption = storage.Encryption{CustomerKey: c.key}
				nb, err := storage.Open(ctx, "s3://"+p.Bucket+"/"+prefix, o)
				if err != nil {
					t.Fatal(err)
				}
				_, oerr := nb.Open(ctx, "small.json", 0)
				_, serr := nb.Stat(ctx, "big.snapshot")
				for _, err := range []error{oerr, serr} {
					if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, storage.ErrAccessDenied) {
						t.Errorf("%s: got %v, want an access error saying %q", c.name, err, c.want)
					}
				}
				t.Logf("%s: %v", c.name, oerr)
			}
			// An object written without SSE-C is not read with the key:
			// S3 refuses the key for it.
			if _, err := p.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(prefix + "/plain.json"), Body: strings.NewReader("{}")}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Open(ctx, "plain.json", 0); err == nil || !strings.Contains(err.Error(), "or without SSE-C") {
				t.Errorf("reading an object without SSE-C with the key: %v, want a refusal explaining it", err)
			} else {
				t.Logf("an object without SSE-C read with the key: %v", err)
			}
			ps, ok := b.(storage.Presigner)
			if !ok {
				t.Fatal("no presigner")
			}
			if _, err := ps.Presign(ctx, "small.json", time.Minute); err == nil || !strings.Contains(err.Error(), "--transfer=upload") {
				t.Errorf("presign of an SSE-C object: %v, want a refusal naming --transfer=upload", err)
			}
		})
	}
}

// TestS3PutRetained writes a small object (one PutObject) and a large one
// (a multipart upload, whose parts then carry checksums) under Object
// Lock retention into a bucket with Object Lock, combined with SSE-S3,
// and checks what HeadObject reports; into a bucket without Object Lock
// the put fails naming the cause.
func TestS3PutRetained(t *testing.T) {
	for _, tt := range []struct {
		name  string
		start func(testing.TB) *stacktest.PrivateS3
	}{
		// Over http the object bytes go unsigned (UNSIGNED-PAYLOAD): the
		// checksum S3 wants for a locked upload must still be there.
		{"over https", stacktest.StartPrivateS3},
		{"over plain http", stacktest.StartPrivateS3PlainHTTP},
	} {
		t.Run(tt.name, func(t *testing.T) { testS3PutRetained(t, tt.start(t)) })
	}
}

func testS3PutRetained(t *testing.T, p *stacktest.PrivateS3) {
	setCredentials(t, p.S3Env)
	t.Setenv("AWS_CA_BUNDLE", p.CAFile)
	p.CreateBucket(t, "locked", true)
	ctx := t.Context()
	opts := storage.Options{S3Endpoint: p.Endpoint, S3Region: p.Region, S3PathStyle: true, PartSize: 5 << 20,
		Encryption: storage.Encryption{Mode: storage.SSEAES256}}
	b, err := storage.Open(ctx, "s3://locked/sets", opts)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := b.(storage.Retainer)
	if !ok {
		t.Fatal("the S3 backend is no Retainer")
	}
	until := time.Now().Add(26 * time.Hour).UTC().Truncate(time.Second)
	big := make([]byte, 11<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	for key, data := range map[string][]byte{"small.json": []byte(`{}`), "big.snapshot": big} {
		if err := r.PutRetained(ctx, key, bytes.NewReader(data), storage.Retention{Mode: storage.RetentionCompliance, Until: until}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		h, err := p.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("locked"), Key: aws.String("sets/" + key)})
		if err != nil {
			t.Fatal(err)
		}
		if h.ObjectLockMode != types.ObjectLockModeCompliance || !aws.ToTime(h.ObjectLockRetainUntilDate).Equal(until) ||
			h.ServerSideEncryption != types.ServerSideEncryptionAes256 || aws.ToInt64(h.ContentLength) != int64(len(data)) {
			t.Errorf("%s: lock %q until %s, encryption %q, %d bytes; want COMPLIANCE until %s, AES256, %d bytes",
				key, h.ObjectLockMode, aws.ToTime(h.ObjectLockRetainUntilDate), h.ServerSideEncryption, aws.ToInt64(h.ContentLength), until, len(data))
		}
		rc, err := b.Open(ctx, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		_ = rc.Close()
		if !bytes.Equal(got, data) {
			t.Fatalf("%s reads back %d bytes, not the %d written", key, len(got), len(data))
		}
	}
	plain, err := storage.Open(ctx, "s3://"+p.Bucket+"/sets", opts)
	if err != nil {
		t.Fatal(err)
	}
	err = plain.(storage.Retainer).PutRetained(ctx, "x.json", bytes.NewReader([]byte(`{}`)), storage.Retention{Mode: storage.RetentionGovernance, Until: until})
	if err == nil || !strings.Contains(err.Error(), "Object Lock enabled") {
		t.Fatalf("a retained put into a bucket without Object Lock: %v", err)
	}
}
