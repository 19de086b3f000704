package backup

import (
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/crypt/crypttest"
	"github.com/qbackup/qbackup/internal/manifest"
)

// snapshotStream is a tar-shaped stream of n bytes: a random 1 MiB block
// repeated, then the two zero blocks that end a tar archive (transfer
// checks for them).
type snapshotStream struct {
	block []byte
	n     int64
	off   int64
}

func (s *snapshotStream) Read(p []byte) (int, error) {
	if s.off >= s.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.n-s.off)]
	data := s.n - 1024 // where the end-of-archive blocks start
	n := 0
	for n < len(p) {
		at := s.off + int64(n)
		if at >= data {
			clear(p[n:])
			n = len(p)
			break
		}
		end := min(len(p), n+int(data-at))
		n += copy(p[n:end], s.block[at%int64(len(s.block)):])
	}
	s.off += int64(n)
	return n, nil
}

func (s *snapshotStream) Close() error { return nil }

// BenchmarkTransfer is one shard's way from the peer's stream to the
// store (a discard), plain and encrypted: the snapshot hash, age, and the
// hash of what is stored. MB/s is of snapshot bytes.
func BenchmarkTransfer(b *testing.B) {
	const size = 64 << 20
	block := make([]byte, 1<<20)
	rand.Read(block)
	recipients, _, _ := crypttest.Key(b)
	for _, tc := range []struct {
		name string
		enc  *crypt.Recipients
	}{{"plain", nil}, {"age", recipients}} {
		b.Run(tc.name, func(b *testing.B) {
			store := &discardStore{fakeStore: newFakeStore()}
			store.sizes = map[string]int64{}
			b.SetBytes(size)
			for b.Loop() {
				src := &snapshotStream{block: block, n: size}
				if _, err := transfer(context.Background(), src, func() {}, upload{store: store, key: "k", compression: manifest.CompressionNone, enc: tc.enc, what: "bench", onBytes: func(int64) {}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
