package main

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer accepts connections and sends back what it reads.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func TestThrottleProxyCapsItsConnectionsTogether(t *testing.T) {
	const rate = 4 << 20 // bytes per second each way
	p, err := startThrottle(echoServer(t), rate)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	payload := bytes.Repeat([]byte("q"), 1<<20)
	start := time.Now()
	// Two connections of 1 MiB each share the cap: 2 MiB at 4 MiB/s.
	done := make(chan error, 2)
	for range 2 {
		go func() {
			c, err := net.Dial("tcp", p.ln.Addr().String())
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			go func() { _, _ = c.Write(payload); _ = c.(*net.TCPConn).CloseWrite() }()
			got, err := io.ReadAll(c)
			if err == nil && !bytes.Equal(got, payload) {
				err = io.ErrUnexpectedEOF
			}
			done <- err
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 450*time.Millisecond {
		t.Errorf("2 MiB went through a 4 MiB/s proxy in %v: the cap does not hold", took)
	}
}

func TestThrottleProxyUncapped(t *testing.T) {
	p, err := startThrottle(echoServer(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	c, err := net.Dial("tcp", p.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := bytes.Repeat([]byte("q"), 4<<20)
	go func() { _, _ = c.Write(payload); _ = c.(*net.TCPConn).CloseWrite() }()
	got, err := io.ReadAll(c)
	if err != nil || len(got) != len(payload) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
}

func TestEndpointHostAndVia(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:9000", "127.0.0.1:9000"},
		{"http://minio", "minio:80"},
		{"https://s3.example.com/", "s3.example.com:443"},
	}
	for _, tt := range tests {
		if got, err := endpointHost(tt.in); err != nil || got != tt.want {
			t.Errorf("endpointHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := endpointHost("not a url"); err == nil {
		t.Error("endpointHost accepted a bad endpoint")
	}
	p := &throttleProxy{ln: mustListen(t)}
	got, err := p.endpointVia("http://127.0.0.1:9000")
	if err != nil || got != "http://"+p.ln.Addr().String() {
		t.Errorf("endpointVia = %q, %v", got, err)
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
