package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/crypt/crypttest"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/verify"
)

// plainNames are strings of the test cluster's manifest that must not be
// readable in storage when the manifest is encrypted.
var plainNames = []string{`"docs"`, `"images"`, `"tenants"`, "qdrant-0", "payload_schema", `"shard_keys"`, "127.0.0.2"}

func TestBackupWithEncryptedManifest(t *testing.T) {
	recipients, ids, pub := crypttest.Key(t)
	ctx := context.Background()
	store, cat := newFakeStore(), newFakeCatalog()
	res, err := Run(ctx, Options{Cluster: "prod", Encrypt: recipients, EncryptManifest: true}, testDeps(testCluster(), store, cat))
	if err != nil {
		t.Fatal(err)
	}
	// The strings looked for are in a readable manifest of the cluster.
	plainStore := newFakeStore()
	plainRes, err := Run(ctx, Options{Cluster: "prod", Encrypt: recipients}, testDeps(testCluster(), plainStore, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plainNames {
		if !bytes.Contains(plainStore.get(t, plainRes.ManifestKey), []byte(s)) {
			t.Fatalf("a readable manifest does not hold %s: the check below would prove nothing", s)
		}
	}
	m := res.Manifest
	if want := manifest.EncryptedManifestKey("prod", m.BackupID); res.ManifestKey != want || m.Key() != want || !m.ManifestEncrypted {
		t.Fatalf("manifest key %s (encrypted %v), want %s", res.ManifestKey, m.ManifestEncrypted, want)
	}
	var names []string
	for _, k := range store.keys() {
		names = append(names, path.Base(k))
		for _, c := range []string{"docs", "images", "tenants"} {
			if strings.Contains(k, c) {
				t.Errorf("object key %s names collection %s", k, c)
			}
		}
		for _, s := range plainNames {
			if bytes.Contains(store.get(t, k), []byte(s)) {
				t.Errorf("object %s holds %s in clear", k, s)
			}
		}
	}
	if !slices.Contains(names, manifest.ManifestName) || !slices.Contains(names, manifest.EncryptedManifestName) {
		t.Fatalf("objects %v: want %s and %s", store.keys(), manifest.EncryptedManifestName, manifest.ManifestName)
	}
	// The readable part is the commit marker: written last.
	if last := store.puts[len(store.puts)-1]; last != manifest.ManifestKey("prod", m.BackupID) {
		t.Fatalf("last object written: %s", last)
	}
	if ct := store.get(t, res.ManifestKey); !bytes.HasPrefix(ct, []byte(crypt.Magic)) {
		t.Fatalf("the manifest object starts with %.30q, not age", ct)
	}

	got, err := manifest.ReadEncrypted(ctx, store, res.ManifestKey, ids)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := manifest.Marshal(m)
	have, _ := manifest.Marshal(got)
	if !bytes.Equal(want, have) {
		t.Fatalf("the decrypted manifest differs from the committed one:\n%s\n---\n%s", want, have)
	}
	_, p, err := manifest.ReadCommit(ctx, store, manifest.ManifestKey("prod", m.BackupID))
	if err != nil || p == nil || p.Partial || p.ObjectLock != nil || !slices.Equal(p.Encryption.Recipients, []string{pub}) {
		t.Fatalf("public part %+v, %v", p, err)
	}
	// The backup holds the plaintext in memory and records it in the
	// catalog, as for any set: list works from there.
	if len(cat.Completed) != 1 || !cat.Completed[0].ManifestEncrypted {
		t.Fatalf("catalog recorded %d manifests", len(cat.Completed))
	}
	if rep, err := verify.Run(ctx, store, got, ids); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestEncryptedManifestNeedsRecipients(t *testing.T) {
	store, cat := newFakeStore(), newFakeCatalog()
	_, err := Run(context.Background(), Options{Cluster: "prod", EncryptManifest: true}, testDeps(testCluster(), store, cat))
	if !errors.Is(err, ErrEncryptManifestWithoutRecipients) {
		t.Fatalf("error %v, want ErrEncryptManifestWithoutRecipients", err)
	}
	if len(store.keys()) != 0 || cat.Len() != 0 {
		t.Fatalf("a refused run wrote %v and %d rows", store.keys(), cat.Len())
	}
}

// refusingStore fails the Put of the encrypted manifest at once, without
// reading its body.
type refusingStore struct{ *fakeStore }

func (s refusingStore) Put(ctx context.Context, key string, r io.Reader) error {
	if strings.HasSuffix(key, "/"+manifest.EncryptedManifestName) {
		return errors.New("injected: refused before the body")
	}
	return s.fakeStore.Put(ctx, key, r)
}

func TestFailedEncryptedManifestWriteLeavesNothing(t *testing.T) {
	recipients, _, _ := crypttest.Key(t)
	failing := func(name string) *fakeStore {
		st := newFakeStore()
		st.putErr = func(key string) error {
			if strings.HasSuffix(key, "/"+name) {
				return errors.New("injected: storage went away")
			}
			return nil
		}
		return st
	}
	afterBody, readablePart, beforeBody := failing(manifest.EncryptedManifestName), failing(manifest.ManifestName), newFakeStore()
	for name, tc := range map[string]struct {
		store Store
		objs  *fakeStore
	}{
		"the encrypted manifest, after reading the body":  {afterBody, afterBody},
		"the encrypted manifest, before reading the body": {refusingStore{beforeBody}, beforeBody},
		"the readable part": {readablePart, readablePart},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Run(context.Background(), Options{Cluster: "prod", Encrypt: recipients, EncryptManifest: true}, testDeps(testCluster(), tc.store, nil))
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("error %v, want the injected one", err)
			}
			for _, k := range tc.objs.keys() {
				if !strings.Contains(k, "/.") {
					t.Errorf("object %s left by a failed run", k)
				}
			}
		})
	}
}
