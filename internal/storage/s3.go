package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Defaults of the S3 options; see Options.
const (
	DefaultPartSize    = 16 << 20 // 16 MiB: objects up to 160 GiB (10,000 parts)
	DefaultConcurrency = 2
	// DefaultPartBuffers part buffers are shared by all uploads: 128 MiB
	// with the default part size, enough for the default four shards
	// streaming at once with two parts each in flight.
	DefaultPartBuffers = 8
	DefaultMaxAttempts = 5
	DefaultRegion      = "us-east-1"

	minPartSize = 5 << 20 // S3's minimum part size (except the last part)
	maxPartSize = 5 << 30
)

// cleanupTimeout bounds the abort of a failed multipart upload, which runs
// on a context detached from the (possibly cancelled) caller's.
const cleanupTimeout = 30 * time.Second

// S3 stores objects in an S3 bucket (AWS or any S3-compatible server such
// as MinIO) under a key prefix.
//
// Put streams the body in parts of PartSize bytes, up to Concurrency parts
// of one object in flight, from a pool of PartBuffers buffers shared by all
// Puts: upload memory is at most PartBuffers × PartSize (128 MiB with the
// defaults) whatever the object sizes and the number of concurrent Puts.
// An object can be at most PartSize × 10,000 bytes; one shorter than a
// part is sent with a single PutObject.
type S3 struct {
	client      *s3.Client
	presign     *s3.PresignClient
	parts       *partPool
	concurrency int
	bucket      string
	plainHTTP   bool   // the endpoint is http://, see payloadOptions
	prefix      string // "" or ending in '/'
	endpoint    string // for messages, without credentials
	sse         sseHeaders
}

var (
	_ Backend     = (*S3)(nil)
	_ Conditional = (*S3)(nil)
	_ Presigner   = (*S3)(nil)
	_ Retainer    = (*S3)(nil)
)

// NewS3 connects to bucket and checks with HeadBucket that it exists and
// that the credentials are accepted. prefix ("" or a valid key, with or
// without trailing '/') is prepended to every key. Credentials come from
// the AWS default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, shared
// config files, web identity, instance roles).
func NewS3(ctx context.Context, bucket, prefix string, opts Options) (*S3, error) {
	if bucket == "" {
		return nil, errors.New("s3 storage: bucket name is empty")
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := validatePath(prefix); err != nil {
			return nil, fmt.Errorf("s3 storage prefix %q: %w", prefix, err)
		}
		prefix += "/"
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}

	loadOpts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = opts.MaxAttempts
				// The client-side retry quota is meant for fleets of
				// clients against AWS; a backup job would rather retry
				// every request up to MaxAttempts than fail fast.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if opts.S3Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.S3Region))
	}
	if opts.S3Endpoint != "" {
		// Many S3-compatible servers reject or mishandle the CRC checksums
		// the SDK sends by default since 2025; integrity is checked end to
		// end with the SHA-256 recorded in the manifest instead.
		loadOpts = append(loadOpts,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	// With only one of the pair set, the SDK silently skips the
	// environment and tries the rest of its chain (instance metadata...),
	// whose error does not say which variable is missing: a Secret that
	// lost a key must be named.
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID") != "", os.Getenv("AWS_SECRET_ACCESS_KEY") != ""
	if id != secret {
		set, missing := "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"
		if secret {
			set, missing = missing, set
		}
		return nil, mark(fmt.Errorf("s3 storage: %s is set but %s is missing or empty: set both (in Kubernetes, as keys of the Secret qbackup-secrets) or neither to use the AWS default credential chain", set, missing), ErrAccessDenied)
	}
	endpointForMsg := "AWS S3"
	if opts.S3Region != "" {
		endpointForMsg += " (" + opts.S3Region + ")"
	}
	if opts.S3Endpoint != "" {
		endpointForMsg = redactURL(opts.S3Endpoint)
	}
	// Every connection to S3 fails once nothing moved on it for
	// S3Timeout (see idleDialer): a stalled endpoint fails the request,
	// which the retryer then tries again on a new connection. The client
	// is handed to the loader (not set afterwards) so that the loader
	// still adds AWS_CA_BUNDLE's roots to it: an endpoint with a private
	// CA (MinIO with TLS, needed for SSE-C) is trusted that way.
	loadOpts = append(loadOpts, config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.DialContext = idleDialer(tr.DialContext, endpointForMsg, opts.S3Timeout)
	})))
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("s3 storage: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("s3 storage at %s: no usable credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "+
			"(or another source of the AWS default credential chain): %w", endpointForMsg, err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.S3Endpoint)
		}
		o.UsePathStyle = opts.S3PathStyle
	})
	b := &S3{
		client:      client,
		presign:     s3.NewPresignClient(client),
		parts:       newPartPool(opts.PartBuffers, opts.PartSize),
		concurrency: opts.Concurrency,
		bucket:      bucket,
		plainHTTP:   strings.HasPrefix(opts.S3Endpoint, "http://"),
		prefix:      prefix,
		endpoint:    endpointForMsg,
		sse:         newSSEHeaders(opts.Encryption),
	}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		if httpStatus(err) != http.StatusForbidden || prefix == "" {
			return nil, b.openError(err)
		}
		// HeadBucket needs s3:ListBucket on the whole bucket, which a
		// policy restricted to the backup prefix (the one the README
		// documents, manifests/iam/qbackup-s3-policy.json) does not
		// grant: a listing of the prefix alone checks the bucket and the
		// credentials within what such a policy allows.
		if _, lerr := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
			Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1),
		}); lerr != nil {
			return nil, b.openError(lerr)
		}
	}
	return b, nil
}

