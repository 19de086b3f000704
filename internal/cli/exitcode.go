package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/qbackup/qbackup/internal/backup"
	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/restore"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/verify"
)

// Exit codes, documented in the README and in --help. Schedulers and
// scripts branch on them, so they never change meaning.
const (
	ExitOK           = 0
	ExitFailure      = 1 // the operation failed; the message says why
	ExitUsage        = 2 // bad flags, URL, id, credentials or other input; nothing was changed
	ExitLocked       = 3 // another backup, restore or rebalance holds the lock
	ExitClusterNotOK = 4 // a cluster check (node count, readiness, transfers, version, existing collection) failed; nothing was changed
	ExitCorrupt      = 5 // a backup object is corrupt or missing, or the manifest unreadable
	ExitInterrupted  = 130
)

// ExitCodeDoc documents one exit code: Short in --help, Doc is the row of
// the README's exit-code table (a test keeps the two identical).
type ExitCodeDoc struct {
	Code  int
	Short string
	Doc   string
}

// ExitCodes are all exit codes, in order.
var ExitCodes = []ExitCodeDoc{
	{ExitOK, "ok", "success"},
	{ExitFailure, "failed", "the operation failed; the message says why"},
	{ExitUsage, "usage or invalid input", "usage or invalid input (a flag or variable out of range, a URL, bucket name or path, the catalog DSN, its user, password or database, a backup id, a collection name, an age recipient, or an age identity missing, unreadable or not opening the set); nothing changed"},
	{ExitLocked, "lock held", "another backup, restore or rebalance of the cluster holds the cluster lock (the message names the holder, what it runs and since when)"},
	{ExitClusterNotOK, "cluster check failed", "a cluster check failed (node count, readiness, consensus, running transfers, target version, existing collection); nothing changed"},
	{ExitCorrupt, "backup corrupt", "a backup object is corrupt or missing, or the manifest cannot be read (truncated, or a shard missing)"},
	{ExitInterrupted, "interrupted", "interrupted (SIGINT/SIGTERM); cleanup was done"},
}

// ExitCodesHelp is the one-line summary shown in --help.
var ExitCodesHelp = func() string {
	parts := make([]string, len(ExitCodes))
	for i, c := range ExitCodes {
		parts[i] = fmt.Sprintf("%d %s", c.Code, c.Short)
	}
	return strings.Join(parts, ", ") + "."
}()

// ExitCode maps an error to its exit code. Domain packages mark their
// errors with sentinels; the mapping lives here so it is in one place.
func ExitCode(ctx context.Context, err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, config.ErrInvalidInput):
		return ExitUsage
	case ctx.Err() != nil:
		return ExitInterrupted
	}
	// A Job the plugin waited on exits as its run did, so a script
	// branches the same on `kubectl qbackup ... --wait` as on the Job.
	var jobFailed *kube.JobFailedError
	if errors.As(err, &jobFailed) {
		if c := int(jobFailed.State.ExitCode); c >= ExitFailure && c <= ExitCorrupt {
			return c
		}
		return ExitFailure
	}
	var nodeCount *discovery.NodeCountError
	switch {
	case errors.Is(err, backup.ErrLockHeld), errors.Is(err, catalog.ErrLockHeld):
		return ExitLocked
	case errors.As(err, &nodeCount), errors.Is(err, discovery.ErrNoPods), errors.Is(err, discovery.ErrConsensus),
		errors.Is(err, discovery.ErrPeerSetDisagree), errors.Is(err, discovery.ErrNotQdrant),
		errors.Is(err, kube.ErrNodeCount),
		errors.Is(err, restore.ErrNodeCount), errors.Is(err, restore.ErrPeerNotReady),
		errors.Is(err, restore.ErrTransferInProgress), errors.Is(err, restore.ErrTargetTooOld),
		errors.Is(err, restore.ErrCollectionExists), errors.Is(err, restore.ErrURLRecoveryDisabled):
		return ExitClusterNotOK
	case errors.Is(err, verify.ErrCorrupt), errors.Is(err, restore.ErrObjectMissing), errors.Is(err, manifest.ErrCorrupt),
		errors.Is(err, restore.ErrObjectSize), errors.Is(err, restore.ErrObjectChecksum),
		errors.Is(err, manifest.ErrUnsupportedFormat), errors.Is(err, crypt.ErrDecrypt):
		return ExitCorrupt
	case errors.Is(err, backup.ErrUnknownCollection), errors.Is(err, backup.ErrBadWorkers), errors.Is(err, restore.ErrUnknownCollection),
		errors.Is(err, restore.ErrInvalidOptions), errors.Is(err, restore.ErrTooFewPods),
		errors.Is(err, restore.ErrUnknownTargetNode), errors.Is(err, inventory.ErrNoBackup),
		errors.Is(err, storage.ErrInvalidURL), errors.Is(err, storage.ErrBucketNotFound),
		errors.Is(err, storage.ErrAccessDenied), errors.Is(err, qdrant.ErrUnauthorized), errors.Is(err, qdrant.ErrTLS),
		errors.Is(err, catalog.ErrRefused), errors.Is(err, catalog.ErrInvalidDSN),
		errors.Is(err, discovery.ErrSchemeMismatch), errors.Is(err, discovery.ErrNoKubeConfig),
		errors.Is(err, discovery.ErrForbidden), errors.Is(err, discovery.ErrInvalidSelector),
		errors.Is(err, crypt.ErrNoIdentity), errors.Is(err, crypt.ErrWrongIdentity),
		errors.Is(err, crypt.ErrInvalidIdentity), errors.Is(err, crypt.ErrInvalidRecipient):
		return ExitUsage
	}
	return ExitFailure
}
