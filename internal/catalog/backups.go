package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/qbackup/qbackup/internal/manifest"
)

// Backup statuses.
const (
	StatusRunning  = "running"
	StatusComplete = "complete"
	StatusFailed   = "failed"
	// StatusPartial is a set recorded with shards missing on explicit
	// request; it is never counted as a good backup.
	StatusPartial = "partial"
	// StatusMissing is a set recorded as complete or partial whose
	// manifest catalog sync no longer found in its storage location (it
	// was deleted behind qbackup's back). It is never "latest"; a sync
	// that finds the manifest again restores the status, prune removes it.
	StatusMissing = "missing"
)

// ErrOtherLocation: a set's row belongs to another storage location than
// the catalog's (the same cluster name and backup id in two stores).
var ErrOtherLocation = errors.New("recorded for another storage location")

// Verification statuses.
const (
	VerifyUnverified = "unverified"
	VerifyVerified   = "verified"
	VerifyCorrupt    = "corrupt"
)

// maxText bounds reasons and details so a huge error message cannot fail
// the write that records it (TEXT holds 64 KiB).
const maxText = 16 << 10

// BackupSummary is one row of the catalog's backups table. Times are
// UTC; zero times are absent (a running set has no FinishedAt). It follows
// the schema; what list and describe print is the listing contract
// (internal/listing.Backup), which catalog rows are mapped into.
type BackupSummary struct {
	Cluster          string    `json:"cluster"`
	BackupID         string    `json:"backup_id"`
	Status           string    `json:"status"`
	VerifyStatus     string    `json:"verify_status"`
	VerifyDetail     string    `json:"verify_detail,omitempty"`
	Reason           string    `json:"reason,omitempty"`
	QdrantVersion    string    `json:"qdrant_version,omitempty"`
	ToolVersion      string    `json:"tool_version,omitempty"`
	SnapshotMethod   string    `json:"snapshot_method,omitempty"`
	Holder           string    `json:"holder,omitempty"`
	StartedAt        time.Time `json:"started_at"`
	FinishedAt       time.Time `json:"finished_at,omitzero"`
	WindowFirstStart time.Time `json:"window_first_start,omitzero"`
	WindowLastStart  time.Time `json:"window_last_start,omitzero"`
	SkewMillis       int64     `json:"skew_ms"`
	CollectionCount  int       `json:"collection_count"`
	ShardCount       int       `json:"shard_count"`
	TotalBytes       int64     `json:"total_bytes"`
	PointsCount      uint64    `json:"points_count"`
	// ManifestKey is the manifest's key relative to the storage root.
	ManifestKey string `json:"manifest_key,omitempty"`
	// ManifestEncrypted: the manifest is stored encrypted (backup
	// --encrypt-manifest); without the key a row of storage holds only
	// the id, time, status and size.
	ManifestEncrypted bool      `json:"manifest_encrypted,omitempty"`
	UpdatedAt         time.Time `json:"updated_at"`
	VerifiedAt        time.Time `json:"verified_at,omitzero"`
	// StorageLocation is the canonical URL (without credentials) of the
	// store holding the set; empty for rows recorded before the catalog
	// kept it.
	StorageLocation string `json:"storage_location,omitempty"`
}

// Duration is the wall time of a finished set, 0 while it runs.
func (b *BackupSummary) Duration() time.Duration {
	if b.FinishedAt.IsZero() {
		return 0
	}
	return b.FinishedAt.Sub(b.StartedAt)
}

// BackupRecord is a backup with its shard objects.
type BackupRecord struct {
	BackupSummary
	Shards []ShardRecord `json:"shards"`
}

// ShardRecord is one shard object of a backup. Replicas are not kept in the
// catalog; the manifest has them.
type ShardRecord struct {
	Collection string `json:"collection"`
	manifest.Shard
}

