//go:build integration

package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/qbackup/qbackup/e2e/faultproxy"
	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// TestAStalledCatalogFailsEachStatementWithinTheTimeout: a server that
// keeps the connections open but stops answering fails every statement
// (its retries included) after the timeout, with ErrTimeout naming the
// server, and Open after the timeout of its ping.
func TestAStalledCatalogFailsEachStatementWithinTheTimeout(t *testing.T) {
	dsn := stacktest.MySQLDSN(t)
	if _, err := openFresh(t, dsn).Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, cfg.Addr)
	cfg.Addr = proxy.Addr()
	const timeout = 2 * time.Second
	c, err := Open(t.Context(), cfg.FormatDSN(), WithTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ListBackups(t.Context(), "prod"); err != nil {
		t.Fatalf("before the stall: %v", err)
	}
	proxy.Stall()

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"a query", func(ctx context.Context) error { _, err := c.ListBackups(ctx, "prod"); return err }},
		{"a write", func(ctx context.Context) error {
			return c.BackupStarted(ctx, "prod", "20261206T120000Z-abcd", "me", time.Now())
		}},
		{"open", func(ctx context.Context) error {
			c2, err := Open(ctx, cfg.FormatDSN(), WithTimeout(timeout))
			if err == nil {
				c2.Close()
			}
			return err
		}},
	}
	for _, call := range calls {
		t.Run(call.name, func(t *testing.T) {
			start := time.Now()
			err := call.call(t.Context())
			took := time.Since(start)
			if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "catalog at "+proxy.Addr()) {
				t.Fatalf("error %v, want ErrTimeout naming %s", err, proxy.Addr())
			}
			t.Logf("failed after %s", took.Round(10*time.Millisecond))
			if took < timeout || took > timeout+2*time.Second {
				t.Errorf("failed after %s, want about %s", took, timeout)
			}
		})
	}
}
