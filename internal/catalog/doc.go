// Package catalog is qbackup's index of backup sets, restore progress and
// lease locks, kept in TiDB or any MySQL-compatible server.
//
// Storage is the source of truth and the catalog an index: every backup
// row can be rebuilt from its manifest (SyncManifest), so nothing here is the
// only copy of anything needed for a restore.
//
// The SQL stays inside what TiDB runs: no GET_LOCK, triggers, stored
// procedures or foreign-key cascades, explicit primary keys, utf8mb4, one
// DDL statement per migration. Locks are lease rows compared against the
// database server's clock, so clients with skewed clocks agree on expiry.
// Every statement lives in queries.go or migrations/, and a unit test parses
// all of them with TiDB's own parser, because the MariaDB used in the tests
// accepts syntax TiDB rejects.
//
// Writes retry on transient errors (TiDB write conflicts, deadlocks, lock
// wait timeouts, dropped connections), so every write here is written to be
// safe to repeat.
package catalog
