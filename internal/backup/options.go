package backup

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// Defaults applied by Run to zero options; the CLI shows the same ones.
const (
	DefaultConcurrency        = 4
	DefaultPerPeerConcurrency = 2
	DefaultSampleSize         = 64
	// DefaultDownloadAttempts bounds the reconnects of a stored snapshot
	// download after dropped connections.
	DefaultDownloadAttempts = 5
)

// Options of one backup run.
type Options struct {
	// Cluster names the cluster in storage and catalog.
	Cluster string
	// Collections limits the set to these collections (or aliases); empty
	// means all. An unknown name fails the run before anything is written.
	Collections []string
	// Concurrency bounds the shards snapshotted at once, cluster-wide.
	Concurrency int
	// PerPeerConcurrency bounds the shards snapshotted at once per peer.
	PerPeerConcurrency int
	// Compression is manifest.CompressionNone (default) or CompressionZstd.
	Compression string
	// SnapshotMethod is manifest.MethodStream (default) or MethodStored.
	SnapshotMethod string
	// WriteLock takes Qdrant's global write lock (1.15 POST /locks) while
	// the snapshots are being started, and always releases it.
	WriteLock bool
	// AllowPartial records shards without an Active replica as missing
	// and marks the set partial instead of failing it.
	AllowPartial bool
	// Holder names this run in locks and the catalog; default host:pid.
	Holder string
	// LeaseTTL is the lock lifetime; it is renewed every third of it.
	LeaseTTL time.Duration
	// LeaseWait is how long to wait for a lock another run holds.
	LeaseWait time.Duration
	// SampleSize is the number of points per collection whose digest is
	// recorded for restore verification; negative disables sampling.
	SampleSize int
	// DownloadAttempts bounds reconnects of stored snapshot downloads.
	DownloadAttempts int
	// StallTimeout fails a shard whose snapshot download delivers no byte
	// for this long; default DefaultStallTimeout.
	StallTimeout time.Duration
	// ToolVersion is recorded in the manifest.
	ToolVersion string
	// ObjectLockMode (storage.RetentionGovernance or RetentionCompliance)
	// and ObjectLockDays put every object of the set (shards and
	// manifest) under S3 Object Lock retention for that many days from the
	// start of the backup; "" and 0 for none. The store must be a
	// storage.Retainer.
	ObjectLockMode string
	ObjectLockDays int
	// Encrypt, when set, encrypts every shard object with age to these
	// recipients, after compression, as it streams to storage. The
	// manifest records the recipients' public keys and stays readable.
	Encrypt *crypt.Recipients
	// EncryptManifest stores the manifest encrypted to the recipients of
	// Encrypt too (manifest.EncryptedManifestName), with its readable
	// part (manifest.Public) as the commit marker, and names the shard
	// objects without their collections; it needs Encrypt.
	EncryptManifest bool
	// PrestartStreams is how many snapshot streams (method stream) are
	// opened together before any is transferred, so the shards of the set
	// start at nearly the same moment; 0 means DefaultPrestartStreams,
	// negative opens each stream when its transfer starts.
	PrestartStreams int
	// PrestartMaxWait is how long a stream opened ahead may wait for its
	// transfer before it is opened again; default DefaultPrestartMaxWait.
	PrestartMaxWait time.Duration
	// Started, when set, is told the set's id and start once the run
	// holds the cluster lock, before anything is written: a caller can
	// then name the set a failed run leaves behind.
	Started func(backupID string, start time.Time)

	// Workers > 1 takes the set with that many workers, one process each
	// (the pods of a Kubernetes Indexed Job), coordinated through storage
	// and the catalog only (see workers.go); 0 or 1 is a single run.
	Workers int
	// WorkerIndex is this worker's index, 0 to Workers-1 (the Job's
	// completion index). Worker 0 plans, holds the cluster lock and
	// commits.
	WorkerIndex int
	// SetID names the set all workers of one run share (the Job's uid);
	// required with Workers > 1.
	SetID string
	// PlanWait bounds how long a worker waits for worker 0's plan;
	// default DefaultPlanWait.
	PlanWait time.Duration
	// PartsWait bounds how long worker 0 waits for the other workers'
	// parts after its own; default DefaultPartsWait.
	PartsWait time.Duration
	// FinalAttempt: the Job will not retry this worker's index, so its
	// failure fails the set at once.
	FinalAttempt bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Cluster == "" {
		return o, errors.New("backup: cluster name is empty")
	}
	switch {
	case o.ObjectLockMode == "" && o.ObjectLockDays != 0:
		return o, fmt.Errorf("backup: object lock of %d days without a mode", o.ObjectLockDays)
	case o.ObjectLockMode != "" && o.ObjectLockMode != storage.RetentionGovernance && o.ObjectLockMode != storage.RetentionCompliance:
		return o, fmt.Errorf("backup: object lock mode %q: want %s or %s", o.ObjectLockMode, storage.RetentionGovernance, storage.RetentionCompliance)
	case o.ObjectLockMode != "" && o.ObjectLockDays < 1:
		return o, fmt.Errorf("backup: object lock mode %s needs at least 1 day of retention", o.ObjectLockMode)
	}
	if o.EncryptManifest && o.Encrypt == nil {
		return o, ErrEncryptManifestWithoutRecipients
	}
	if o.Workers == 0 {
		o.Workers = 1
	}
	if err := o.validateWorkers(); err != nil {
		return o, err
	}
	if o.PlanWait <= 0 {
		o.PlanWait = DefaultPlanWait
	}
	if o.PartsWait <= 0 {
		o.PartsWait = DefaultPartsWait
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.PerPeerConcurrency <= 0 {
		o.PerPeerConcurrency = DefaultPerPeerConcurrency
	}
	if o.PerPeerConcurrency > o.Concurrency {
		o.PerPeerConcurrency = o.Concurrency
	}
	switch o.Compression {
	case "":
		o.Compression = manifest.CompressionNone
	case manifest.CompressionNone, manifest.CompressionZstd:
	default:
		return o, fmt.Errorf("backup: compression %q: want %q or %q", o.Compression, manifest.CompressionNone, manifest.CompressionZstd)
	}
	switch o.SnapshotMethod {
	case "":
		o.SnapshotMethod = manifest.MethodStream
	case manifest.MethodStream, manifest.MethodStored:
	default:
		return o, fmt.Errorf("backup: snapshot method %q: want %q or %q", o.SnapshotMethod, manifest.MethodStream, manifest.MethodStored)
	}
	if o.Holder == "" {
		host, _ := os.Hostname()
		o.Holder = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = lease.DefaultTTL // the cluster lock's, shared with restores
	}
	if o.SampleSize == 0 {
		o.SampleSize = DefaultSampleSize
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.DownloadAttempts <= 0 {
		o.DownloadAttempts = DefaultDownloadAttempts
	}
	if o.PrestartStreams == 0 {
		o.PrestartStreams = DefaultPrestartStreams
	}
	if o.PrestartMaxWait <= 0 {
		o.PrestartMaxWait = DefaultPrestartMaxWait
	}
	return o, nil
}

// ErrEncryptManifestWithoutRecipients: the manifest is to be encrypted
// and no recipient is given to encrypt it to.
var ErrEncryptManifestWithoutRecipients = errors.New("backup: the manifest is to be encrypted but no recipient is given")

// Result describes a committed set, or (Part not nil, Manifest nil) the
// part a worker other than 0 stored of a multi-worker set.
type Result struct {
	Part        *PartResult
	Manifest    *manifest.Manifest
	ManifestKey string
	// Missing lists the shards left out of a partial set.
	Missing []Unavailable
	Bytes   int64
	Elapsed time.Duration
}
