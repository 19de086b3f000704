package restore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// ErrURLRecoveryDisabled: a target peer refuses snapshot recovery from
// URLs, which --transfer presigned needs.
var ErrURLRecoveryDisabled = errors.New("snapshot recovery from URLs disabled")

// urlRecoveryDisabledText is the start of Qdrant's refusal when
// service.enable_snapshot_url_recovery is off (1.18+,
// src/actix/api/snapshot_api.rs).
const urlRecoveryDisabledText = "Snapshot recovery from remote URLs is disabled"

// checkURLRecovery asks every planned peer whether it recovers shards from
// URLs, when the restore would hand it presigned ones. Qdrant checks
// service.enable_snapshot_url_recovery first thing in the recover handler,
// before it looks the collection up (recover_shard_snapshot in
// src/actix/api/snapshot_api.rs), so a recover request for a collection
// that does not exist answers 403 when URL recovery is disabled and 404
// when it is enabled, and touches nothing either way.
func checkURLRecovery(ctx context.Context, plan *RestorePlan, deps Deps, opts PreflightOptions, rep *PreflightReport) []error {
	if opts.Transfer != TransferPresigned {
		return nil
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return []error{fmt.Errorf("probe snapshot URL recovery: %w", err)}
	}
	probe := "qbackup-url-recovery-probe-" + hex.EncodeToString(b[:])
	var errs []error
	for _, tp := range plan.Peers {
		c, err := deps.peer(tp.ID)
		if err != nil {
			continue // checkPeers reports it
		}
		err = c.RecoverShard(ctx, probe, 0, qdrant.RecoverRequest{Location: "http://qbackup-probe.invalid/probe.snapshot"})
		var api *qdrant.APIError
		switch {
		case errors.As(err, &api) && api.Status == http.StatusForbidden && strings.Contains(api.Message, urlRecoveryDisabledText):
			errs = append(errs, fmt.Errorf("%s refuses snapshot recovery from URLs (service.enable_snapshot_url_recovery is off), which --transfer presigned needs: restore with --transfer upload: %w",
				peerName(tp), ErrURLRecoveryDisabled))
		case errors.Is(err, qdrant.ErrNotFound):
			// Past the URL check: URLs are accepted.
		default:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: could not tell whether it accepts snapshot URLs (%v); if recoveries are refused, use --transfer upload", peerName(tp), err))
		}
	}
	return errs
}
