package storage

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// recordingConn keeps what is written to it and the size of each write.
type recordingConn struct {
	net.Conn
	data   bytes.Buffer
	writes []int
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, len(p))
	return c.data.Write(p)
}

func (c *recordingConn) SetWriteDeadline(time.Time) error { return nil }

// onlyReader hides a bytes.Reader's WriterTo, as the SDK's body wrapper does.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestIdleConnSendsLargeWrites: the transport copies a request body into
// the connection with io.Copy, which takes 32 KiB at a time, a syscall
// each, unless the connection reads the body itself.
func TestIdleConnSendsLargeWrites(t *testing.T) {
	const size = 4<<20 + 123
	body := bytes.Repeat([]byte("part"), size/4+1)[:size]
	rc := &recordingConn{}
	c := &idleConn{Conn: rc, timeout: time.Minute, endpoint: "test"}
	c.touch()
	n, err := io.Copy(c, onlyReader{bytes.NewReader(body)})
	if err != nil || n != size {
		t.Fatalf("copied %d bytes, err %v", n, err)
	}
	if !bytes.Equal(rc.data.Bytes(), body) {
		t.Fatal("the connection got other bytes than the body")
	}
	if want := size/writeChunk + 1; len(rc.writes) > want {
		t.Errorf("%d writes (%v), want at most %d of %d bytes", len(rc.writes), rc.writes[:min(len(rc.writes), 8)], want, writeChunk)
	}
}
