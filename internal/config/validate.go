package config

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The checks below are the validation layer both binaries share: every
// command's Validate (called by the parser after flags and variables are
// read, before Run) is made of them, so a bad value is refused with exit
// code 2 before anything is read from or written to storage, the catalogue
// or the cluster. Each message names the flag, its variable, what is wrong
// and what to use instead.

// Check is one validation; nil means the value is fine.
type Check func() error

// All runs checks in order and returns the first failure.
func All(checks ...Check) error {
	for _, c := range checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

// IntAtLeast refuses v < lo; hi > 0 also refuses v > hi (why says why
// there is a ceiling).
func IntAtLeast(flag, env string, v, lo, hi int, why string) Check {
	return func() error {
		if v < lo {
			return Invalidf("--%s %d (%s): must be at least %d", flag, v, env, lo)
		}
		if hi > 0 && v > hi {
			return Invalidf("--%s %d (%s): must be at most %d (%s)", flag, v, env, hi, why)
		}
		return nil
	}
}

// DurationAtLeast refuses d < lo.
func DurationAtLeast(flag, env string, d, lo time.Duration, what string) Check {
	return func() error {
		if d < lo {
			if lo == 0 {
				return Invalidf("--%s %s (%s): a duration cannot be negative: use 0 for %s, or e.g. 30s, 5m", flag, d, env, what)
			}
			return Invalidf("--%s %s (%s): must be at least %s (%s), e.g. 30s or 5m", flag, d, env, lo, what)
		}
		return nil
	}
}

// maxClusterNameBytes is the width of the cluster column of the catalogue
// (VARCHAR(191), internal/catalog/migrations); a longer name could be
// written to storage but never indexed.
const maxClusterNameBytes = 191

// ClusterName checks the logical cluster name of --cluster.
func ClusterName(name string) Check { return ClusterNameAs("--cluster", name) }

// ClusterNameAs checks the logical cluster name given with flag.
func ClusterNameAs(flag, name string) Check {
	return func() error {
		fix := fmt.Sprintf("name the cluster with %s (QBACKUP_CLUSTER), e.g. %s=prod", flag, flag)
		switch {
		case name == "":
			return Invalidf("%s is empty: %s", flag, fix)
		case strings.TrimSpace(name) != name:
			return Invalidf("%s %q has leading or trailing spaces: %s", flag, name, fix)
		case len(name) > maxClusterNameBytes:
			return Invalidf("%s is %d bytes long, at most %d fit in the catalogue: use a shorter name", flag, len(name), maxClusterNameBytes)
		case !utf8.ValidString(name):
			return Invalidf("%s %q is not valid UTF-8: %s", flag, name, fix)
		}
		for _, r := range name {
			if unicode.IsControl(r) {
				return Invalidf("%s %q contains a control character: %s", flag, name, fix)
			}
		}
		return nil
	}
}

// SecretsHelp names the secret variables; commands that use them end their
// --help with it, because secrets are never flags and --help would
// otherwise not mention them.
const SecretsHelp = `Secrets come from the environment only (never flags), each also as a
*_FILE variable naming a file that holds it (a mounted Secret):
  QBACKUP_QDRANT_API_KEY   Qdrant API key (sent as api-key)
  QBACKUP_CATALOG_DSN      catalogue, user:password@tcp(host:4000)/qbackup;
                           without it storage alone is used
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or any AWS default-chain source)
                           S3 credentials`

// StorageSecretsHelp is SecretsHelp for commands that do not talk to
// Qdrant.
const StorageSecretsHelp = `Secrets come from the environment only (never flags), each also as a
*_FILE variable naming a file that holds it (a mounted Secret):
  QBACKUP_CATALOG_DSN      catalogue, user:password@tcp(host:4000)/qbackup;
                           without it storage alone is used
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or any AWS default-chain source)
                           S3 credentials`
