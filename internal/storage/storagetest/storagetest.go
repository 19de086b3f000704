// Package storagetest is the conformance suite of storage backends (after
// restic's backend test suite): every backend — memory, file, S3 on MinIO —
// must pass Run, so code above the storage interface can rely on one
// behaviour.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/storage"
)

// LargeSize is the size of the streamed object of the large-object test:
// several S3 parts, generated on the fly and never held whole in memory.
const LargeSize = 20 << 20

// failAt is where the failure tests break a Put: past the first 5 MiB, so
// that an S3 backend with the minimum part size has started a multipart
// upload.
const failAt = 7 << 20

// Run runs the conformance suite. newBackend must return an empty backend
// (a fresh directory, a unique S3 prefix) each time it is called; it is
// called once per subtest.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b storage.Backend)
	}{
		{"put then stat and open return the same bytes", testPutStatOpen},
		{"open at an offset returns the rest of the object", testOpenOffset},
		{"missing objects are ErrNotFound", testNotFound},
		{"put replaces an existing object", testOverwrite},
		{"an empty object round-trips", testEmpty},
		{"keys with unusual characters round-trip", testUnusualKeys},
		{"delete removes and is idempotent", testDelete},
		{"list is in key order and honours the prefix", testListOrderPrefix},
		{"list stops at the first callback error", testListStops},
		{"a large object streams through intact", testLarge},
		{"a failing body leaves nothing behind", testReaderError},
		{"cancellation mid-put leaves nothing behind", testCancelPut},
		{"put-if-absent refuses an existing key", testPutIfAbsent},
		{"put-if-absent has exactly one winner", testPutIfAbsentRace},
		{"invalid keys are refused", testInvalidKeys},
		{"resumable reader reads the whole object", testResumable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBackend(t))
		})
	}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, b storage.Backend, key, data string) {
	t.Helper()
	if err := b.Put(ctx(t), key, strings.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func read(t *testing.T, b storage.Backend, key string, offset int64) string {
	t.Helper()
	rc, err := b.Open(ctx(t), key, offset)
	if err != nil {
		t.Fatalf("Open(%q, %d): %v", key, offset, err)
	}
	defer func() { _ = rc.Close() }()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q from %d: %v", key, offset, err)
	}
	return string(data)
}

func list(t *testing.T, b storage.Backend, prefix string) []storage.ObjectInfo {
	t.Helper()
	var out []storage.ObjectInfo
	if err := b.List(ctx(t), prefix, func(oi storage.ObjectInfo) error {
		out = append(out, oi)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return out
}

func keys(infos []storage.ObjectInfo) []string {
	out := make([]string, len(infos))
	for i, oi := range infos {
		out[i] = oi.Key
	}
	return out
}

func assertGone(t *testing.T, b storage.Backend, key string) {
	t.Helper()
	if _, err := b.Stat(ctx(t), key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(%q) after failed put: got %v, want ErrNotFound", key, err)
	}
	dir := key[:strings.LastIndexByte(key, '/')+1]
	if got := keys(list(t, b, dir)); len(got) != 0 {
		t.Errorf("List(%q) after failed put: %q, want nothing", dir, got)
	}
}

func testPutStatOpen(t *testing.T, b storage.Backend) {
	before := time.Now().Add(-time.Hour) // tolerate clock skew with the server
	put(t, b, "c/20261125T133000Z-3f9c/manifest.json", `{"version":1}`)
	info, err := b.Stat(ctx(t), "c/20261125T133000Z-3f9c/manifest.json")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Key != "c/20261125T133000Z-3f9c/manifest.json" || info.Size != 13 {
		t.Errorf("Stat = %+v, want key c/20261125T133000Z-3f9c/manifest.json and size 13", info)
	}
	if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(time.Hour)) {
		t.Errorf("Stat ModTime = %v, want about now", info.ModTime)
	}
	if got := read(t, b, "c/20261125T133000Z-3f9c/manifest.json", 0); got != `{"version":1}` {
		t.Errorf("Open read %q", got)
	}
}

func testOpenOffset(t *testing.T, b storage.Backend) {
	data := strings.Repeat("0123456789", 10)
	put(t, b, "obj", data)
	for _, off := range []int64{0, 1, 50, 99, 100} {
		if got := read(t, b, "obj", off); got != data[off:] {
			t.Errorf("Open at %d read %q, want %q", off, got, data[off:])
		}
	}
	if rc, err := b.Open(ctx(t), "obj", 101); !errors.Is(err, storage.ErrInvalidOffset) {
		if rc != nil {
			_ = rc.Close()
		}
		t.Errorf("Open past the end: got %v, want ErrInvalidOffset", err)
	}
}

func testNotFound(t *testing.T, b storage.Backend) {
	put(t, b, "dir/child", "x")
	for _, key := range []string{"missing", "dir/missing", "dir", "dir/child/deeper"} {
		if _, err := b.Stat(ctx(t), key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%q): got %v, want ErrNotFound", key, err)
		}
		rc, err := b.Open(ctx(t), key, 0)
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Open(%q): got %v, want ErrNotFound", key, err)
		}
		if rc != nil {
			_ = rc.Close()
		}
	}
}

