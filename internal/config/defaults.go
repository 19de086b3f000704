package config

import (
	"strconv"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/storage"
)

// DefaultVars are the values of the ${...} in the default and help tags
// of Source and Discovery: the packages' own defaults, so --help shows
// what a run does without the flag and the two cannot drift. The parser
// of a command that embeds them must be given these (kong.Vars).
func DefaultVars() map[string]string {
	return map[string]string{
		"default_s3_region":       storage.DefaultRegion,
		"default_s3_max_attempts": strconv.Itoa(storage.DefaultMaxAttempts),
		"default_s3_timeout":      Duration(storage.DefaultS3Timeout),
		"default_catalog_timeout": Duration(catalog.DefaultTimeout),
		"default_selector":        discovery.DefaultSelector,
		"default_grpc_port":       strconv.Itoa(discovery.DefaultGRPCPort),
	}
}

// Duration writes d as a flag default is written: 2m, 24h, 1h30m, 30s
// rather than time.Duration's 2m0s and 24h0m0s.
func Duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
