package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/printer"
	"github.com/qbackup/qbackup/internal/restore"
)

type restoreCmd struct {
	config.Source    `embed:""`
	config.Discovery `embed:""`

	Backup            string        `arg:"" name:"backup" optional:"" help:"Backup id, or latest (the newest complete set); required."`
	Plan              string        `name:"plan" env:"QBACKUP_RESTORE_PLAN" enum:"auto,direct,consolidate,redistribute" default:"auto" help:"Strategy: auto picks from the pods now versus the pods in the backup."`
	TargetNode        string        `name:"target-node" env:"QBACKUP_TARGET_NODE" help:"Consolidate everything onto this pod (name) or peer (id)."`
	ReplicationFactor *uint32       `name:"replication-factor" env:"QBACKUP_REPLICATION_FACTOR" help:"Replication factor of the restored collections, 1 or more (default: the recorded one, capped at the pod count)."`
	Shards            string        `name:"shards" env:"QBACKUP_SHARDS" help:"Reshard: a shard count from 1 to 1000, or auto (reshard each auto-sharded collection whose shards × replication factor cannot give every pod a replica, to the smallest count that can), or keep (the recorded count, the default; the installed ConfigMap sets auto)."`
	NoReshard         bool          `name:"no-reshard" env:"QBACKUP_NO_RESHARD" help:"Keep every collection's recorded shard count, also where the installation asks for --shards auto (QBACKUP_SHARDS); pods the shards cannot reach stay empty, and the plan names them."`
	Collections       []string      `name:"collections" env:"QBACKUP_COLLECTIONS" sep:"," help:"Restore only these collections of the backup."`
	Rename            []string      `name:"rename" env:"QBACKUP_RENAME" sep:"," help:"Restore beside the live data: a SUFFIX appended to every name, or old=new (repeatable)."`
	Overwrite         bool          `name:"overwrite" env:"QBACKUP_OVERWRITE" help:"Replace target collections (and aliases) that exist. Without it an existing collection stops the restore."`
	Transfer          string        `name:"transfer" env:"QBACKUP_TRANSFER" enum:"upload,presigned" default:"${default_transfer}" help:"upload: stream each object from storage into the peer; presigned: hand Qdrant a presigned URL to pull (S3 only)."`
	Parallel          int           `name:"parallel" env:"QBACKUP_RESTORE_PARALLEL" default:"${default_parallel}" help:"Shards recovered at once."`
	WaitTimeout       time.Duration `name:"wait-timeout" env:"QBACKUP_WAIT_TIMEOUT" default:"${default_wait_timeout}" help:"How long to wait for replicas to become Active."`
	TransferTimeout   time.Duration `name:"transfer-timeout" env:"QBACKUP_TRANSFER_TIMEOUT" default:"${default_transfer_timeout}" help:"How long to wait for redistribution transfers."`
	RedistributeLimit int           `name:"redistribute-limit" env:"QBACKUP_REDISTRIBUTE_LIMIT" default:"0" help:"Redistribution transfers each peer sends, and receives, at a time, over every collection at once (as rebalance --transfer-limit); 0 (the default) leaves them uncapped, as Qdrant does for transfers asked through its API. Set it on a cluster that serves other traffic while it is restored."`
	LeaseTTL          time.Duration `name:"lease-ttl" env:"QBACKUP_LEASE_TTL" default:"${default_lease_ttl}" help:"Lifetime of the cluster lock (shared with backups); renewed while the restore runs. A run that dies leaves its lock until it expires."`
	LeaseWait         time.Duration `name:"lease-wait" env:"QBACKUP_LEASE_WAIT" default:"0s" help:"Wait this long for a cluster lock another run holds (e.g. a killed run's, until it expires) instead of exiting 3 at once."`
	VerifyFirst       bool          `name:"verify-first" env:"QBACKUP_VERIFY_FIRST" help:"Read and check every object before changing the cluster (one more full read of the set). By default only the objects of collections --overwrite replaces are read first; the others are checked for size, then hashed as they stream, and a corrupt one stops the restore, which removes the collections it created (exit 5)."`
	Journal           string        `name:"journal" env:"QBACKUP_JOURNAL" default:"auto" help:"Where the restore keeps the progress a rerun resumes from: auto (the catalog if configured, else the backup store; a store that refuses the write is reported at start and the restore goes on without resume), catalog, store, file:///writable/dir, or none (no resume: a rerun starts over). Use none or file:// for a read-only or object-locked store."`
	DryRun            bool          `name:"dry-run" help:"Print the plan and exit; nothing is read from or written to the cluster beyond discovery."`
	config.Output     `embed:""`

	// Several workers: the pods of an Indexed Job (see the README's
	// "Restore across several pods").
	workerFlags `embed:""`
}

