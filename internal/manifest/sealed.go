package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/qbackup/qbackup/internal/crypt"
)

// A set written with --encrypt-manifest stores its manifest encrypted
// with age to the recipients of its shard objects, as
// EncryptedManifestName, which is then the set's commit marker. What
// must stay decidable without the key lives in a small readable object
// beside it, Public, written just before: prune must not count a partial
// set as a good one, nor delete a set under object lock, and a restore
// without the key names the recipients whose key it needs. Everything
// else — collections, their configuration and payload schema, shards,
// peers, sample digests — is in the encrypted manifest only.

// Public is the readable part of an encrypted manifest.
type Public struct {
	FormatVersion int    `json:"format_version"`
	BackupID      string `json:"backup_id"`
	Cluster       string `json:"cluster"`
	// Partial, ObjectLock and Encryption are the manifest's.
	Partial    bool        `json:"partial,omitempty"`
	ObjectLock *ObjectLock `json:"object_lock,omitempty"`
	Encryption *Encryption `json:"encryption"`
}

// PublicOf is the readable part of m.
func PublicOf(m *Manifest) *Public {
	return &Public{FormatVersion: FormatVersion, BackupID: m.BackupID, Cluster: m.Cluster,
		Partial: m.Partial, ObjectLock: m.ObjectLock, Encryption: m.Encryption}
}

// Validate checks what readers of a Public rely on.
func (p *Public) Validate() error {
	if p.FormatVersion < 1 || p.FormatVersion > FormatVersion {
		return fmt.Errorf("manifest format version %d, this qbackup reads 1 to %d (upgrade qbackup to read it): %w",
			p.FormatVersion, FormatVersion, ErrUnsupportedFormat)
	}
	if !IsBackupID(p.BackupID) {
		return fmt.Errorf("public manifest: backup id %q is malformed", p.BackupID)
	}
	if p.Cluster == "" {
		return errors.New("public manifest: cluster name is empty")
	}
	if p.Encryption == nil {
		return errors.New("public manifest: no encryption recorded")
	}
	if err := p.Encryption.validate(); err != nil {
		return fmt.Errorf("public manifest: %w", err)
	}
	return nil
}

// EncodePublic writes p as JSON after validating it.
func EncodePublic(w io.Writer, p *Public) error {
	if err := p.Validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// ReadPublic opens and decodes the readable part at key. A missing
// object is the store's error, wrapped; anything undecodable is
// ErrCorrupt (or ErrUnsupportedFormat).
func ReadPublic(ctx context.Context, store Opener, key string) (*Public, error) {
	r, err := store.Open(ctx, key, 0)
	if err != nil {
		return nil, fmt.Errorf("read public manifest %s: %w", key, err)
	}
	defer r.Close()
	// It holds a few keys; anything larger is not one.
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read public manifest %s: %w", key, err)
	}
	var p Public
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("public manifest %s (%d bytes; truncated or not JSON): %w: %w", key, len(data), ErrCorrupt, err)
	}
	if err := p.Validate(); err != nil {
		if errors.Is(err, ErrUnsupportedFormat) {
			return nil, fmt.Errorf("public manifest %s: %w", key, err)
		}
		return nil, fmt.Errorf("public manifest %s: %w: %w", key, ErrCorrupt, err)
	}
	return &p, nil
}

// EncodeEncrypted validates m and writes it encrypted to recipients,
// streaming: the plaintext exists only in the age writer's current
// 64 KiB chunk. m must be marked ManifestEncrypted.
func EncodeEncrypted(w io.Writer, m *Manifest, recipients *crypt.Recipients) error {
	if !m.ManifestEncrypted {
		return errors.New("manifest: encoding encrypted a manifest not marked manifest_encrypted")
	}
	if err := m.Validate(); err != nil {
		return err
	}
	ew, err := recipients.Encrypt(w)
	if err != nil {
		return err
	}
	if err := Encode(ew, m); err != nil {
		return err
	}
	if err := ew.Close(); err != nil {
		return fmt.Errorf("finish age encryption: %w", err)
	}
	return nil
}

// ReadEncrypted opens, decrypts with ids and decodes the encrypted
// manifest at key. Without ids the error wraps crypt.ErrNoIdentity, with
// none that opens it crypt.ErrWrongIdentity; a ciphertext that fails
// authentication (altered or truncated) is ErrCorrupt and
// crypt.ErrDecrypt. Errors from the store are wrapped, so a missing
// object is still told with errors.Is.
func ReadEncrypted(ctx context.Context, store Opener, key string, ids *crypt.Identities) (*Manifest, error) {
	// Opened first: a manifest that does not exist is not a missing key.
	r, err := store.Open(ctx, key, 0)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", key, err)
	}
	defer r.Close()
	if ids == nil || len(ids.Keys()) == 0 {
		return nil, fmt.Errorf("manifest %s is encrypted with age: set %s (the secret key text) or %s (a file holding it, e.g. a mounted Secret): %w",
			key, crypt.IdentityEnv, crypt.IdentityFileEnv, crypt.ErrNoIdentity)
	}
	plain, err := ids.Decrypt(r)
	switch {
	case errors.Is(err, crypt.ErrWrongIdentity):
		return nil, fmt.Errorf("manifest %s is encrypted with age and the identity in %s/%s does not open it (%w): set the secret key of one of its recipients",
			key, crypt.IdentityEnv, crypt.IdentityFileEnv, err)
	case errors.Is(err, crypt.ErrDecrypt):
		return nil, fmt.Errorf("manifest %s: %w: %w", key, ErrCorrupt, err)
	case err != nil:
		return nil, fmt.Errorf("read manifest %s: %w", key, err)
	}
	m, err := Decode(plain)
	switch {
	case errors.Is(err, crypt.ErrDecrypt) && !errors.Is(err, ErrCorrupt):
		return nil, fmt.Errorf("manifest %s: %w: %w", key, ErrCorrupt, err)
	case err != nil:
		return nil, fmt.Errorf("manifest %s: %w", key, err)
	}
	if !m.ManifestEncrypted {
		// A readable manifest encrypted by hand: say how it is stored.
		m.ManifestEncrypted = true
		if m.Encryption == nil {
			return nil, fmt.Errorf("manifest %s: %w: encrypted, yet it records no recipients", key, ErrCorrupt)
		}
	}
	return m, nil
}
