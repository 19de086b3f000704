package crypt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"filippo.io/age"
)

// Scheme names age encryption in the manifest.
const Scheme = "age"

// Magic is how every age file starts; a stored object that begins with
// it is ciphertext.
const Magic = "age-encryption.org/v1"

// Variables that carry identities (see config.Secrets); errors name them
// so that the message says what to set.
const (
	IdentityEnv     = "QBACKUP_AGE_IDENTITY"
	IdentityFileEnv = "QBACKUP_AGE_IDENTITY_FILE"
)

var (
	// ErrInvalidRecipient: a recipient is neither an age X25519 public
	// key nor a readable file of them.
	ErrInvalidRecipient = errors.New("invalid age recipient")
	// ErrInvalidIdentity: the identity text is not age secret keys.
	ErrInvalidIdentity = errors.New("invalid age identity")
	// ErrNoIdentity: encrypted objects are to be read and no identity
	// was given.
	ErrNoIdentity = errors.New("no age identity")
	// ErrWrongIdentity: none of the identities opens an object.
	ErrWrongIdentity = errors.New("the age identity does not open the backup")
	// ErrDecrypt: an object's ciphertext failed authentication (it was
	// altered or truncated after it was written).
	ErrDecrypt = errors.New("age decryption failed")
)

// Recipients are the public keys a backup encrypts to. Every object is
// encrypted to all of them; any one matching identity opens it.
type Recipients struct {
	list []age.Recipient
	keys []string
}

// ParseRecipients reads each value as an X25519 recipient (age1...) or,
// otherwise, as the path of a file of recipients, one per line, blank
// lines and lines starting with # ignored. Duplicates count once. The
// error names the value (public, so safe to show) and wraps
// ErrInvalidRecipient; a line of a file is named by its number only, as
// a secret key pasted there by mistake must not be echoed.
func ParseRecipients(values []string) (*Recipients, error) {
	r := &Recipients{}
	seen := map[string]bool{}
	add := func(rec *age.X25519Recipient) {
		if k := rec.String(); !seen[k] {
			seen[k] = true
			r.list = append(r.list, rec)
			r.keys = append(r.keys, k)
		}
	}
	for _, v := range values {
		v = strings.TrimSpace(v)
		switch {
		case v == "":
			return nil, fmt.Errorf("an empty recipient: %w", ErrInvalidRecipient)
		case strings.HasPrefix(v, "AGE-SECRET-KEY-"):
			return nil, fmt.Errorf("a recipient is an age secret key (AGE-SECRET-KEY-...), not a public key: give its public key (age-keygen -y), and keep the secret key out of flags and ConfigMaps: %w", ErrInvalidRecipient)
		case strings.HasPrefix(v, "age1"):
			rec, err := age.ParseX25519Recipient(v)
			if err != nil {
				return nil, fmt.Errorf("recipient %q is not an age X25519 public key (age1 followed by 58 characters, from age-keygen): %w", v, ErrInvalidRecipient)
			}
			add(rec)
		default:
			recs, err := recipientsFile(v)
			if err != nil {
				return nil, err
			}
			for _, rec := range recs {
				add(rec)
			}
		}
	}
	if len(r.list) == 0 {
		return nil, fmt.Errorf("no recipient given: %w", ErrInvalidRecipient)
	}
	slices.Sort(r.keys)
	return r, nil
}

func recipientsFile(path string) ([]*age.X25519Recipient, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recipient %q is neither an age public key (age1...) nor a readable file of them: %w: %w", path, ErrInvalidRecipient, err)
	}
	var out []*age.X25519Recipient
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rec, err := age.ParseX25519Recipient(line)
		if err != nil {
			// The line is not echoed: it may be a secret key.
			return nil, fmt.Errorf("recipients file %s, line %d: not an age X25519 public key (age1...): %w", path, i+1, ErrInvalidRecipient)
		}
		out = append(out, rec)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("recipients file %s holds no recipient: %w", path, ErrInvalidRecipient)
	}
	return out, nil
}

// Keys are the recipients' public keys, sorted.
func (r *Recipients) Keys() []string { return slices.Clone(r.keys) }

