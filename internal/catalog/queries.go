package catalog

import "strings"

// Every statement the catalog runs is in this file (migrations aside):
// constants named sql* are whole statements, the other constants fragments
// of them, and the builder functions below assemble the multi-row ones. The
// TiDB parser test enumerates all of them from this file.

// Schema migrations.
const (
	sqlSelectMigrations = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
	sqlInsertMigration  = "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))"
)

// Lease locks. Expiry is always computed and compared with the server's
// UTC_TIMESTAMP(6), never a client clock.
const (
	lockExpiry = "DATE_ADD(UTC_TIMESTAMP(6), INTERVAL ? MICROSECOND)"

	sqlInsertLock = "INSERT INTO locks (name, holder, token, acquired_at, renewed_at, expires_at) " +
		"VALUES (?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), " + lockExpiry + ")"
	sqlSelectLock = "SELECT holder, token, acquired_at, expires_at, UTC_TIMESTAMP(6) FROM locks WHERE name = ?"
	// sqlTakeOverLock replaces one specific expired acquisition (its token),
	// so of several clients that saw the same expired row exactly one wins.
	sqlTakeOverLock = "UPDATE locks SET holder = ?, token = ?, acquired_at = UTC_TIMESTAMP(6), " +
		"renewed_at = UTC_TIMESTAMP(6), expires_at = " + lockExpiry + " " +
		"WHERE name = ? AND token = ? AND expires_at <= UTC_TIMESTAMP(6)"
	sqlRenewLock = "UPDATE locks SET renewed_at = UTC_TIMESTAMP(6), expires_at = " + lockExpiry + " " +
		"WHERE name = ? AND token = ?"
	sqlDeleteLock = "DELETE FROM locks WHERE name = ? AND token = ?"
)

// Backups.
const (
	backupColumns = "cluster, backup_id, status, verify_status, verify_detail, reason, qdrant_version, " +
		"tool_version, snapshot_method, holder, started_at, finished_at, window_first_start, " +
		"window_last_start, skew_ms, collections_count, shards_count, total_bytes, points_count, " +
		"manifest_key, updated_at, verified_at, storage_location"
	newestFirst = " ORDER BY started_at DESC, backup_id DESC"
	// inLocation keeps the rows of one storage location and the rows
	// recorded before locations were (''); its two parameters are both the
	// catalog's location, and an unscoped catalog ('') sees every row.
	inLocation = "(? = '' OR storage_location IN (?, ''))"

	sqlInsertBackupStarted = "INSERT INTO backups (cluster, backup_id, status, holder, started_at, storage_location, updated_at) " +
		"VALUES (?, ?, 'running', ?, ?, ?, UTC_TIMESTAMP(6))"
	sqlSelectBackupLocation = "SELECT storage_location FROM backups WHERE cluster = ? AND backup_id = ?"
	sqlSelectBackupStatus   = "SELECT status, holder FROM backups WHERE cluster = ? AND backup_id = ?"

	// sqlUpsertBackup records a backup from its manifest. It leaves
	// verify_status, verify_detail, verified_at and holder alone: a manifest
	// knows nothing of them, and a re-sync must not undo a verification.
	sqlUpsertBackup = "INSERT INTO backups (cluster, backup_id, status, reason, qdrant_version, tool_version, " +
		"snapshot_method, started_at, finished_at, window_first_start, window_last_start, skew_ms, " +
		"collections_count, shards_count, total_bytes, points_count, manifest_key, storage_location, updated_at) " +
		"VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6)) " +
		"ON DUPLICATE KEY UPDATE status = VALUES(status), reason = NULL, " +
		"qdrant_version = VALUES(qdrant_version), tool_version = VALUES(tool_version), " +
		"snapshot_method = VALUES(snapshot_method), started_at = VALUES(started_at), " +
		"finished_at = VALUES(finished_at), window_first_start = VALUES(window_first_start), " +
		"window_last_start = VALUES(window_last_start), skew_ms = VALUES(skew_ms), " +
		"collections_count = VALUES(collections_count), shards_count = VALUES(shards_count), " +
		"total_bytes = VALUES(total_bytes), points_count = VALUES(points_count), " +
		"manifest_key = VALUES(manifest_key), " +
		"storage_location = IF(VALUES(storage_location) = '', storage_location, VALUES(storage_location)), " +
		"updated_at = VALUES(updated_at)"

	// sqlUpsertEncryptedSet records what storage tells of a set whose
	// manifest is encrypted and was read without the key: its status, its
	// time (from the backup id), its stored bytes and the manifest's key.
	// What it cannot know it leaves as recorded (the backup recorded it
	// all when it committed the set).
	sqlUpsertEncryptedSet = "INSERT INTO backups (cluster, backup_id, status, reason, started_at, total_bytes, manifest_key, storage_location, updated_at) " +
		"VALUES (?, ?, ?, NULL, ?, ?, ?, ?, UTC_TIMESTAMP(6)) " +
		"ON DUPLICATE KEY UPDATE status = VALUES(status), reason = NULL, " +
		"total_bytes = IF(total_bytes = 0, VALUES(total_bytes), total_bytes), " +
		"manifest_key = VALUES(manifest_key), " +
		"storage_location = IF(VALUES(storage_location) = '', storage_location, VALUES(storage_location)), " +
		"updated_at = VALUES(updated_at)"
	sqlSelectBackupSync = "SELECT status, manifest_key, storage_location FROM backups WHERE cluster = ? AND backup_id = ?"

	// sqlMarkBackupFailed never turns a set with a manifest (complete or
	// partial) into a failed one: storage would disagree.
	sqlMarkBackupFailed = "UPDATE backups SET status = 'failed', reason = ?, " +
		"finished_at = COALESCE(finished_at, UTC_TIMESTAMP(6)), updated_at = UTC_TIMESTAMP(6) " +
		"WHERE cluster = ? AND backup_id = ? AND status IN ('running', 'failed') AND " + inLocation
	sqlInsertBackupFailed = "INSERT INTO backups (cluster, backup_id, status, reason, started_at, finished_at, storage_location, updated_at) " +
		"VALUES (?, ?, 'failed', ?, ?, UTC_TIMESTAMP(6), ?, UTC_TIMESTAMP(6))"
	// sqlMarkBackupMissing: catalog sync found no manifest in this row's
	// own location. Rows of other locations, and rows recorded before
	// locations were, are not this store's to judge.
	sqlMarkBackupMissing = "UPDATE backups SET status = 'missing', reason = ?, updated_at = UTC_TIMESTAMP(6) " +
		"WHERE cluster = ? AND backup_id = ? AND status IN ('complete', 'partial') AND storage_location = ?"

	sqlSetVerifyStatus = "UPDATE backups SET verify_status = ?, verify_detail = ?, " +
		"verified_at = CASE WHEN ? THEN UTC_TIMESTAMP(6) ELSE NULL END, updated_at = UTC_TIMESTAMP(6) " +
		"WHERE cluster = ? AND backup_id = ? AND status IN ('complete', 'partial') AND " + inLocation

	sqlListBackups          = "SELECT " + backupColumns + " FROM backups WHERE " + inLocation + newestFirst
	sqlListBackupsOfCluster = "SELECT " + backupColumns + " FROM backups WHERE cluster = ? AND " + inLocation + newestFirst
	sqlGetBackup            = "SELECT " + backupColumns + " FROM backups WHERE cluster = ? AND backup_id = ? AND " + inLocation
	// A corrupt set is never "the latest good one"; an unverified one is,
	// because verification is optional.
	sqlLatestComplete = "SELECT " + backupColumns + " FROM backups " +
		"WHERE cluster = ? AND status = 'complete' AND verify_status <> 'corrupt' AND " + inLocation + newestFirst + " LIMIT 1"
	sqlDeleteBackup = "DELETE FROM backups WHERE cluster = ? AND backup_id = ? AND " + inLocation

	sqlGetBackupShards = "SELECT collection, shard_id, shard_key, source_peer, object_key, compression, size, " +
		"sha256, snapshot_size, snapshot_sha256, points_count, started_at, finished_at " +
		"FROM backup_shards WHERE cluster = ? AND backup_id = ? ORDER BY collection, shard_id"
	sqlDeleteBackupShards = "DELETE FROM backup_shards WHERE cluster = ? AND backup_id = ?"

	insertBackupShardsHead = "INSERT INTO backup_shards (cluster, backup_id, collection, shard_id, shard_key, " +
		"source_peer, object_key, compression, size, sha256, snapshot_size, snapshot_sha256, points_count, " +
		"started_at, finished_at) VALUES "
	backupShardRow     = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	backupShardColumns = 15
	// shardBatch rows per INSERT keeps statements well under the server's
	// placeholder and packet limits.
	shardBatch = 200
)

