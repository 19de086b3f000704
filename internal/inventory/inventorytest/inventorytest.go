// Package inventorytest holds the fixtures of the maintenance tests:
// backup sets written straight into an in-memory store, at a chosen age,
// and an in-memory catalog index (the catalog as prune and catalog sync
// see it).
package inventorytest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/manifest"
)

// Store is where the fixtures write: storage.Memory is one.
type Store interface {
	PutAt(key string, data []byte, modTime time.Time)
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
}

// SHA is the hex SHA-256 of b, as manifests record it.
func SHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// WriteSet writes a minimal set of cluster started at at, its objects
// modified at mod: committed (status catalog.StatusComplete or
// StatusPartial) or, for catalog.StatusFailed, its object without a
// manifest. It returns the backup id.
func WriteSet(t *testing.T, store Store, cluster string, at time.Time, status string, mod time.Time) string {
	t.Helper()
	id := manifest.NewBackupID(at)
	obj := manifest.ShardObjectKey(cluster, id, "docs", 0, manifest.CompressionNone)
	data := []byte("snapshot " + id)
	store.PutAt(obj, data, mod)
	if status == catalog.StatusFailed {
		return id
	}
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: id, Cluster: cluster, QdrantVersion: "1.15.5",
		SnapshotMethod: manifest.MethodStream, StartedAt: at, FinishedAt: at.Add(time.Minute), Partial: status == catalog.StatusPartial,
		Collections: []manifest.Collection{{
			Name: "docs", Config: []byte(`{}`), ShardingMethod: "auto", ShardNumber: 1, ReplicationFactor: 1, WriteConsistencyFactor: 1,
			Shards: []manifest.Shard{{ID: 0, Object: obj, Compression: manifest.CompressionNone, Size: int64(len(data)),
				SHA256: SHA(data), SnapshotSize: int64(len(data)), SnapshotSHA256: SHA(data)}},
		}},
	}
	b, err := manifest.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	store.PutAt(manifest.ManifestKey(cluster, id), b, mod)
	return id
}

// LockSet rewrites the manifest of a set written by WriteSet with an
// object lock.
func LockSet(t *testing.T, store Store, cluster, id string, lock *manifest.ObjectLock, mod time.Time) {
	t.Helper()
	m, err := manifest.Read(context.Background(), store, manifest.ManifestKey(cluster, id))
	if err != nil {
		t.Fatal(err)
	}
	m.ObjectLock = lock
	b, err := manifest.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	store.PutAt(manifest.ManifestKey(cluster, id), b, mod)
}

// EncryptedSet describes a set WriteEncryptedSet writes.
type EncryptedSet struct {
	Cluster string
	// At is the backup's start, Mod the time of its objects.
	At, Mod time.Time
	Partial bool
	Lock    *manifest.ObjectLock
}

// WriteEncryptedSet writes a committed set whose manifest is encrypted to
// rec, and returns its backup id.
func WriteEncryptedSet(t *testing.T, store Store, rec *crypt.Recipients, set EncryptedSet) string {
	t.Helper()
	cluster, at, partial, lock, mod := set.Cluster, set.At, set.Partial, set.Lock, set.Mod
	id := manifest.NewBackupID(at)
	obj := manifest.ShardObjectKey(cluster, id, "docs", 0, manifest.CompressionNone) + manifest.EncryptedSuffix
	data := []byte("ciphertext " + id)
	store.PutAt(obj, data, mod)
	enc := &manifest.Encryption{Scheme: manifest.EncryptionAge, Recipients: rec.Keys()}
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: id, Cluster: cluster, QdrantVersion: "1.15.5",
		SnapshotMethod: manifest.MethodStream, StartedAt: at, FinishedAt: at.Add(time.Minute), Partial: partial,
		ObjectLock: lock, Encryption: enc, ManifestEncrypted: true,
		Collections: []manifest.Collection{{
			Name: "docs", Config: []byte(`{}`), ShardingMethod: "auto", ShardNumber: 1, ReplicationFactor: 1, WriteConsistencyFactor: 1,
			Shards: []manifest.Shard{{ID: 0, Object: obj, Compression: manifest.CompressionNone, Encryption: enc, Size: int64(len(data)),
				SHA256: SHA(data), SnapshotSize: 1, SnapshotSHA256: SHA([]byte("x"))}},
		}},
	}
	var pub, ct bytes.Buffer
	if err := manifest.EncodePublic(&pub, manifest.PublicOf(m)); err != nil {
		t.Fatal(err)
	}
	if err := manifest.EncodeEncrypted(&ct, m, rec); err != nil {
		t.Fatal(err)
	}
	store.PutAt(m.Key(), ct.Bytes(), mod)
	store.PutAt(manifest.ManifestKey(cluster, id), pub.Bytes(), mod)
	return id
}

