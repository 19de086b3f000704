package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultS3Timeout is how long an S3 connection may move no byte in either
// direction before the request on it fails (Options.S3Timeout).
const DefaultS3Timeout = time.Minute

// StallError is the failure of an S3 request whose connection moved no
// byte, in either direction, for Idle: the endpoint accepted the
// connection but stopped answering or stopped reading the upload. It is a
// net.Error with Timeout() true, so the SDK retries it on a new connection
// up to MaxAttempts times like any dropped connection.
type StallError struct {
	Endpoint string
	Idle     time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("S3 at %s stopped answering: no byte sent or received for %s (--s3-timeout)", e.Endpoint, e.Idle)
}

// Timeout implements net.Error.
func (e *StallError) Timeout() bool { return true }

// Temporary implements net.Error (deprecated there, still read by the SDK's
// retryer): a new connection may work.
func (e *StallError) Temporary() bool { return true }

// ErrS3Stalled is matched by *StallError.
var ErrS3Stalled = errors.New("S3 stalled")

// Is makes errors.Is(err, ErrS3Stalled) true.
func (e *StallError) Is(target error) bool { return target == ErrS3Stalled }

// idleDialer wraps dial so that every connection fails with a *StallError
// once nothing has moved on it for timeout. Activity in either direction
// counts: while a part uploads the response side is silent, and while a
// response downloads the request side is; a slow transfer that makes
// progress never fails, a silent one always does. Idle connections in the
// transport's pool are closed after timeout as well (the transport's own
// read of an idle connection sees the error and drops it; the SDK's default
// IdleConnTimeout is 90 s anyway).
//
// Why not the SDK's read timeout: it only watches reads, so an endpoint
// that stops reading an upload (its receive window full) would block the
// write forever, and a part uploading slowly for longer than the timeout
// would fail while healthy.
func idleDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), endpoint string, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		ic := &idleConn{Conn: c, timeout: timeout, endpoint: endpoint}
		ic.touch()
		return ic, nil
	}
}

type idleConn struct {
	net.Conn
	timeout  time.Duration
	endpoint string
	last     atomic.Int64 // UnixNano of the last byte moved either way
}

func (c *idleConn) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *idleConn) deadline() time.Time { return time.Unix(0, c.last.Load()).Add(c.timeout) }

// quiet reports whether nothing has moved for the timeout.
func (c *idleConn) quiet() bool { return !time.Now().Before(c.deadline()) }

func (c *idleConn) stalled() error { return &StallError{Endpoint: c.endpoint, Idle: c.timeout} }

func (c *idleConn) Read(p []byte) (int, error) {
	for {
		if err := c.Conn.SetReadDeadline(c.deadline()); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(p)
		if n > 0 {
			c.touch()
		}
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			if n == 0 && !c.quiet() {
				continue // the other direction moved meanwhile: keep waiting
			}
			return n, c.stalled()
		}
		return n, err
	}
}

func (c *idleConn) Write(p []byte) (int, error) {
	written := 0
	for {
		if err := c.Conn.SetWriteDeadline(c.deadline()); err != nil {
			return written, err
		}
		n, err := c.Conn.Write(p[written:])
		written += n
		if n > 0 {
			c.touch()
		}
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			if written < len(p) && !c.quiet() {
				continue // progress (ours or the response's) within the window
			}
			return written, c.stalled()
		}
		return written, err
	}
}

// writeChunk is the size of the writes of a request body to S3. The HTTP
// transport copies a body it cannot hand over whole (the SDK's wrapper of
// a part has no WriteTo) 32 KiB at a time, a write syscall each: 32,768
// per GiB uploaded; at 256 KiB a 1 GiB backup into MinIO makes 4,820
// writes instead of 33,453.
const writeChunk = 256 << 10

var writeBuffers = sync.Pool{New: func() any {
	b := make([]byte, writeChunk)
	return &b
}}

// ReadFrom sends r in writes of up to writeChunk bytes: the transport's
// io.Copy into the connection uses it, so a part goes out in 256 KiB
// writes instead of 32 KiB ones. Each write keeps Write's idle handling.
func (c *idleConn) ReadFrom(r io.Reader) (int64, error) {
	bp := writeBuffers.Get().(*[]byte)
	defer writeBuffers.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w, werr := c.Write(buf[:n])
			total += int64(w)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}
