//go:build integration

package lease

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
	"github.com/qbackup/qbackup/internal/catalog"
)

// TestCatalogLeaseExcludesBackupAndRestore runs the catalog variant on
// the test stack's MariaDB: a restore is refused while a backup holds the
// cluster lock, naming it, and gets it once the backup is done.
func TestCatalogLeaseExcludesBackupAndRestore(t *testing.T) {
	c, err := catalog.Open(t.Context(), stacktest.MySQLDSN(t))
	if err != nil {
		t.Fatalf("open catalog: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	cluster := "lease-" + time.Now().Format("150405.000000")
	backup := Options{Cluster: cluster, Holder: "backup-pod", Operation: "backup b1", Catalog: FromCatalog(c), TTL: 2 * time.Second}
	held, release, err := Hold(t.Context(), backup)
	if err != nil {
		t.Fatal(err)
	}
	restore := Options{Cluster: cluster, Holder: "restore-pod", Operation: "restore of backup b0", Catalog: FromCatalog(c), TTL: 2 * time.Second}
	_, _, err = Hold(t.Context(), restore)
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "backup-pod (backup b1)") {
		t.Fatalf("restore while a backup runs: %v, want ErrHeld naming the backup", err)
	}
	// Kept alive past its TTL, the backup still holds it.
	time.Sleep(3 * time.Second)
	if held.Err() != nil {
		t.Fatalf("backup lost its lease: %v", context.Cause(held))
	}
	if _, _, err := Hold(t.Context(), restore); !errors.Is(err, ErrHeld) {
		t.Fatalf("restore after the TTL while the backup renews: %v, want ErrHeld", err)
	}
	release()
	_, release2, err := Hold(t.Context(), restore)
	if err != nil {
		t.Fatalf("restore after the backup: %v", err)
	}
	release2()
}
