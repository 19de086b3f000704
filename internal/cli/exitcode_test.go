package cli

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/qbackup/qbackup/internal/backup"
	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/restore"
	"github.com/qbackup/qbackup/internal/storage"
)

func TestExitCode(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	wrap := func(err error) error { return fmt.Errorf("backup 20261125T133000Z-3f9c failed: %w", err) }
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"no error is success", context.Background(), nil, ExitOK},
		{"invalid input is a usage error", context.Background(), config.Invalidf("bad flag"), ExitUsage},
		{"invalid input wins over an interrupt", cancelled, config.Invalidf("bad flag"), ExitUsage},
		{"any failure after an interrupt is an interrupt", cancelled, errors.New("context canceled"), ExitInterrupted},
		{"a held lock", context.Background(), wrap(backup.ErrLockHeld), ExitLocked},
		{"a worker configured otherwise than its set", context.Background(), wrap(backup.ErrBadWorkers), ExitUsage},
		{"a node-count mismatch from discovery", context.Background(), wrap(&discovery.NodeCountError{}), ExitClusterNotOK},
		{"a node-count mismatch seen by the plugin", context.Background(), wrap(kube.ErrNodeCount), ExitClusterNotOK},
		{"an existing target collection", context.Background(), wrap(restore.ErrCollectionExists), ExitClusterNotOK},
		{"a target refusing snapshot URLs with --transfer presigned", context.Background(), wrap(restore.ErrURLRecoveryDisabled), ExitClusterNotOK},
		{"a corrupt object", context.Background(), wrap(restore.ErrObjectChecksum), ExitCorrupt},
		{"a manifest of a newer format", context.Background(), wrap(manifest.ErrUnsupportedFormat), ExitCorrupt},
		{"a malformed storage URL", context.Background(), wrap(storage.ErrInvalidURL), ExitUsage},
		{"a truncated manifest or one missing a shard", context.Background(), wrap(manifest.ErrCorrupt), ExitCorrupt},
		{"a catalog refusing the DSN's password or database", context.Background(), wrap(catalog.ErrRefused), ExitUsage},
		{"a catalog DSN that does not parse", context.Background(), wrap(&catalog.DSNError{Reason: "x"}), ExitUsage},
		{"a waited-on job that exited 5", context.Background(), &kube.JobFailedError{State: kube.JobState{ExitCode: 5}}, ExitCorrupt},
		{"a waited-on job that exited 3", context.Background(), wrap(&kube.JobFailedError{State: kube.JobState{ExitCode: 3}}), ExitLocked},
		{"a waited-on job past its deadline (no exit code)", context.Background(), &kube.JobFailedError{State: kube.JobState{Reason: "DeadlineExceeded"}}, ExitFailure},
		{"a waited-on job killed by a signal (137)", context.Background(), &kube.JobFailedError{State: kube.JobState{ExitCode: 137}}, ExitFailure},
		{"anything else", context.Background(), errors.New("peer reset the connection"), ExitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.ctx, tt.err); got != tt.want {
				t.Fatalf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
