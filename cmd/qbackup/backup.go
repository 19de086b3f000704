package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/qbackup/qbackup/internal/backup"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/printer"
	"github.com/qbackup/qbackup/internal/prune"
	"github.com/qbackup/qbackup/internal/workerset"
)

type backupCmd struct {
	config.Source    `embed:""`
	config.Discovery `embed:""`
	retentionFlags   `embed:""`

	Collections        []string      `name:"collections" env:"QBACKUP_COLLECTIONS" sep:"," help:"Back up only these collections (or aliases); default all."`
	Concurrency        int           `name:"concurrency" env:"QBACKUP_CONCURRENCY" default:"${default_concurrency}" help:"Shards snapshotted at once, cluster-wide."`
	PerPeerConcurrency int           `name:"per-peer-concurrency" env:"QBACKUP_PER_PEER_CONCURRENCY" default:"${default_per_peer_concurrency}" help:"Shards snapshotted at once on one peer."`
	Compression        string        `name:"compression" env:"QBACKUP_COMPRESSION" enum:"none,zstd" default:"${default_compression}" help:"Compress snapshot objects: none or zstd."`
	SnapshotMethod     string        `name:"snapshot-method" env:"QBACKUP_SNAPSHOT_METHOD" enum:"stream,stored" default:"${default_snapshot_method}" help:"stream: Qdrant's streaming shard snapshot (no disk on the peer); stored: create, download (resumable), delete."`
	WriteLock          bool          `name:"write-lock" env:"QBACKUP_WRITE_LOCK" help:"Lock writes on every Qdrant peer while snapshots start (Qdrant 1.15 and older only); every peer is unlocked afterwards, and one that cannot be fails the run."`
	AllowPartial       bool          `name:"allow-partial" env:"QBACKUP_ALLOW_PARTIAL" help:"Record shards without an Active replica as missing instead of failing; a partial set never counts as a good backup."`
	LeaseTTL           time.Duration `name:"lease-ttl" env:"QBACKUP_LEASE_TTL" default:"${default_lease_ttl}" help:"Lifetime of the cluster lock (shared with restores); renewed while the backup runs. A run that dies leaves its lock until it expires."`
	LeaseWait          time.Duration `name:"lease-wait" env:"QBACKUP_LEASE_WAIT" default:"0s" help:"Wait this long for a cluster lock another run holds (e.g. a killed run's, until it expires) instead of exiting 3 at once."`
	StallTimeout       time.Duration `name:"stall-timeout" env:"QBACKUP_STALL_TIMEOUT" default:"${default_stall_timeout}" help:"Fail a shard whose snapshot download delivers no byte for this long (the set then fails)."`
	PrestartStreams    int           `name:"prestart-streams" env:"QBACKUP_PRESTART_STREAMS" default:"${default_prestart_streams}" help:"Snapshot streams (--snapshot-method stream) opened together before any is transferred, so every shard of the set starts at nearly the same moment; 0 opens each when its transfer starts."`
	SampleSize         int           `name:"sample-size" env:"QBACKUP_SAMPLE_SIZE" default:"${default_sample_size}" help:"Points per collection whose content digest is recorded for restore verification."`
	Prune              bool          `name:"prune" env:"QBACKUP_PRUNE" help:"Apply the retention rules after a successful backup."`
	MigrateCatalog     bool          `name:"migrate-catalog" env:"QBACKUP_MIGRATE_CATALOG" help:"Create or upgrade the catalog schema before starting."`
	ObjectLockMode     string        `name:"object-lock-mode" env:"QBACKUP_OBJECT_LOCK_MODE" help:"Put every object of the set under S3 Object Lock retention: GOVERNANCE or COMPLIANCE (the bucket must have Object Lock enabled); with --object-lock-days."`
	ObjectLockDays     int           `name:"object-lock-days" env:"QBACKUP_OBJECT_LOCK_DAYS" default:"0" help:"Days from the backup's start during which no object of the set can be deleted or overwritten (prune keeps the set until then)."`
	// EncryptRecipients are public keys, so a flag and a ConfigMap may
	// hold them; the identities that decrypt are secrets (Secrets).
	EncryptRecipients []string `name:"encrypt-recipient" env:"QBACKUP_ENCRYPT_RECIPIENTS" sep:"," help:"Encrypt every shard object with age to this X25519 public key (age1..., from age-keygen), or to each key in this file (one per line, # comments); repeatable. Restore and verify then need the matching secret key in QBACKUP_AGE_IDENTITY or QBACKUP_AGE_IDENTITY_FILE."`
	EncryptManifest   bool     `name:"encrypt-manifest" env:"QBACKUP_ENCRYPT_MANIFEST" help:"Also encrypt the set's manifest (collections, their configuration and payload schema, sample digests) to the --encrypt-recipient keys, as manifest.json.age. Without the key, list and prune still see the set's id, time, status and size; describe, verify and restore need the key."`
	config.Output     `embed:""`

	// Several workers: the pods of an Indexed Job (see the README's
	// "Backup across several pods").
	Workers       int           `name:"workers" env:"QBACKUP_WORKERS" default:"1" help:"Take the set with this many workers, one pod each (a Kubernetes Indexed Job with as many completions); 1 is a single run."`
	WorkerIndex   int           `name:"worker-index" env:"JOB_COMPLETION_INDEX" default:"0" help:"This worker's index, 0 to --workers minus 1; in an Indexed Job, Kubernetes sets JOB_COMPLETION_INDEX. Worker 0 plans, holds the cluster lock and commits."`
	SetID         string        `name:"set-id" env:"QBACKUP_SET_ID" help:"Names the set all workers of one run share; required with --workers above 1. The Job passes its uid (label batch.kubernetes.io/controller-uid) through the downward API."`
	PlanWait      time.Duration `name:"plan-wait" env:"QBACKUP_PLAN_WAIT" default:"${default_plan_wait}" help:"How long a worker waits for worker 0's plan."`
	PartsWait     time.Duration `name:"parts-wait" env:"QBACKUP_PARTS_WAIT" default:"${default_parts_wait}" help:"How long worker 0 waits for the other workers' parts after its own; then the set fails."`
	WorkerRetries int           `name:"worker-retries" env:"QBACKUP_WORKER_RETRIES" default:"0" help:"Retries the Job gives each index (its backoffLimitPerIndex): a worker that fails with none left fails the set at once."`
	// WorkerFailures is a string: the downward API gives "" for an
	// annotation a pod lacks, which counts as none.
	WorkerFailures string `name:"worker-failures" env:"QBACKUP_WORKER_FAILURES" help:"Earlier failures of this index (the pod annotation batch.kubernetes.io/job-index-failure-count, through the downward API); empty is 0."`

	parsed *parsedRecipients
}

