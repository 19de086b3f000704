// Package faultproxy is a TCP proxy for fault tests: it forwards
// connections to a real service (MinIO, MariaDB) until told to stall, and
// then keeps every connection open while forwarding nothing more in
// either direction — an endpoint that accepted the connection and stopped
// answering, or stopped reading mid-upload.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards 127.0.0.1:<port> to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	stallAfter atomic.Int64 // client→server bytes after which to stall; <0: never
	upstream   atomic.Int64 // client→server bytes forwarded so far
	stalled    chan struct{}
	stallOnce  sync.Once

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// Start listens on a free loopback port and forwards to target; the proxy
// is closed at the end of the test.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fault proxy: listen: %v", err)
	}
	p := &Proxy{ln: ln, target: target, stalled: make(chan struct{})}
	p.stallAfter.Store(-1)
	p.wg.Go(p.accept)
	t.Cleanup(p.Close)
	return p
}

// Addr is host:port to connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stall stops forwarding now, on every connection open or to come.
func (p *Proxy) Stall() { p.stallOnce.Do(func() { close(p.stalled) }) }

// StallAfter stalls once n more bytes have gone from clients to the
// target (counting from now): mid-upload when n is less than the upload.
func (p *Proxy) StallAfter(n int64) { p.stallAfter.Store(p.upstream.Load() + n) }

// Stalled is closed when the proxy stalls.
func (p *Proxy) Stalled() <-chan struct{} { return p.stalled }

// Forwarded is the number of client→target bytes forwarded.
func (p *Proxy) Forwarded() int64 { return p.upstream.Load() }

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *Proxy) serve(client net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	p.track(up)
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(up, client, true) })
	wg.Go(func() { p.pipe(client, up, false) })
	wg.Wait()
}

// pipe copies src to dst until either ends or the proxy stalls; once
// stalled it neither reads nor writes again, leaving both sockets open
// (Close ends them).
func (p *Proxy) pipe(dst, src net.Conn, upstream bool) {
	buf := make([]byte, 16<<10)
	for {
		select {
		case <-p.stalled:
			return
		default:
		}
		n, err := src.Read(buf)
		chunk := buf[:n]
		if upstream && n > 0 {
			if limit := p.stallAfter.Load(); limit >= 0 {
				left := limit - p.upstream.Load()
				if left <= int64(len(chunk)) {
					chunk = chunk[:max(left, 0)]
					p.Stall()
				}
			}
			p.upstream.Add(int64(len(chunk)))
		}
		if len(chunk) > 0 {
			select {
			case <-p.stalled:
				if !upstream || len(chunk) < n {
					// Stalled while this chunk was in hand: send only what
					// was allowed (the upstream part before the limit).
					if upstream {
						_, _ = dst.Write(chunk)
					}
					return
				}
			default:
			}
			if _, werr := dst.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}
			return
		}
	}
}
