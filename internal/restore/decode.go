package restore

import (
	"errors"
	"fmt"
	"io"
)

// decodedReader tells a backup object that does not decompress from a
// failure to read it. The object's hash is checked only at its end, so a
// damaged first frame reaches the decoder, whose refusal says nothing of
// the cause: taken for a read error it would be retried and end in a
// plain failure, while the object is corrupt (exit 5). On a refusal the
// rest of the object is read through the hash: a mismatch is the answer;
// an object that matches the manifest and still does not decompress is
// unusable all the same.
type decodedReader struct {
	r   io.Reader // the decompressor
	src *checkedReader
	key string
}

func (d *decodedReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err == nil || err == io.EOF || corrupt(err) {
		return n, err
	}
	var se *sourceError
	if errors.As(err, &se) {
		return n, err
	}
	if _, derr := io.Copy(io.Discard, d.src); derr != nil {
		if corrupt(derr) {
			return n, derr
		}
		return n, &sourceError{fmt.Errorf("%s, read after it failed to decompress (%v): %w", d.key, err, derr)}
	}
	return n, fmt.Errorf("object %s matches the manifest's SHA-256 but does not decompress as zstd: %v: %w", d.key, err, ErrObjectChecksum)
}
