package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/qbackup/qbackup/internal/manifest"
)

// readSizeStore serves one object and records the largest read asked of
// it: a storage stream costs a syscall per read.
type readSizeStore struct {
	data    []byte
	maxRead int
}

func (s *readSizeStore) Open(context.Context, string, int64) (io.ReadCloser, error) {
	return io.NopCloser(&sizeRecorder{r: bytes.NewReader(s.data), max: &s.maxRead}), nil
}

// sizeRecorder hides the bytes.Reader's WriterTo, as a network stream has none.
type sizeRecorder struct {
	r   io.Reader
	max *int
}

func (r *sizeRecorder) Read(p []byte) (int, error) {
	*r.max = max(*r.max, len(p))
	return r.r.Read(p)
}

func TestCheckObjectReadsInLargePieces(t *testing.T) {
	data := bytes.Repeat([]byte("snapshot"), 1<<17) // 1 MiB
	sum := sha256.Sum256(data)
	store := &readSizeStore{data: data}
	s := manifest.Shard{Object: "c/0.snapshot", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	n, problem, err := checkObject(context.Background(), store, s, nil)
	if err != nil || problem != "" || n != int64(len(data)) {
		t.Fatalf("verify: %d bytes, problem %q, err %v", n, problem, err)
	}
	if store.maxRead < 256<<10 {
		t.Errorf("the object was read in pieces of at most %d bytes, want 256 KiB", store.maxRead)
	}
}