func testOverwrite(t *testing.T, b storage.Backend) {
	put(t, b, "k", "first version, longer")
	put(t, b, "k", "second")
	if got := read(t, b, "k", 0); got != "second" {
		t.Errorf("read %q after overwrite, want %q", got, "second")
	}
	if info, err := b.Stat(ctx(t), "k"); err != nil || info.Size != 6 {
		t.Errorf("Stat after overwrite = %+v, %v; want size 6", info, err)
	}
	if got := keys(list(t, b, "")); len(got) != 1 {
		t.Errorf("List after overwrite = %q, want one object", got)
	}
}

func testEmpty(t *testing.T, b storage.Backend) {
	put(t, b, "empty", "")
	info, err := b.Stat(ctx(t), "empty")
	if err != nil || info.Size != 0 {
		t.Fatalf("Stat = %+v, %v; want size 0", info, err)
	}
	if got := read(t, b, "empty", 0); got != "" {
		t.Errorf("read %q, want nothing", got)
	}
}

func testUnusualKeys(t *testing.T, b storage.Backend) {
	ks := []string{
		"c/.locks/backup.json",
		"c/b/col%2Fname/0.snapshot.zst",
		"c/b/with space+plus=eq/1.snapshot",
		"c/b/ünïcödé/2.snapshot",
		"c/b/..dots../3",
	}
	for i, k := range ks {
		put(t, b, k, fmt.Sprint(i))
	}
	for i, k := range ks {
		if got := read(t, b, k, 0); got != fmt.Sprint(i) {
			t.Errorf("read %q = %q, want %q", k, got, fmt.Sprint(i))
		}
	}
	want := append([]string(nil), ks...)
	sort.Strings(want)
	if got := keys(list(t, b, "c/")); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
}

func testDelete(t *testing.T, b storage.Backend) {
	put(t, b, "a/b/c", "x")
	put(t, b, "a/d", "y")
	for i := 0; i < 2; i++ {
		if err := b.Delete(ctx(t), "a/b/c"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := b.Delete(ctx(t), "never/existed"); err != nil {
		t.Errorf("Delete of a never-existing key: %v", err)
	}
	if _, err := b.Stat(ctx(t), "a/b/c"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat after Delete: got %v, want ErrNotFound", err)
	}
	if got := keys(list(t, b, "")); !slices.Equal(got, []string{"a/d"}) {
		t.Errorf("List after Delete = %q, want [a/d]", got)
	}
	// The key is usable again after a delete.
	put(t, b, "a/b/c", "z")
	if got := read(t, b, "a/b/c", 0); got != "z" {
		t.Errorf("read after re-put = %q", got)
	}
}

func testListOrderPrefix(t *testing.T, b storage.Backend) {
	// '-' < '/' < '0' in byte order: a naive directory walk would put
	// "p/a/..." before "p/a-b".
	all := []string{"p/a-b", "p/a/x", "p/a/y/z", "p/a0", "p/b", "p/.locks/l", "p2/x", "q/other", "top"}
	for i, k := range all {
		put(t, b, k, strings.Repeat("x", i))
	}
	sorted := append([]string(nil), all...)
	sort.Strings(sorted)
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"p/", []string{"p/.locks/l", "p/a-b", "p/a/x", "p/a/y/z", "p/a0", "p/b"}},
		{"p", []string{"p/.locks/l", "p/a-b", "p/a/x", "p/a/y/z", "p/a0", "p/b", "p2/x"}},
		{"p/a", []string{"p/a-b", "p/a/x", "p/a/y/z", "p/a0"}},
		{"p/a/", []string{"p/a/x", "p/a/y/z"}},
		{"p/a/y/z", []string{"p/a/y/z"}},
		{"p/c", nil},
		{"nothing/here/", nil},
	}
	for _, c := range cases {
		got := list(t, b, c.prefix)
		if !slices.Equal(keys(got), c.want) {
			t.Errorf("List(%q) = %q, want %q", c.prefix, keys(got), c.want)
		}
		for _, oi := range got {
			wantSize := int64(slices.Index(all, oi.Key))
			if oi.Size != wantSize || oi.ModTime.IsZero() {
				t.Errorf("List(%q): %+v, want size %d and a ModTime", c.prefix, oi, wantSize)
			}
		}
	}
}

