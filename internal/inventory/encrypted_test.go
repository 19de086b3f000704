package inventory

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/crypt/crypttest"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// putEncrypted stores a set whose manifest is encrypted to rec: a shard
// object of 11 bytes, the readable part, the encrypted manifest.
func putEncrypted(t *testing.T, st storage.Backend, rec *crypt.Recipients, cluster, id string, partial bool) {
	t.Helper()
	sum := strings.Repeat("0", 64)
	ts, _ := manifest.BackupIDTime(id)
	enc := &manifest.Encryption{Scheme: manifest.EncryptionAge, Recipients: rec.Keys()}
	obj := manifest.ShardObjectKey(cluster, id, "docs", 0, "none") + manifest.EncryptedSuffix
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: id, Cluster: cluster, QdrantVersion: "1.19.0",
		SnapshotMethod: manifest.MethodStream, Partial: partial, StartedAt: ts, FinishedAt: ts.Add(time.Minute),
		Encryption: enc, ManifestEncrypted: true,
		Collections: []manifest.Collection{{
			Name: "docs", Config: []byte(`{}`), ShardingMethod: "auto", ShardNumber: 1, PointsCount: 7,
			Shards: []manifest.Shard{{ID: 0, Object: obj, Compression: "none", Encryption: enc, Size: 11, SHA256: sum, SnapshotSize: 5, SnapshotSHA256: sum}},
		}},
	}
	ctx := context.Background()
	var pub, ct bytes.Buffer
	if err := manifest.EncodePublic(&pub, manifest.PublicOf(m)); err != nil {
		t.Fatal(err)
	}
	if err := manifest.EncodeEncrypted(&ct, m, rec); err != nil {
		t.Fatal(err)
	}
	for k, r := range map[string]*bytes.Reader{obj: bytes.NewReader([]byte("ciphertext!")), m.Key(): bytes.NewReader(ct.Bytes())} {
		if err := st.Put(ctx, k, r); err != nil {
			t.Fatal(err)
		}
	}
	// The readable part, the commit marker, last.
	if err := st.Put(ctx, manifest.ManifestKey(cluster, id), bytes.NewReader(pub.Bytes())); err != nil {
		t.Fatal(err)
	}
}

func TestEncryptedSetsAreListedWithoutTheKey(t *testing.T) {
	ctx := context.Background()
	rec, _, _ := crypttest.Key(t)
	st := storage.NewMemory()
	putManifest(t, st, "prod", "20261101T000000Z-aaaa", false)
	putEncrypted(t, st, rec, "prod", "20261102T000000Z-bbbb", false)
	putEncrypted(t, st, rec, "prod", "20261103T000000Z-cccc", true)
	all, err := List(ctx, st, nil, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d rows: %+v", len(all), all)
	}
	for i, want := range []struct {
		id, status string
		encrypted  bool
	}{{"20261103T000000Z-cccc", catalog.StatusPartial, true}, {"20261102T000000Z-bbbb", catalog.StatusComplete, true}, {"20261101T000000Z-aaaa", catalog.StatusComplete, false}} {
		b := all[i]
		if b.BackupID != want.id || b.Status != want.status || b.ManifestEncrypted != want.encrypted {
			t.Errorf("row %d: %s %s encrypted=%v; want %s %s %v", i, b.BackupID, b.Status, b.ManifestEncrypted, want.id, want.status, want.encrypted)
		}
		if !want.encrypted {
			continue
		}
		ts, _ := manifest.BackupIDTime(want.id)
		pubSize, _ := st.Stat(ctx, manifest.ManifestKey("prod", want.id))
		ctSize, _ := st.Stat(ctx, manifest.EncryptedManifestKey("prod", want.id))
		if !b.StartedAt.Equal(ts) || b.TotalBytes != 11+pubSize.Size+ctSize.Size || b.ManifestKey != manifest.EncryptedManifestKey("prod", want.id) ||
			b.CollectionCount != 0 || b.QdrantVersion != "" {
			t.Errorf("encrypted row %+v: want the id's time, the stored bytes and nothing from inside the manifest", b)
		}
	}
	// "latest" is the newest complete set, encrypted or not, found
	// without the key.
	id, err := Resolve(ctx, st, nil, "prod", "latest")
	if err != nil || id != "20261102T000000Z-bbbb" {
		t.Fatalf("latest = %s, %v", id, err)
	}

	// A readable part whose encrypted manifest is gone: a row of its
	// own, never latest.
	if err := st.Delete(ctx, manifest.EncryptedManifestKey("prod", "20261102T000000Z-bbbb")); err != nil {
		t.Fatal(err)
	}
	all, err = List(ctx, st, nil, "prod")
	if err != nil || all[1].Status != StatusUnreadable || !strings.Contains(all[1].Reason, "manifest.json.age is missing") {
		t.Fatalf("rows %+v, %v", all, err)
	}
	if id, err := Resolve(ctx, st, nil, "prod", "latest"); err != nil || id != "20261101T000000Z-aaaa" {
		t.Fatalf("latest = %s, %v", id, err)
	}
}

