package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// TestListAndDescribeAnEncryptedManifest: the plugin lists a set whose
// manifest is encrypted without the key, marked so; describe needs the
// key (exit 2 naming the recipient and the variables), and shows the set
// with it.
func TestListAndDescribeAnEncryptedManifest(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	t.Setenv("QBACKUP_AGE_IDENTITY", "")
	t.Setenv("QBACKUP_AGE_IDENTITY_FILE", "")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := crypt.ParseRecipients([]string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx := context.Background()
	st, err := storage.Open(ctx, "file://"+dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("0", 64)
	enc := &manifest.Encryption{Scheme: manifest.EncryptionAge, Recipients: rec.Keys()}
	obj := manifest.OpaqueShardObjectKey("default", backupID, 0, "none") + manifest.EncryptedSuffix
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: backupID, Cluster: "default", QdrantVersion: "1.19.0",
		SnapshotMethod: manifest.MethodStream, StartedAt: time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC),
		FinishedAt: time.Date(2026, 11, 25, 13, 31, 0, 0, time.UTC), Encryption: enc, ManifestEncrypted: true,
		Collections: []manifest.Collection{{Name: "docs", Config: []byte(`{}`), ShardingMethod: "auto", ShardNumber: 1, ReplicationFactor: 1,
			Shards: []manifest.Shard{{ID: 0, SourcePeer: 11, Object: obj, Compression: "none", Encryption: enc, Size: 9, SHA256: sum, SnapshotSize: 5, SnapshotSHA256: sum}}}},
	}
	var pub, ct bytes.Buffer
	if err := manifest.EncodePublic(&pub, manifest.PublicOf(m)); err != nil {
		t.Fatal(err)
	}
	if err := manifest.EncodeEncrypted(&ct, m, rec); err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		key  string
		body []byte
	}{{obj, []byte("123456789")}, {m.Key(), ct.Bytes()}, {manifest.ManifestKey("default", backupID), pub.Bytes()}} {
		if err := st.Put(ctx, o.key, bytes.NewReader(o.body)); err != nil {
			t.Fatal(err)
		}
	}
	store := "file://" + filepath.ToSlash(dir)

	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"list", "--storage", store}, &out, &errOut); code != cli.ExitOK {
		t.Fatalf("list: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), backupID) || !strings.Contains(out.String(), "manifest encrypted") || strings.Contains(out.String(), "docs") {
		t.Fatalf("list:\n%s", out.String())
	}
	out.Reset()
	errOut.Reset()
	code := run(ctx, []string{"describe", backupID, "--storage", store}, &out, &errOut)
	if code != cli.ExitUsage || !strings.Contains(errOut.String(), id.Recipient().String()) || !strings.Contains(errOut.String(), "QBACKUP_AGE_IDENTITY_FILE") {
		t.Fatalf("describe without the key: exit %d, want %d naming the recipient and the variables: %s", code, cli.ExitUsage, errOut.String())
	}
	t.Setenv("QBACKUP_AGE_IDENTITY", id.String())
	out.Reset()
	errOut.Reset()
	if code := run(ctx, []string{"describe", backupID, "--storage", store}, &out, &errOut); code != cli.ExitOK ||
		!strings.Contains(out.String(), `Collection "docs"`) || !strings.Contains(out.String(), "Manifest:        encrypted too") {
		t.Fatalf("describe with the key: exit %d: %s\n%s", code, errOut.String(), out.String())
	}
}
