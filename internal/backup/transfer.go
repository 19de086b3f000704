package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/manifest"
)

// ZstdWindow is the zstd window size. It bounds the encoder's memory (about
// twice the window) whatever the snapshot size; 8 MiB is zstd's default
// window for its default level, so the ratio does not suffer.
const ZstdWindow = 8 << 20

// errUploadAborted closes the compression pipe when the upload gave up.
var errUploadAborted = errors.New("upload aborted")

// sums are the sizes and hashes of one transferred snapshot.
type sums struct {
	snapshotSize int64
	snapshotSHA  string
	objectSize   int64
	objectSHA    string
}

// counter counts bytes written to it.
type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// funcWriter reports byte counts to a callback (progress).
type funcWriter func(int64)

func (f funcWriter) Write(p []byte) (int, error) { f(int64(len(p))); return len(p), nil }

// tarEnd tracks the last 1 KiB of a stream: a tar archive ends with two
// zero 512-byte blocks, so a stream that stops anywhere else was cut.
// Qdrant's streamed snapshot has no length and no checksum; a body cut by
// a clean connection close would otherwise pass for a complete snapshot.
type tarEnd struct {
	n    int64
	tail [1024]byte
}

func (t *tarEnd) Write(p []byte) (int, error) {
	t.n += int64(len(p))
	if len(p) >= len(t.tail) {
		copy(t.tail[:], p[len(p)-len(t.tail):])
		return len(p), nil
	}
	copy(t.tail[:], t.tail[len(p):])
	copy(t.tail[len(t.tail)-len(p):], p)
	return len(p), nil
}

func (t *tarEnd) complete() bool {
	return t.n >= int64(len(t.tail)) && t.n%512 == 0 && bytes.Count(t.tail[:], []byte{0}) == len(t.tail)
}

// snapshotReader reads a snapshot from a peer through the hashes and turns
// an end of stream without the tar end-of-archive marker into ErrTruncated,
// so the upload that consumes it fails instead of committing a short
// object.
type snapshotReader struct {
	r    io.Reader // tee into hash, size, tail, progress
	end  *tarEnd
	eof  bool
	what string
}

func (s *snapshotReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		if !s.end.complete() {
			return n, fmt.Errorf("%s: %w: stream ended after %d bytes without the tar end-of-archive marker",
				s.what, ErrTruncated, s.end.n)
		}
		s.eof = true
	}
	return n, err
}

// upload is where transfer stores a snapshot, and how.
type upload struct {
	store       Store
	key         string
	compression string            // manifest.CompressionNone or CompressionZstd
	enc         *crypt.Recipients // nil: not encrypted
	what        string            // the snapshot, for errors
	onBytes     func(int64)       // progress: snapshot bytes read
}

// transfer streams src into u.key: snapshot bytes are hashed as read, then
// optionally zstd-compressed and age-encrypted (in that order: ciphertext
// does not compress) through a pipe, hashed again as stored, and handed
// to Store.Put. Nothing touches the disk and nothing is buffered beyond
// the encoders' own windows. abort must cancel the context src was opened
// with: it unblocks an encoder stuck on a peer read when the upload gave
// up. src is closed before transfer returns.
func transfer(ctx context.Context, src io.ReadCloser, abort func(), u upload) (sums, error) {
	store, key, compression, enc, what, onBytes := u.store, u.key, u.compression, u.enc, u.what, u.onBytes
	defer src.Close()
	snapHash, snapCount := sha256.New(), &counter{}
	end := &tarEnd{}
	in := &snapshotReader{
		r:    io.TeeReader(src, io.MultiWriter(snapHash, snapCount, end, funcWriter(onBytes))),
		end:  end,
		what: what,
	}

	var body io.Reader = in
	compressed := compression == manifest.CompressionZstd
	if compressed || enc != nil {
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.CloseWithError(encode(pw, in, compressed, enc))
		}()
		defer func() {
			pr.CloseWithError(errUploadAborted)
			abort()
			<-done
		}()
		body = pr
	}

	// Stored as read, the object is the snapshot: hash it once (SHA-256
	// is the largest CPU cost of a backup).
	objHash, objCount := snapHash, snapCount
	if compressed || enc != nil {
		objHash, objCount = sha256.New(), &counter{}
		body = io.TeeReader(body, io.MultiWriter(objHash, objCount))
	}
	if err := store.Put(ctx, key, body); err != nil {
		return sums{}, fmt.Errorf("upload %s: %w", what, err)
	}
	if !in.eof {
		// The store accepted the object without reading the snapshot to
		// its end; never count that as a backup.
		return sums{}, fmt.Errorf("upload %s to %s: %w: the store stopped reading after %d bytes", what, key, ErrTruncated, snapCount.n)
	}
	return sums{
		snapshotSize: snapCount.n, snapshotSHA: hexSum(snapHash),
		objectSize: objCount.n, objectSHA: hexSum(objHash),
	}, nil
}

// encode writes r to w, compressed and/or encrypted: zstd writes into
// the age writer, which writes into w.
func encode(w io.Writer, r io.Reader, compressed bool, enc *crypt.Recipients) error {
	if enc == nil {
		return compress(w, r)
	}
	ew, err := enc.Encrypt(w)
	if err != nil {
		return err
	}
	if compressed {
		err = compress(ew, r)
	} else {
		_, err = io.Copy(ew, r)
	}
	if err != nil {
		return err
	}
	// Close seals the last chunk; without it the object is truncated.
	if err := ew.Close(); err != nil {
		return fmt.Errorf("finish age encryption: %w", err)
	}
	return nil
}

// compress writes r zstd-compressed to w with one encoder goroutine and a
// bounded window. The frame carries no checksum (an xxhash64 of every
// snapshot byte): the manifest's SHA-256 of the snapshot and of the object
// cover the same bytes, and readers skip it (manifest.NewZstdReader).
func compress(w io.Writer, r io.Reader) error {
	enc, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(ZstdWindow), zstd.WithEncoderCRC(false))
	if err != nil {
		return fmt.Errorf("start zstd: %w", err)
	}
	if _, err := io.Copy(enc, r); err != nil {
		enc.Close()
		return err
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("finish zstd: %w", err)
	}
	return nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }
