package main

import (
	"context"
	"errors"

	"github.com/qbackup/qbackup/internal/backup"
	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/restore"
	"github.com/qbackup/qbackup/internal/storage"
)

// Exit codes, documented in the README and in --help. Schedulers and
// scripts branch on them, so they never change meaning.
const (
	exitOK           = 0
	exitFailure      = 1 // the operation failed; the message says why
	exitUsage        = 2 // bad flags, URL, id, credentials or other input; nothing was changed
	exitLocked       = 3 // another backup or restore holds the lock
	exitClusterNotOK = 4 // a cluster check (node count, readiness, transfers, version, existing collection) failed; nothing was changed
	exitCorrupt      = 5 // verification found a corrupt or missing object
	exitInterrupted  = 130
)

const exitCodesHelp = "0 ok, 1 failed, 2 usage or invalid input, 3 lock held, 4 cluster check failed, 5 backup corrupt, 130 interrupted."

// exitCode maps an error to its exit code. Domain packages mark their
// errors with sentinels; the mapping lives here so it is in one place.
func exitCode(ctx context.Context, err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, config.ErrInvalidInput):
		return exitUsage
	case ctx.Err() != nil:
		return exitInterrupted
	}
	var nodeCount *discovery.NodeCountError
	switch {
	case errors.Is(err, backup.ErrLockHeld), errors.Is(err, catalog.ErrLockHeld):
		return exitLocked
	case errors.As(err, &nodeCount), errors.Is(err, discovery.ErrNoPods), errors.Is(err, discovery.ErrConsensus),
		errors.Is(err, discovery.ErrPeerSetDisagree), errors.Is(err, discovery.ErrNotQdrant),
		errors.Is(err, restore.ErrNodeCount), errors.Is(err, restore.ErrPeerNotReady),
		errors.Is(err, restore.ErrTransferInProgress), errors.Is(err, restore.ErrTargetTooOld),
		errors.Is(err, restore.ErrCollectionExists):
		return exitClusterNotOK
	case errors.Is(err, backup.ErrCorrupt), errors.Is(err, restore.ErrObjectMissing),
		errors.Is(err, restore.ErrObjectSize), errors.Is(err, restore.ErrObjectChecksum),
		errors.Is(err, manifest.ErrUnsupportedFormat):
		return exitCorrupt
	case errors.Is(err, backup.ErrUnknownCollection), errors.Is(err, restore.ErrUnknownCollection),
		errors.Is(err, restore.ErrInvalidOptions),
		errors.Is(err, restore.ErrUnknownTargetNode), errors.Is(err, inventory.ErrNoBackup),
		errors.Is(err, storage.ErrInvalidURL), errors.Is(err, storage.ErrBucketNotFound),
		errors.Is(err, storage.ErrAccessDenied), errors.Is(err, qdrant.ErrUnauthorized):
		return exitUsage
	}
	return exitFailure
}