// Bounds of the backup flags, with why there is a ceiling.
const (
	// maxConcurrency: every shard in flight holds its upload buffers
	// (16 MiB × 3 by default, see the README's memory note) and one
	// snapshot stream on a peer; beyond this the peers, not qbackup, are
	// the limit.
	maxConcurrency = 256
	// maxPrestartStreams: each stream opened ahead holds a proxied shard
	// on its peer and a connection until its transfer.
	maxPrestartStreams = 4096
	// maxSampleSize: the sample is read in one scroll request with
	// payloads and vectors and held in memory.
	maxSampleSize = 10000
	// maxWorkers: every worker polls storage for the set's records and
	// the plan lists every shard with its worker; beyond this the
	// peers, not the workers, are the limit.
	maxWorkers = 256
)

// Validate runs before anything is contacted (see config.All).
func (c *backupCmd) Validate() error {
	return config.All(
		c.retentionFlags.Validate,
		config.IntAtLeast("concurrency", "QBACKUP_CONCURRENCY", c.Concurrency, 1, maxConcurrency, "each shard in flight holds its own buffers"),
		config.IntAtLeast("per-peer-concurrency", "QBACKUP_PER_PEER_CONCURRENCY", c.PerPeerConcurrency, 1, maxConcurrency, "each shard in flight holds its own buffers"),
		config.ObjectLock(c.ObjectLockMode, c.ObjectLockDays, c.Storage),
		func() error { _, err := c.recipients(); return err },
		func() error {
			if c.EncryptManifest && len(c.EncryptRecipients) == 0 {
				return config.Invalidf("--encrypt-manifest (QBACKUP_ENCRYPT_MANIFEST) encrypts the manifest to the recipients of the shard objects, and no --encrypt-recipient (QBACKUP_ENCRYPT_RECIPIENTS) is given: add the age public keys to encrypt to, or drop --encrypt-manifest")
			}
			return nil
		},
		c.validateWorkers,
		config.DurationAtLeast("lease-ttl", "QBACKUP_LEASE_TTL", c.LeaseTTL, time.Second, "the lock is renewed every third of it"),
		config.DurationAtLeast("lease-wait", "QBACKUP_LEASE_WAIT", c.LeaseWait, 0, "no waiting"),
		config.IntAtLeast("prestart-streams", "QBACKUP_PRESTART_STREAMS", c.PrestartStreams, 0, maxPrestartStreams, "each holds a proxied shard on its peer until its transfer"),
		config.DurationAtLeast("stall-timeout", "QBACKUP_STALL_TIMEOUT", c.StallTimeout, time.Second, "a snapshot stream pauses between chunks"),
		func() error {
			// No samples would leave a restore nothing to compare the
			// restored content with: refuse rather than silently
			// verifying nothing.
			if c.SampleSize == 0 {
				return config.Invalidf("--sample-size 0 (QBACKUP_SAMPLE_SIZE) would record no points, so a restore could not verify the content: use at least 1 (default %d)", backup.DefaultSampleSize)
			}
			return config.IntAtLeast("sample-size", "QBACKUP_SAMPLE_SIZE", c.SampleSize, 1, maxSampleSize, "the sample is read in one request and held in memory")()
		},
	)
}

