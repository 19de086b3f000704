package qdrant

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pattern returns n deterministic, incompressible-looking bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// cutConnection sends part of a body and then drops the connection, as a
// peer that fails mid-stream does: no final chunk, or fewer bytes than the
// Content-Length promised.
func cutConnection(t *testing.T, w http.ResponseWriter, partial []byte) {
	t.Helper()
	_, _ = w.Write(partial)
	w.(http.Flusher).Flush()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	_ = conn.Close()
}

// tarOf returns a tar archive holding one file of content.
func tarOf(t *testing.T, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "segments/0/files/data", Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestStreamShardSnapshotReturnsTheWholeChunkedBody(t *testing.T) {
	data := tarOf(t, pattern(3<<20+17))
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"GET /collections/{c}/shards/{s}/snapshot": func(w http.ResponseWriter, r *http.Request) {
			if r.PathValue("c") != "docs" || r.PathValue("s") != "4" {
				t.Errorf("path %s", r.URL.Path)
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", `attachment; filename="docs-shard-4-2026-11-25-13-30-00.snapshot"`)
			for off := 0; off < len(data); off += 64 << 10 {
				_, _ = w.Write(data[off:min(off+64<<10, len(data))])
				w.(http.Flusher).Flush()
			}
		},
	})
	rc, err := c.StreamShardSnapshot(ctx(t), "docs", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want %d", len(got), len(data))
	}
}

func TestATruncatedSnapshotStreamIsAnError(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"GET /collections/{c}/shards/{s}/snapshot": func(w http.ResponseWriter, r *http.Request) {
			cutConnection(t, w, pattern(1<<20))
		},
	})
	rc, err := c.StreamShardSnapshot(ctx(t), "docs", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after %d bytes: error %v, want io.ErrUnexpectedEOF", n, err)
	}
	if !strings.Contains(err.Error(), "shard 4") || !strings.Contains(err.Error(), "body cut after") {
		t.Errorf("error does not say what was cut: %v", err)
	}
}

func TestACleanlyEndedButIncompleteStreamIsAnError(t *testing.T) {
	full := tarOf(t, pattern(100_000))
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"a body cut inside a block", full[:70_001]},
		{"a body cut at a block boundary", full[:70_144]},
		{"a body without the end-of-archive marker", full[:len(full)-1024]},
		{"no tar at all", pattern(4096)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakePeer(t, map[string]http.HandlerFunc{
				"GET /collections/{c}/shards/{s}/snapshot": func(w http.ResponseWriter, r *http.Request) {
					_, _ = w.Write(tc.body)
					w.(http.Flusher).Flush() // chunked, then a clean end
				},
			})
			rc, err := c.StreamShardSnapshot(ctx(t), "docs", 4)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := io.Copy(io.Discard, rc); !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "not a complete tar") {
				t.Fatalf("%v", err)
			}
		})
	}
}

func TestStreamShardSnapshotErrorsBeforeTheStreamAreAPIErrors(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"GET /collections/{c}/shards/{s}/snapshot": serve(t, 400, "error_not_local.json"),
	})
	_, err := c.StreamShardSnapshot(ctx(t), "docs", 3)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, "not a local") {
		t.Fatalf("%v", err)
	}
}

func TestDownloadShardSnapshotResumesWithRange(t *testing.T) {
	data := pattern(1 << 20)
	var ranges []string
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"GET /collections/{c}/shards/{s}/snapshots/{name}": func(w http.ResponseWriter, r *http.Request) {
			ranges = append(ranges, r.Header.Get("Range"))
			if r.PathValue("name") != "docs-shard-1-2026-11-25-13-30-00.snapshot" {
				serve(t, 404, "error_collection_not_found.json")(w, r)
				return
			}
			// Qdrant serves stored snapshots as static files (Range honoured).
			http.ServeContent(w, r, r.PathValue("name"), time.Time{}, bytes.NewReader(data))
		},
	})
	name := "docs-shard-1-2026-11-25-13-30-00.snapshot"
	for _, offset := range []int64{0, 1, 700_000, int64(len(data)) - 1} {
		rc, err := c.DownloadShardSnapshot(ctx(t), "docs", 1, name, offset)
		if err != nil {
			t.Fatalf("offset %d: %v", offset, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data[offset:]) {
			t.Fatalf("offset %d: %d bytes, %v", offset, len(got), err)
		}
	}
	if ranges[0] != "" || ranges[2] != "bytes=700000-" {
		t.Fatalf("ranges sent %q", ranges)
	}
	if _, err := c.DownloadShardSnapshot(ctx(t), "docs", 1, "missing.snapshot", 0); !IsNotFound(err) {
		t.Fatalf("missing snapshot: %v", err)
	}
}

