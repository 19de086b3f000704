package main

import (
	"maps"
	"strconv"
	"time"

	"github.com/alecthomas/kong"

	"github.com/qbackup/qbackup/internal/backup"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/prune"
	"github.com/qbackup/qbackup/internal/restore"
)

// defaultVars fills the ${default_...} of the flags' default tags from the
// engines' own defaults: --help shows what a run does without the flag,
// and a library caller that leaves an option zero gets the same.
func defaultVars() kong.Vars {
	v := kong.Vars{
		"default_concurrency":          strconv.Itoa(backup.DefaultConcurrency),
		"default_per_peer_concurrency": strconv.Itoa(backup.DefaultPerPeerConcurrency),
		"default_compression":          manifest.CompressionNone,
		"default_snapshot_method":      manifest.MethodStream,
		"default_lease_ttl":            config.Duration(lease.DefaultTTL),
		"default_stall_timeout":        config.Duration(backup.DefaultStallTimeout),
		"default_sample_size":          strconv.Itoa(backup.DefaultSampleSize),
		"default_prestart_streams":     strconv.Itoa(backup.DefaultPrestartStreams),
		"default_orphan_grace":         config.Duration(prune.DefaultOrphanGrace),
		"default_plan_wait":            config.Duration(backup.DefaultPlanWait),
		"default_parts_wait":           config.Duration(backup.DefaultPartsWait),
		"default_transfer":             string(restore.TransferUpload),
		"default_parallel":             strconv.Itoa(restore.DefaultParallel),
		"default_wait_timeout":         config.Duration(restore.DefaultWaitTimeout),
		"default_transfer_timeout":     config.Duration(restore.DefaultTransferTimeout),
		"default_transfer_limit":       strconv.Itoa(restore.DefaultTransferLimit),
	}
	maps.Copy(v, config.DefaultVars())
	return v
}

// progressEvery is how often a running backup or restore logs its progress
// line; kubectl qbackup ... --wait shows these lines as they come.
const progressEvery = 10 * time.Second
