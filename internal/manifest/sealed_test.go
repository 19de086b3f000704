package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/crypt/crypttest"
)

// mapStore is an Opener over a map; a missing key is fs.ErrNotExist.
type mapStore map[string][]byte

func (s mapStore) Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	b, ok := s[key]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", key, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(b[offset:])), nil
}

// encryptedManifest is validManifest marked and recorded as encrypted to rec.
func encryptedManifest(rec *crypt.Recipients) *Manifest {
	m := validManifest()
	m.Encryption = &Encryption{Scheme: EncryptionAge, Recipients: rec.Keys()}
	m.ManifestEncrypted = true
	m.ObjectLock = &ObjectLock{Mode: "GOVERNANCE", RetainUntil: m.StartedAt.Add(48 * time.Hour)}
	return m
}

func TestEncryptedManifestRoundTripHidesTheContent(t *testing.T) {
	rec, ids, _ := crypttest.Key(t)
	m := encryptedManifest(rec)
	var ct bytes.Buffer
	if err := EncodeEncrypted(&ct, m, rec); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ct.Bytes(), []byte(crypt.Magic)) {
		t.Fatalf("the encrypted manifest does not start with the age header: %.40q", ct.Bytes())
	}
	for _, secret := range []string{"docs", "tenants", "tenant-a", "params", "qdrant-0", m.Collections[0].Shards[0].SHA256} {
		if bytes.Contains(ct.Bytes(), []byte(secret)) {
			t.Errorf("the encrypted manifest holds %q in clear", secret)
		}
	}
	key := m.Key()
	if key != "prod/20261125T133000Z-3f9c/manifest.json.age" {
		t.Fatalf("key of an encrypted manifest = %s", key)
	}
	got, err := ReadEncrypted(context.Background(), mapStore{key: ct.Bytes()}, key, ids)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Marshal(m)
	have, _ := Marshal(got)
	if !bytes.Equal(want, have) {
		t.Fatalf("round trip changed the manifest:\n%s\n---\n%s", want, have)
	}
}

func TestEncryptedManifestRefusals(t *testing.T) {
	rec, _, _ := crypttest.Key(t)
	_, otherIDs, _ := crypttest.Key(t)
	rec2, ids2, _ := crypttest.Key(t)
	m := encryptedManifest(rec2)
	var ct bytes.Buffer
	if err := EncodeEncrypted(&ct, m, rec2); err != nil {
		t.Fatal(err)
	}
	key := m.Key()
	tampered := bytes.Clone(ct.Bytes())
	tampered[len(tampered)-20] ^= 1
	truncated := ct.Bytes()[:len(ct.Bytes())-30]
	tests := []struct {
		name  string
		store mapStore
		ids   *crypt.Identities
		is    []error
		says  []string
	}{
		{"no identity", mapStore{key: ct.Bytes()}, nil, []error{crypt.ErrNoIdentity}, []string{crypt.IdentityEnv, crypt.IdentityFileEnv, key}},
		{"wrong identity", mapStore{key: ct.Bytes()}, otherIDs, []error{crypt.ErrWrongIdentity}, []string{crypt.IdentityEnv, otherIDs.Keys()[0]}},
		{"altered ciphertext", mapStore{key: tampered}, ids2, []error{ErrCorrupt, crypt.ErrDecrypt}, []string{key}},
		{"truncated ciphertext", mapStore{key: truncated}, ids2, []error{ErrCorrupt, crypt.ErrDecrypt}, []string{key}},
		{"missing, even without identity", mapStore{}, nil, []error{fs.ErrNotExist}, []string{key}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadEncrypted(context.Background(), tt.store, key, tt.ids)
			if got != nil || err == nil {
				t.Fatalf("read gave %v, %v", got, err)
			}
			for _, e := range tt.is {
				if !errors.Is(err, e) {
					t.Errorf("error %q does not match %v", err, e)
				}
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
	if err := EncodeEncrypted(io.Discard, validManifest(), rec); err == nil {
		t.Error("a manifest not marked manifest_encrypted was encoded encrypted")
	}
	unmarked := validManifest()
	unmarked.ManifestEncrypted = true
	if err := unmarked.Validate(); err == nil {
		t.Error("a manifest marked encrypted without recipients passed validation")
	}
}

func TestPublicPartHoldsOnlyWhatPruneNeeds(t *testing.T) {
	rec, _, _ := crypttest.Key(t)
	m := encryptedManifest(rec)
	m.Partial = true
	var b bytes.Buffer
	if err := EncodePublic(&b, PublicOf(m)); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"docs", "tenants", "params", "qdrant-0", "10.0.0.1", m.Collections[0].Shards[0].SHA256, "1.19.0"} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("the public part holds %q:\n%s", secret, b.String())
		}
	}
	key := ManifestKey(m.Cluster, m.BackupID)
	full, p, err := ReadCommit(context.Background(), mapStore{key: b.Bytes()}, key)
	if err != nil || full != nil {
		t.Fatal(full, err)
	}
	if p.FormatVersion != EncryptedFormatVersion || p.EncryptedManifest != EncryptedManifestName || !p.Partial || p.ObjectLock == nil ||
		!p.ObjectLock.RetainUntil.Equal(m.ObjectLock.RetainUntil) || p.BackupID != m.BackupID || p.Cluster != m.Cluster ||
		strings.Join(p.Encryption.Recipients, ",") != strings.Join(rec.Keys(), ",") {
		t.Fatalf("public part read back as %+v", p)
	}
	// A reader of readable manifests only (Read, Decode; and readers
	// older than format 2) refuses it as a newer format: never taken
	// for a manifest, never for a missing one.
	if _, err := Read(context.Background(), mapStore{key: b.Bytes()}, key); !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), EncryptedManifestName) {
		t.Errorf("Read of the public part: %v", err)
	}
	// ReadCommit reads a readable manifest as Read does.
	plain, _ := Marshal(validManifest())
	if full, p, err := ReadCommit(context.Background(), mapStore{key: plain}, key); err != nil || p != nil || full.BackupID != "20261125T133000Z-3f9c" {
		t.Errorf("ReadCommit of a manifest: %v %v %v", full, p, err)
	}

	const head = `{"format_version":2,"backup_id":"20261125T133000Z-3f9c","cluster":"prod","encrypted_manifest":"manifest.json.age"`
	bad := []struct {
		name string
		body string
		is   error
	}{
		{"not JSON", `{"format_version":2,`, ErrCorrupt},
		{"newer format", `{"format_version":99}`, ErrUnsupportedFormat},
		{"no encryption", head + `}`, ErrCorrupt},
		{"another manifest name", `{"format_version":2,"backup_id":"20261125T133000Z-3f9c","cluster":"prod","encrypted_manifest":"manifest.json.gpg","encryption":{"scheme":"age","recipients":["age1x"]}}`, ErrCorrupt},
		{"a secret key as recipient", head + `,"encryption":{"scheme":"age","recipients":["AGE-SECRET-KEY-1XYZ"]}}`, ErrCorrupt},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ReadCommit(context.Background(), mapStore{key: []byte(tt.body)}, key); !errors.Is(err, tt.is) || strings.Contains(fmt.Sprint(err), "AGE-SECRET-KEY-1XYZ") {
				t.Errorf("error %v, want %v", err, tt.is)
			}
		})
	}
}