// BackupStarted records a running backup. Repeating the call for the same
// holder is harmless; any other existing row with that id is an error.
func (c *Catalog) BackupStarted(ctx context.Context, cluster, id, holder string, startedAt time.Time) error {
	if err := checkBackupKey(cluster, id); err != nil {
		return err
	}
	if startedAt.IsZero() {
		startedAt = time.Now()
	}
	err := c.withRetry(ctx, func(ctx context.Context) error {
		_, err := c.db.ExecContext(ctx, sqlInsertBackupStarted, cluster, id, holder, dbTime(startedAt), c.location)
		return err
	})
	if err == nil {
		return nil
	}
	if !isDuplicateKey(err) {
		return fmt.Errorf("record start of backup %s/%s: %w", cluster, id, err)
	}
	// A retried INSERT whose first attempt committed lands here too.
	var status, owner string
	err = c.withRetry(ctx, func(ctx context.Context) error {
		return c.db.QueryRowContext(ctx, sqlSelectBackupStatus, cluster, id).Scan(&status, &owner)
	})
	if err != nil {
		return fmt.Errorf("record start of backup %s/%s: %w", cluster, id, err)
	}
	if status == StatusRunning && owner == holder {
		return nil
	}
	return fmt.Errorf("record start of backup %s/%s: already recorded as %s by %q", cluster, id, status, owner)
}

// BackupCompleted records a finished set from its manifest, as complete (or
// partial), with all its shards, in one transaction.
func (c *Catalog) BackupCompleted(ctx context.Context, m *manifest.Manifest) error {
	if err := c.recordManifest(ctx, m); err != nil {
		return fmt.Errorf("record completion of backup %s/%s: %w", m.Cluster, m.BackupID, err)
	}
	return nil
}

// SyncManifest makes the catalog agree with a manifest found in storage.
// It is idempotent, and keeps the verification status and the holder.
func (c *Catalog) SyncManifest(ctx context.Context, m *manifest.Manifest) error {
	if err := c.recordManifest(ctx, m); err != nil {
		return fmt.Errorf("sync backup %s/%s from its manifest: %w", m.Cluster, m.BackupID, err)
	}
	return nil
}

func (c *Catalog) recordManifest(ctx context.Context, m *manifest.Manifest) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if err := checkBackupKey(m.Cluster, m.BackupID); err != nil {
		return err
	}
	type shardRow struct {
		collection string
		s          *manifest.Shard
	}
	var shards []shardRow
	var points uint64
	for i := range m.Collections {
		col := &m.Collections[i]
		for j := range col.Shards {
			shards = append(shards, shardRow{col.Name, &col.Shards[j]})
			points += col.Shards[j].PointsCount
		}
	}
	status := StatusComplete
	if m.Partial {
		status = StatusPartial
	}
	return c.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Same cluster and backup id in another store (a copied store,
		// say): its row is not this store's to overwrite.
		var loc string
		err := tx.QueryRowContext(ctx, sqlSelectBackupLocation, m.Cluster, m.BackupID).Scan(&loc)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read backup row: %w", err)
		case loc != "" && c.location != "" && loc != c.location:
			return fmt.Errorf("the catalog has it in %s, not in %s (one catalog indexes one copy of a set): %w", loc, c.location, ErrOtherLocation)
		}
		_, err = tx.ExecContext(ctx, sqlUpsertBackup,
			m.Cluster, m.BackupID, status, m.QdrantVersion, m.ToolVersion, m.SnapshotMethod,
			dbTime(m.StartedAt), nullTime(m.FinishedAt), nullTime(m.Window.FirstStart), nullTime(m.Window.LastStart),
			m.Window.SkewMillis, len(m.Collections), len(shards), m.TotalSize(), points,
			m.Key(), c.location)
		if err != nil {
			return fmt.Errorf("upsert backup row: %w", err)
		}
		// Replacing the shard rows wholesale is simpler than diffing them,
		// and a set's shards only ever change by re-recording the manifest.
		if _, err := tx.ExecContext(ctx, sqlDeleteBackupShards, m.Cluster, m.BackupID); err != nil {
			return fmt.Errorf("clear shard rows: %w", err)
		}
		for start := 0; start < len(shards); start += shardBatch {
			batch := shards[start:min(start+shardBatch, len(shards))]
			args := make([]any, 0, len(batch)*backupShardColumns)
			for _, r := range batch {
				key, err := shardKeyColumn(r.s.ShardKey)
				if err != nil {
					return fmt.Errorf("shard %d of %q: %w", r.s.ID, r.collection, err)
				}
				args = append(args, m.Cluster, m.BackupID, r.collection, r.s.ID, key, r.s.SourcePeer,
					r.s.Object, r.s.Compression, r.s.Size, r.s.SHA256, r.s.SnapshotSize, r.s.SnapshotSHA256,
					r.s.PointsCount, nullTime(r.s.StartedAt), nullTime(r.s.FinishedAt))
			}
			if _, err := tx.ExecContext(ctx, insertBackupShardsSQL(len(batch)), args...); err != nil {
				return fmt.Errorf("insert shard rows: %w", err)
			}
		}
		return nil
	})
}