// Encrypt returns a writer that encrypts to w; Close writes the last
// chunk and must be called for the object to be complete (it does not
// close w).
func (r *Recipients) Encrypt(w io.Writer) (io.WriteCloser, error) {
	ew, err := age.Encrypt(w, r.list...)
	if err != nil {
		return nil, fmt.Errorf("start age encryption: %w", err)
	}
	return ew, nil
}

// Identities are the secret keys a restore or verify decrypts with.
type Identities struct {
	list []age.Identity
	// keys are the public keys of the identities, to tell before reading
	// anything whether they open a set.
	keys []string
}

// ParseIdentities reads identity text: one or more age secret keys
// (AGE-SECRET-KEY-1...), one per line, blank lines and # comments
// ignored, as age-keygen writes them. Nothing of the text appears in an
// error; a bad line is named by its number.
func ParseIdentities(text string) (*Identities, error) {
	ids := &Identities{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("line %d is not an age X25519 secret key (AGE-SECRET-KEY-1..., from age-keygen): %w", i+1, ErrInvalidIdentity)
		}
		ids.list = append(ids.list, id)
		ids.keys = append(ids.keys, id.Recipient().String())
	}
	if len(ids.list) == 0 {
		return nil, fmt.Errorf("no secret key in it (AGE-SECRET-KEY-1..., from age-keygen): %w", ErrInvalidIdentity)
	}
	slices.Sort(ids.keys)
	return ids, nil
}

// Keys are the public keys of the identities, sorted.
func (ids *Identities) Keys() []string {
	if ids == nil {
		return nil
	}
	return slices.Clone(ids.keys)
}

// CheckOpens tells, from public keys alone and before anything is read,
// whether ids open objects encrypted to recipients: nil when one identity
// belongs to one recipient. Otherwise the error (wrapping ErrNoIdentity
// or ErrWrongIdentity) names what was read (what), the recipients and the
// variables to set.
func (ids *Identities) CheckOpens(what string, recipients []string) error {
	if ids == nil || len(ids.list) == 0 {
		return fmt.Errorf("%s is encrypted with age for %s: set %s (the secret key text) or %s (a file holding it, e.g. a mounted Secret) to a matching identity: %w",
			what, strings.Join(recipients, ", "), IdentityEnv, IdentityFileEnv, ErrNoIdentity)
	}
	for _, k := range ids.keys {
		if slices.Contains(recipients, k) {
			return nil
		}
	}
	return fmt.Errorf("%s is encrypted with age for %s, and the identity in %s/%s belongs to %s: set the secret key of one of those recipients: %w",
		what, strings.Join(recipients, ", "), IdentityEnv, IdentityFileEnv, strings.Join(ids.keys, ", "), ErrWrongIdentity)
}

// Decrypt reads the age header from r and returns the plaintext reader.
// No matching identity gives ErrWrongIdentity; errors of the payload
// (authentication failures) are returned by the reader wrapped in
// ErrDecrypt, while r's own errors pass through unchanged, so a caller
// can tell a storage failure from a damaged object.
func (ids *Identities) Decrypt(r io.Reader) (io.Reader, error) {
	if ids == nil || len(ids.list) == 0 {
		return nil, ErrNoIdentity
	}
	src := &errTracker{r: r}
	pr, err := age.Decrypt(src, ids.list...)
	var nomatch *age.NoIdentityMatchError
	switch {
	case src.err != nil:
		return nil, src.err
	case errors.As(err, &nomatch):
		return nil, fmt.Errorf("no identity (%s) opens it: %w", strings.Join(ids.keys, ", "), ErrWrongIdentity)
	case err != nil:
		return nil, fmt.Errorf("read the age header: %w: %v", ErrDecrypt, err)
	}
	return &plainReader{r: pr, src: src}, nil
}

// errTracker remembers the first error of the source other than io.EOF.
type errTracker struct {
	r   io.Reader
	err error
}

func (t *errTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// plainReader reports the source's own errors as they are and anything
// else age refuses as ErrDecrypt.
type plainReader struct {
	r   io.Reader
	src *errTracker
}

func (p *plainReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	switch {
	case err == nil, err == io.EOF:
		return n, err
	case p.src.err != nil:
		return n, p.src.err
	}
	return n, fmt.Errorf("%w: %v", ErrDecrypt, err)
}
