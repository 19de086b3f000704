package qdrantsim

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// peerRate caps the snapshot bytes one peer sends and receives per second,
// all streams together, the way one machine's disk and network would: on a
// single test host every peer shares the same cores, so without a cap the
// peers of a cluster compete for CPU and parallelism across peers cannot
// be seen. Qdrant has no such setting; it is a realism knob of the
// simulator (Options.PeerRate, qdrant-sim --peer-rate).
//
// It is a virtual-clock limiter: each chunk books rate-sized time after
// the previous booking and waits until its slot has passed, so the long-run
// rate is at most rate whatever the number of streams, and an idle peer
// does not save up credit beyond burst.
type peerRate struct {
	rate  int64 // bytes per second; 0 = unlimited
	mu    sync.Mutex
	next  time.Time
	sleep func(context.Context, time.Duration) error
	now   func() time.Time
}

// rateChunk is the largest booking at once: small enough that concurrent
// streams interleave smoothly, large enough that the lock is cheap.
const rateChunk = 256 << 10

// rateBurst is how far behind the present the booking clock may lag, so a
// peer idle for a while starts again at the rate rather than with a burst.
const rateBurst = 20 * time.Millisecond

func newPeerRate(rate int64) *peerRate {
	return &peerRate{rate: rate, sleep: sleepRate, now: time.Now}
}

func sleepRate(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait blocks until n more bytes are allowed.
func (l *peerRate) wait(ctx context.Context, n int) error {
	if l == nil || l.rate <= 0 || n <= 0 {
		return nil
	}
	l.mu.Lock()
	now := l.now()
	if l.next.Before(now.Add(-rateBurst)) {
		l.next = now.Add(-rateBurst)
	}
	l.next = l.next.Add(time.Duration(float64(n) / float64(l.rate) * float64(time.Second)))
	d := l.next.Sub(now)
	l.mu.Unlock()
	return l.sleep(ctx, d)
}

// writer is w with every write paced by l; nil l or rate 0 returns w.
func (l *peerRate) writer(ctx context.Context, w io.Writer) io.Writer {
	if l == nil || l.rate <= 0 {
		return w
	}
	return &rateWriter{ctx: ctx, l: l, w: w}
}

// reader is r with every read paced by l; nil l or rate 0 returns r.
func (l *peerRate) reader(ctx context.Context, r io.Reader) io.Reader {
	if l == nil || l.rate <= 0 {
		return r
	}
	return &rateReader{ctx: ctx, l: l, r: r}
}

type rateWriter struct {
	ctx context.Context
	l   *peerRate
	w   io.Writer
}

func (rw *rateWriter) Write(b []byte) (int, error) {
	var done int
	for len(b) > 0 {
		chunk := b[:min(len(b), rateChunk)]
		if err := rw.l.wait(rw.ctx, len(chunk)); err != nil {
			return done, err
		}
		n, err := rw.w.Write(chunk)
		done += n
		if err != nil {
			return done, err
		}
		b = b[n:]
	}
	return done, nil
}

type rateReader struct {
	ctx context.Context
	l   *peerRate
	r   io.Reader
}

func (rr *rateReader) Read(b []byte) (int, error) {
	if len(b) > rateChunk {
		b = b[:rateChunk]
	}
	n, err := rr.r.Read(b)
	if n > 0 {
		if werr := rr.l.wait(rr.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// responseWriter is w with its body writes paced by l; nil l or rate 0
// returns w. Headers and status pass unchanged.
func (l *peerRate) responseWriter(ctx context.Context, w http.ResponseWriter) http.ResponseWriter {
	if l == nil || l.rate <= 0 {
		return w
	}
	return &rateResponseWriter{ResponseWriter: w, out: l.writer(ctx, w)}
}

type rateResponseWriter struct {
	http.ResponseWriter
	out io.Writer
}

func (rw *rateResponseWriter) Write(b []byte) (int, error) { return rw.out.Write(b) }

// Unwrap lets http.ResponseController reach the connection.
func (rw *rateResponseWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