func TestDownloadFromAPeerIgnoringRangeIsRefused(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"GET /collections/{c}/shards/{s}/snapshots/{name}": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(pattern(1000)) // 200 with the whole file
		},
	})
	_, err := c.DownloadShardSnapshot(ctx(t), "docs", 1, "x.snapshot", 100)
	if !errors.Is(err, ErrRangeIgnored) {
		t.Fatalf("%v", err)
	}
}

func TestATruncatedDownloadIsAnError(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"GET /collections/{c}/shards/{s}/snapshots/{name}": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(1<<20))
			cutConnection(t, w, pattern(1000))
		},
	})
	rc, err := c.DownloadShardSnapshot(ctx(t), "docs", 1, "x.snapshot", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%v", err)
	}
}

// gatedReader yields size bytes of pattern data but stops after gateAt
// bytes until gate is closed: an upload that buffered the whole source
// before sending would never get past it.
type gatedReader struct {
	data   []byte
	size   int64
	off    int64
	gateAt int64
	gate   <-chan struct{}
	hash   io.Writer
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	if g.off >= g.gateAt && g.gate != nil {
		select {
		case <-g.gate:
			g.gate = nil
		case <-time.After(20 * time.Second):
			return 0, errors.New("the server saw nothing while the source was being read: the upload is not streamed")
		}
	}
	n := int64(len(p))
	if n > g.size-g.off {
		n = g.size - g.off
	}
	if g.gate != nil && g.off+n > g.gateAt {
		n = g.gateAt - g.off
	}
	for i := int64(0); i < n; i++ {
		p[i] = g.data[(g.off+i)%int64(len(g.data))]
	}
	g.off += n
	g.hash.Write(p[:n])
	return int(n), nil
}

func TestUploadShardSnapshotStreamsAMultipartBody(t *testing.T) {
	const size = 50 << 20
	gate := make(chan struct{})
	var (
		gotName, gotFile, gotQuery, gotSum string
		gotLen                             int64
		chunked                            bool
	)
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"POST /collections/{c}/shards/{s}/snapshots/upload": func(w http.ResponseWriter, r *http.Request) {
			gotQuery = r.URL.RawQuery
			chunked = r.ContentLength == -1
			mr, err := r.MultipartReader()
			if err != nil {
				t.Errorf("multipart: %v", err)
				return
			}
			part, err := mr.NextPart()
			if err != nil {
				t.Errorf("part: %v", err)
				return
			}
			gotName, gotFile = part.FormName(), part.FileName()
			h := sha256.New()
			// Open the gate once the first MiB arrived: the client is
			// still producing the rest.
			n, err := io.CopyN(h, part, 1<<20)
			close(gate)
			if err != nil {
				t.Errorf("first MiB: %v", err)
				return
			}
			m, err := io.Copy(h, part)
			if err != nil {
				t.Errorf("rest: %v", err)
			}
			gotLen = n + m
			gotSum = hex.EncodeToString(h.Sum(nil))
			serve(t, 200, "true.json")(w, r)
		},
	})
	sent := sha256.New()
	src := &gatedReader{data: pattern(1 << 16), size: size, gateAt: 4 << 20, gate: gate, hash: sent}
	err := c.UploadShardSnapshot(ctx(t), "docs", 5, src, UploadOptions{
		Priority: PrioritySnapshot, Checksum: "feedbeef", FileName: "docs-shard-5.snapshot",
	})
	if err != nil {
		t.Fatal(err)
	}
	if gotName != "snapshot" || gotFile != "docs-shard-5.snapshot" {
		t.Fatalf("field %q file %q", gotName, gotFile)
	}
	if gotQuery != "checksum=feedbeef&priority=snapshot&wait=true" {
		t.Fatalf("query %q", gotQuery)
	}
	if !chunked {
		t.Error("upload had a Content-Length: it was sized (buffered) before sending")
	}
	if gotLen != size || gotSum != hex.EncodeToString(sent.Sum(nil)) {
		t.Fatalf("server got %d bytes with sha %s", gotLen, gotSum)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("storage read failed")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestUploadReportsTheSourceErrorAsTheCause(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"POST /collections/{c}/shards/{s}/snapshots/upload": func(w http.ResponseWriter, r *http.Request) {
			_, err := io.Copy(io.Discard, r.Body)
			if err == nil {
				t.Error("the server saw a complete body although the source failed")
			}
		},
	})
	err := c.UploadShardSnapshot(ctx(t), "docs", 5, &failingReader{n: 2 << 20}, UploadOptions{})
	if err == nil || !strings.Contains(err.Error(), "storage read failed") || !strings.Contains(err.Error(), "read snapshot source") {
		t.Fatalf("%v", err)
	}
}