// Bounds of the restore flags.
const (
	// maxParallel caps --parallel: each recovery holds one upload stream
	// and one snapshot unpacking on a peer.
	maxParallel = 64
)

// Validate runs before anything is read from storage or the cluster; the
// embedded options' Validate methods run too.
func (c *restoreCmd) Validate() error {
	return config.All(
		func() error {
			if c.Backup == "" {
				return config.Invalidf("name the backup to restore: a backup id (see qbackup list) or latest, e.g. qbackup restore latest")
			}
			return nil
		},
		func() error { _, err := restore.ParseStrategy(c.Plan); return config.Invalid(err) },
		func() error { _, err := restore.ParseRename(c.Rename); return config.Invalid(err) },
		config.JournalFlag(c.Journal),
		func() error {
			if _, _, err := c.shards(); err != nil {
				return err
			}
			if c.ReplicationFactor != nil && *c.ReplicationFactor < 1 {
				return config.Invalidf("--replication-factor 0 (QBACKUP_REPLICATION_FACTOR): must be at least 1; leave it out to keep the recorded one")
			}
			return nil
		},
		config.IntAtLeast("parallel", "QBACKUP_RESTORE_PARALLEL", c.Parallel, 1, maxParallel, "each recovery holds an upload stream and a snapshot unpacking on a peer"),
		config.DurationAtLeast("wait-timeout", "QBACKUP_WAIT_TIMEOUT", c.WaitTimeout, time.Second, "replicas take time to become Active"),
		config.DurationAtLeast("transfer-timeout", "QBACKUP_TRANSFER_TIMEOUT", c.TransferTimeout, time.Second, "shard transfers take time"),
		config.IntAtLeast("redistribute-limit", "QBACKUP_REDISTRIBUTE_LIMIT", c.RedistributeLimit, 0, maxTransferLimit, "each transfer streams a whole shard between two peers' disks; 0 is uncapped"),
		config.DurationAtLeast("lease-ttl", "QBACKUP_LEASE_TTL", c.LeaseTTL, time.Second, "the lock is renewed every third of it"),
		config.DurationAtLeast("lease-wait", "QBACKUP_LEASE_WAIT", c.LeaseWait, 0, "no waiting"),
		func() error { return c.workerFlags.validate("kustomize/components/indexed-restore") },
	)
}

// shards is the shard choice: --shards, unless --no-reshard keeps the
// recorded counts (it overrides auto, the installed default; a count
// beside it is a contradiction).
func (c *restoreCmd) shards() (count uint32, auto bool, err error) {
	count, auto, err = parseShards(c.Shards)
	if err != nil || !c.NoReshard {
		return count, auto, err
	}
	if count > 0 {
		return 0, false, config.Invalidf("--no-reshard and --shards %s (QBACKUP_SHARDS) contradict each other: give one of them", c.Shards)
	}
	return 0, false, nil
}

// parseShards reads --shards (see restore.ParseShards).
func parseShards(v string) (count uint32, auto bool, err error) {
	count, auto, err = restore.ParseShards(v)
	if err != nil {
		return 0, false, config.Invalidf("--shards %s (QBACKUP_SHARDS): %v", v, err)
	}
	return count, auto, nil
}

func optionalUint32(p *uint32) uint32 {
	if p == nil {
		return 0
	}
	return *p
}

func (c *restoreCmd) Help() string {
	return `Restores a backup set, also onto a cluster whose pod count changed: with
fewer pods the shards are consolidated (several per pod, down to one pod),
with more pods they are redistributed after the restore. Everything is
checked before the cluster is touched: every object's size and SHA-256,
pod readiness and consensus, running transfers, existing collections and
the Qdrant version. A rerun of an interrupted restore resumes it.

Examples:
  qbackup restore latest --dry-run
  qbackup restore 20261125T133000Z-3f9c --rename=_drill
  qbackup restore latest --target-node=qdrant-0 --overwrite
  # Worker 1 of 3 (an Indexed Job sets JOB_COMPLETION_INDEX; see
  # kustomize/components/indexed-restore):
  qbackup restore latest --workers=3 --worker-index=1 --set-id=<job uid>

` + config.SecretsHelp
}