func TestLoadEncryptedManifest(t *testing.T) {
	ctx := context.Background()
	rec, ids, _ := crypttest.Key(t)
	_, other, _ := crypttest.Key(t)
	st := storage.NewMemory()
	putManifest(t, st, "prod", "20261101T000000Z-aaaa", false)
	const id = "20261102T000000Z-bbbb"
	putEncrypted(t, st, rec, "prod", id, false)

	m, err := Load(ctx, st, "prod", id, ids)
	if err != nil || !m.ManifestEncrypted || m.Collections[0].Name != "docs" {
		t.Fatalf("load with the identity: %+v, %v", m, err)
	}
	if m, err := LoadLatest(ctx, st, nil, "prod", ids, nil); err != nil || m.BackupID != id {
		t.Fatalf("latest with the identity: %v, %v", m, err)
	}

	for _, tt := range []struct {
		name string
		ids  *crypt.Identities
		is   error
		says []string
	}{
		{"no identity", nil, crypt.ErrNoIdentity, []string{id, rec.Keys()[0], crypt.IdentityEnv, crypt.IdentityFileEnv}},
		{"wrong identity", other, crypt.ErrWrongIdentity, []string{id, rec.Keys()[0], other.Keys()[0], crypt.IdentityEnv}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(ctx, st, "prod", id, tt.ids); !errors.Is(err, tt.is) || !containsAll(err.Error(), tt.says) {
				t.Errorf("load: %v; want %v naming %v", err, tt.is, tt.says)
			}
			// latest is that set: it is refused, not skipped for an
			// older one.
			if _, err := LoadLatest(ctx, st, nil, "prod", tt.ids, nil); !errors.Is(err, tt.is) {
				t.Errorf("latest: %v; want %v", err, tt.is)
			}
		})
	}
	t.Run("a missing encrypted manifest is corrupt and latest skips it", func(t *testing.T) {
		st := storage.NewMemory()
		putManifest(t, st, "prod", "20261101T000000Z-aaaa", false)
		putEncrypted(t, st, rec, "prod", id, false)
		_ = st.Delete(ctx, manifest.EncryptedManifestKey("prod", id))
		if _, err := Load(ctx, st, "prod", id, ids); !errors.Is(err, manifest.ErrCorrupt) || errors.Is(err, ErrNoBackup) || !strings.Contains(err.Error(), "missing") {
			t.Errorf("load: %v", err)
		}
		if m, err := LoadLatest(ctx, st, nil, "prod", ids, nil); err != nil || m.BackupID != "20261101T000000Z-aaaa" {
			t.Errorf("latest: %v, %v", m, err)
		}
	})
	t.Run("a damaged manifest is corrupt and latest skips it", func(t *testing.T) {
		st := storage.NewMemory()
		putManifest(t, st, "prod", "20261101T000000Z-aaaa", false)
		putEncrypted(t, st, rec, "prod", id, false)
		r, _ := st.Open(ctx, manifest.EncryptedManifestKey("prod", id), 0)
		var b bytes.Buffer
		_, _ = b.ReadFrom(r)
		r.Close()
		ct := b.Bytes()
		ct[len(ct)-5] ^= 1
		_ = st.Put(ctx, manifest.EncryptedManifestKey("prod", id), bytes.NewReader(ct))
		if _, err := Load(ctx, st, "prod", id, ids); !errors.Is(err, manifest.ErrCorrupt) || !errors.Is(err, crypt.ErrDecrypt) {
			t.Errorf("load: %v", err)
		}
		if m, err := LoadLatest(ctx, st, nil, "prod", ids, nil); err != nil || m.BackupID != "20261101T000000Z-aaaa" {
			t.Errorf("latest: %v, %v", m, err)
		}
	})
	t.Run("no set at all, even without an identity", func(t *testing.T) {
		if _, err := Load(ctx, st, "prod", "20261109T000000Z-ffff", nil); !errors.Is(err, ErrNoBackup) {
			t.Errorf("load: %v", err)
		}
	})
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
