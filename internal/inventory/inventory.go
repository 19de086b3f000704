// Package inventory answers "which backups exist": from the catalog when
// one is configured (fast, and it also knows failed runs and verification
// results), else from the manifests in storage, which are the truth. It
// resolves "latest" to a backup id, and Scan lists every set storage
// holds, committed or not, for the maintenance jobs.
package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/listing"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// Status of a set found in storage without a manifest: a run that failed,
// was killed, or is still going. Without a catalog the three look alike.
const StatusIncomplete = "incomplete"

// StatusUnreadable is a set whose manifest exists but cannot be read
// (truncated, a shard missing, a newer format): one bad row, with the
// reason, among the others. It is never "latest"; prune skips it.
const StatusUnreadable = "unreadable"

// ListCommand is the command that lists backups, named in the messages
// that suggest looking at the list: the plugin sets its own.
var ListCommand = "qbackup list"

// ErrNoBackup is returned when a reference names no backup.
var ErrNoBackup = errors.New("no such backup")

// Store is the read side of the backup storage.
type Store interface {
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error
}

// Index is the read side of the catalog; nil means storage only.
type Index interface {
	ListBackups(ctx context.Context, cluster string) ([]catalog.BackupSummary, error)
}

// List returns the backups of cluster ("" for every cluster), newest
// first, as listing rows: the catalog's, else storage's.
func List(ctx context.Context, store Store, idx Index, cluster string) ([]listing.Backup, error) {
	if idx != nil {
		rows, err := idx.ListBackups(ctx, cluster)
		if err != nil {
			return nil, fmt.Errorf("list backups in the catalog: %w", err)
		}
		return listing.FromCatalogRows(rows), nil
	}
	return fromStorage(ctx, store, cluster)
}

// Summarize turns a manifest into a list row. The verification status is
// left empty: only the catalog records it.
func Summarize(m *manifest.Manifest) listing.Backup {
	s := listing.Backup{
		Cluster: m.Cluster, BackupID: m.BackupID, Status: catalog.StatusComplete,
		QdrantVersion: m.QdrantVersion, ToolVersion: m.ToolVersion,
		SnapshotMethod: m.SnapshotMethod, StartedAt: m.StartedAt, FinishedAt: m.FinishedAt,
		WindowFirstStart: m.Window.FirstStart, WindowLastStart: m.Window.LastStart, SkewMillis: m.Window.SkewMillis,
		CollectionCount: len(m.Collections), ShardCount: m.ShardCount(), TotalBytes: m.TotalSize(),
		ManifestKey: m.Key(), ManifestEncrypted: m.ManifestEncrypted,
	}
	if m.Partial {
		s.Status = catalog.StatusPartial
	}
	for _, c := range m.Collections {
		s.PointsCount += c.PointsCount
	}
	return s
}

func fromStorage(ctx context.Context, store Store, cluster string) ([]listing.Backup, error) {
	prefix := ""
	if cluster != "" {
		prefix = manifest.ClusterPrefix(cluster)
	}
	sets, err := Scan(ctx, store, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]listing.Backup, 0, len(sets))
	for _, s := range sets {
		if s.ManifestKey == "" {
			t, _ := manifest.BackupIDTime(s.ID)
			out = append(out, listing.Backup{
				Cluster: s.Cluster, BackupID: s.ID, Status: StatusIncomplete, StartedAt: t, TotalBytes: s.Bytes,
				Reason: "no manifest: the run failed, was killed or is still running",
			})
			continue
		}
		m, p, err := manifest.ReadCommit(ctx, store, s.ManifestKey)
		if p != nil {
			out = append(out, encryptedRow(p, s.Cluster, s.ID, s.EncryptedKey != "", s.Bytes))
			continue
		}
		if unreadable(err) {
			// One bad set must not hide the others.
			t, _ := manifest.BackupIDTime(s.ID)
			out = append(out, listing.Backup{
				Cluster: s.Cluster, BackupID: s.ID, Status: StatusUnreadable, StartedAt: t, TotalBytes: s.Bytes,
				ManifestKey: s.ManifestKey, Reason: err.Error(),
			})
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Summarize(m))
	}
	sortNewestFirst(out)
	return out, nil
}

// encryptedRow is the list row of a set whose manifest is encrypted: what
// storage tells without the key (the time of its id, its stored bytes)
// and its manifest's readable part p (whether it is partial). found says
// whether the encrypted manifest is there.
func encryptedRow(p *manifest.Public, cluster, id string, found bool, bytes int64) listing.Backup {
	t, _ := manifest.BackupIDTime(id)
	row := listing.Backup{Cluster: cluster, BackupID: id, Status: catalog.StatusComplete, StartedAt: t, TotalBytes: bytes,
		ManifestKey: manifest.EncryptedManifestKey(cluster, id), ManifestEncrypted: true}
	switch {
	case p.Cluster != cluster || p.BackupID != id:
		row.Status, row.Reason = StatusUnreadable, fmt.Sprintf("%s describes backup %s of cluster %q", manifest.ManifestKey(cluster, id), p.BackupID, p.Cluster)
	case !found:
		row.Status, row.Reason = StatusUnreadable, fmt.Sprintf("the encrypted manifest %s is missing", row.ManifestKey)
	case p.Partial:
		row.Status = catalog.StatusPartial
	}
	return row
}

// unreadable reports whether a manifest read failed for a reason of the
// object itself (rather than of the store as a whole): its set is a bad
// row, the listing goes on.
func unreadable(err error) bool {
	return errors.Is(err, manifest.ErrCorrupt) || errors.Is(err, manifest.ErrUnsupportedFormat) ||
		errors.Is(err, storage.ErrNotFound) || errors.Is(err, fs.ErrPermission)
}

