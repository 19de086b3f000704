package main

import (
	"context"
	"errors"

	"github.com/qbackup/qbackup/internal/config"
)

// Exit codes, documented in the README and in --help. Schedulers and
// scripts branch on them, so they never change meaning.
const (
	exitOK           = 0
	exitFailure      = 1 // the operation failed; the message says why
	exitUsage        = 2 // bad flags, URL, id or other input; nothing was changed
	exitLocked       = 3 // another backup or restore holds the lock
	exitClusterNotOK = 4 // node-count or readiness check failed; nothing was changed
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
	for _, m := range exitMappings {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return exitFailure
}

// exitMappings lists the domain sentinels with their own exit code.
var exitMappings = []struct {
	err  error
	code int
}{}
