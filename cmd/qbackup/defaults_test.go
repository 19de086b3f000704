package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/backup"
	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/prune"
	"github.com/qbackup/qbackup/internal/restore"
	"github.com/qbackup/qbackup/internal/storage"
)

// A flag left out gives the run what the engine does with a zero option:
// the flags' defaults are the engines' constants, read back as values.
func TestFlagDefaultsAreTheEnginesDefaults(t *testing.T) {
	defaults := flagDefaults(t)
	durations := []struct {
		flag string
		want time.Duration
	}{
		{"lease-ttl", lease.DefaultTTL},
		{"stall-timeout", backup.DefaultStallTimeout},
		{"orphan-grace", prune.DefaultOrphanGrace},
		{"plan-wait", backup.DefaultPlanWait},
		{"parts-wait", backup.DefaultPartsWait},
		{"wait-timeout", restore.DefaultWaitTimeout},
		{"transfer-timeout", restore.DefaultTransferTimeout},
		{"s3-timeout", storage.DefaultS3Timeout},
		{"catalog-timeout", catalog.DefaultTimeout},
	}
	for _, tt := range durations {
		got, err := time.ParseDuration(defaults[tt.flag])
		if err != nil || got != tt.want {
			t.Errorf("--%s defaults to %q, the engine to %s", tt.flag, defaults[tt.flag], tt.want)
		}
	}
	values := map[string]string{
		"concurrency":          strconv.Itoa(backup.DefaultConcurrency),
		"per-peer-concurrency": strconv.Itoa(backup.DefaultPerPeerConcurrency),
		"sample-size":          strconv.Itoa(backup.DefaultSampleSize),
		"prestart-streams":     strconv.Itoa(backup.DefaultPrestartStreams),
		"parallel":             strconv.Itoa(restore.DefaultParallel),
		"transfer":             string(restore.TransferUpload),
		"s3-max-attempts":      strconv.Itoa(storage.DefaultMaxAttempts),
		"s3-region":            storage.DefaultRegion,
		"selector":             discovery.DefaultSelector,
	}
	for flag, want := range values {
		if defaults[flag] != want {
			t.Errorf("--%s defaults to %q, the engine to %q", flag, defaults[flag], want)
		}
	}
}