// insertBackupShardsSQL is a multi-row INSERT of n shard rows.
func insertBackupShardsSQL(n int) string {
	return insertBackupShardsHead + strings.TrimSuffix(strings.Repeat(backupShardRow+", ", n), ", ")
}

// Restores.
const (
	restoreColumns = "restore_id, cluster, backup_id, target, plan, status, reason, started_at, finished_at, updated_at"

	// sqlUpsertRestore starts a restore or restarts a rerun of it; the
	// original start time stays.
	sqlUpsertRestore = "INSERT INTO restores (" + restoreColumns + ") " +
		"VALUES (?, ?, ?, ?, ?, 'running', NULL, ?, NULL, UTC_TIMESTAMP(6)) " +
		"ON DUPLICATE KEY UPDATE target = VALUES(target), plan = VALUES(plan), status = 'running', " +
		"reason = NULL, finished_at = NULL, updated_at = VALUES(updated_at)"
	sqlSelectRestoreOrigin = "SELECT cluster, backup_id FROM restores WHERE restore_id = ?"
	sqlFinishRestore       = "UPDATE restores SET status = ?, reason = ?, finished_at = UTC_TIMESTAMP(6), " +
		"updated_at = UTC_TIMESTAMP(6) WHERE restore_id = ?"
	sqlGetRestore            = "SELECT " + restoreColumns + " FROM restores WHERE restore_id = ?"
	sqlListRestores          = "SELECT " + restoreColumns + " FROM restores ORDER BY started_at DESC, restore_id DESC"
	sqlListRestoresOfCluster = "SELECT " + restoreColumns + " FROM restores WHERE cluster = ? " +
		"ORDER BY started_at DESC, restore_id DESC"

	// sqlUpsertRestoreShard adds the attempts argument (1 for an outcome,
	// 0 otherwise) to the running count.
	sqlUpsertRestoreShard = "INSERT INTO restore_shards (restore_id, collection, shard_id, target_peer, state, " +
		"attempts, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6)) " +
		"ON DUPLICATE KEY UPDATE attempts = attempts + VALUES(attempts), state = VALUES(state), " +
		"error = VALUES(error), updated_at = VALUES(updated_at)"
	sqlSelectRestoreShards = "SELECT collection, shard_id, target_peer, state, attempts, error, updated_at " +
		"FROM restore_shards WHERE restore_id = ? ORDER BY collection, shard_id, target_peer"
)