func TestEncryptedManifestKeys(t *testing.T) {
	if _, _, ok := ParseManifestKey("prod/20261125T133000Z-3f9c/manifest.json.age"); ok {
		t.Error("the encrypted manifest parsed as the commit marker")
	}
	if !IsEncryptedManifestKey("prod/20261125T133000Z-3f9c/manifest.json.age") || IsEncryptedManifestKey("prod/20261125T133000Z-3f9c/manifest.json") {
		t.Error("IsEncryptedManifestKey")
	}
	if !IsManifestName(ManifestName) || !IsManifestName(EncryptedManifestName) || IsManifestName("0.snapshot.age") {
		t.Error("IsManifestName")
	}
	if k := EncryptedManifestKey("a b", "20261125T133000Z-3f9c"); k != "a%20b/20261125T133000Z-3f9c/manifest.json.age" {
		t.Errorf("EncryptedManifestKey = %s", k)
	}
	if k := OpaqueShardObjectKey("prod", "20261125T133000Z-3f9c", 7, CompressionZstd); k != "prod/20261125T133000Z-3f9c/shards/7.snapshot.zst" {
		t.Errorf("OpaqueShardObjectKey = %s", k)
	}
}

// bigManifest is a set of n collections of 8 shards each, with samples.
func bigManifest(rec *crypt.Recipients, n int) *Manifest {
	m := encryptedManifest(rec)
	base := m.Collections[0]
	m.Collections = nil
	for i := range n {
		c := base
		c.Name = fmt.Sprintf("collection-%04d", i)
		c.ShardNumber = 8
		c.Shards = nil
		for s := range uint32(8) {
			sh := base.Shards[0]
			sh.ID, sh.Object = s, fmt.Sprintf("prod/x/shards/%d.snapshot.age", i*8+int(s))
			sh.Encryption = m.Encryption
			c.Shards = append(c.Shards, sh)
		}
		for p := range 64 {
			c.Sample = append(c.Sample, PointDigest{ID: []byte(fmt.Sprint(p)), SHA256: strings.Repeat("cd", 32)})
		}
		m.Collections = append(m.Collections, c)
	}
	return m
}

// BenchmarkManifestEncryption: writing and reading a manifest of 1000
// collections (8000 shards, 64000 sample digests) readable and encrypted.
func BenchmarkManifestEncryption(b *testing.B) {
	id, _ := age.GenerateX25519Identity()
	rec, _ := crypt.ParseRecipients([]string{id.Recipient().String()})
	ids, _ := crypt.ParseIdentities(id.String())
	m := bigManifest(rec, 1000)
	plain, _ := Marshal(m)
	var ct bytes.Buffer
	if err := EncodeEncrypted(&ct, m, rec); err != nil {
		b.Fatal(err)
	}
	b.Logf("manifest: %d bytes readable, %d encrypted", len(plain), ct.Len())
	key := m.Key()
	store := mapStore{key: ct.Bytes(), "plain": plain}
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if err := Encode(io.Discard, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode-encrypted", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if err := EncodeEncrypted(io.Discard, m, rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if _, err := Read(context.Background(), store, "plain"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read-encrypted", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if _, err := ReadEncrypted(context.Background(), store, key, ids); err != nil {
				b.Fatal(err)
			}
		}
	})
}