func (c *restoreCmd) Run(ctx context.Context, env *runEnv) error {
	env.report.Cluster = c.Cluster
	if c.Workers > 1 && c.WorkerIndex > 0 {
		// Worker 0's outcome is the restore's: only worker 0 pushes
		// metrics.
		env.report.Cluster = ""
	}
	strategy, err := restore.ParseStrategy(c.Plan)
	if err != nil {
		return config.Invalid(err)
	}
	rename, err := restore.ParseRename(c.Rename)
	if err != nil {
		return config.Invalid(err)
	}
	journal, err := config.ParseJournal(c.Journal)
	if err != nil {
		return err
	}
	if c.Transfer == "presigned" {
		// Qdrant would fetch the URL without the SSE-C key, which must
		// never leave qbackup: refuse before anything is read.
		sec, err := config.LoadSecrets(ctx, nil)
		if err != nil {
			return err
		}
		if sec.SSECustomerKey != nil {
			return config.Invalidf("--transfer=presigned (QBACKUP_TRANSFER) cannot read objects encrypted with a customer key (QBACKUP_S3_SSE_C_KEY is set): Qdrant would fetch them without the key: use --transfer=upload")
		}
	}
	rs, err := cli.OpenReadSide(ctx, c.Source, env.log)
	if err != nil {
		return err
	}
	defer rs.Close()
	if journal.Mode == config.JournalCatalog && rs.Catalog == nil {
		return config.Invalidf("--journal=catalog (QBACKUP_JOURNAL) needs a catalog: set QBACKUP_CATALOG_DSN, or use --journal=file:///writable/dir or none")
	}
	m, err := rs.Load(ctx, c.Cluster, c.Backup)
	if err != nil {
		return err
	}
	secrets, err := config.LoadSecrets(ctx, nil)
	if err != nil {
		return err
	}
	cl, err := discoverCluster(ctx, c.Discovery, secrets, env.log)
	if errors.Is(err, discovery.ErrAPIServerUnreachable) {
		// A restore Job is not retried (a restore is never rerun
		// blindly): the operator reruns it.
		return fmt.Errorf("restore of backup %s did not start and changed nothing; run it again once the API server answers: %w", m.BackupID, err)
	}
	if err != nil {
		return err
	}
	defer cl.close()

	clients, err := cl.peers()
	if err != nil {
		return err
	}
	peers := make(map[uint64]restore.Peer, len(clients))
	for id, c := range clients {
		peers[id] = c
	}
	structured := c.Format == "json" || c.Format == "yaml"
	deps := restore.RunDeps{
		Deps:          restore.Deps{Peers: peers, Store: rs.Store, Logger: env.log, Identities: rs.Identities},
		Topology:      cl.topo,
		ProgressEvery: progressEvery,
		PrintPlan: func(p *restore.RestorePlan) error {
			switch {
			case structured && c.DryRun:
				return printer.Structured(env.stdout, c.Format, p)
			case structured:
				return nil
			}
			return printPlan(env.stdout, p)
		},
		// One restore or backup of a cluster at a time: a second restore
		// would share this one's journal, and a backup would snapshot
		// half-restored collections.
		HoldLease: restoreLease(journal, rs, env, lease.Options{
			Cluster: m.Cluster, Holder: lease.DefaultHolder(), Operation: "restore of backup " + m.BackupID,
			TTL: c.LeaseTTL, Wait: c.LeaseWait, Catalog: lease.FromCatalog(rs.Catalog), Store: rs.Store, Logger: env.log,
		}),
	}
	if len(cl.topo.Peers) > 0 {
		if w, ok := cl.client(cl.topo.Peers[0].ID); ok {
			deps.Points = w
		}
	}
	if !c.DryRun {
		if err := setJournal(&deps, journal, rs, m.Cluster, c.Source, env); err != nil {
			return err
		}
	}
	shards, autoShards, _ := c.shards() // checked by Validate
	res, err := restore.Run(ctx, restore.RunOptions{
		Manifest: m,
		Plan: restore.PlanOptions{
			Strategy: strategy, TargetNode: c.TargetNode, ReplicationFactor: optionalUint32(c.ReplicationFactor), Shards: shards, AutoShards: autoShards,
			Collections: c.Collections, Rename: rename, Overwrite: c.Overwrite,
		},
		Preflight: restore.PreflightOptions{AllowNodeMismatch: c.AllowNodeMismatch, VerifyObjects: c.VerifyFirst},
		Exec: restore.ExecOptions{
			Transfer: restore.TransferMode(c.Transfer), Parallel: c.Parallel, WaitTimeout: c.WaitTimeout, TransferTimeout: c.TransferTimeout, TransferLimit: c.RedistributeLimit,
		},
		DryRun: c.DryRun,
		Workers: restore.WorkerOptions{
			Workers: c.Workers, Index: c.WorkerIndex, SetID: c.SetID, Holder: lease.DefaultHolder(), Store: rs.Store,
			PlanWait: c.PlanWait, PartsWait: c.PartsWait, FinalAttempt: c.finalAttempt(),
		},
	}, deps)
	if err != nil || c.DryRun {
		return err
	}
	if res.Share != nil {
		return printShareReport(env, c.Format, res.Share)
	}
	r := res.Report
	env.summary = fmt.Sprintf("backup %s restored (%s): %d collections, %d shards, %d bytes, RTO %s",
		r.BackupID, r.Strategy, len(r.Collections), r.ShardsRecovered+r.ShardsSkipped, r.Bytes, r.Total.Round(time.Second))
	if structured {
		return printer.Structured(env.stdout, c.Format, res.Report)
	}
	return printRestoreReport(env.stdout, res.Report)
}