func TestUploadRejectedByThePeerIsAnAPIError(t *testing.T) {
	c, _ := fakePeer(t, map[string]http.HandlerFunc{
		"POST /collections/{c}/shards/{s}/snapshots/upload": func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			serve(t, 400, "error_checksum.json")(w, r)
		},
	})
	err := c.UploadShardSnapshot(ctx(t), "docs", 5, bytes.NewReader(pattern(1<<20)), UploadOptions{Checksum: "00ff"})
	var ae *APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.Message, "Checksum mismatch") {
		t.Fatalf("%v", err)
	}
}

func TestUploadWithAWrongKeyFailsFastWithoutReadingTheSource(t *testing.T) {
	c, srv := fakePeer(t, map[string]http.HandlerFunc{
		"POST /collections/{c}/shards/{s}/snapshots/upload": func(w http.ResponseWriter, r *http.Request) {},
	})
	bad, err := New(ctx(t), PeerAddr{REST: srv.URL}, Options{APIKey: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_ = c
	// A source far larger than anything the test could buffer in time.
	src := &gatedReader{data: pattern(1 << 16), size: 1 << 40, gateAt: 1 << 40, hash: io.Discard}
	done := make(chan error, 1)
	go func() { done <- bad.UploadShardSnapshot(ctx(t), "docs", 5, src, UploadOptions{}) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("%v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("upload kept reading after the peer refused it")
	}
}

// TestUploadSendsLargeChunks reads the chunked request off the wire: each
// HTTP chunk costs the client several syscalls, so a snapshot must not go
// out in the transport's default 32 KiB pieces, even from a source that
// returns small reads (a storage stream returns what the socket holds).
func TestUploadSendsLargeChunks(t *testing.T) {
	const size = 8 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	type wire struct {
		chunks []int
		err    error
	}
	got := make(chan wire, 1)
	go func() {
		var w wire
		defer func() { got <- w }()
		conn, err := ln.Accept()
		if err != nil {
			w.err = err
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		if _, w.err = http.ReadRequest(br); w.err != nil {
			return
		}
		// The body as sent: "<hex size>\r\n<data>\r\n" ... "0\r\n\r\n".
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				w.err = err
				return
			}
			n, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
			if err != nil {
				w.err = fmt.Errorf("chunk size line %q: %w", line, err)
				return
			}
			if n == 0 {
				break
			}
			w.chunks = append(w.chunks, int(n))
			if _, err := io.CopyN(io.Discard, br, n+2); err != nil {
				w.err = err
				return
			}
		}
		body := `{"result":true,"status":"ok","time":0}`
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}()
	c, err := New(context.Background(), PeerAddr{REST: "http://" + ln.Addr().String()}, Options{RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	src := &smallReads{r: bytes.NewReader(pattern(size)), max: 16 << 10}
	if err := c.UploadShardSnapshot(ctx(t), "docs", 1, src, UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	w := <-got
	if w.err != nil {
		t.Fatalf("reading the request: %v", w.err)
	}
	total := 0
	for _, n := range w.chunks {
		total += n
	}
	// The data in 1 MiB chunks, plus the multipart header and trailer.
	if total < size || len(w.chunks) > size/uploadChunk+2 {
		t.Fatalf("%d bytes in %d chunks (%v), want %d bytes in at most %d", total, len(w.chunks), w.chunks, size, size/uploadChunk+2)
	}
}

// smallReads returns at most max bytes per Read.
type smallReads struct {
	r   io.Reader
	max int
}

func (s *smallReads) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.max)]) }