// openError turns the failure of the HeadBucket at open into a message that
// says what to do. SDK errors carry request ids, never credentials.
func (b *S3) openError(err error) error {
	code, status := apiErrorCode(err), httpStatus(err)
	switch {
	case status == http.StatusNotFound || code == "NoSuchBucket" || code == "NotFound":
		return mark(fmt.Errorf("bucket %q does not exist at %s: create it or fix --storage: %w", b.bucket, b.endpoint, err), ErrBucketNotFound)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "InvalidToken" ||
		code == "ExpiredToken" || status == http.StatusForbidden || status == http.StatusUnauthorized:
		return mark(fmt.Errorf("S3 rejected the credentials for bucket %q at %s (HTTP %d %s): "+
			"check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and the bucket policy: %w", b.bucket, b.endpoint, status, code, err), ErrAccessDenied)
	case status == http.StatusMovedPermanently || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed":
		return fmt.Errorf("bucket %q at %s is in another region: set --s3-region: %w", b.bucket, b.endpoint, err)
	case errors.Is(err, ErrS3Stalled):
		return fmt.Errorf("s3 storage: check bucket %q: %w", b.bucket, err)
	case isNetError(err):
		return fmt.Errorf("cannot reach S3 at %s: check --s3-endpoint and the network: %w", b.endpoint, err)
	}
	return fmt.Errorf("s3 storage: check bucket %q at %s: %w", b.bucket, b.endpoint, err)
}

// String returns the storage URL of the backend.
func (b *S3) String() string {
	return "s3://" + b.bucket + "/" + b.prefix
}

func (b *S3) key(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return b.prefix + key, nil
}

