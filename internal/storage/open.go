package storage

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
	"time"
)

// Options configure the backends opened by Open. Zero values mean the
// defaults; only the S3 backend uses them today.
type Options struct {
	// S3Endpoint is the base URL of an S3-compatible server
	// (http://minio:9000); empty means AWS.
	S3Endpoint string
	// S3Region; empty means the AWS default chain (AWS_REGION, config
	// files), else DefaultRegion.
	S3Region string
	// S3PathStyle addresses buckets as <endpoint>/<bucket> instead of
	// <bucket>.<endpoint>; MinIO and most S3-compatible servers need it.
	S3PathStyle bool
	// PartSize of multipart uploads (5 MiB to 5 GiB; default
	// DefaultPartSize). It bounds the largest object to PartSize × 10,000.
	PartSize int64
	// Concurrency is the number of parts of one Put in flight (default
	// DefaultConcurrency).
	Concurrency int
	// PartBuffers is the number of part buffers shared by all Puts of the
	// backend (default DefaultPartBuffers): upload memory is at most
	// PartBuffers × PartSize.
	PartBuffers int
	// MaxAttempts per S3 request, first try included, by the SDK's
	// standard retryer with exponential backoff (default
	// DefaultMaxAttempts; 1 disables retries).
	MaxAttempts int
	// S3Timeout fails an S3 request whose connection moves no byte in
	// either direction for this long (default DefaultS3Timeout); with
	// retries a stalled endpoint fails a request after at most
	// MaxAttempts × S3Timeout plus the backoff between attempts.
	S3Timeout time.Duration
	// Encryption is the server-side encryption of every object written
	// to S3 and the SSE-C key reads send (see Encryption); a file store
	// refuses any.
	Encryption Encryption
	// MustExist refuses a file store whose directory does not exist, for
	// commands that only read: a mistyped path is then an error instead of
	// an empty store (and nothing is created).
	MustExist bool
}

