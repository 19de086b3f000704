package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/crypt/crypttest"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/verify"
)

func TestEncryptedBackupAgainstTheSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	env := startSim(t, "1.19.0")
	recipients, ids, pub := crypttest.Key(t)
	_, otherIDs, otherPub := crypttest.Key(t)
	for _, compression := range []string{manifest.CompressionNone, manifest.CompressionZstd} {
		t.Run(compression, func(t *testing.T) {
			ctx := context.Background()
			store, cat := newFakeStore(), newFakeCatalog()
			res, err := Run(ctx, Options{Cluster: "sim", Compression: compression, Encrypt: recipients}, env.deps(store, cat))
			if err != nil {
				t.Fatal(err)
			}
			raw := store.get(t, res.ManifestKey)
			m := decodeManifest(t, store, res.ManifestKey)
			if m.Encryption == nil || !slices.Equal(m.Encryption.Recipients, []string{pub}) || m.Encryption.Scheme != manifest.EncryptionAge {
				t.Fatalf("set encryption %+v, want age for %s", m.Encryption, pub)
			}
			if bytes.Contains(raw, []byte("AGE-SECRET-KEY")) {
				t.Fatal("the manifest holds a secret key")
			}
			for _, c := range m.Collections {
				for _, s := range c.Shards {
					if s.Encryption == nil || !slices.Equal(s.Encryption.Recipients, []string{pub}) {
						t.Fatalf("%s shard %d: encryption %+v", c.Name, s.ID, s.Encryption)
					}
					if !strings.HasSuffix(s.Object, manifest.EncryptedSuffix) {
						t.Errorf("%s shard %d: object %s does not end in %s", c.Name, s.ID, s.Object, manifest.EncryptedSuffix)
					}
					obj := store.get(t, s.Object)
					if !bytes.HasPrefix(obj, []byte(crypt.Magic)) {
						t.Fatalf("%s shard %d: object starts with %q, not age", c.Name, s.ID, obj[:min(len(obj), 24)])
					}
					if sha(obj) != s.SHA256 || int64(len(obj)) != s.Size {
						t.Errorf("%s shard %d: sha256/size are not those of the stored ciphertext", c.Name, s.ID)
					}
					// Decrypting (then decompressing) gives back the
					// snapshot the manifest describes.
					pr, err := ids.Decrypt(bytes.NewReader(obj))
					if err != nil {
						t.Fatal(err)
					}
					plain, err := io.ReadAll(pr)
					if err != nil {
						t.Fatal(err)
					}
					if compression == manifest.CompressionZstd {
						zr, _ := zstd.NewReader(nil)
						plain, err = zr.DecodeAll(plain, nil)
						zr.Close()
						if err != nil {
							t.Fatal(err)
						}
					}
					if sha(plain) != s.SnapshotSHA256 || int64(len(plain)) != s.SnapshotSize {
						t.Errorf("%s shard %d: the decrypted snapshot is not the one recorded", c.Name, s.ID)
					}
				}
			}
			rep, err := verify.Run(ctx, store, m, ids)
			if err != nil || !rep.OK() || rep.Objects != m.ShardCount() {
				t.Fatalf("verify with the identity: %+v %v", rep, err)
			}

			// Without an identity, or with another one, verify refuses
			// before reading, saying for whom the set is and what to set.
			for _, tc := range []struct {
				name string
				ids  *crypt.Identities
				want error
				msg  []string
			}{
				{"no identity", nil, crypt.ErrNoIdentity, []string{pub, crypt.IdentityEnv, crypt.IdentityFileEnv}},
				{"wrong identity", otherIDs, crypt.ErrWrongIdentity, []string{pub, otherPub}},
			} {
				rep, err := verify.Run(ctx, store, m, tc.ids)
				if !errors.Is(err, tc.want) || rep.Objects != 0 {
					t.Fatalf("%s: verify = %+v, %v; want %v before reading", tc.name, rep, err, tc.want)
				}
				for _, s := range tc.msg {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s: %q does not name %s", tc.name, err, s)
					}
				}
			}
		})
	}
}

// TestVerifyOfADamagedEncryptedObject: a flipped ciphertext byte shows as
// a stored-bytes mismatch; with the manifest's sums rewritten to match the
// damage, age's authentication still catches it.
func TestVerifyOfADamagedEncryptedObject(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	env := startSim(t, "1.19.0")
	recipients, ids, _ := crypttest.Key(t)
	ctx := context.Background()
	store, cat := newFakeStore(), newFakeCatalog()
	res, err := Run(ctx, Options{Cluster: "sim", Encrypt: recipients}, env.deps(store, cat))
	if err != nil {
		t.Fatal(err)
	}
	m := decodeManifest(t, store, res.ManifestKey)
	s := &m.Collections[0].Shards[0]
	obj := bytes.Clone(store.get(t, s.Object))
	obj[len(obj)/2] ^= 0x40
	store.mu.Lock()
	o := store.objects[s.Object]
	o.data = obj
	store.objects[s.Object] = o
	store.mu.Unlock()

	rep, err := verify.Run(ctx, store, m, ids)
	if !errors.Is(err, verify.ErrCorrupt) || len(rep.Bad) != 1 || !strings.Contains(rep.Bad[0].Problem, "sha256") {
		t.Fatalf("verify = %+v, %v; want the object's sha256 named", rep, err)
	}
	s.SHA256 = sha(obj)
	rep, err = verify.Run(ctx, store, m, ids)
	if !errors.Is(err, verify.ErrCorrupt) || len(rep.Bad) != 1 || !strings.Contains(rep.Bad[0].Problem, "do not decrypt") {
		t.Fatalf("verify with a matching stored sha256 = %+v, %v; want a decryption failure", rep, err)
	}
}

// TestEncryptedBackupFailsCleanlyOnATruncatedStream: a snapshot cut
// short must not be sealed into a complete-looking age object.
func TestEncryptedBackupFailsCleanlyOnATruncatedStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	env := startSim(t, "1.19.0")
	recipients, _, _ := crypttest.Key(t)
	cut := int64(3000)
	for _, p := range env.sim.Peers() {
		p.SetFaults(qdrantsim.Faults{Routes: []qdrantsim.RouteFault{{
			Route: "GET /collections/{collection_name}/shards/{shard_id}/snapshot", TruncateAfter: &cut}}})
	}
	for _, compression := range []string{manifest.CompressionNone, manifest.CompressionZstd} {
		t.Run(compression, func(t *testing.T) {
			store, cat := newFakeStore(), newFakeCatalog()
			_, err := Run(context.Background(), Options{Cluster: "sim", Compression: compression, Encrypt: recipients}, env.deps(store, cat))
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("error %v, want a truncation", err)
			}
			assertNoSetObjects(t, store)
			assertFailedRow(t, cat, "sim")
		})
	}
}