// Put implements Backend.
func (b *S3) Put(ctx context.Context, key string, r io.Reader) error {
	k, err := b.key(key)
	if err != nil {
		return err
	}
	if err := b.upload(ctx, k, r, nil); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// PutRetained implements Retainer: Put with the object lock mode and
// retain-until date on the upload itself, so the object is never
// unprotected. S3 requires a checksum on such uploads, so each request
// carries a CRC32 (the manifest's SHA-256 still checks the whole object).
func (b *S3) PutRetained(ctx context.Context, key string, r io.Reader, ret Retention) error {
	k, err := b.key(key)
	if err != nil {
		return err
	}
	if ret.Mode != RetentionGovernance && ret.Mode != RetentionCompliance {
		return fmt.Errorf("put %s: object lock mode %q: use %s or %s", key, ret.Mode, RetentionGovernance, RetentionCompliance)
	}
	if err := b.upload(ctx, k, r, &ret); err != nil {
		if code := apiErrorCode(err); code == "InvalidRequest" || code == "InvalidBucketObjectLockConfiguration" || code == "ObjectLockConfigurationNotFoundError" {
			return fmt.Errorf("put %s under object lock: is bucket %q created with Object Lock enabled? %w", key, b.bucket, err)
		}
		if httpStatus(err) == http.StatusForbidden {
			return fmt.Errorf("put %s under object lock: S3 refused it: the credentials need s3:PutObjectRetention besides s3:PutObject: %w", key, err)
		}
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// abortUpload removes the parts of a failed multipart upload, on a context
// that survives the cancellation of the caller's.
//
// uploadID is the upload to abort; "" when CreateMultipartUpload failed.
// If that call failed because of a cancellation racing with it, the server
// may have created an upload whose id we never saw; so after a
// cancellation we also abort every pending upload of this exact key.
// Trade-off: a concurrent Put of the same key by another writer would then
// fail too — qbackup never writes one key from two places.
func (b *S3) abortUpload(ctx context.Context, k, uploadID string) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var errs []error
	if uploadID != "" {
		if err := b.abort(actx, k, uploadID); err != nil {
			errs = append(errs, err)
		}
	}
	if ctx.Err() != nil {
		in := &s3.ListMultipartUploadsInput{Bucket: aws.String(b.bucket), Prefix: aws.String(k)}
		for {
			out, err := b.client.ListMultipartUploads(actx, in)
			if err != nil {
				errs = append(errs, fmt.Errorf("list pending uploads: %w", err))
				break
			}
			for _, u := range out.Uploads {
				if aws.ToString(u.Key) == k {
					if err := b.abort(actx, k, aws.ToString(u.UploadId)); err != nil {
						errs = append(errs, err)
					}
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("abort multipart upload (parts may remain until a lifecycle rule removes them): %w", errors.Join(errs...))
	}
	return nil
}

func (b *S3) abort(ctx context.Context, k, uploadID string) error {
	_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(b.bucket), Key: aws.String(k), UploadId: aws.String(uploadID),
	})
	if err != nil && !isNotFound(err) { // NoSuchUpload: already gone
		return err
	}
	return nil
}

// PutIfAbsent implements Conditional with PutObject and "If-None-Match: *"
// (AWS since 2024, MinIO). The body is read into memory first, up to
// MaxConditionalPutSize: PutObject needs a known length, and a multipart
// upload cannot be made conditional as a whole.
func (b *S3) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	k, err := b.key(key)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(ctxReader{ctx: ctx, r: r}, MaxConditionalPutSize+1))
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if len(data) > MaxConditionalPutSize {
		return fmt.Errorf("put %s: conditional put limited to %d bytes", key, MaxConditionalPutSize)
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(b.bucket),
		Key:           aws.String(k),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		IfNoneMatch:   aws.String("*"),
	}
	b.sse.put(in)
	_, err = b.client.PutObject(ctx, in)
	if err != nil {
		if httpStatus(err) == http.StatusPreconditionFailed || apiErrorCode(err) == "PreconditionFailed" {
			return fmt.Errorf("put %s: %w", key, ErrExists)
		}
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Open implements Backend with a ranged GetObject ("Range: bytes=N-").
func (b *S3) Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	k, err := b.key(key)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("open %s at %d: %w", key, offset, ErrInvalidOffset)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(k)}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	b.sse.get(in)
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("open %s: %w: %w", key, ErrNotFound, err)
		}
		if rerr, ok := b.readError(key, err); ok {
			return nil, rerr
		}
		if httpStatus(err) == http.StatusRequestedRangeNotSatisfiable || apiErrorCode(err) == "InvalidRange" {
			// S3 answers 416 for an offset at or past the end; at the
			// end exactly, the contract is an empty stream.
			info, serr := b.Stat(ctx, key)
			if serr != nil {
				return nil, serr
			}
			if offset == info.Size {
				return io.NopCloser(bytes.NewReader(nil)), nil
			}
			return nil, fmt.Errorf("open %s at %d (size %d): %w", key, offset, info.Size, ErrInvalidOffset)
		}
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return out.Body, nil
}

