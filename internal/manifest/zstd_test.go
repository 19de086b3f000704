package manifest

import (
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestZstdReaderLeavesTheFrameChecksumToTheSHA256 decodes a frame whose
// checksum is wrong: the manifest's hashes check those bytes, so the
// decoder must not spend a pass on it.
func TestZstdReaderLeavesTheFrameChecksumToTheSHA256(t *testing.T) {
	data := bytes.Repeat([]byte("vector payload "), 10000)
	var comp bytes.Buffer
	enc, err := zstd.NewWriter(&comp, zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	b := comp.Bytes()
	b[len(b)-1] ^= 0xff // the frame's checksum is its last 4 bytes

	dec, err := NewZstdReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	got, err := io.ReadAll(dec)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("decoded %d bytes, want the %d compressed", len(got), len(data))
	}
}
