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
// EncryptedManifestName. ManifestName then holds the manifest's readable
// part, Public, written last: it stays the set's commit marker, and it
// keeps decidable without the key what must be: prune must not count a
// partial set as a good one, nor delete a set under object lock, and a
// restore without the key names the recipients whose key it needs.
// Everything else — collections, their configuration and payload schema,
// shards, peers, sample digests — is in the encrypted manifest only.
//
// The readable part has format version EncryptedFormatVersion, which
// readers older than it refuse as a newer format: they list such a set as
// unreadable and their prune never deletes it, rather than taking it for
// an orphan.

// EncryptedFormatVersion is the format_version of a manifest.json that is
// the readable part of an encrypted manifest.
const EncryptedFormatVersion = 2

// Public is the readable part of an encrypted manifest.
type Public struct {
	FormatVersion int    `json:"format_version"`
	BackupID      string `json:"backup_id"`
	Cluster       string `json:"cluster"`
	// EncryptedManifest is the file name of the manifest, beside this
	// one: EncryptedManifestName.
	EncryptedManifest string `json:"encrypted_manifest"`
	// Partial, ObjectLock and Encryption are the manifest's.
	Partial    bool        `json:"partial,omitempty"`
	ObjectLock *ObjectLock `json:"object_lock,omitempty"`
	Encryption *Encryption `json:"encryption"`
}

// PublicOf is the readable part of m.
func PublicOf(m *Manifest) *Public {
	return &Public{FormatVersion: EncryptedFormatVersion, BackupID: m.BackupID, Cluster: m.Cluster,
		EncryptedManifest: EncryptedManifestName, Partial: m.Partial, ObjectLock: m.ObjectLock, Encryption: m.Encryption}
}

// Validate checks what readers of a Public rely on.
func (p *Public) Validate() error {
	if p.FormatVersion != EncryptedFormatVersion {
		return fmt.Errorf("manifest format version %d is not that of the readable part of an encrypted manifest (%d): %w",
			p.FormatVersion, EncryptedFormatVersion, ErrUnsupportedFormat)
	}
	if !IsBackupID(p.BackupID) {
		return fmt.Errorf("readable part of an encrypted manifest: backup id %q is malformed", p.BackupID)
	}
	if p.Cluster == "" {
		return errors.New("readable part of an encrypted manifest: cluster name is empty")
	}
	if p.EncryptedManifest != EncryptedManifestName {
		return fmt.Errorf("readable part of an encrypted manifest: the manifest is %q, this qbackup reads %q", p.EncryptedManifest, EncryptedManifestName)
	}
	if p.Encryption == nil {
		return errors.New("readable part of an encrypted manifest: no encryption recorded")
	}
	if err := p.Encryption.validate(); err != nil {
		return fmt.Errorf("readable part of an encrypted manifest: %w", err)
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

// ReadCommit opens and decodes the manifest.json at key: either the
// manifest (m), or the readable part of an encrypted one (p), which
// EncryptedManifestKey then holds. Errors are those of Read.
func ReadCommit(ctx context.Context, store Opener, key string) (m *Manifest, p *Public, err error) {
	r, err := store.Open(ctx, key, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("read manifest %s: %w", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxManifestSize))
	if err != nil {
		return nil, nil, fmt.Errorf("read manifest %s: %w", key, err)
	}
	var head struct {
		FormatVersion *int `json:"format_version"`
	}
	if json.Unmarshal(data, &head) != nil || head.FormatVersion == nil || *head.FormatVersion != EncryptedFormatVersion {
		m, err := decode(data)
		if err != nil {
			return nil, nil, fmt.Errorf("manifest %s: %w", key, err)
		}
		return m, nil, nil
	}
	p = &Public{}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, nil, fmt.Errorf("manifest %s (%d bytes): %w: %w", key, len(data), ErrCorrupt, err)
	}
	if err := p.Validate(); err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w: %w", key, ErrCorrupt, err)
	}
	return nil, p, nil
}

// EncodeEncrypted validates m and writes it encrypted to recipients: the
// plaintext goes nowhere but into age's writer, which passes on
// ciphertext chunk by chunk. m must be marked ManifestEncrypted.
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
	if len(ids.Keys()) == 0 {
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