func describeTarget(p *restore.RestorePlan) string {
	var pods []string
	for _, peer := range p.Peers {
		pods = append(pods, peer.Pod+"/"+strconv.FormatUint(peer.ID, 10))
	}
	return fmt.Sprintf("%d peers: %s", len(p.Peers), strings.Join(pods, ","))
}

func printPlan(w io.Writer, p *restore.RestorePlan) error {
	fmt.Fprintf(w, "Restore plan for backup %s of cluster %q\n", p.BackupID, p.Cluster)
	fmt.Fprintf(w, "Strategy: %s — %s\n", p.Strategy, p.Reason)
	fmt.Fprintf(w, "Pods then: %d, pods now: %d; Qdrant %s → %s; %d shards, %s\n",
		p.SourcePods, p.TargetPods, p.SourceVersion, printer.Dash(p.TargetVersion), p.ShardCount, printer.Bytes(p.TotalBytes))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COLLECTION\tSHARD\tKEY\tOBJECT\tSIZE\tRECOVER ON\tREPLICAS\tFINAL")
	for _, c := range p.Collections {
		name := c.Target
		if c.Source != c.Target {
			name = c.Source + " → " + c.Target
		}
		for _, s := range c.Shards {
			key := "-"
			if s.ShardKey != nil {
				key = s.ShardKey.String()
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", name, s.ID, key, printer.Dash(s.Object), printer.Bytes(s.Size),
				peerName(p, s.Primary), peerList(p, s.Replicas), peerList(p, s.Final))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The plan's warnings include every collection's.
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}

func peerName(p *restore.RestorePlan, id uint64) string {
	for _, peer := range p.Peers {
		if peer.ID == id && peer.Pod != "" {
			return peer.Pod
		}
	}
	return strconv.FormatUint(id, 10)
}

func peerList(p *restore.RestorePlan, ids []uint64) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = peerName(p, id)
	}
	return strings.Join(names, ",")
}

func printRestoreReport(w io.Writer, r *restore.Report) error {
	fmt.Fprintf(w, "\nRestore %s of backup %s done in %s (RTO): %d shards recovered, %d skipped (done by an earlier run), %s\n",
		r.RestoreID, r.BackupID, r.Total.Round(time.Millisecond), r.ShardsRecovered, r.ShardsSkipped, printer.Bytes(r.Bytes))
	var phases []string
	for _, ph := range r.Phases {
		phases = append(phases, fmt.Sprintf("%s %s", ph.Name, ph.Duration.Round(time.Millisecond)))
	}
	fmt.Fprintf(w, "Phases: %s\n", strings.Join(phases, ", "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COLLECTION\tFROM\tSHARDS\tPOINTS\tSAMPLES CHECKED\tVERIFIED")
	for _, c := range r.Collections {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%v\n", c.Name, c.Source, c.Shards, c.Points, c.Samples, c.Verified)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}

// printShareReport reports a restore worker's share; worker 0 reports the
// restore. Its JSON is the contract of `restore -o json` for such a
// worker.
func printShareReport(env *runEnv, format string, s *restore.ShareReport) error {
	if s.Already {
		env.summary = fmt.Sprintf("worker %d of %d: nothing to do, restore %s of backup %s is done or this worker's share was recovered by an earlier attempt", s.Worker, s.Workers, s.RestoreID, s.BackupID)
	} else {
		env.summary = fmt.Sprintf("worker %d of %d: share of restore %s recovered (%d shards, %d skipped, %d bytes); worker 0 finishes the restore",
			s.Worker, s.Workers, s.RestoreID, s.Recovered, s.Skipped, s.Bytes)
	}
	if format == "json" || format == "yaml" {
		return printer.Structured(env.stdout, format, s)
	}
	_, err := fmt.Fprintln(env.stdout, env.summary)
	return err
}
