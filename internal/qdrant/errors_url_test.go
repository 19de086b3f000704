package qdrant

import (
	"errors"
	"strings"
	"testing"
)

func TestAURLRecoveryRefusalNamesTheUploadTransferNotTheKey(t *testing.T) {
	err := error(&APIError{Op: `recover shard 0 of "docs"`, Peer: "http://q0:6333", Status: 403,
		Message: "Forbidden: Snapshot recovery from remote URLs is disabled in the configuration"})
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "--transfer upload") || strings.Contains(err.Error(), "read-only key") {
		t.Fatalf("error %q: want ErrForbidden naming --transfer upload, not the API key", err)
	}
}