// validateWorkers checks the multi-worker flags.
func (c *backupCmd) validateWorkers() error {
	if err := config.IntAtLeast("workers", "QBACKUP_WORKERS", c.Workers, 1, maxWorkers, "each worker polls storage and the plan lists every shard")(); err != nil {
		return err
	}
	switch {
	case c.WorkerIndex < 0 || c.WorkerIndex >= c.Workers:
		return config.Invalidf("--worker-index %d (JOB_COMPLETION_INDEX): must be 0 to %d for --workers %d (QBACKUP_WORKERS): give the Job as many completions as workers", c.WorkerIndex, c.Workers-1, c.Workers)
	case c.Workers == 1:
		return nil
	case c.SetID == "":
		return config.Invalidf("--workers %d (QBACKUP_WORKERS) needs --set-id (QBACKUP_SET_ID), the same for every worker of the set: in a Job, the Job's uid from the downward API (see kustomize/components/indexed-backup)", c.Workers)
	case !workerset.ValidSetID(c.SetID):
		return config.Invalidf("--set-id %q (QBACKUP_SET_ID): use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", c.SetID)
	case c.EncryptManifest:
		return config.Invalidf("--encrypt-manifest (QBACKUP_ENCRYPT_MANIFEST) cannot be used with --workers %d: the plan the workers share would name the collections in clear; use --workers 1 or drop --encrypt-manifest", c.Workers)
	case c.WriteLock:
		return config.Invalidf("--write-lock (QBACKUP_WRITE_LOCK) cannot be used with --workers %d: one worker could unlock writes while another starts its snapshots; use --workers 1 or drop --write-lock", c.Workers)
	}
	return config.All(
		config.DurationAtLeast("plan-wait", "QBACKUP_PLAN_WAIT", c.PlanWait, time.Second, "worker 0 reads the whole cluster first"),
		config.DurationAtLeast("parts-wait", "QBACKUP_PARTS_WAIT", c.PartsWait, time.Second, "as long as a share can take"),
		config.IntAtLeast("worker-retries", "QBACKUP_WORKER_RETRIES", c.WorkerRetries, 0, 0, ""),
		func() error {
			if _, err := c.workerFailures(); err != nil {
				return config.Invalidf("--worker-failures %q (QBACKUP_WORKER_FAILURES): want a count, 0 or more (the Job's batch.kubernetes.io/job-index-failure-count annotation)", c.WorkerFailures)
			}
			return nil
		},
	)
}

