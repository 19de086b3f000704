package config

import (
	"fmt"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/qbackup/qbackup/internal/storage"
)

// The checks below are the validation layer both binaries share: every
// command's Validate (called by the parser after flags and variables are
// read, before Run) is made of them, so a bad value is refused with exit
// code 2 before anything is read from or written to storage, the catalog
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

// maxClusterNameBytes is the width of the cluster column of the catalog
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
			return Invalidf("%s is %d bytes long, at most %d fit in the catalog: use a shorter name", flag, len(name), maxClusterNameBytes)
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

// SSE checks --s3-sse and --s3-sse-kms-key-id against each other and the
// storage URL: server-side encryption is S3's, a file store has none.
func SSE(mode, kmsKeyID, storageURL string) Check {
	return func() error {
		switch mode {
		case "", storage.SSEAES256, storage.SSEKMS:
		default:
			return Invalidf("--s3-sse %q (QBACKUP_S3_SSE): use AES256 (keys managed by the store) or aws:kms (a KMS key, see --s3-sse-kms-key-id); for SSE-C set the secret QBACKUP_S3_SSE_C_KEY instead", mode)
		}
		if kmsKeyID != "" && mode != storage.SSEKMS {
			return Invalidf("--s3-sse-kms-key-id (QBACKUP_S3_SSE_KMS_KEY_ID) is set but --s3-sse is %q: it only applies to --s3-sse=aws:kms", mode)
		}
		if mode != "" && strings.HasPrefix(storageURL, "file:") {
			return Invalidf("--s3-sse %s (QBACKUP_S3_SSE) applies to s3:// storage only, not %s: unset it, or encrypt the file system", mode, storageURL)
		}
		return nil
	}
}

// maxObjectLockDays bounds --object-lock-days: a century is certainly a
// typo, and a COMPLIANCE lock cannot be shortened by anyone.
const maxObjectLockDays = 36500

// ObjectLock checks --object-lock-mode and --object-lock-days: both or
// neither, a mode S3 knows, at least a day, and s3:// storage.
func ObjectLock(mode string, days int, storageURL string) Check {
	return func() error {
		switch mode {
		case "":
			if days != 0 {
				return Invalidf("--object-lock-days %d (QBACKUP_OBJECT_LOCK_DAYS) needs --object-lock-mode (QBACKUP_OBJECT_LOCK_MODE) GOVERNANCE or COMPLIANCE", days)
			}
			return nil
		case storage.RetentionGovernance, storage.RetentionCompliance:
		default:
			return Invalidf("--object-lock-mode %q (QBACKUP_OBJECT_LOCK_MODE): use GOVERNANCE (users with s3:BypassGovernanceRetention may still delete) or COMPLIANCE (no one can, not even the account's root, until the date)", mode)
		}
		if days < 1 || days > maxObjectLockDays {
			return Invalidf("--object-lock-days %d (QBACKUP_OBJECT_LOCK_DAYS): --object-lock-mode %s needs 1 to %d days", days, mode, maxObjectLockDays)
		}
		if strings.HasPrefix(storageURL, "file:") {
			return Invalidf("--object-lock-mode %s (QBACKUP_OBJECT_LOCK_MODE) needs s3:// storage in a bucket with Object Lock enabled, not %s", mode, storageURL)
		}
		return nil
	}
}

// StorageEncryption is the server-side encryption of src's store: the
// mode of --s3-sse, or SSE-C with the key of the secrets. It refuses both
// at once (S3 does), SSE-C on a file store, and SSE-C over plain http (S3
// accepts the key over TLS only, and it would cross the network in
// clear).
func StorageEncryption(src Source, sec Secrets) (storage.Encryption, error) {
	if err := SSE(src.S3SSE, src.S3SSEKMSKeyID, src.Storage)(); err != nil {
		return storage.Encryption{}, err
	}
	enc := storage.Encryption{Mode: src.S3SSE, KMSKeyID: src.S3SSEKMSKeyID, CustomerKey: sec.SSECustomerKey}
	if enc.CustomerKey == nil {
		return enc, nil
	}
	switch {
	case src.S3SSE != "":
		return storage.Encryption{}, Invalidf("--s3-sse %s (QBACKUP_S3_SSE) and the SSE-C key of QBACKUP_S3_SSE_C_KEY are both set: S3 takes one kind of server-side encryption per object: keep one", src.S3SSE)
	case strings.HasPrefix(src.Storage, "file:"):
		return storage.Encryption{}, Invalidf("QBACKUP_S3_SSE_C_KEY is set but --storage (QBACKUP_STORAGE) is %s: SSE-C applies to s3:// storage only: unset it", src.Storage)
	case strings.HasPrefix(strings.ToLower(src.S3Endpoint), "http://"):
		return storage.Encryption{}, Invalidf("QBACKUP_S3_SSE_C_KEY is set but --s3-endpoint (QBACKUP_S3_ENDPOINT) %s is plain http: S3 accepts an SSE-C key over https only (the key is sent with every request): use https://", redact(src.S3Endpoint))
	}
	return enc, nil
}

