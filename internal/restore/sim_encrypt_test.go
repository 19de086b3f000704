package restore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	qbackup "github.com/qbackup/qbackup/internal/backup"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/crypt/crypttest"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/storage/storagetest"
)

func takeEncryptedBackup(t *testing.T, src *simCluster, store storage.Backend, compression string, r *crypt.Recipients) *manifest.Manifest {
	t.Helper()
	peers := map[uint64]qbackup.Peer{}
	for id, c := range src.clients {
		peers[id] = c
	}
	res, err := qbackup.Run(context.Background(), qbackup.Options{Cluster: "prod", Compression: compression, Encrypt: r},
		qbackup.Deps{Topology: src.topo, Peers: peers, Store: store, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return res.Manifest
}

func TestEncryptedSetRestoresOnTheSimulator(t *testing.T) {
	ctx := context.Background()
	src := startSim(t, 2, "1.19.0")
	src.load(t, "docs", 2, 1, 60)
	src.load(t, "tenants", 1, 1, 30, "acme", "globex")
	recipients, ids, _ := crypttest.Key(t)
	for _, compression := range []string{manifest.CompressionNone, manifest.CompressionZstd} {
		t.Run(compression, func(t *testing.T) {
			store := storage.NewMemory()
			m := takeEncryptedBackup(t, src, store, compression, recipients)
			dst := startSim(t, 2, "1.19.0")
			_, err := dst.restore(ctx, t, m, store, PlanOptions{}, func(ro *RunOptions, rd *RunDeps) {
				rd.Identities = ids
				// Read and hash every ciphertext first, too.
				ro.Preflight.VerifyObjects = compression == manifest.CompressionZstd
			})
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			checkSimRestored(t, src, dst, "docs", "tenants")
		})
	}
}

func TestEncryptedSetRefusalsChangeNothingOnTheSimulator(t *testing.T) {
	ctx := context.Background()
	src := startSim(t, 2, "1.19.0")
	src.load(t, "docs", 2, 1, 20)
	recipients, ids, pub := crypttest.Key(t)
	_, otherIDs, otherPub := crypttest.Key(t)
	tests := []struct {
		name  string
		ids   *crypt.Identities
		setup func(t *testing.T, store storage.Backend, m *manifest.Manifest)
		want  error
		// msg: what the error must name.
		msg []string
		// duringRun: the refusal comes while objects stream, and what the
		// restore created is removed again.
		duringRun bool
	}{
		{name: "no identity", want: crypt.ErrNoIdentity, msg: []string{pub, crypt.IdentityEnv, crypt.IdentityFileEnv}},
		{name: "a wrong identity", ids: otherIDs, want: crypt.ErrWrongIdentity, msg: []string{pub, otherPub, crypt.IdentityEnv}},
		{
			name: "damaged ciphertext", ids: ids, want: ErrObjectChecksum, duringRun: true,
			setup: func(t *testing.T, store storage.Backend, m *manifest.Manifest) {
				rewrite(t, store, m.Collections[0].Shards[0].Object, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
			},
		},
		{
			// The stored-bytes check now passes; age's authentication
			// refuses the altered chunk before the peer gets it whole.
			name: "damaged ciphertext with the manifest's checksum edited to match", ids: ids, want: crypt.ErrDecrypt, duringRun: true,
			setup: func(t *testing.T, store storage.Backend, m *manifest.Manifest) {
				s := &m.Collections[0].Shards[0]
				rewrite(t, store, s.Object, func(b []byte) []byte {
					b[len(b)/2] ^= 1
					sum := sha256.Sum256(b)
					s.SHA256 = hex.EncodeToString(sum[:])
					return b
				})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := storage.NewMemory()
			m := takeEncryptedBackup(t, src, store, manifest.CompressionNone, recipients)
			if tt.setup != nil {
				tt.setup(t, store, m)
			}
			dst := startSim(t, 2, "1.19.0")
			before := clusterState(t, dst)
			keysBefore := strings.Join(storagetest.Keys(t, store), ",")
			res, err := dst.restore(ctx, t, m, store, PlanOptions{}, func(_ *RunOptions, rd *RunDeps) { rd.Identities = tt.ids })
			if !errors.Is(err, tt.want) || (res.Report != nil) != tt.duringRun {
				t.Fatalf("restore error = %v (execution began: %t), want %v (during the run: %t)", err, res.Report != nil, tt.want, tt.duringRun)
			}
			if tt.want == crypt.ErrDecrypt && !errors.Is(err, ErrObjectChecksum) {
				t.Errorf("a ciphertext that fails authentication is not reported corrupt: %v", err)
			}
			for _, s := range tt.msg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			t.Logf("refused: %v", err)
			if clusterState(t, dst) != before {
				t.Error("the refused restore changed the cluster")
			}
			if !tt.duringRun {
				// Refused before the lease or the journal: the store is
				// as the backup left it.
				if got := strings.Join(storagetest.Keys(t, store), ","); got != keysBefore {
					t.Errorf("the refused restore wrote to the store: %s, was %s", got, keysBefore)
				}
			}
		})
	}
}