func testListStops(t *testing.T, b storage.Backend) {
	for _, k := range []string{"a", "b", "c"} {
		put(t, b, k, k)
	}
	stop := errors.New("stop here")
	calls := 0
	err := b.List(ctx(t), "", func(storage.ObjectInfo) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("List returned %v after %d calls; want the callback's error after 1", err, calls)
	}
}

// generator yields n deterministic pseudo-random bytes without holding them.
type generator struct {
	rng  *rand.ChaCha8
	left int64
	at   int64
	hook func(at int64) error // called before each read; an error ends the stream
}

func newGenerator(n int64, hook func(int64) error) *generator {
	return &generator{rng: rand.NewChaCha8([32]byte{'q', 'b'}), left: n, hook: hook}
}

func (g *generator) Read(p []byte) (int, error) {
	if g.hook != nil {
		if err := g.hook(g.at); err != nil {
			return 0, err
		}
	}
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	if len(p) > 64<<10 { // small reads: the hooks fire close to their mark
		p = p[:64<<10]
	}
	n, _ := g.rng.Read(p)
	g.left -= int64(n)
	g.at += int64(n)
	return n, nil
}

func testLarge(t *testing.T, b storage.Backend) {
	h := sha256.New()
	start := time.Now()
	if err := b.Put(ctx(t), "big/object", io.TeeReader(newGenerator(LargeSize, nil), h)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	putTime := time.Since(start)
	want := h.Sum(nil)
	info, err := b.Stat(ctx(t), "big/object")
	if err != nil || info.Size != LargeSize {
		t.Fatalf("Stat = %+v, %v; want size %d", info, err, LargeSize)
	}
	start = time.Now()
	rc, err := b.Open(ctx(t), "big/object", 0)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	h.Reset()
	n, err := io.Copy(h, rc)
	_ = rc.Close()
	if err != nil || n != LargeSize {
		t.Fatalf("read %d bytes, %v; want %d", n, err, LargeSize)
	}
	getTime := time.Since(start)
	if !bytes.Equal(h.Sum(nil), want) {
		t.Fatalf("SHA-256 of the read object differs from what was written")
	}
	t.Logf("%d MiB: put %s (%.0f MiB/s), get %s (%.0f MiB/s)", LargeSize>>20,
		putTime.Round(time.Millisecond), float64(LargeSize>>20)/putTime.Seconds(),
		getTime.Round(time.Millisecond), float64(LargeSize>>20)/getTime.Seconds())

	// The tail from an offset inside a later part.
	const off = LargeSize - 3<<20 - 12345
	g := newGenerator(LargeSize, nil)
	if _, err := io.CopyN(io.Discard, g, off); err != nil {
		t.Fatal(err)
	}
	h.Reset()
	if _, err := io.Copy(h, g); err != nil {
		t.Fatal(err)
	}
	wantTail := h.Sum(nil)
	rc, err = b.Open(ctx(t), "big/object", off)
	if err != nil {
		t.Fatalf("Open at %d: %v", off, err)
	}
	h.Reset()
	_, err = io.Copy(h, rc)
	_ = rc.Close()
	if err != nil || !bytes.Equal(h.Sum(nil), wantTail) {
		t.Fatalf("tail from %d differs (err %v)", off, err)
	}
}

func testReaderError(t *testing.T, b storage.Backend) {
	broken := errors.New("upstream snapshot stream broke")
	failing := func() io.Reader {
		return newGenerator(LargeSize, func(at int64) error {
			if at >= failAt {
				return broken
			}
			return nil
		})
	}
	err := b.Put(ctx(t), "fresh/object", failing())
	if !errors.Is(err, broken) {
		t.Fatalf("Put with a failing body: got %v, want an error wrapping the body's error", err)
	}
	assertGone(t, b, "fresh/object")

	put(t, b, "kept/object", "previous version")
	if err := b.Put(ctx(t), "kept/object", failing()); !errors.Is(err, broken) {
		t.Fatalf("Put over an existing object with a failing body: got %v", err)
	}
	if got := read(t, b, "kept/object", 0); got != "previous version" {
		t.Errorf("existing object after a failed overwrite = %q, want it untouched", got)
	}
}

func testCancelPut(t *testing.T, b storage.Backend) {
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	body := newGenerator(LargeSize, func(at int64) error {
		if at >= failAt {
			cancel() // the producer keeps going; the backend must stop
		}
		return nil
	})
	err := b.Put(c, "cancelled/object", body)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Put: got %v, want an error wrapping context.Canceled", err)
	}
	assertGone(t, b, "cancelled/object")
}