// EncryptedSet is what storage tells, without the key, of a set whose
// manifest is encrypted.
type EncryptedSet struct {
	Cluster, BackupID string
	Partial           bool
	// Bytes are the bytes stored under the set's prefix.
	Bytes int64
}

// SyncEncryptedSet makes the catalog agree with an encrypted set found
// in storage and read without the key. A row already recorded from the
// manifest (by the backup, or a sync with the key) is left as it is;
// otherwise the row gets the set's status, its time from the backup id,
// its size and the manifest's key, keeping whatever else it holds.
func (c *Catalog) SyncEncryptedSet(ctx context.Context, s EncryptedSet) error {
	if err := checkBackupKey(s.Cluster, s.BackupID); err != nil {
		return err
	}
	started, err := manifest.BackupIDTime(s.BackupID)
	if err != nil {
		return err
	}
	status := StatusComplete
	if s.Partial {
		status = StatusPartial
	}
	key := manifest.EncryptedManifestKey(s.Cluster, s.BackupID)
	err = c.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var cur, curKey, loc string
		err := tx.QueryRowContext(ctx, sqlSelectBackupSync, s.Cluster, s.BackupID).Scan(&cur, &curKey, &loc)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("read backup row: %w", err)
		case loc != "" && c.location != "" && loc != c.location:
			return fmt.Errorf("the catalog has it in %s, not in %s (one catalog indexes one copy of a set): %w", loc, c.location, ErrOtherLocation)
		case cur == status && curKey == key && (loc != "" || c.location == ""):
			return nil // recorded from the manifest: it knows more
		}
		if _, err := tx.ExecContext(ctx, sqlUpsertEncryptedSet, s.Cluster, s.BackupID, status, dbTime(started), s.Bytes, key, c.location); err != nil {
			return fmt.Errorf("upsert backup row: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sync encrypted backup %s/%s: %w", s.Cluster, s.BackupID, err)
	}
	return nil
}

