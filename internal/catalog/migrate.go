package catalog

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// bootstrapMigrations are the first migrations, creating schema_migrations
// and locks. The migrator needs both before it can take its lease, so they
// run unlocked on every Migrate and must stay CREATE TABLE IF NOT EXISTS.
const bootstrapMigrations = 2

// migrateLock is the lease that serialises concurrent migrators.
const migrateLock = "catalog/migrate"

// Migration is one embedded schema change: one SQL statement.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Checksum string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Migrations returns the embedded migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("embedded migration %q: name is not NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read embedded migration %s: %w", e.Name(), err)
		}
		v, _ := strconv.Atoi(m[1])
		sum := sha256.Sum256(b)
		out = append(out, Migration{Version: v, Name: m[2], SQL: strings.TrimSpace(string(b)), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("embedded migrations: expected version %04d, found %04d_%s", i+1, m.Version, m.Name)
		}
	}
	return out, nil
}

type appliedMigration struct {
	version  int
	name     string
	checksum string
}

// Migrate applies the pending migrations in order and returns them. It is
// idempotent, and concurrent migrators (several jobs starting with
// --migrate) wait for each other on a lease instead of racing, so each
// migration runs once.
//
// DDL is not transactional on MySQL or TiDB, so a migrator that dies
// between a statement and its schema_migrations row leaves it applied but
// unrecorded; the next run repeats it, and "already exists" errors from
// that repetition count as applied.
func (c *Catalog) Migrate(ctx context.Context) ([]Migration, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	for _, m := range all[:bootstrapMigrations] {
		if err := c.execMigration(ctx, m); err != nil {
			return nil, err
		}
	}
	lease, err := c.waitLease(ctx, migrateLock, migratorHolder(), time.Minute)
	if err != nil {
		return nil, fmt.Errorf("migrate catalog: %w", err)
	}
	kctx, stop := context.WithCancel(ctx)
	lost := lease.KeepAlive(kctx, 0)
	defer func() {
		stop()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := lease.Release(rctx); err != nil {
			c.log.Warn("catalog: release migration lock", "err", err)
		}
	}()

	applied, err := c.applied(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate catalog: %w", err)
	}
	if err := checkApplied(all, applied); err != nil {
		return nil, err
	}
	var done []Migration
	for _, m := range all {
		if _, ok := applied[m.Version]; ok {
			continue
		}
		select {
		case err := <-lost:
			if err != nil {
				return done, fmt.Errorf("migrate catalog: stopped before migration %04d_%s: %w", m.Version, m.Name, err)
			}
		default:
		}
		if err := c.execMigration(ctx, m); err != nil {
			return done, err
		}
		err := c.withRetry(ctx, func(ctx context.Context) error {
			_, err := c.db.ExecContext(ctx, sqlInsertMigration, m.Version, m.Name, m.Checksum)
			if isDuplicateKey(err) {
				return nil // recorded by an earlier attempt whose reply was lost
			}
			return err
		})
		if err != nil {
			return done, fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
		c.log.Info("catalog: applied migration", "version", m.Version, "name", m.Name)
		done = append(done, m)
	}
	return done, nil
}

// Pending returns the migrations not yet applied to the catalog.
func (c *Catalog) Pending(ctx context.Context) ([]Migration, error) {
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	applied, err := c.applied(ctx)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 { // table doesn't exist
		return all, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read catalog schema version: %w", err)
	}
	if err := checkApplied(all, applied); err != nil {
		return nil, err
	}
	var out []Migration
	for _, m := range all {
		if _, ok := applied[m.Version]; !ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// CheckSchema fails with ErrSchemaOutdated when migrations are pending, and
// with ErrSchemaNewer when a newer qbackup migrated the catalog.
func (c *Catalog) CheckSchema(ctx context.Context) error {
	pending, err := c.Pending(ctx)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return fmt.Errorf("%w: %d migrations pending, first %04d_%s (run qbackup catalog migrate)",
			ErrSchemaOutdated, len(pending), pending[0].Version, pending[0].Name)
	}
	return nil
}

func (c *Catalog) applied(ctx context.Context) (map[int]appliedMigration, error) {
	out := map[int]appliedMigration{}
	err := c.withRetry(ctx, func(ctx context.Context) error {
		clear(out)
		rows, err := c.db.QueryContext(ctx, sqlSelectMigrations)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a appliedMigration
			if err := rows.Scan(&a.version, &a.name, &a.checksum); err != nil {
				return err
			}
			out[a.version] = a
		}
		return rows.Err()
	})
	return out, err
}

// checkApplied refuses a catalog migrated by a newer build, or one whose
// recorded migrations differ from the embedded ones (an edited migration
// would otherwise never run where it was already applied).
func checkApplied(all []Migration, applied map[int]appliedMigration) error {
	for v, a := range applied {
		if v > len(all) {
			return fmt.Errorf("%w: it has migration %04d_%s, this qbackup knows up to %04d", ErrSchemaNewer, v, a.name, len(all))
		}
		if m := all[v-1]; a.checksum != m.Checksum {
			return fmt.Errorf("catalog migration %04d_%s was applied with different content than this qbackup embeds", v, m.Name)
		}
	}
	return nil
}

// execMigration runs one migration statement. Errors saying the object
// already exists mean an earlier, unrecorded run applied it.
func (c *Catalog) execMigration(ctx context.Context, m Migration) error {
	err := c.withRetry(ctx, func(ctx context.Context) error {
		_, err := c.db.ExecContext(ctx, m.SQL)
		return err
	})
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1050, 1060, 1061: // table, column, index already exists
			c.log.Info("catalog: migration already applied", "version", m.Version, "name", m.Name, "err", err)
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
	}
	return nil
}

// waitLease acquires a lease, polling while someone else holds it.
func (c *Catalog) waitLease(ctx context.Context, name, holder string, ttl time.Duration) (*Lease, error) {
	for {
		l, err := c.AcquireLease(ctx, name, holder, ttl)
		var held *LockHeldError
		if !errors.As(err, &held) {
			return l, err
		}
		c.log.Info("catalog: waiting for lock", "lock", name, "holder", held.Holder, "since", held.Since)
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("gave up waiting: %w (%w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// migratorHolder names this process in the migration lock.
func migratorHolder() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("migrate@%s/%d", host, os.Getpid())
}
