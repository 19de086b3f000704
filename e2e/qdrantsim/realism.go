package qdrantsim

import (
	"fmt"
	"os"
	"time"
)

// Realism profiles. "off" applies every cluster change synchronously and
// finishes transfers after Options.TransferDelay; "default" and "harsh"
// play Qdrant's asynchronous consensus and byte-proportional transfers.
const (
	RealismOff     = "off"
	RealismDefault = "default"
	RealismHarsh   = "harsh"
)

// RealismEnv names the environment variable read when Options.Realism is
// empty.
const RealismEnv = "QDRANTSIM_REALISM"

// RealismOr is $QDRANTSIM_REALISM when set, else def: tests of the
// product run on def unless the run asks for another profile.
func RealismOr(def string) string {
	if r := os.Getenv(RealismEnv); r != "" {
		return r
	}
	return def
}

// qdrantTick is Qdrant's consensus tick_period_ms (config/config.yaml:
// cluster.consensus.tick_period_ms: 100).
const qdrantTick = 100 * time.Millisecond

// MiB is a mebibyte, for Options.TransferRate.
const MiB = 1 << 20

// applyRealism resolves the profile and fills every option it governs
// that the caller left at zero: explicit fields win over the profile.
func applyRealism(opts *Options) error {
	if opts.Realism == "" {
		opts.Realism = os.Getenv(RealismEnv)
	}
	if opts.Realism == "" {
		opts.Realism = RealismOff
	}
	var minD, maxD time.Duration
	var rate int64
	var outOfOrder float64
	switch opts.Realism {
	case RealismOff:
		return nil
	case RealismDefault:
		minD, maxD, rate = 20*time.Millisecond, 250*time.Millisecond, 200*MiB
	case RealismHarsh:
		minD, maxD, rate, outOfOrder = 20*time.Millisecond, 1500*time.Millisecond, 20*MiB, 0.05
	default:
		return fmt.Errorf("realism %q: want off, default or harsh", opts.Realism)
	}
	if opts.ConsensusDelayMin == 0 && opts.ConsensusDelayMax == 0 {
		opts.ConsensusDelayMin, opts.ConsensusDelayMax = minD, maxD
	}
	// An explicit TransferDelay asks for fixed-duration transfers.
	if opts.TransferRate == 0 && opts.TransferDelay == 0 {
		opts.TransferRate = rate
	}
	if opts.OutOfOrder == 0 {
		opts.OutOfOrder = outOfOrder
	}
	// A Dead replica asks for a transfer from its own sync_local_state,
	// which runs on consensus ticks; about three of them pass before the
	// request is committed (lib/collection/src/collection/mod.rs
	// sync_local_state, config/config.yaml tick_period_ms).
	if opts.AutoRecoveryDelay == 0 {
		opts.AutoRecoveryDelay = 3 * qdrantTick
	}
	opts.ApproximateCounts = true
	return nil
}

// Seed is the seed driving every random choice of the cluster: the one
// given in Options, or the one picked when it was 0.
func (c *Cluster) Seed() uint64 { return c.seed }

// Realism is the resolved realism profile.
func (c *Cluster) Realism() string { return c.opts.Realism }

// LogSeedOnFailure logs the seed and realism profile when t has failed,
// so that every failing run can be replayed with the same seed.
func (c *Cluster) LogSeedOnFailure(t interface {
	Cleanup(func())
	Failed() bool
	Logf(string, ...any)
}) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("qdrantsim: seed=%d realism=%s (replay with Options.Seed or qdrant-sim --seed %d --realism %s)",
				c.seed, c.opts.Realism, c.seed, c.opts.Realism)
		}
	})
}
