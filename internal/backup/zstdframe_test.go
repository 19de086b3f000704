package backup

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/qbackup/qbackup/internal/manifest"
)

// TestCompressedObjectsCarryNoFrameChecksum: the manifest's SHA-256 covers
// every byte, so the encoder spends no pass on zstd's own checksum, and
// the object still decodes to the snapshot.
func TestCompressedObjectsCarryNoFrameChecksum(t *testing.T) {
	store := newFakeStore()
	block := bytes.Repeat([]byte("points and vectors "), 4096)
	src := &snapshotStream{block: block, n: 4 << 20}
	if _, err := transfer(context.Background(), src, func() {}, upload{store: store, key: "k", compression: manifest.CompressionZstd, what: "test", onBytes: func(int64) {}}); err != nil {
		t.Fatal(err)
	}
	obj := store.get(t, "k")
	var h zstd.Header
	if err := h.Decode(obj); err != nil {
		t.Fatalf("frame header: %v", err)
	}
	if h.HasCheckSum {
		t.Error("the zstd frame carries a checksum")
	}
	dec, err := manifest.NewZstdReader(bytes.NewReader(obj))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	got, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(&snapshotStream{block: block, n: 4 << 20})
	if !bytes.Equal(got, want) {
		t.Errorf("decoded %d bytes, want the %d-byte snapshot", len(got), len(want))
	}
}
