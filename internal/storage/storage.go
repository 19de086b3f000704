package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Sentinel errors. Every backend returns errors that match these with
// errors.Is, whatever its native error looks like.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrExists: PutIfAbsent found the key already present.
	ErrExists = errors.New("object already exists")
	// ErrInvalidKey: the key is not a valid relative '/'-separated path.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrInvalidOffset: Open was asked to start beyond the end of the object.
	ErrInvalidOffset = errors.New("offset beyond end of object")
	// ErrInvalidURL: a storage or S3 endpoint URL that names no backend
	// (scheme, bucket, path); Open returns it before contacting anything.
	ErrInvalidURL = errors.New("invalid storage URL")
	// ErrBucketNotFound: the bucket named by the storage URL does not exist.
	ErrBucketNotFound = errors.New("bucket not found")
	// ErrAccessDenied: the storage rejected the credentials.
	ErrAccessDenied = errors.New("storage access denied")
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string // relative to the backend root, '/'-separated
	Size    int64
	ModTime time.Time
}

// Backend stores objects under '/'-separated keys relative to its root.
//
// Every method takes a context; cancelling it aborts the operation. All
// methods are safe for concurrent use. Keys are validated with ValidateKey;
// an invalid key fails with ErrInvalidKey before any I/O.
type Backend interface {
	// Put streams r into key, replacing any existing object. The object
	// becomes visible only when complete: on error or cancellation nothing
	// of this Put remains (multipart upload aborted, temporary file
	// removed) and a previous object under key is left untouched. An
	// error from r is returned wrapped (errors.Is works on it).
	Put(ctx context.Context, key string, r io.Reader) error

	// Open reads key starting at offset (0 <= offset <= size; offset ==
	// size gives an empty stream, a larger offset ErrInvalidOffset). It is
	// the basis of resumable reads, see NewResumableReader. The caller
	// closes the reader.
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)

	// Stat returns the size and modification time of key.
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// List calls fn for every object whose key starts with prefix (a plain
	// string prefix, not necessarily ending in '/'; "" lists everything),
	// in ascending byte order of keys. An error from fn stops the listing
	// and is returned as is. Objects written or deleted during the listing
	// may or may not be seen.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error

	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Conditional is implemented by backends that can create an object only if
// it does not exist yet, atomically with respect to other writers. It is
// meant for small objects such as the backup lock (S3 reads the whole body
// into memory first, up to MaxConditionalPutSize).
type Conditional interface {
	// PutIfAbsent writes r to key if no object exists there, and returns
	// ErrExists otherwise. Like Put, it leaves nothing behind on failure.
	PutIfAbsent(ctx context.Context, key string, r io.Reader) error
}

// MaxConditionalPutSize bounds the body of PutIfAbsent on backends that
// must buffer it (S3).
const MaxConditionalPutSize = 5 << 20

// Retention puts an object under a retention lock (S3 Object Lock): no
// version of it can be deleted or overwritten before Until, by anyone in
// COMPLIANCE mode, by no one without the right to bypass it in
// GOVERNANCE mode.
type Retention struct {
	Mode  string // RetentionGovernance or RetentionCompliance
	Until time.Time
}

// Object Lock retention modes (S3's names).
const (
	RetentionGovernance = "GOVERNANCE"
	RetentionCompliance = "COMPLIANCE"
)

// Retainer is implemented by backends that can write an object under a
// retention lock (S3, in a bucket created with Object Lock enabled).
type Retainer interface {
	// PutRetained is Put with the object locked until ret.Until.
	PutRetained(ctx context.Context, key string, r io.Reader, ret Retention) error
}

// Presigner is implemented by backends that can hand out a time-limited
// URL from which anyone can GET the object without credentials (S3). A
// restore with `--transfer presigned` gives such a URL to Qdrant so that it
// pulls the snapshot itself.
type Presigner interface {
	// Presign returns a URL valid for ttl that serves key with a plain
	// HTTP GET. It does not check that key exists.
	Presign(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// ValidateKey reports whether key is a valid object key: non-empty,
// relative, '/'-separated, with no empty, "." or ".." segment, no trailing
// '/', no backslash and no NUL byte. The error wraps ErrInvalidKey.
func ValidateKey(key string) error {
	if err := validatePath(key); err != nil {
		return fmt.Errorf("object key %q: %w", key, err)
	}
	return nil
}

func validatePath(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w: must be relative, not start with '/'", ErrInvalidKey)
	case strings.ContainsAny(key, "\x00\\"):
		return fmt.Errorf("%w: contains a NUL byte or a backslash", ErrInvalidKey)
	}
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: empty path segment (\"//\" or trailing '/')", ErrInvalidKey)
		case ".", "..":
			return fmt.Errorf("%w: %q path segment", ErrInvalidKey, seg)
		}
	}
	return nil
}

// validatePrefix checks a List prefix: "" or the start of a valid key.
// Every complete segment (before the last '/') must be valid; the last
// segment may be partial or empty ("cluster/2026", "cluster/").
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if strings.HasPrefix(prefix, "/") || strings.ContainsAny(prefix, "\x00\\") {
		return fmt.Errorf("list prefix %q: %w: must be relative, without NUL or backslash", prefix, ErrInvalidKey)
	}
	segs := strings.Split(prefix, "/")
	for _, seg := range segs[:len(segs)-1] {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("list prefix %q: %w: %q path segment", prefix, ErrInvalidKey, seg)
		}
	}
	return nil
}

// ctxReader makes a blocking copy loop notice cancellation between reads.
// It cannot interrupt a Read that is already blocked; the producers used
// with Put (HTTP bodies, pipes) are closed by their own owners on
// cancellation.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