func testPutIfAbsent(t *testing.T, b storage.Backend) {
	cb, ok := b.(storage.Conditional)
	if !ok {
		t.Skip("backend does not implement storage.Conditional")
	}
	key := "c/.locks/backup.json"
	if err := cb.PutIfAbsent(ctx(t), key, strings.NewReader("holder 1")); err != nil {
		t.Fatalf("first PutIfAbsent: %v", err)
	}
	if err := cb.PutIfAbsent(ctx(t), key, strings.NewReader("holder 2")); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second PutIfAbsent: got %v, want ErrExists", err)
	}
	if got := read(t, b, key, 0); got != "holder 1" {
		t.Errorf("lock content = %q, want the first holder's", got)
	}
	if err := b.Delete(ctx(t), key); err != nil {
		t.Fatal(err)
	}
	if err := cb.PutIfAbsent(ctx(t), key, strings.NewReader("holder 3")); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
	if got := read(t, b, key, 0); got != "holder 3" {
		t.Errorf("lock content = %q, want holder 3", got)
	}
}

func testPutIfAbsentRace(t *testing.T, b storage.Backend) {
	cb, ok := b.(storage.Conditional)
	if !ok {
		t.Skip("backend does not implement storage.Conditional")
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = cb.PutIfAbsent(ctx(t), "race/lock", strings.NewReader(fmt.Sprint("holder ", i)))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("holders %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrExists):
			t.Errorf("holder %d: got %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("nobody won the race")
	}
	if got := read(t, b, "race/lock", 0); got != fmt.Sprint("holder ", winner) {
		t.Errorf("lock content = %q, want holder %d's", got, winner)
	}
}

func testInvalidKeys(t *testing.T, b storage.Backend) {
	bad := []string{"", "/abs", "a//b", "a/", "..", "a/../b", "./a", "a/.", "back\\slash", "nul\x00"}
	cb, conditional := b.(storage.Conditional)
	for _, key := range bad {
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("%s(%q): got %v, want ErrInvalidKey", op, key, err)
			}
		}
		check("Put", b.Put(ctx(t), key, strings.NewReader("x")))
		rc, err := b.Open(ctx(t), key, 0)
		if rc != nil {
			_ = rc.Close()
		}
		check("Open", err)
		_, err = b.Stat(ctx(t), key)
		check("Stat", err)
		check("Delete", b.Delete(ctx(t), key))
		if conditional {
			check("PutIfAbsent", cb.PutIfAbsent(ctx(t), key, strings.NewReader("x")))
		}
	}
	for _, prefix := range []string{"/abs", "a/../", "a//"} {
		err := b.List(ctx(t), prefix, func(storage.ObjectInfo) error { return nil })
		if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("List(%q): got %v, want ErrInvalidKey", prefix, err)
		}
	}
	if got := keys(list(t, b, "")); len(got) != 0 {
		t.Errorf("objects after refused puts: %q", got)
	}
}

func testResumable(t *testing.T, b storage.Backend) {
	const size = 1<<20 + 17
	h := sha256.New()
	if err := b.Put(ctx(t), "r/obj", io.TeeReader(newGenerator(size, nil), h)); err != nil {
		t.Fatal(err)
	}
	want := h.Sum(nil)
	rc := storage.NewResumableReader(ctx(t), b, "r/obj", size)
	h.Reset()
	n, err := io.Copy(h, rc)
	if cerr := rc.Close(); cerr != nil {
		t.Errorf("Close: %v", cerr)
	}
	if err != nil || n != size || !bytes.Equal(h.Sum(nil), want) {
		t.Errorf("resumable read: %d bytes, %v; want %d identical bytes", n, err, size)
	}
	// A wrong expected size is detected, both ways.
	for _, wrong := range []int64{size - 1, size + 1} {
		rc := storage.NewResumableReaderWith(ctx(t), b, "r/obj", wrong,
			storage.ResumeOptions{MaxAttempts: 2, MinBackoff: time.Millisecond})
		if _, err := io.Copy(io.Discard, rc); err == nil {
			t.Errorf("resumable read with expected size %d of a %d-byte object: no error", wrong, size)
		}
		_ = rc.Close()
	}
	rc = storage.NewResumableReader(ctx(t), b, "r/missing", 10)
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("resumable read of a missing object: got %v, want ErrNotFound", err)
	}
	_ = rc.Close()
}

// Keys lists every key in store, sorted: what a test compares before
// and after an operation that must change nothing, or checks is gone.
func Keys(t testing.TB, store storage.Backend) []string {
	t.Helper()
	var keys []string
	if err := store.List(context.Background(), "", func(o storage.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}
