package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"
)

// The worker-scaling case models what limits one pod of an Indexed Job in
// a real cluster: its own network interface. Every worker child reaches
// MinIO through a throttleProxy of its own, capped at --worker-rate in
// each direction (a full-duplex NIC), shared by all its connections.

// limiter paces bytes at rate per second with a burst of burst bytes,
// shared by every goroutine that calls wait.
type limiter struct {
	mu    sync.Mutex
	rate  float64 // bytes per second; 0 = unlimited
	burst time.Duration
	next  time.Time // when the bytes granted so far have been sent
}

func newLimiter(rate int64) *limiter {
	return &limiter{rate: float64(rate), burst: 50 * time.Millisecond}
}

// wait blocks until n more bytes may pass.
func (l *limiter) wait(n int) {
	if l.rate <= 0 || n <= 0 {
		return
	}
	l.mu.Lock()
	now := time.Now()
	// An idle link saves up at most burst worth of sending.
	if earliest := now.Add(-l.burst); l.next.Before(earliest) {
		l.next = earliest
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.rate * float64(time.Second)))
	d := l.next.Sub(now)
	l.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
}

// throttleProxy forwards 127.0.0.1:<port> to target with the bytes of all
// its connections capped at one rate per direction.
type throttleProxy struct {
	ln       net.Listener
	target   string
	up, down *limiter

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startThrottle listens on a free loopback port and forwards to target
// (host:port), rate bytes/s each way (0 = uncapped).
func startThrottle(target string, rate int64) (*throttleProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("worker bandwidth proxy: listen: %w", err)
	}
	p := &throttleProxy{ln: ln, target: target, up: newLimiter(rate), down: newLimiter(rate), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// endpointVia is endpoint (an http URL) with its host:port replaced by
// the proxy's.
func (p *throttleProxy) endpointVia(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("S3 endpoint %q: %w", endpoint, err)
	}
	u.Host = p.ln.Addr().String()
	return u.String(), nil
}

// endpointHost is the host:port of an http(s) endpoint URL.
func endpointHost(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("S3 endpoint %q: want a URL such as http://127.0.0.1:9000", endpoint)
	}
	if u.Port() != "" {
		return u.Host, nil
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443"), nil
	}
	return net.JoinHostPort(u.Hostname(), "80"), nil
}

func (p *throttleProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *throttleProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *throttleProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c, true)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

func (p *throttleProxy) serve(client net.Conn) {
	defer func() { p.track(client, false); _ = client.Close() }()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(up, true)
	defer func() { p.track(up, false); _ = up.Close() }()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pace(up, client, p.up) }()
	go func() { defer wg.Done(); pace(client, up, p.down) }()
	wg.Wait()
}

// pace copies src to dst, each chunk waiting for l; at src's end it
// half-closes dst so that the other side sees the end too.
func pace(dst, src net.Conn, l *limiter) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			l.wait(n)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			} else {
				_ = dst.Close()
			}
			return
		}
	}
}