// workerFailures is --worker-failures as a count.
func (c *backupCmd) workerFailures() (int, error) {
	if c.WorkerFailures == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(c.WorkerFailures)
	if err == nil && n < 0 {
		err = errors.New("negative")
	}
	return n, err
}

// recipients parses --encrypt-recipient once (Validate, then Run; a
// recipient may be a file); nil without.
func (c *backupCmd) recipients() (*crypt.Recipients, error) {
	if c.parsed == nil {
		c.parsed = &parsedRecipients{}
		if len(c.EncryptRecipients) > 0 {
			r, err := crypt.ParseRecipients(c.EncryptRecipients)
			if err != nil {
				err = config.Invalidf("--encrypt-recipient (QBACKUP_ENCRYPT_RECIPIENTS): %w", err)
			}
			c.parsed.r, c.parsed.err = r, err
		}
	}
	return c.parsed.r, c.parsed.err
}

// parsedRecipients is the outcome of parsing --encrypt-recipient.
type parsedRecipients struct {
	r   *crypt.Recipients
	err error
}

func (c *backupCmd) Help() string {
	return `Takes one logical backup set of the whole cluster: every shard of every
collection, one Active replica each, in parallel, streamed to storage. The
manifest is written last; a set without one does not exist.
In a pod, the committed set's summary is then recorded in a ConfigMap of
the namespace, for kubectl qbackup (a failed write is a warning).

Examples:
  # In a pod (the CronJob): everything from QBACKUP_* variables.
  qbackup backup

  # Outside Kubernetes, to a local folder.
  qbackup backup --discovery=static --qdrant-url=http://10.0.0.1:6333 \
    --qdrant-url=http://10.0.0.2:6333 --storage=file:///backups --cluster=prod

  # Encrypted on the client for two keys (restore needs one secret key).
  qbackup backup --encrypt-recipient=age1... --encrypt-recipient=/etc/qbackup/recipients.txt

  # The manifest encrypted too: listing and prune need no key.
  qbackup backup --encrypt-recipient=age1... --encrypt-manifest

` + config.SecretsHelp
}

