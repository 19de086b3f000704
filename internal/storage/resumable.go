package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/qbackup/qbackup/internal/retry"
)

// ResumeOptions tune a ResumableReader. Zero values mean the defaults.
type ResumeOptions struct {
	// MaxAttempts is the number of consecutive failed (re)opens or reads
	// without progress before giving up (default 5). Any byte read
	// resets the count.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the exponential wait between
	// attempts (defaults 200ms and 10s).
	MinBackoff, MaxBackoff time.Duration
}

func (o ResumeOptions) withDefaults() ResumeOptions {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	return o
}

// NewResumableReader reads the size bytes of key and survives transient
// failures: after a read error (a reset connection, a stalled S3 stream
// ended by the SDK, a body shorter than size) it reopens the object at the
// current offset, with backoff, instead of starting again. size is the
// expected length (from the manifest); a shorter or longer object is an
// error. Permanent errors (ErrNotFound, ErrInvalidKey, ErrInvalidOffset,
// cancellation of ctx) are returned at once.
//
// The reader is not safe for concurrent use; Close releases the current
// stream.
func NewResumableReader(ctx context.Context, b Backend, key string, size int64) io.ReadCloser {
	return NewResumableReaderWith(ctx, b, key, size, ResumeOptions{})
}

// NewResumableReaderWith is NewResumableReader with explicit options.
func NewResumableReaderWith(ctx context.Context, b Backend, key string, size int64, opts ResumeOptions) io.ReadCloser {
	return &resumableReader{ctx: ctx, b: b, key: key, size: size, opts: opts.withDefaults()}
}

type resumableReader struct {
	ctx  context.Context // the reader is a short-lived call-scoped value
	b    Backend
	key  string
	size int64
	opts ResumeOptions

	body     io.ReadCloser
	offset   int64
	failures int   // consecutive failures without progress
	lastErr  error // most recent transient error
	err      error // sticky final error
	opened   bool
	closed   bool
}

func (r *resumableReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errors.New("read from closed resumable reader")
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if err := r.ctx.Err(); err != nil {
			return 0, r.fail(err)
		}
		// Open even when size is 0, so a missing object is not read as
		// an empty one.
		if r.body == nil && (r.offset < r.size || !r.opened) {
			if err := r.wait(); err != nil {
				return 0, err
			}
			body, err := r.b.Open(r.ctx, r.key, r.offset)
			if err != nil {
				if err := r.transient(err); err != nil {
					return 0, err
				}
				continue
			}
			r.body, r.opened = body, true
		}
		if r.offset == r.size {
			return 0, r.finish()
		}
		if rest := r.size - r.offset; int64(len(p)) > rest {
			p = p[:rest]
		}
		n, err := r.body.Read(p)
		r.offset += int64(n)
		if n > 0 {
			r.failures, r.lastErr = 0, nil
		}
		if err == io.EOF && r.offset < r.size {
			err = fmt.Errorf("stream ended at byte %d of %d: %w", r.offset, r.size, io.ErrUnexpectedEOF)
		}
		if err != nil && err != io.EOF {
			_ = r.body.Close()
			r.body = nil
			if terr := r.transient(err); terr != nil {
				if n > 0 {
					return n, nil // the error is sticky; report it on the next call
				}
				return 0, terr
			}
		}
		if n > 0 {
			return n, nil
		}
	}
}

// finish checks that the object is not longer than expected: one more byte
// from the current stream means the object does not match size.
func (r *resumableReader) finish() error {
	if r.body != nil {
		var one [1]byte
		n, _ := io.ReadFull(r.body, one[:])
		_ = r.body.Close()
		r.body = nil
		if n > 0 {
			return r.fail(fmt.Errorf("object is longer than the expected %d bytes", r.size))
		}
	}
	r.err = io.EOF
	return io.EOF
}

// transient records a failure; it returns nil if another attempt may be
// made, or the final error.
func (r *resumableReader) transient(err error) error {
	if permanent(err) || r.ctx.Err() != nil {
		if cerr := r.ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (after %w)", cerr, err)
		}
		return r.fail(err)
	}
	r.failures++
	r.lastErr = err
	if r.failures >= r.opts.MaxAttempts {
		return r.fail(fmt.Errorf("giving up after %d attempts without progress: %w", r.failures, err))
	}
	return nil
}

// wait sleeps before a reopen that follows a failure.
func (r *resumableReader) wait() error {
	if r.failures == 0 {
		return nil
	}
	d := retry.Policy{Base: r.opts.MinBackoff, Max: r.opts.MaxBackoff}.Wait(r.failures)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.ctx.Done():
		return r.fail(fmt.Errorf("%w (while retrying after %w)", r.ctx.Err(), r.lastErr))
	}
}

func (r *resumableReader) fail(err error) error {
	r.err = fmt.Errorf("read %s at byte %d: %w", r.key, r.offset, err)
	if r.body != nil {
		_ = r.body.Close()
		r.body = nil
	}
	return r.err
}

func (r *resumableReader) Close() error {
	r.closed = true
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

func permanent(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrInvalidOffset) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
