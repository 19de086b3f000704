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
	"time"

	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/manifest"
)

// plainNames are strings of the test cluster's manifest that must not be
// readable in storage when the manifest is encrypted.
var plainNames = []string{`"docs"`, `"images"`, `"tenants"`, "qdrant-0", "payload_schema", `"shard_keys"`, "127.0.0.2"}

func TestBackupWithEncryptedManifest(t *testing.T) {
	recipients, ids, pub := ageKey(t)
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
	if len(cat.completed) != 1 || !cat.completed[0].ManifestEncrypted {
		t.Fatalf("catalog recorded %d manifests", len(cat.completed))
	}
	if rep, err := Verify(ctx, store, got, ids); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestEncryptedManifestNeedsRecipients(t *testing.T) {
	store, cat := newFakeStore(), newFakeCatalog()
	_, err := Run(context.Background(), Options{Cluster: "prod", EncryptManifest: true}, testDeps(testCluster(), store, cat))
	if !errors.Is(err, ErrEncryptManifestWithoutRecipients) {
		t.Fatalf("error %v, want ErrEncryptManifestWithoutRecipients", err)
	}
	if len(store.keys()) != 0 || len(cat.rows) != 0 {
		t.Fatalf("a refused run wrote %v and %d rows", store.keys(), len(cat.rows))
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
	recipients, _, _ := ageKey(t)
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

// storedEncryptedBackup writes a committed set with an encrypted manifest
// straight into storage, its objects modified at mod.
func storedEncryptedBackup(t *testing.T, store *fakeStore, rec *crypt.Recipients, cluster string, at time.Time, partial bool, lock *manifest.ObjectLock, mod time.Time) string {
	t.Helper()
	id := manifest.NewBackupID(at)
	obj := manifest.ShardObjectKey(cluster, id, "docs", 0, manifest.CompressionNone) + manifest.EncryptedSuffix
	data := []byte("ciphertext " + id)
	store.set(obj, data, mod)
	enc := &manifest.Encryption{Scheme: manifest.EncryptionAge, Recipients: rec.Keys()}
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: id, Cluster: cluster, QdrantVersion: "1.15.5",
		SnapshotMethod: manifest.MethodStream, StartedAt: at, FinishedAt: at.Add(time.Minute), Partial: partial,
		ObjectLock: lock, Encryption: enc, ManifestEncrypted: true,
		Collections: []manifest.Collection{{
			Name: "docs", Config: []byte(`{}`), ShardingMethod: "auto", ShardNumber: 1, ReplicationFactor: 1, WriteConsistencyFactor: 1,
			Shards: []manifest.Shard{{ID: 0, Object: obj, Compression: manifest.CompressionNone, Encryption: enc, Size: int64(len(data)),
				SHA256: sha(data), SnapshotSize: 1, SnapshotSHA256: sha([]byte("x"))}},
		}},
	}
	var pub, ct bytes.Buffer
	if err := manifest.EncodePublic(&pub, manifest.PublicOf(m)); err != nil {
		t.Fatal(err)
	}
	if err := manifest.EncodeEncrypted(&ct, m, rec); err != nil {
		t.Fatal(err)
	}
	store.set(m.Key(), ct.Bytes(), mod)
	store.set(manifest.ManifestKey(cluster, id), pub.Bytes(), mod)
	return id
}

func TestPruneJudgesEncryptedSetsWithoutTheKey(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return now.AddDate(0, 0, d) }
	rec, _, _ := ageKey(t)
	store := newFakeStore()
	locked := storedEncryptedBackup(t, store, rec, "prod", day(-6), false, &manifest.ObjectLock{Mode: "GOVERNANCE", RetainUntil: day(3)}, day(-6))
	old := storedEncryptedBackup(t, store, rec, "prod", day(-5), false, nil, day(-5))
	mid := storedEncryptedBackup(t, store, rec, "prod", day(-3), false, nil, day(-3))
	newest := storedEncryptedBackup(t, store, rec, "prod", day(-2), false, nil, day(-2))
	// Newer than every complete set, yet never one of the two kept.
	partial := storedEncryptedBackup(t, store, rec, "prod", day(-1), true, nil, day(-1))
	// An encrypted manifest without its readable part (the commit
	// marker): a run killed while committing, an orphan like any other.
	orphan := storedEncryptedBackup(t, store, rec, "prod", day(-4), false, nil, day(-4))
	_ = store.Delete(context.Background(), manifest.ManifestKey("prod", orphan))
	// A readable part whose encrypted manifest is gone: never judged
	// blindly.
	blind := storedEncryptedBackup(t, store, rec, "prod", day(-7), false, nil, day(-7))
	_ = store.Delete(context.Background(), manifest.EncryptedManifestKey("prod", blind))

	rep, err := Prune(context.Background(), PruneOptions{Cluster: "prod", KeepLast: 2, Now: now}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]PruneItem{}
	for _, it := range rep.Items {
		got[it.BackupID] = it
	}
	want := map[string]struct{ status, action, reason string }{
		newest:  {StatusComplete, PruneKeep, ""},
		mid:     {StatusComplete, PruneKeep, ""},
		old:     {StatusComplete, PruneRemove, ""},
		partial: {StatusPartial, PruneRemove, ""},
		orphan:  {StatusFailed, PruneRemove, "no manifest"},
		locked:  {StatusComplete, PruneSkip, "under object lock (GOVERNANCE) until " + day(3).Format(time.RFC3339)},
		blind:   {"unreadable", PruneSkip, "manifest.json.age is missing"},
	}
	for id, w := range want {
		it := got[id]
		if it.Status != w.status || it.Action != w.action || !strings.Contains(strings.Join(it.Reasons, "; "), w.reason) {
			t.Errorf("%s: %s/%s %q; want %s/%s with %q", id, it.Status, it.Action, it.Reasons, w.status, w.action, w.reason)
		}
	}
	left := map[string]bool{}
	for _, k := range store.keys() {
		left[strings.SplitN(k, "/", 3)[1]] = true
	}
	for id, w := range want {
		if stays := w.action != PruneRemove; left[id] != stays {
			t.Errorf("set %s in storage: %v, want %v", id, left[id], stays)
		}
	}
}

func TestCatalogSyncOfEncryptedSets(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	rec, ids, _ := ageKey(t)
	_, otherIDs, _ := ageKey(t)
	ctx := context.Background()
	store := newFakeStore()
	complete := storedEncryptedBackup(t, store, rec, "prod", now.Add(-2*time.Hour), false, nil, now)
	partial := storedEncryptedBackup(t, store, rec, "prod", now.Add(-time.Hour), true, nil, now)

	// Secrets without an identity may carry an empty set, not nil.
	for name, none := range map[string]*crypt.Identities{"nil": nil, "empty": {}} {
		t.Run("without the key ("+name+"): what storage tells", func(t *testing.T) {
			syncWithout(t, store, none, complete, partial)
		})
	}
	t.Run("with the key: the manifests", func(t *testing.T) {
		cat := newFakeCatalog()
		if _, err := SyncCatalog(ctx, store, cat, ids); err != nil {
			t.Fatal(err)
		}
		if len(cat.completed) != 2 || len(cat.encrypted) != 0 || cat.completed[0].Collections[0].Name != "docs" {
			t.Fatalf("recorded %d manifests and %d encrypted sets", len(cat.completed), len(cat.encrypted))
		}
	})
	t.Run("with another key: each set fails, named", func(t *testing.T) {
		cat := newFakeCatalog()
		rep, err := SyncCatalog(ctx, store, cat, otherIDs)
		if !errors.Is(err, crypt.ErrWrongIdentity) || len(rep.Failed) != 2 || len(cat.rows) != 0 {
			t.Fatalf("sync: %+v, %v, %d rows", rep, err, len(cat.rows))
		}
	})
}

// syncWithout syncs the two encrypted sets without a key and checks the
// rows: their status, the id's time, their size.
func syncWithout(t *testing.T, store *fakeStore, ids *crypt.Identities, complete, partial string) {
	t.Helper()
	ctx := context.Background()
	cat := newFakeCatalog()
	rep, err := SyncCatalog(ctx, store, cat, ids)
	if err != nil || len(rep.Synced) != 2 {
		t.Fatalf("sync: %+v, %v", rep, err)
	}
	if len(cat.completed) != 0 || len(cat.encrypted) != 2 {
		t.Fatalf("recorded %d manifests and %d encrypted sets", len(cat.completed), len(cat.encrypted))
	}
	for id, st := range map[string]string{complete: StatusComplete, partial: StatusPartial} {
		row, _, ok := cat.row("prod", id)
		if t0, _ := manifest.BackupIDTime(id); !ok || row.Status != st || !row.StartedAt.Equal(t0) {
			t.Errorf("row %s: %+v, want %s at the id's time", id, row, st)
		}
	}
	for _, s := range cat.encrypted {
		if s.Bytes <= 0 {
			t.Errorf("set %s recorded with %d bytes", s.BackupID, s.Bytes)
		}
	}
}