func sortNewestFirst(s []listing.Backup) {
	slices.SortFunc(s, func(a, b listing.Backup) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.BackupID, a.BackupID), cmp.Compare(a.Cluster, b.Cluster))
	})
}

// Resolve turns ref — a backup id or "latest" — into a backup id of
// cluster. "latest" is the newest complete set that is not partial and not
// known to be corrupt.
func Resolve(ctx context.Context, store Store, idx Index, cluster, ref string) (string, error) {
	if ref != "latest" {
		if !manifest.IsBackupID(ref) {
			return "", fmt.Errorf("%q is not a backup id (want e.g. 20261125T133000Z-3f9c, or latest): %w", ref, ErrNoBackup)
		}
		return ref, nil
	}
	all, err := List(ctx, store, idx, cluster)
	if err != nil {
		return "", err
	}
	for _, b := range all {
		if b.Status == catalog.StatusComplete && b.VerifyStatus != catalog.VerifyCorrupt {
			return b.BackupID, nil
		}
	}
	return "", fmt.Errorf("cluster %q has no complete backup (list them with %s): %w", cluster, ListCommand, ErrNoBackup)
}

// LoadLatest reads the manifest of the newest complete set of cluster that
// is not known to be corrupt and whose manifest can be read. Sets skipped
// on the way (unreadable, or recorded in the catalog but gone from
// storage) are each logged as a warning naming the set and why. When
// every candidate was skipped for an unreadable manifest the error matches
// manifest.ErrCorrupt; with no candidate at all, ErrNoBackup.
func LoadLatest(ctx context.Context, store Store, idx Index, cluster string, ids *crypt.Identities, log *slog.Logger) (*manifest.Manifest, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	all, err := List(ctx, store, idx, cluster)
	if err != nil {
		return nil, err
	}
	var skipped []error
	for _, b := range all {
		if b.Status == StatusUnreadable {
			log.Warn("latest: skipping a backup whose manifest cannot be read", "cluster", b.Cluster, "backup_id", b.BackupID, "reason", b.Reason)
			skipped = append(skipped, fmt.Errorf("%s: %s: %w", b.BackupID, b.Reason, manifest.ErrCorrupt))
			continue
		}
		if b.Status != catalog.StatusComplete || b.VerifyStatus == catalog.VerifyCorrupt {
			continue
		}
		m, err := Load(ctx, store, cluster, b.BackupID, ids)
		if err == nil {
			return m, nil
		}
		if !unreadable(err) && !errors.Is(err, ErrNoBackup) {
			return nil, err
		}
		log.Warn("latest: skipping a backup whose manifest cannot be read", "cluster", cluster, "backup_id", b.BackupID, "reason", err.Error())
		skipped = append(skipped, err)
	}
	if len(skipped) == 0 {
		return nil, fmt.Errorf("cluster %q has no complete backup (list them with %s): %w", cluster, ListCommand, ErrNoBackup)
	}
	return nil, fmt.Errorf("cluster %q has no complete backup whose manifest can be read (%d skipped; list them with %s): %w",
		cluster, len(skipped), ListCommand, errors.Join(skipped...))
}

// Load reads and validates the manifest of one backup from storage,
// decrypting it with ids when it is encrypted (backup --encrypt-manifest).
// A set without a manifest does not exist: ErrNoBackup. An encrypted one
// without ids that open it fails with crypt.ErrNoIdentity or
// crypt.ErrWrongIdentity, naming its recipients and the variables to set.
func Load(ctx context.Context, store Store, cluster, id string, ids *crypt.Identities) (*manifest.Manifest, error) {
	key := manifest.ManifestKey(cluster, id)
	m, p, err := manifest.ReadCommit(ctx, store, key)
	if p != nil {
		m, err = loadEncrypted(ctx, store, cluster, id, p, ids)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("backup %s of cluster %q: no manifest at %s (list backups with %s): %w", id, cluster, key, ListCommand, ErrNoBackup)
	}
	if errors.Is(err, manifest.ErrCorrupt) {
		return nil, fmt.Errorf("backup %s of cluster %q cannot be read: %w (restore another set: %s)", id, cluster, err, ListCommand)
	}
	if err != nil {
		return nil, err
	}
	if m.Cluster != cluster || m.BackupID != id {
		return nil, fmt.Errorf("manifest %s describes backup %s of cluster %q", m.Key(), m.BackupID, m.Cluster)
	}
	return m, nil
}

// loadEncrypted reads the encrypted manifest of a set whose readable
// part is p: the recipients it names tell a missing or wrong identity
// before the manifest is read.
func loadEncrypted(ctx context.Context, store Store, cluster, id string, p *manifest.Public, ids *crypt.Identities) (*manifest.Manifest, error) {
	if p.Cluster != cluster || p.BackupID != id {
		return nil, fmt.Errorf("manifest %s describes backup %s of cluster %q: %w", manifest.ManifestKey(cluster, id), p.BackupID, p.Cluster, manifest.ErrCorrupt)
	}
	what := fmt.Sprintf("the manifest of backup %s of cluster %q (backup --encrypt-manifest)", id, cluster)
	if err := ids.CheckOpens(what, p.Encryption.Recipients); err != nil {
		return nil, err
	}
	key := manifest.EncryptedManifestKey(cluster, id)
	m, err := manifest.ReadEncrypted(ctx, store, key, ids)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("backup %s of cluster %q: its encrypted manifest %s is missing: %w", id, cluster, key, manifest.ErrCorrupt)
	}
	return m, err
}