func (c *backupCmd) Run(ctx context.Context, env *runEnv) error {
	env.report.Cluster = c.Cluster
	if c.Workers > 1 && c.WorkerIndex > 0 {
		// Worker 0's outcome is the set's: another worker's success is
		// no backup yet, and its failure may be retried; only worker 0
		// pushes metrics (an empty cluster pushes nothing).
		env.report.Cluster = ""
	}
	secrets, err := config.LoadSecrets(ctx, nil)
	if err != nil {
		return err
	}
	recipients, err := c.recipients()
	if err != nil {
		return err
	}
	// Cheap checks first: storage and catalog are verified before a
	// single snapshot is taken, so a typo costs nothing on the cluster.
	store, err := cli.OpenStore(ctx, c.Source, secrets, false)
	if err != nil {
		return err
	}
	cat, err := cli.OpenCatalog(ctx, secrets, c.CatalogTimeout, c.MigrateCatalog, env.log)
	if err != nil {
		return err
	}
	// The catalog's rows of this store only: stores sharing one
	// catalog and cluster name keep their sets apart.
	cat = cli.ScopeCatalog(cat, c.Source)
	if cat != nil {
		defer cat.Close()
	}
	cl, err := discoverCluster(ctx, c.Discovery, secrets, env.log)
	if err != nil {
		return err
	}
	defer cl.close()

	deps := backup.Deps{
		Topology: cl.topo,
		Peers:    map[uint64]backup.Peer{},
		Store:    store,
		Progress: backup.NewLogProgress(env.log, progressEvery),
		Logger:   env.log,
	}
	clients, err := cl.peers()
	if err != nil {
		return err
	}
	for id, client := range clients {
		deps.Peers[id] = client
	}
	var index prune.Catalog
	if cat != nil {
		deps.Catalog, index = backup.NewCatalog(cat), cat
	}
	failures, _ := c.workerFailures() // checked by Validate
	var started struct {
		id string
		at time.Time
	}
	res, err := backup.Run(ctx, backup.Options{
		Started:            func(id string, at time.Time) { started.id, started.at = id, at },
		Cluster:            c.Cluster,
		Collections:        c.Collections,
		Concurrency:        c.Concurrency,
		PerPeerConcurrency: c.PerPeerConcurrency,
		Compression:        c.Compression,
		SnapshotMethod:     c.SnapshotMethod,
		WriteLock:          c.WriteLock,
		AllowPartial:       c.AllowPartial,
		LeaseTTL:           c.LeaseTTL,
		LeaseWait:          c.LeaseWait,
		SampleSize:         c.SampleSize,
		StallTimeout:       c.StallTimeout,
		PrestartStreams:    prestartStreams(c.PrestartStreams),
		ToolVersion:        version,
		ObjectLockMode:     c.ObjectLockMode,
		ObjectLockDays:     c.ObjectLockDays,
		Encrypt:            recipients,
		EncryptManifest:    c.EncryptManifest,
		Workers:            c.Workers,
		WorkerIndex:        c.WorkerIndex,
		SetID:              c.SetID,
		PlanWait:           c.PlanWait,
		PartsWait:          c.PartsWait,
		FinalAttempt:       failures >= c.WorkerRetries,
	}, deps)
	if errors.Is(err, backup.ErrObjectLockUnsupported) {
		return config.Invalidf("--object-lock-mode (QBACKUP_OBJECT_LOCK_MODE): %v", err)
	}
	summaries := openSummaries(c.Source, env.log)
	if errors.Is(err, backup.ErrCatalogOutOfSync) && res != nil {
		// The set is committed in storage and usable; only the index
		// missed it. Report the set, then fail so the job is looked at.
		summaries.record(res.Manifest)
		if perr := printBackupResult(env, c.Format, res); perr != nil {
			return perr
		}
		return fmt.Errorf("%w (the backup itself is complete in storage: run qbackup catalog sync)", err)
	}
	if err != nil {
		if started.id != "" {
			// The run began and failed: its summary says so until
			// prune removes it, as the catalog's row does.
			summaries.failed(c.Cluster, started.id, started.at, err)
		}
		return err
	}
	if res.Part != nil {
		// A worker other than 0: its part is stored, worker 0 commits.
		return printPartResult(env, c.Format, res.Part)
	}
	// Committed: the summary is what kubectl qbackup reads.
	summaries.record(res.Manifest)
	env.report.Bytes, env.report.Shards = res.Bytes, shardCount(res.Manifest)
	env.report.Skew = time.Duration(res.Manifest.Window.SkewMillis) * time.Millisecond
	env.summary = fmt.Sprintf("backup %s of cluster %q: %d collections, %d shards, %d bytes", res.Manifest.BackupID, c.Cluster,
		len(res.Manifest.Collections), env.report.Shards, res.Bytes)
	if err := printBackupResult(env, c.Format, res); err != nil {
		return err
	}
	if !c.Prune {
		return nil
	}
	rep, err := prune.Run(ctx, c.pruneOptions(c.Cluster, false, env), store, index)
	if err != nil {
		return fmt.Errorf("backup %s is complete, but prune failed: %w", res.Manifest.BackupID, err)
	}
	summaries.pruned(ctx, rep, store, c.Cluster)
	env.log.Info("prune done", "removed", len(rep.Removed()))
	return nil
}