// Catalog is an in-memory catalog index: what prune and catalog sync
// read and write, with the reasons rows were marked by.
type Catalog struct {
	mu      sync.Mutex
	rows    map[string]*catalog.IndexRow // cluster/id
	reasons map[string]string
	// Completed lists the manifests recorded, Encrypted the sets recorded
	// without the key.
	Completed []*manifest.Manifest
	Encrypted []catalog.EncryptedSet
}

// NewCatalog returns an empty index.
func NewCatalog() *Catalog {
	return &Catalog{rows: map[string]*catalog.IndexRow{}, reasons: map[string]string{}}
}

// Put sets a row as it is.
func (c *Catalog) Put(r catalog.IndexRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows[r.Cluster+"/"+r.BackupID] = &r
}

// Started records a running set.
func (c *Catalog) Started(cluster, id string, startedAt time.Time) {
	c.Put(catalog.IndexRow{Cluster: cluster, BackupID: id, Status: catalog.StatusRunning, StartedAt: startedAt})
}

// SyncManifest records a set from its manifest.
func (c *Catalog) SyncManifest(ctx context.Context, m *manifest.Manifest) error {
	st := catalog.StatusComplete
	if m.Partial {
		st = catalog.StatusPartial
	}
	c.Put(catalog.IndexRow{Cluster: m.Cluster, BackupID: m.BackupID, Status: st, StartedAt: m.StartedAt})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Completed = append(c.Completed, m)
	return nil
}

// SyncEncryptedSet records an encrypted set read without the key; a row
// of the same status stays as it is.
func (c *Catalog) SyncEncryptedSet(ctx context.Context, s catalog.EncryptedSet) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := catalog.StatusComplete
	if s.Partial {
		st = catalog.StatusPartial
	}
	k := s.Cluster + "/" + s.BackupID
	if row, ok := c.rows[k]; ok && row.Status == st {
		return nil
	}
	t, _ := manifest.BackupIDTime(s.BackupID)
	c.rows[k] = &catalog.IndexRow{Cluster: s.Cluster, BackupID: s.BackupID, Status: st, StartedAt: t}
	c.Encrypted = append(c.Encrypted, s)
	return nil
}

// BackupFailed marks a set failed, adding its row when there is none.
func (c *Catalog) BackupFailed(ctx context.Context, cluster, id, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	row, ok := c.rows[cluster+"/"+id]
	if !ok {
		t, _ := manifest.BackupIDTime(id)
		row = &catalog.IndexRow{Cluster: cluster, BackupID: id, StartedAt: t}
		c.rows[cluster+"/"+id] = row
	}
	row.Status = catalog.StatusFailed
	c.reasons[cluster+"/"+id] = reason
	return nil
}

// IndexRows lists the rows of cluster ("" for all), by cluster and id.
func (c *Catalog) IndexRows(ctx context.Context, cluster string) ([]catalog.IndexRow, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []catalog.IndexRow
	for _, k := range slices.Sorted(maps.Keys(c.rows)) {
		if cluster == "" || c.rows[k].Cluster == cluster {
			out = append(out, *c.rows[k])
		}
	}
	return out, nil
}

// DeleteBackup deletes a row; like the catalog, a missing one is
// catalog.ErrNotFound.
func (c *Catalog) DeleteBackup(ctx context.Context, cluster, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.rows[cluster+"/"+id]; !ok {
		return catalog.ErrNotFound
	}
	delete(c.rows, cluster+"/"+id)
	return nil
}

// MarkBackupMissing marks a located complete or partial row missing.
func (c *Catalog) MarkBackupMissing(ctx context.Context, cluster, id, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if row, ok := c.rows[cluster+"/"+id]; ok && !row.Unlocated && (row.Status == catalog.StatusComplete || row.Status == catalog.StatusPartial) {
		row.Status = catalog.StatusMissing
		c.reasons[cluster+"/"+id] = reason
	}
	return nil
}

// Row returns a row and the reason it was last marked by.
func (c *Catalog) Row(cluster, id string) (catalog.IndexRow, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rows[cluster+"/"+id]
	if !ok {
		return catalog.IndexRow{}, "", false
	}
	return *r, c.reasons[cluster+"/"+id], true
}

// SetVerifyStatus changes a row's verification status.
func (c *Catalog) SetVerifyStatus(cluster, id, status string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.rows[cluster+"/"+id]; ok {
		r.VerifyStatus = status
	}
}

// Len is the number of rows.
func (c *Catalog) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.rows)
}