// Stat implements Backend with HeadObject.
func (b *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	k, err := b.key(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	in := &s3.HeadObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(k)}
	b.sse.head(in)
	out, err := b.client.HeadObject(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return ObjectInfo{}, fmt.Errorf("stat %s: %w: %w", key, ErrNotFound, err)
		}
		if rerr, ok := b.readError(key, err); ok {
			return ObjectInfo{}, rerr
		}
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// List implements Backend with the ListObjectsV2 paginator; S3 returns keys
// in ascending UTF-8 byte order.
func (b *S3) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := validatePrefix(prefix); err != nil {
		return err
	}
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(b.bucket),
		Prefix: aws.String(b.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), b.prefix)
			if ValidateKey(k) != nil {
				continue // written by something else ("a//b", "dir/"): not addressable
			}
			if err := fn(ObjectInfo{Key: k, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete implements Backend. S3 answers 204 for a missing key as well.
func (b *S3) Delete(ctx context.Context, key string) error {
	k, err := b.key(key)
	if err != nil {
		return err
	}
	_, err = b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(k)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// Presign implements Presigner with a presigned GetObject. The URL embeds
// a signature valid for ttl (at most 7 days with SigV4), not the secret.
func (b *S3) Presign(ctx context.Context, key string, ttl time.Duration) (string, error) {
	k, err := b.key(key)
	if err != nil {
		return "", err
	}
	if b.sse.customer() {
		// A presigned GET of an SSE-C object needs the key in the
		// request's headers: the URL alone would make Qdrant hand it
		// over, or fail. The key never leaves qbackup.
		return "", fmt.Errorf("presign %s: objects encrypted with a customer key (SSE-C) cannot be read through a presigned URL: restore with --transfer=upload", key)
	}
	if ttl <= 0 || ttl > 7*24*time.Hour {
		return "", fmt.Errorf("presign %s: ttl %s out of range (0, 168h]", key, ttl)
	}
	req, err := b.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(k)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", key, err)
	}
	return req.URL, nil
}

func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsu *types.NoSuchUpload
	if errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nsu) {
		return true
	}
	switch apiErrorCode(err) {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	case "NoSuchBucket": // the bucket went away: not a missing object
		return false
	}
	return httpStatus(err) == http.StatusNotFound
}

func isNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	return errors.As(err, &oe) || errors.As(err, &de) || errors.As(err, &ne)
}

// AbortStaleUploads aborts the incomplete multipart uploads under prefix
// for which stale(key, initiated) is true, and returns how many it
// aborted. A run killed in the middle of an upload (SIGKILL, OOM) cannot
// abort it, and S3 keeps its parts, unseen by listings and billed, until
// a lifecycle rule removes them; prune calls this. Keys are relative to
// the backend's prefix, as everywhere.
func (b *S3) AbortStaleUploads(ctx context.Context, prefix string, stale func(key string, initiated time.Time) bool) (int, error) {
	if err := validatePrefix(prefix); err != nil {
		return 0, err
	}
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(b.bucket), Prefix: aws.String(b.prefix + prefix)}
	n := 0
	var errs []error
	for {
		out, err := b.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, fmt.Errorf("list incomplete multipart uploads under %s: %w", prefix, err)
		}
		for _, u := range out.Uploads {
			k := aws.ToString(u.Key)
			rel := strings.TrimPrefix(k, b.prefix)
			if !stale(rel, aws.ToTime(u.Initiated)) {
				continue
			}
			if err := b.abort(ctx, k, aws.ToString(u.UploadId)); err != nil {
				errs = append(errs, fmt.Errorf("abort the upload of %s: %w", rel, err))
				continue
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	return n, errors.Join(errs...)
}