// backupReport is the JSON contract of `backup -o json`; consumers must
// ignore unknown fields.
type backupReport struct {
	Cluster     string    `json:"cluster"`
	BackupID    string    `json:"backup_id"`
	Partial     bool      `json:"partial"`
	Collections int       `json:"collections"`
	Shards      int       `json:"shards"`
	Bytes       int64     `json:"bytes"`
	Points      uint64    `json:"points"`
	ElapsedMS   int64     `json:"elapsed_ms"`
	SkewMS      int64     `json:"skew_ms"`
	ManifestKey string    `json:"manifest_key"`
	FinishedAt  time.Time `json:"finished_at"`
}

func printBackupResult(env *runEnv, format string, res *backup.Result) error {
	m := res.Manifest
	r := backupReport{
		Cluster: m.Cluster, BackupID: m.BackupID, Partial: m.Partial,
		Collections: len(m.Collections), Shards: m.ShardCount(), Bytes: m.TotalSize(),
		Points: pointsOf(m), ElapsedMS: res.Elapsed.Milliseconds(), SkewMS: m.Window.SkewMillis,
		ManifestKey: res.ManifestKey, FinishedAt: m.FinishedAt,
	}
	switch format {
	case "json", "yaml":
		return printer.Structured(env.stdout, format, r)
	}
	state := "complete"
	if r.Partial {
		state = "PARTIAL (not a good backup)"
	}
	_, err := fmt.Fprintf(env.stdout, "backup %s of cluster %q %s: %d collections, %d shards, %s, %d points in %s (snapshot skew %s)\n",
		r.BackupID, r.Cluster, state, r.Collections, r.Shards, printer.Bytes(r.Bytes), r.Points,
		res.Elapsed.Round(time.Millisecond), time.Duration(r.SkewMS)*time.Millisecond)
	return err
}

func pointsOf(m *manifest.Manifest) uint64 {
	var n uint64
	for _, c := range m.Collections {
		n += c.PointsCount
	}
	return n
}

// shardCount is the number of shard objects of a set.
func shardCount(m *manifest.Manifest) int {
	n := 0
	for _, c := range m.Collections {
		n += len(c.Shards)
	}
	return n
}

// partReport is the JSON contract of `backup -o json` for a worker other
// than 0; consumers must ignore unknown fields.
type partReport struct {
	SetID    string `json:"set_id"`
	BackupID string `json:"backup_id"`
	Worker   int    `json:"worker"`
	Workers  int    `json:"workers"`
	Shards   int    `json:"shards"`
	Bytes    int64  `json:"bytes"`
	Already  bool   `json:"already,omitempty"`
	// Committer is the worker that commits the set.
	Committer int `json:"committer"`
}

func printPartResult(env *runEnv, format string, p *backup.PartResult) error {
	r := partReport{SetID: p.SetID, BackupID: p.BackupID, Worker: p.Worker, Workers: p.Workers, Shards: p.Shards, Bytes: p.Bytes, Already: p.Already}
	env.summary = fmt.Sprintf("worker %d of %d: part of backup %s stored (%d shards, %d bytes); worker 0 commits the set", p.Worker, p.Workers, p.BackupID, p.Shards, p.Bytes)
	switch format {
	case "json", "yaml":
		return printer.Structured(env.stdout, format, r)
	}
	if p.Already {
		_, err := fmt.Fprintf(env.stdout, "worker %d of %d: nothing to do, this worker's part of backup %s (set %s) is stored already; worker 0 commits the set\n",
			p.Worker, p.Workers, p.BackupID, p.SetID)
		return err
	}
	_, err := fmt.Fprintf(env.stdout, "worker %d of %d: part of backup %s (set %s) stored: %d shards, %s; worker 0 commits the set once every part is stored\n",
		p.Worker, p.Workers, p.BackupID, p.SetID, p.Shards, printer.Bytes(p.Bytes))
	return err
}

// prestartStreams maps the flag (0: none) to the engine's option (0: its
// default, negative: none).
func prestartStreams(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
