// Package storage is where qbackup keeps backup objects: shard snapshots,
// manifests, the lock object and restore journals. Storage is the source of
// truth; the catalog is an index of it.
//
// # The interface
//
// Backend is deliberately small (after restic's backends and litestream's
// replica clients): Put a stream, Open from an offset, Stat, List a prefix
// in key order, Delete. Every method takes a context. Optional abilities are
// separate interfaces that callers discover with a type assertion:
// Conditional (PutIfAbsent, for the lock object when no catalog is
// configured) and Presigner (a time-limited GET URL, so a restore can let
// Qdrant pull a snapshot itself).
//
// Errors match the sentinels ErrNotFound, ErrExists, ErrInvalidKey and
// ErrInvalidOffset with errors.Is on every backend.
//
// Keys are '/'-separated paths relative to the backend root ("cluster/
// 20261125T133000Z-3f9c/manifest.json"); see ValidateKey. The package does
// not choose keys: internal/manifest owns the layout.
//
// # Storage URLs
//
//	file:///var/lib/qbackup   files under an absolute directory (demos, one machine)
//	s3://bucket/prefix        an S3 bucket (AWS, MinIO, any S3-compatible server)
//
// Open parses the URL and returns the backend. For S3, Options sets the
// endpoint (S3-compatible servers), region, path-style addressing, the
// multipart part size and concurrency, and the retry attempts;
// credentials come only from the AWS default chain (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, config files, web identity, instance roles), never
// from the URL, and never appear in errors.
//
// # Guarantees
//
//   - Put is all or nothing: the object appears only when complete. The
//     file backend writes a temporary file in the target directory, fsyncs
//     and renames it; S3 uploads a single object or a multipart upload that
//     is aborted on failure or cancellation (on a detached context, since
//     the SDK's own abort uses the cancelled one).
//   - Put streams: memory per Put is bounded (S3: PartSize × (Concurrency+1),
//     48 MiB by default) whatever the object size; nothing is staged on disk.
//   - Open(offset) starts a read in the middle of an object (S3 Range
//     requests); NewResumableReader builds long, failure-tolerant downloads
//     on it by reopening at the current offset after a transient error.
//   - List reports objects in ascending byte order of their keys on every
//     backend.
//
// Retries: S3 requests are retried by the SDK's standard retryer (Options.
// MaxAttempts, exponential backoff with jitter); the file backend does not
// retry. Reads of long streams add NewResumableReader on top.
//
// # Testing
//
// NewMemory is an in-memory backend with fault injection (Memory.Inject)
// for the unit tests of other packages. Package storagetest holds the
// conformance suite that the memory, file and S3 (MinIO) backends all
// pass.
package storage