// SecretsHelp names the secret variables; commands that use them end their
// --help with it, because secrets are never flags and --help would
// otherwise not mention them.
const SecretsHelp = `Secrets come from the environment only (never flags), each also as a
*_FILE variable naming a file that holds it (a mounted Secret):
  QBACKUP_QDRANT_API_KEY   Qdrant API key (sent as api-key)
  QBACKUP_CATALOG_DSN      catalog, user:password@tcp(host:4000)/qbackup;
                           without it storage alone is used
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or any AWS default-chain source)
                           S3 credentials
  QBACKUP_S3_SSE_C_KEY     S3 SSE-C key, base64 of 32 random bytes
                           (openssl rand -base64 32); needed to read too
  QBACKUP_AGE_IDENTITY     age secret key(s) (AGE-SECRET-KEY-1..., age-keygen)
                           that open sets written with --encrypt-recipient,
                           and their manifests with --encrypt-manifest`

// StorageSecretsHelp is SecretsHelp for commands that do not talk to
// Qdrant.
const StorageSecretsHelp = `Secrets come from the environment only (never flags), each also as a
*_FILE variable naming a file that holds it (a mounted Secret):
  QBACKUP_CATALOG_DSN      catalog, user:password@tcp(host:4000)/qbackup;
                           without it storage alone is used
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or any AWS default-chain source)
                           S3 credentials
  QBACKUP_S3_SSE_C_KEY     S3 SSE-C key, base64 of 32 random bytes
                           (openssl rand -base64 32); needed to read too
  QBACKUP_AGE_IDENTITY     age secret key(s) (AGE-SECRET-KEY-1..., age-keygen)
                           that open sets written with --encrypt-recipient,
                           and their manifests with --encrypt-manifest`

// Where a restore keeps its journal (restore --journal, QBACKUP_JOURNAL):
// the per-shard progress that lets a rerun resume.
const (
	// JournalAuto: the catalog when one is configured, else the backup
	// store; a store that refuses the write (read-only, object-locked,
	// full) is reported at start and the restore goes on without resume.
	JournalAuto = "auto"
	// JournalCatalog: the catalog (QBACKUP_CATALOG_DSN is required).
	JournalCatalog = "catalog"
	// JournalStore: the backup store; a refused write fails the restore.
	JournalStore = "store"
	// JournalFile: a separate writable directory, file:///abs/path.
	JournalFile = "file"
	// JournalNone: no journal; a rerun starts over.
	JournalNone = "none"
)

// Journal is a parsed --journal value.
type Journal struct {
	Mode string // one of the Journal* constants
	Dir  string // the directory of JournalFile
}

// ParseJournal parses --journal: auto, catalog, store, none or
// file:///abs/path.
func ParseJournal(v string) (Journal, error) {
	const fix = "use auto, catalog, store, none or file:///abs/path (a writable directory)"
	switch v {
	case JournalAuto, JournalCatalog, JournalStore, JournalNone:
		return Journal{Mode: v}, nil
	case "":
		return Journal{}, Invalidf("--journal is empty (QBACKUP_JOURNAL): %s", fix)
	}
	dir, ok := strings.CutPrefix(v, "file://")
	if !ok {
		return Journal{}, Invalidf("--journal %q (QBACKUP_JOURNAL) is not a journal location: %s", v, fix)
	}
	switch {
	case !strings.HasPrefix(dir, "/"):
		return Journal{}, Invalidf("--journal %q (QBACKUP_JOURNAL): the path must be absolute, file:///abs/path (three slashes)", v)
	case strings.ContainsAny(dir, "?#"):
		return Journal{}, Invalidf("--journal %q (QBACKUP_JOURNAL): query and fragment are not supported: %s", v, fix)
	case path.Clean(dir) != dir && path.Clean(dir)+"/" != dir:
		return Journal{}, Invalidf("--journal %q (QBACKUP_JOURNAL): the path must be clean (no \".\", \"..\" or \"//\"), e.g. file://%s", v, path.Clean(dir))
	case path.Clean(dir) == "/":
		return Journal{}, Invalidf("--journal %q (QBACKUP_JOURNAL): name a directory for the journal, not the root, e.g. file:///var/lib/qbackup-journal", v)
	}
	return Journal{Mode: JournalFile, Dir: path.Clean(dir)}, nil
}

// JournalFlag checks --journal.
func JournalFlag(v string) Check {
	return func() error { _, err := ParseJournal(v); return err }
}

// CollectionList checks a list of collection names (--collections): no
// empty entry (a stray comma) and no surrounding spaces ("a, b" names
// " b", which no collection is called).
func CollectionList(flag, env string, names []string) Check {
	return func() error {
		for i, n := range names {
			switch {
			case n == "":
				return Invalidf("--%s (%s): entry %d is empty: separate names with single commas, e.g. --%s=docs,images", flag, env, i+1, flag)
			case strings.TrimSpace(n) != n:
				return Invalidf("--%s (%s): %q has leading or trailing spaces: separate names with commas only, e.g. --%s=docs,images", flag, env, n, flag)
			}
		}
		return nil
	}
}

// RebalanceJournal checks --journal of qbackup rebalance: as a restore's,
// except that the catalog does not keep rebalance journals.
func RebalanceJournal(v string) Check {
	return func() error {
		j, err := ParseJournal(v)
		if err != nil {
			return err
		}
		if j.Mode == JournalCatalog {
			return Invalidf("--journal=catalog (QBACKUP_JOURNAL): a rebalance keeps its journal in the backup store, not the catalog: use auto, store, file:///writable/dir or none")
		}
		return nil
	}
}