func (o Options) withDefaults() (Options, error) {
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < minPartSize || o.PartSize > maxPartSize {
		return o, fmt.Errorf("s3 part size %d: must be between 5 MiB and 5 GiB", o.PartSize)
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Concurrency < 0 {
		return o, fmt.Errorf("s3 upload concurrency %d: must be positive", o.Concurrency)
	}
	if o.PartBuffers == 0 {
		o.PartBuffers = DefaultPartBuffers
	}
	if o.PartBuffers < 0 {
		return o, fmt.Errorf("s3 part buffers %d: must be positive", o.PartBuffers)
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.S3Timeout == 0 {
		o.S3Timeout = DefaultS3Timeout
	}
	if o.S3Timeout < 0 {
		return o, fmt.Errorf("s3 timeout %s: must be positive", o.S3Timeout)
	}
	if o.MaxAttempts < 0 {
		return o, fmt.Errorf("s3 max attempts %d: must be positive", o.MaxAttempts)
	}
	if err := o.Encryption.check(); err != nil {
		return o, err
	}
	if o.Encryption.CustomerKey != nil && strings.HasPrefix(o.S3Endpoint, "http://") {
		return o, fmt.Errorf("s3 SSE-C sends the key with every request: S3 accepts it over https:// only, not %s", redactURL(o.S3Endpoint))
	}
	if o.S3Endpoint != "" {
		u, err := url.Parse(o.S3Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, invalidURL("s3 endpoint %q: must be an http:// or https:// URL such as http://minio:9000", redactURL(o.S3Endpoint))
		}
		if u.User != nil {
			return o, invalidURL("s3 endpoint %q: credentials in the URL are not supported: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", redactURL(o.S3Endpoint))
		}
	}
	return o, nil
}

// Location is a parsed storage URL.
type Location struct {
	// Scheme is "file" or "s3".
	Scheme string
	// Path is the directory of a file store.
	Path string
	// Bucket and Prefix of an S3 store.
	Bucket, Prefix string
}

// ParseURL checks the form of a storage URL without touching anything:
//
//	file:///abs/path        files under /abs/path
//	s3://bucket[/prefix]    objects in bucket, under prefix
//
// Errors match ErrInvalidURL and say what to write instead.
func ParseURL(rawURL string) (Location, error) {
	shown := redactURL(rawURL)
	u, err := url.Parse(rawURL)
	if err == nil && u.Scheme == "file" && u.Opaque != "" {
		return Location{}, invalidURL("storage URL %q: file path must be absolute: use file:///abs/path", shown)
	}
	if err != nil || u.Opaque != "" {
		return Location{}, invalidURL("storage URL %q: malformed: use s3://bucket/prefix or file:///abs/path", shown)
	}
	if u.User != nil {
		return Location{}, invalidURL("storage URL %q: credentials in the URL are not supported: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Location{}, invalidURL("storage URL %q: query and fragment are not supported: set options with flags", shown)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, invalidURL("storage URL %q: file URLs take no host: use file:///abs/path (three slashes)", shown)
		}
		if !strings.HasPrefix(u.Path, "/") {
			return Location{}, invalidURL("storage URL %q: file path must be absolute: use file:///abs/path", shown)
		}
		if path.Clean(u.Path) != strings.TrimSuffix(u.Path, "/") && u.Path != "/" {
			return Location{}, invalidURL("storage URL %q: file path must be clean (no \".\", \"..\" or \"//\")", shown)
		}
		return Location{Scheme: "file", Path: u.Path}, nil
	case "s3":
		if u.Host == "" {
			return Location{}, invalidURL("storage URL %q: no bucket: use s3://bucket/prefix", shown)
		}
		if err := checkBucketName(u.Host); err != nil {
			return Location{}, invalidURL("storage URL %q: %v", shown, err)
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			if err := validatePath(prefix); err != nil {
				return Location{}, invalidURL("storage URL %q: prefix %q: %v", shown, prefix, err)
			}
		}
		return Location{Scheme: "s3", Bucket: u.Host, Prefix: u.Path}, nil
	case "":
		return Location{}, invalidURL("storage URL %q: scheme must be s3:// or file:// (a local directory is file:///abs/path)", shown)
	default:
		return Location{}, invalidURL("storage URL %q: scheme must be s3:// or file://", shown)
	}
}

// checkBucketName applies the S3 bucket naming rules
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html,
// which MinIO enforces too): 3 to 63 characters, lowercase letters, digits,
// dots and hyphens, beginning and ending with a letter or digit, no two
// adjacent dots, not shaped like an IP address. A name breaking them is a
// typo the server would only report as a confusing 400 or 404.
func checkBucketName(b string) error {
	const fix = "S3 bucket names are 3-63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q is %d characters long: %s", b, len(b), fix)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("bucket name %q contains %q: %s", b, c, fix)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return fmt.Errorf("bucket name %q: %s", b, fix)
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket name %q has two adjacent dots: %s", b, fix)
	}
	if net.ParseIP(b) != nil {
		return fmt.Errorf("bucket name %q is an IP address: %s", b, fix)
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// Open returns the backend for a storage URL (see ParseURL). For S3 it
// checks at once that the bucket exists and the credentials are accepted,
// so a misconfiguration fails before any work starts. A file store's
// directory is checked but not created: see OpenFile.
func Open(ctx context.Context, rawURL string, opts Options) (Backend, error) {
	loc, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if loc.Scheme == "file" {
		if opts.Encryption.set() {
			return nil, fmt.Errorf("server-side encryption applies to s3:// storage only, not %s", rawURL)
		}
		return OpenFile(loc.Path, opts.MustExist)
	}
	b, err := NewS3(ctx, loc.Bucket, loc.Prefix, opts)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// invalidURL is an error about the shape of a storage URL, found before
// anything is contacted. It matches ErrInvalidURL.
func invalidURL(format string, args ...any) error {
	return urlError(fmt.Sprintf(format, args...))
}

type urlError string

func (e urlError) Error() string { return string(e) }

// Is makes errors.Is(err, ErrInvalidURL) true.
func (e urlError) Is(target error) bool { return target == ErrInvalidURL }

// mark makes errors.Is(err, sentinel) true without changing err's message.
func mark(err, sentinel error) error { return marked{err: err, sentinel: sentinel} }

type marked struct{ err, sentinel error }

func (m marked) Error() string   { return m.err.Error() }
func (m marked) Unwrap() []error { return []error{m.err, m.sentinel} }

// redactURL hides any user:password part of a URL-like string, even one
// that does not parse, so it can appear in errors and logs.
func redactURL(raw string) string {
	rest, scheme := raw, ""
	if i := strings.Index(raw, "://"); i >= 0 {
		scheme, rest = raw[:i+3], raw[i+3:]
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		return scheme + "xxxxx@" + rest[at+1:]
	}
	return raw
}