// BackupFailed marks a running (or already failed) set failed with reason.
// A set unknown to the catalog is recorded as failed, so a run that failed
// before BackupStarted still shows in the list. A complete or partial set is
// not changed: its manifest exists, so storage says it succeeded.
func (c *Catalog) BackupFailed(ctx context.Context, cluster, id, reason string) error {
	if err := checkBackupKey(cluster, id); err != nil {
		return err
	}
	reason = clip(reason)
	var n int64
	err := c.withRetry(ctx, func(ctx context.Context) error {
		res, err := c.db.ExecContext(ctx, sqlMarkBackupFailed, reason, cluster, id, c.location, c.location)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("mark backup %s/%s failed: %w", cluster, id, err)
	}
	if n > 0 {
		return nil
	}
	// Nothing changed: the row is absent, complete or partial, or already
	// failed with this very reason in the same microsecond.
	var status, holder string
	err = c.withRetry(ctx, func(ctx context.Context) error {
		return c.db.QueryRowContext(ctx, sqlSelectBackupStatus, cluster, id).Scan(&status, &holder)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		started := time.Now()
		if t, err := manifest.BackupIDTime(id); err == nil {
			started = t
		}
		err = c.withRetry(ctx, func(ctx context.Context) error {
			_, err := c.db.ExecContext(ctx, sqlInsertBackupFailed, cluster, id, reason, dbTime(started), c.location)
			if isDuplicateKey(err) {
				// Recorded meanwhile (or by our own retried attempt).
				_, err = c.db.ExecContext(ctx, sqlMarkBackupFailed, reason, cluster, id, c.location, c.location)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("mark backup %s/%s failed: %w", cluster, id, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("mark backup %s/%s failed: %w", cluster, id, err)
	case status == StatusComplete || status == StatusPartial:
		return fmt.Errorf("mark backup %s/%s failed: it is %s (its manifest was written)", cluster, id, status)
	}
	return nil
}

// MarkBackupMissing records that a complete or partial set of the
// catalog's location has no manifest in storage any more. It changes
// nothing for rows of other locations, rows recorded before locations
// were, and rows in any other status.
func (c *Catalog) MarkBackupMissing(ctx context.Context, cluster, id, reason string) error {
	err := c.withRetry(ctx, func(ctx context.Context) error {
		_, err := c.db.ExecContext(ctx, sqlMarkBackupMissing, clip(reason), cluster, id, c.location)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark backup %s/%s missing: %w", cluster, id, err)
	}
	return nil
}

// SetVerifyStatus records the outcome of verifying a complete or partial
// set; detail says what was found (e.g. the bad objects).
func (c *Catalog) SetVerifyStatus(ctx context.Context, cluster, id, status, detail string) error {
	switch status {
	case VerifyUnverified, VerifyVerified, VerifyCorrupt:
	default:
		return fmt.Errorf("set verify status of backup %s/%s: unknown status %q", cluster, id, status)
	}
	var n int64
	err := c.withRetry(ctx, func(ctx context.Context) error {
		res, err := c.db.ExecContext(ctx, sqlSetVerifyStatus, status, nullString(clip(detail)),
			status != VerifyUnverified, cluster, id, c.location, c.location)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("set verify status of backup %s/%s: %w", cluster, id, err)
	}
	if n > 0 {
		return nil
	}
	b, err := c.getSummary(ctx, sqlGetBackup, cluster, id, c.location, c.location)
	if err != nil {
		return fmt.Errorf("set verify status of backup %s/%s: %w", cluster, id, err)
	}
	if b.Status != StatusComplete && b.Status != StatusPartial {
		return fmt.Errorf("set verify status of backup %s/%s: it is %s; only complete or partial sets are verified", cluster, id, b.Status)
	}
	return nil
}

// ListBackups lists the backups of cluster, or of every cluster when it is
// empty, newest first.
func (c *Catalog) ListBackups(ctx context.Context, cluster string) ([]BackupSummary, error) {
	query, args := sqlListBackups, []any{c.location, c.location}
	if cluster != "" {
		query, args = sqlListBackupsOfCluster, []any{cluster, c.location, c.location}
	}
	out, err := queryAll(ctx, c, scanSummary, query, args...)
	if err != nil {
		if cluster == "" {
			return nil, fmt.Errorf("list backups: %w", err)
		}
		return nil, fmt.Errorf("list backups of cluster %q: %w", cluster, err)
	}
	return out, nil
}

// IndexRow is a set's row as prune and catalog sync judge it against
// one store.
type IndexRow struct {
	Cluster   string
	BackupID  string
	Status    string
	StartedAt time.Time
	// VerifyStatus is "verified", "corrupt" or "unverified" (or empty).
	VerifyStatus string
	// Unlocated: the row was recorded before the catalog kept storage
	// locations, so it may belong to another store sharing the catalog.
	// Prune and sync never judge such a row by this store's contents;
	// catalog sync claims it when this store holds the set.
	Unlocated bool
}

// IndexRows lists the rows of cluster ("" for every cluster) as prune and
// catalog sync need them.
func (c *Catalog) IndexRows(ctx context.Context, cluster string) ([]IndexRow, error) {
	rows, err := c.ListBackups(ctx, cluster)
	if err != nil {
		return nil, err
	}
	out := make([]IndexRow, len(rows))
	for i, r := range rows {
		out[i] = IndexRow{Cluster: r.Cluster, BackupID: r.BackupID, Status: r.Status, StartedAt: r.StartedAt, VerifyStatus: r.VerifyStatus,
			Unlocated: c.location != "" && r.StorageLocation == ""}
	}
	return out, nil
}

// GetBackup returns one backup with its shards (ordered by collection and
// shard id), or an error matching ErrNotFound.
func (c *Catalog) GetBackup(ctx context.Context, cluster, id string) (*BackupRecord, error) {
	b, err := c.getSummary(ctx, sqlGetBackup, cluster, id, c.location, c.location)
	if err != nil {
		return nil, fmt.Errorf("get backup %s/%s: %w", cluster, id, err)
	}
	rec := &BackupRecord{BackupSummary: *b}
	rec.Shards, err = queryAll(ctx, c, scanShard, sqlGetBackupShards, cluster, id)
	if err != nil {
		return nil, fmt.Errorf("get shards of backup %s/%s: %w", cluster, id, err)
	}
	return rec, nil
}

// LatestComplete returns the newest complete set of cluster that is not
// known to be corrupt, or an error matching ErrNotFound.
func (c *Catalog) LatestComplete(ctx context.Context, cluster string) (*BackupSummary, error) {
	b, err := c.getSummary(ctx, sqlLatestComplete, cluster, c.location, c.location)
	if err != nil {
		return nil, fmt.Errorf("latest complete backup of cluster %q: %w", cluster, err)
	}
	return b, nil
}

// DeleteBackup removes a backup and its shard rows. It reports ErrNotFound
// when there was no backup row (in the catalog's location), which a
// caller pruning idempotently may ignore; another location's row is never
// deleted.
func (c *Catalog) DeleteBackup(ctx context.Context, cluster, id string) error {
	var n int64
	err := c.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlDeleteBackup, cluster, id, c.location, c.location)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlDeleteBackupShards, cluster, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete backup %s/%s: %w", cluster, id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete backup %s/%s: %w", cluster, id, ErrNotFound)
	}
	return nil
}

func (c *Catalog) getSummary(ctx context.Context, query string, args ...any) (*BackupSummary, error) {
	var b *BackupSummary
	err := c.withRetry(ctx, func(ctx context.Context) error {
		var err error
		b, err = scanSummary(c.db.QueryRowContext(ctx, query, args...))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return b, err
}

type scanner interface{ Scan(dest ...any) error }

// queryAll runs a read-only query with retries and scans every row; a
// query without rows gives an empty, non-nil slice.
func queryAll[T any](ctx context.Context, c *Catalog, scan func(scanner) (*T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := c.withRetry(ctx, func(ctx context.Context) error {
		out = []T{}
		rows, err := c.db.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, *v)
		}
		return rows.Err()
	})
	return out, err
}

func scanSummary(r scanner) (*BackupSummary, error) {
	var (
		b                                 BackupSummary
		detail, reason                    sql.NullString
		finished, first, last, verifiedAt sql.NullTime
	)
	err := r.Scan(&b.Cluster, &b.BackupID, &b.Status, &b.VerifyStatus, &detail, &reason, &b.QdrantVersion,
		&b.ToolVersion, &b.SnapshotMethod, &b.Holder, &b.StartedAt, &finished, &first, &last, &b.SkewMillis,
		&b.CollectionCount, &b.ShardCount, &b.TotalBytes, &b.PointsCount, &b.ManifestKey, &b.UpdatedAt, &verifiedAt, &b.StorageLocation)
	if err != nil {
		return nil, err
	}
	b.VerifyDetail, b.Reason = detail.String, reason.String
	b.ManifestEncrypted = manifest.IsEncryptedManifestKey(b.ManifestKey)
	b.FinishedAt, b.WindowFirstStart, b.WindowLastStart, b.VerifiedAt =
		finished.Time, first.Time, last.Time, verifiedAt.Time
	return &b, nil
}

func scanShard(r scanner) (*ShardRecord, error) {
	var (
		s                 ShardRecord
		key               sql.NullString
		started, finished sql.NullTime
	)
	err := r.Scan(&s.Collection, &s.ID, &key, &s.SourcePeer, &s.Object, &s.Compression, &s.Size,
		&s.SHA256, &s.SnapshotSize, &s.SnapshotSHA256, &s.PointsCount, &started, &finished)
	if err != nil {
		return nil, err
	}
	if key.Valid {
		var k manifest.ShardKeyValue
		if err := json.Unmarshal([]byte(key.String), &k); err != nil {
			return nil, fmt.Errorf("shard %d of %q: stored shard key: %w", s.ID, s.Collection, err)
		}
		s.ShardKey = &k
	}
	s.StartedAt, s.FinishedAt = started.Time, finished.Time
	return &s, nil
}

// shardKeyColumn stores a shard key in Qdrant's JSON form.
func shardKeyColumn(k *manifest.ShardKeyValue) (any, error) {
	if k == nil {
		return nil, nil
	}
	b, err := json.Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("encode shard key: %w", err)
	}
	return string(b), nil
}

func checkBackupKey(cluster, id string) error {
	switch {
	case cluster == "":
		return errors.New("catalog: empty cluster name")
	case len(cluster) > 191:
		return fmt.Errorf("catalog: cluster name of %d bytes is longer than 191", len(cluster))
	case id == "":
		return errors.New("catalog: empty backup id")
	case len(id) > 64:
		return fmt.Errorf("catalog: backup id of %d bytes is longer than 64", len(id))
	}
	return nil
}

// dbTime is t as stored: UTC, microseconds (DATETIME(6)).
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return dbTime(t)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// clip shortens s to maxText bytes on a rune boundary.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

func isDuplicateKey(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

// inTx runs fn in a transaction, retrying the whole transaction on
// transient errors.
func (c *Catalog) inTx(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	return c.withRetry(ctx, func(ctx context.Context) error {
		tx, err := c.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		if err := fn(ctx, tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}
