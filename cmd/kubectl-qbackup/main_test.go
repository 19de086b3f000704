package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/cli"
)

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"backup", "--from", "deployment/qbackup"},
		{"restore", "latest", "--plan", "sideways"},
		{"list", "-o", "csv"},
		{"nosuchcommand"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %s", args, code, cli.ExitUsage, errOut.String())
		}
	}
}

func TestListEmptyStorage(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"list", "--storage", "file://" + t.TempDir(), "-o", "json"}, &out, &errOut); code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if strings.TrimSpace(out.String()) != "[]" {
		t.Fatalf("got %q, want []", out.String())
	}
}
