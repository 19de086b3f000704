package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// ErrUnsupportedFormat is returned for a manifest whose format version this
// build does not know.
var ErrUnsupportedFormat = errors.New("unsupported manifest format")

// ErrCorrupt is returned for a manifest that cannot be decoded or breaks
// the invariants readers rely on (truncated JSON, a shard missing from the
// recorded shard count...): the backup set cannot be trusted.
var ErrCorrupt = errors.New("manifest corrupt")

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Encode writes m as indented JSON after validating it.
func Encode(w io.Writer, m *Manifest) error {
	if err := m.Validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// Marshal returns the encoded manifest.
func Marshal(m *Manifest) ([]byte, error) {
	var b bytes.Buffer
	if err := Encode(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Decode reads and validates a manifest. A format version newer than
// FormatVersion fails with ErrUnsupportedFormat before anything else is
// interpreted, because an old reader must not guess at a newer layout.
func Decode(r io.Reader) (*Manifest, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxManifestSize))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return decode(data)
}

// maxManifestSize bounds what a manifest read holds in memory.
const maxManifestSize = 256 << 20

func decode(data []byte) (*Manifest, error) {
	var head struct {
		FormatVersion *int `json:"format_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("decode manifest (%d bytes; truncated or not JSON): %w: %w", len(data), ErrCorrupt, err)
	}
	if head.FormatVersion == nil {
		return nil, fmt.Errorf("decode manifest: no format_version field: %w", ErrUnsupportedFormat)
	}
	if *head.FormatVersion == EncryptedFormatVersion {
		return nil, fmt.Errorf("manifest format version %d is the readable part of a manifest encrypted with age (backup --encrypt-manifest), which is %s: %w",
			EncryptedFormatVersion, EncryptedManifestName, ErrUnsupportedFormat)
	}
	if v := *head.FormatVersion; v < 1 || v > FormatVersion {
		return nil, fmt.Errorf("manifest format version %d, this qbackup reads 1 to %d (upgrade qbackup to read it): %w",
			v, FormatVersion, ErrUnsupportedFormat)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w: %w", ErrCorrupt, err)
	}
	if err := m.Validate(); err != nil {
		if errors.Is(err, ErrUnsupportedFormat) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return &m, nil
}

// Validate checks the invariants every reader relies on.
func (m *Manifest) Validate() error {
	if m.FormatVersion < 1 || m.FormatVersion > FormatVersion {
		return fmt.Errorf("manifest format version %d: %w", m.FormatVersion, ErrUnsupportedFormat)
	}
	if !IsBackupID(m.BackupID) {
		return fmt.Errorf("manifest: backup id %q is malformed", m.BackupID)
	}
	if m.Cluster == "" {
		return errors.New("manifest: cluster name is empty")
	}
	if m.SnapshotMethod != MethodStream && m.SnapshotMethod != MethodStored {
		return fmt.Errorf("manifest: snapshot method %q is neither %q nor %q", m.SnapshotMethod, MethodStream, MethodStored)
	}
	if err := m.Encryption.validate(); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if m.ManifestEncrypted && m.Encryption == nil {
		return errors.New("manifest: marked encrypted without recipients (encryption)")
	}
	seen := map[string]bool{}
	for _, c := range m.Collections {
		if c.Name == "" {
			return errors.New("manifest: a collection has no name")
		}
		if seen[c.Name] {
			return fmt.Errorf("manifest: collection %q appears twice", c.Name)
		}
		seen[c.Name] = true
		if err := c.validate(m.Partial); err != nil {
			return fmt.Errorf("manifest: collection %q: %w", c.Name, err)
		}
	}
	return nil
}

func (c *Collection) validate(partial bool) error {
	if c.ShardingMethod != "auto" && c.ShardingMethod != "custom" {
		return fmt.Errorf("sharding method %q is neither auto nor custom", c.ShardingMethod)
	}
	if len(c.Config) == 0 {
		return errors.New("config is missing")
	}
	if r := c.PointsCountRange; r != nil && r.Min > r.Max {
		return fmt.Errorf("points count range %d..%d is inverted", r.Min, r.Max)
	}
	ids := map[uint32]bool{}
	for _, s := range c.Shards {
		if ids[s.ID] {
			return fmt.Errorf("shard %d appears twice", s.ID)
		}
		ids[s.ID] = true
		if s.Object == "" {
			return fmt.Errorf("shard %d has no object key", s.ID)
		}
		if !sha256Pattern.MatchString(s.SHA256) || !sha256Pattern.MatchString(s.SnapshotSHA256) {
			return fmt.Errorf("shard %d: checksums must be 64 lowercase hex digits", s.ID)
		}
		if s.Size < 0 || s.SnapshotSize < 0 {
			return fmt.Errorf("shard %d: negative size", s.ID)
		}
		if s.Compression != CompressionNone && s.Compression != CompressionZstd {
			return fmt.Errorf("shard %d: compression %q unknown", s.ID, s.Compression)
		}
		if err := s.Encryption.validate(); err != nil {
			return fmt.Errorf("shard %d: %w", s.ID, err)
		}
		// An object neither compressed nor encrypted is the snapshot
		// itself: its two records must agree, or one of them was edited
		// (e.g. sha256 rewritten to match a damaged object, which Qdrant
		// would then refuse mid-restore).
		if s.Compression == CompressionNone && s.Encryption == nil && (s.SHA256 != s.SnapshotSHA256 || s.Size != s.SnapshotSize) {
			return fmt.Errorf("shard %d: uncompressed, yet the object (%d bytes, sha256 %.12s…) and the snapshot (%d bytes, sha256 %.12s…) differ", s.ID, s.Size, s.SHA256, s.SnapshotSize, s.SnapshotSHA256)
		}
		if c.ShardingMethod == "custom" && s.ShardKey == nil {
			return fmt.Errorf("shard %d of a custom-sharded collection has no shard key", s.ID)
		}
	}
	if c.ShardingMethod == "auto" && !partial && uint32(len(c.Shards)) != c.ShardNumber {
		return fmt.Errorf("%d shard objects for shard_number %d", len(c.Shards), c.ShardNumber)
	}
	if c.ShardingMethod == "custom" && !partial {
		want := 0
		for _, k := range c.ShardKeys {
			want += len(k.ShardIDs)
		}
		if want != len(c.Shards) {
			return fmt.Errorf("%d shard objects for %d shards of its shard keys", len(c.Shards), want)
		}
	}
	return nil
}

// validate checks a recorded encryption: a scheme this build reads and at
// least one recipient, each a public key (a secret key there would be a
// leak, and opens nothing anyway).
func (e *Encryption) validate() error {
	if e == nil {
		return nil
	}
	if e.Scheme != EncryptionAge {
		return fmt.Errorf("encryption %q unknown (this qbackup reads %q)", e.Scheme, EncryptionAge)
	}
	if len(e.Recipients) == 0 {
		return errors.New("encrypted for no recipient")
	}
	for _, r := range e.Recipients {
		if !strings.HasPrefix(r, "age1") {
			return fmt.Errorf("encryption recipient %.8q… is not an age public key (age1...)", r)
		}
	}
	return nil
}
