package crypt

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
)

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func encrypt(t testing.TB, r *Recipients, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := r.Encrypt(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTripAcrossChunkBoundaries(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	recs, err := ParseRecipients([]string{a.Recipient().String(), b.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	const chunk = 64 << 10
	for _, size := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3*chunk + 17} {
		plain := make([]byte, size)
		rand.Read(plain)
		ct := encrypt(t, recs, plain)
		if !bytes.HasPrefix(ct, []byte(Magic)) {
			t.Fatalf("size %d: ciphertext starts with %q, want %q", size, ct[:min(len(ct), 24)], Magic)
		}
		if size > 64 && bytes.Contains(ct, plain[:64]) {
			t.Fatalf("size %d: plaintext visible in the ciphertext", size)
		}
		// Each recipient's identity opens the object on its own.
		for _, id := range []*age.X25519Identity{a, b} {
			ids, err := ParseIdentities("# created: test\n" + id.String() + "\n")
			if err != nil {
				t.Fatal(err)
			}
			pr, err := ids.Decrypt(bytes.NewReader(ct))
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			got, err := io.ReadAll(pr)
			if err != nil {
				t.Fatalf("size %d: read plaintext: %v", size, err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("size %d: decrypted %d bytes differ from the %d written", size, len(got), len(plain))
			}
		}
	}
}

func TestParseRecipients(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	ka, kb := a.Recipient().String(), b.Recipient().String()
	secret := a.String()
	tests := []struct {
		name     string
		values   func(t *testing.T) []string
		wantKeys []string
		wantMsg  string // in the error; "" for success
	}{
		{name: "one key", values: func(*testing.T) []string { return []string{ka} }, wantKeys: []string{ka}},
		{name: "duplicates count once", values: func(*testing.T) []string { return []string{ka, " " + ka + " ", kb} }, wantKeys: sorted(ka, kb)},
		{name: "file with comments and blank lines", values: func(t *testing.T) []string {
			return []string{writeFile(t, "# ops team\n\n"+ka+"\n  # dr site\n"+kb+"\n")}
		}, wantKeys: sorted(ka, kb)},
		{name: "key and file", values: func(t *testing.T) []string { return []string{kb, writeFile(t, ka+"\n")} }, wantKeys: sorted(ka, kb)},
		{name: "malformed key is named", values: func(*testing.T) []string { return []string{"age1notakey"} }, wantMsg: `recipient "age1notakey" is not an age X25519 public key`},
		{name: "truncated key is named", values: func(*testing.T) []string { return []string{ka[:len(ka)-3]} }, wantMsg: ka[:len(ka)-3]},
		{name: "secret key refused without echo", values: func(*testing.T) []string { return []string{secret} }, wantMsg: "is an age secret key"},
		{name: "missing file", values: func(*testing.T) []string { return []string{"/nonexistent/recipients.txt"} }, wantMsg: `recipient "/nonexistent/recipients.txt" is neither an age public key`},
		{name: "empty file", values: func(t *testing.T) []string { return []string{writeFile(t, "# nothing\n")} }, wantMsg: "holds no recipient"},
		{name: "secret key in a file names the line only", values: func(t *testing.T) []string { return []string{writeFile(t, ka+"\n"+secret+"\n")} }, wantMsg: "line 2: not an age X25519 public key"},
		{name: "empty value", values: func(*testing.T) []string { return []string{""} }, wantMsg: "an empty recipient"},
		{name: "none", values: func(*testing.T) []string { return nil }, wantMsg: "no recipient given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRecipients(tt.values(t))
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Join(r.Keys(), ","); got != strings.Join(tt.wantKeys, ",") {
					t.Fatalf("keys %s, want %s", got, strings.Join(tt.wantKeys, ","))
				}
				return
			}
			if !errors.Is(err, ErrInvalidRecipient) {
				t.Fatalf("error %v, want ErrInvalidRecipient", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %q does not say %q", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), strings.ToLower(secret)) {
				t.Fatalf("error %q holds the secret key", err)
			}
		})
	}
}

func sorted(a, b string) []string {
	if a > b {
		return []string{b, a}
	}
	return []string{a, b}
}

func TestParseIdentitiesNeverEchoes(t *testing.T) {
	id := newIdentity(t)
	s := id.String()
	for _, text := range []string{
		"",
		"# only a comment\n",
		s[:len(s)-4] + "QQQQ",             // bad checksum
		id.Recipient().String(),           // a public key where the secret goes
		"AGE-SECRET-KEY-1" + s[16:] + "x", // one character too many
		s + "\ngarbage " + s[10:30],
	} {
		_, err := ParseIdentities(text)
		if !errors.Is(err, ErrInvalidIdentity) {
			t.Fatalf("ParseIdentities(...) = %v, want ErrInvalidIdentity", err)
		}
		if strings.Contains(err.Error(), s[16:36]) || strings.Contains(strings.ToUpper(err.Error()), s[16:36]) {
			t.Fatalf("error %q holds part of the secret key", err)
		}
	}
	ids, err := ParseIdentities("\r\n" + s + "\r\n")
	if err != nil {
		t.Fatalf("CRLF identity file: %v", err)
	}
	if got := ids.Keys(); len(got) != 1 || got[0] != id.Recipient().String() {
		t.Fatalf("keys %v, want the identity's public key", got)
	}
}

func TestCheckOpens(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	ka, kb := a.Recipient().String(), b.Recipient().String()
	idsA, _ := ParseIdentities(a.String())
	idsB, _ := ParseIdentities(b.String())
	both, _ := ParseIdentities(a.String() + "\n" + b.String())
	tests := []struct {
		name       string
		ids        *Identities
		recipients []string
		want       error
		wantMsg    []string
	}{
		{"matching", idsA, []string{ka}, nil, nil},
		{"one of several", idsB, []string{ka, kb}, nil, nil},
		{"one of the identities", both, []string{kb}, nil, nil},
		{"none given", nil, []string{ka}, ErrNoIdentity, []string{"backup X is encrypted with age for " + ka, IdentityEnv, IdentityFileEnv}},
		{"wrong one", idsB, []string{ka}, ErrWrongIdentity, []string{"for " + ka, "belongs to " + kb, IdentityEnv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ids.CheckOpens("backup X", tt.recipients)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckOpens = %v, want %v", err, tt.want)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Fatalf("error %q does not say %q", err, m)
				}
			}
		})
	}
}

type failingReader struct {
	r   io.Reader
	at  int
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n >= f.at {
		return 0, f.err
	}
	p = p[:min(len(p), f.at-f.n)]
	n, err := f.r.Read(p)
	f.n += n
	return n, err
}

func TestDecryptFailures(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	recs, _ := ParseRecipients([]string{a.Recipient().String()})
	plain := make([]byte, 200<<10)
	rand.Read(plain)
	ct := encrypt(t, recs, plain)
	idsA, _ := ParseIdentities(a.String())
	idsB, _ := ParseIdentities(b.String())
	storageErr := errors.New("connection reset by peer")

	flip := func(i int) []byte { c := bytes.Clone(ct); c[i] ^= 1; return c }
	tests := []struct {
		name string
		ids  *Identities
		src  io.Reader
		// atOpen: the error comes from Decrypt (header) rather than
		// from reading the plaintext.
		atOpen bool
		want   error
	}{
		{"wrong identity", idsB, bytes.NewReader(ct), true, ErrWrongIdentity},
		{"no identity", nil, bytes.NewReader(ct), true, ErrNoIdentity},
		{"not age at all", idsA, strings.NewReader("tar archive bytes"), true, ErrDecrypt},
		{"flipped byte in the payload", idsA, bytes.NewReader(flip(len(ct) / 2)), false, ErrDecrypt},
		{"flipped byte in the last chunk", idsA, bytes.NewReader(flip(len(ct) - 3)), false, ErrDecrypt},
		{"truncated at a chunk boundary", idsA, bytes.NewReader(ct[:len(ct)-(len(ct)-300)%(64<<10+16)]), false, ErrDecrypt},
		{"truncated", idsA, bytes.NewReader(ct[:len(ct)-1]), false, ErrDecrypt},
		{"trailing data", idsA, bytes.NewReader(append(bytes.Clone(ct), 0)), false, ErrDecrypt},
		{"storage error mid-stream passes through", idsA, &failingReader{r: bytes.NewReader(ct), at: len(ct) / 2, err: storageErr}, false, storageErr},
		{"storage error in the header passes through", idsA, &failingReader{r: bytes.NewReader(ct), at: 10, err: storageErr}, true, storageErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, err := tt.ids.Decrypt(tt.src)
			if tt.atOpen {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Decrypt = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decrypt = %v, want the error later", err)
			}
			_, err = io.Copy(io.Discard, pr)
			if !errors.Is(err, tt.want) {
				t.Fatalf("read plaintext: %v, want %v", err, tt.want)
			}
			if tt.want == storageErr && errors.Is(err, ErrDecrypt) {
				t.Fatalf("a storage error %v is reported as a damaged object", err)
			}
		})
	}
}

