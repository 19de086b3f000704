package storage

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"
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
	if o.MaxAttempts < 0 {
		return o, fmt.Errorf("s3 max attempts %d: must be positive", o.MaxAttempts)
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

// Open returns the backend for a storage URL:
//
//	file:///abs/path        files under /abs/path (created if missing)
//	s3://bucket[/prefix]    objects in bucket, under prefix
//
// For S3 it checks at once that the bucket exists and the credentials are
// accepted, so a misconfiguration fails before any work starts.
func Open(ctx context.Context, rawURL string, opts Options) (Backend, error) {
	shown := redactURL(rawURL)
	u, err := url.Parse(rawURL)
	if err == nil && u.Scheme == "file" && u.Opaque != "" {
		return nil, invalidURL("storage URL %q: file path must be absolute: use file:///abs/path", shown)
	}
	if err != nil || u.Opaque != "" {
		return nil, invalidURL("storage URL %q: malformed: use s3://bucket/prefix or file:///abs/path", shown)
	}
	if u.User != nil {
		return nil, invalidURL("storage URL %q: credentials in the URL are not supported: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, invalidURL("storage URL %q: query and fragment are not supported: set options with flags", shown)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, invalidURL("storage URL %q: file URLs take no host: use file:///abs/path (three slashes)", shown)
		}
		if !strings.HasPrefix(u.Path, "/") {
			return nil, invalidURL("storage URL %q: file path must be absolute: use file:///abs/path", shown)
		}
		if path.Clean(u.Path) != strings.TrimSuffix(u.Path, "/") && u.Path != "/" {
			return nil, invalidURL("storage URL %q: file path must be clean (no \".\", \"..\" or \"//\")", shown)
		}
		b, err := NewFile(u.Path)
		if err != nil {
			return nil, err
		}
		return b, nil
	case "s3":
		if u.Host == "" {
			return nil, invalidURL("storage URL %q: no bucket: use s3://bucket/prefix", shown)
		}
		b, err := NewS3(ctx, u.Host, u.Path, opts)
		if err != nil {
			return nil, err
		}
		return b, nil
	case "":
		return nil, invalidURL("storage URL %q: scheme must be s3:// or file:// (a local directory is file:///abs/path)", shown)
	default:
		return nil, invalidURL("storage URL %q: scheme must be s3:// or file://", shown)
	}
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