// block is what patternReader repeats: random, so it is no easier to
// process than a snapshot, and fixed, so producing it costs nothing.
var block = func() []byte {
	b := make([]byte, 1<<20)
	rand.Read(b)
	return b
}()

// patternReader yields n deterministic bytes without holding them.
type patternReader struct{ n, off int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	n := 0
	for n < len(b) {
		n += copy(b[n:], block[(p.off+int64(n))%int64(len(block)):])
	}
	p.off += int64(n)
	return n, nil
}

// TestStreamingKeepsMemoryFlat pushes a large object through encryption
// and decryption over a pipe and samples the heap meanwhile: it must not
// grow with the object (age works in 64 KiB chunks).
func TestStreamingKeepsMemoryFlat(t *testing.T) {
	const size = 128 << 20
	id := newIdentity(t)
	recs, _ := ParseRecipients([]string{id.Recipient().String()})
	ids, _ := ParseIdentities(id.String())

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()

	pr, pw := io.Pipe()
	go func() {
		w, err := recs.Encrypt(pw)
		if err == nil {
			_, err = io.Copy(w, &patternReader{n: size})
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	plain, err := ids.Decrypt(pr)
	if err != nil {
		t.Fatal(err)
	}
	h, want := sha256.New(), sha256.New()
	n, err := io.Copy(h, plain)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(want, &patternReader{n: size})
	if n != size || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatalf("decrypted %d bytes, want %d identical to the input", n, size)
	}
	if grew := int64(peak.Load()) - int64(base.HeapInuse); grew > 16<<20 {
		t.Fatalf("heap grew by %d MiB while streaming %d MiB: the stream is buffered", grew>>20, size>>20)
	}
}

// BenchmarkEncrypt measures the encrypt wrapper (MB/s via SetBytes)
// against the plain copy it replaces and SHA-256, which every backup
// byte also goes through.
func BenchmarkEncrypt(b *testing.B) {
	const size = 64 << 20
	id := newIdentity(b)
	recs, _ := ParseRecipients([]string{id.Recipient().String()})
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			io.Copy(io.Discard, &patternReader{n: size})
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			io.Copy(sha256.New(), &patternReader{n: size})
		}
	})
	b.Run("age", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			w, err := recs.Encrypt(io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(w, &patternReader{n: size}); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecrypt is the restore side.
func BenchmarkDecrypt(b *testing.B) {
	const size = 64 << 20
	id := newIdentity(b)
	recs, _ := ParseRecipients([]string{id.Recipient().String()})
	ids, _ := ParseIdentities(id.String())
	var ct bytes.Buffer
	w, _ := recs.Encrypt(&ct)
	io.Copy(w, &patternReader{n: size})
	w.Close()
	b.SetBytes(size)
	for b.Loop() {
		pr, err := ids.Decrypt(bytes.NewReader(ct.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, pr); err != nil {
			b.Fatal(err)
		}
	}
}
