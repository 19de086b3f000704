package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/metrics"
	"github.com/qbackup/qbackup/internal/printer"
	"github.com/qbackup/qbackup/internal/rebalance"
	"github.com/qbackup/qbackup/internal/restore"
	"github.com/qbackup/qbackup/internal/storage"
)

type rebalanceCmd struct {
	config.Source    `embed:""`
	config.Discovery `embed:""`

	Collections       []string      `name:"collections" env:"QBACKUP_COLLECTIONS" sep:"," help:"Rebalance only these collections (default: every collection)."`
	ReplicationFactor *uint32       `name:"replication-factor" env:"QBACKUP_REPLICATION_FACTOR" help:"Set every rebalanced collection's replication factor to this, 1 or more, capped at the Ready pods (default: keep each collection's), e.g. to raise it again after a restore onto fewer pods lowered it."`
	TransferTimeout   time.Duration `name:"transfer-timeout" env:"QBACKUP_TRANSFER_TIMEOUT" default:"${default_transfer_timeout}" help:"How long to wait for each collection's transfers to finish and every peer to agree."`
	TransferLimit     int           `name:"transfer-limit" env:"QBACKUP_TRANSFER_LIMIT" default:"${default_transfer_limit}" help:"Transfers each peer sends, and receives, at a time (Qdrant's own default for its automatic transfers is 1)."`
	LeaseTTL          time.Duration `name:"lease-ttl" env:"QBACKUP_LEASE_TTL" default:"${default_lease_ttl}" help:"Lifetime of the cluster lock (shared with backups and restores); renewed while the rebalance runs."`
	LeaseWait         time.Duration `name:"lease-wait" env:"QBACKUP_LEASE_WAIT" default:"0s" help:"Wait this long for a cluster lock another run holds instead of exiting 3 at once."`
	Journal           string        `name:"journal" env:"QBACKUP_JOURNAL" default:"auto" help:"Where the rebalance keeps its plan and progress, so that a rerun after a kill resumes towards the same placement: auto (the backup store; a store that refuses the write is reported and the rebalance goes on without resume), store (the same, a refused write fails), file:///writable/dir, or none (a rerun plans anew)."`
	Shards            string        `name:"shards" env:"QBACKUP_REBALANCE_SHARDS" help:"Change the shard count of every rebalanced auto-sharded collection: a count from 1 to 1000, auto (the smallest count from today's with count × replication factor ≥ Ready pods, as restore --shards auto), or keep (the default; QBACKUP_SHARDS of the installed ConfigMap is for restores and does not apply here). Uses Qdrant's resharding where the cluster offers it (cluster.resharding_enabled), else a point copy that needs --writes-paused. Custom-sharded collections keep their shard keys."`
	WritesPaused      bool          `name:"writes-paused" env:"QBACKUP_WRITES_PAUSED" help:"Confirm that nothing writes to the collections: allows --shards to rebuild a collection by copying its points where the cluster does not offer Qdrant's resharding (writes made during the copy would be lost)."`
	DryRun            bool          `name:"dry-run" help:"Print the plan and exit; nothing is changed."`
	config.Output     `embed:""`
}

// maxTransferLimit caps --transfer-limit: each transfer streams a whole
// shard out of one peer's disk into another's.
const maxTransferLimit = 16

// Validate runs before anything is read from storage or the cluster.
func (c *rebalanceCmd) Validate() error {
	return config.All(
		config.CollectionList("collections", "QBACKUP_COLLECTIONS", c.Collections),
		config.RebalanceJournal(c.Journal),
		func() error { _, _, err := parseShards(c.Shards); return err },
		func() error {
			if c.ReplicationFactor != nil && *c.ReplicationFactor < 1 {
				return config.Invalidf("--replication-factor 0 (QBACKUP_REPLICATION_FACTOR): must be at least 1; leave it out to keep each collection's")
			}
			return nil
		},
		config.IntAtLeast("transfer-limit", "QBACKUP_TRANSFER_LIMIT", c.TransferLimit, 1, maxTransferLimit, "each transfer streams a whole shard between two peers' disks"),
		config.DurationAtLeast("transfer-timeout", "QBACKUP_TRANSFER_TIMEOUT", c.TransferTimeout, time.Second, "shard transfers take time"),
		config.DurationAtLeast("lease-ttl", "QBACKUP_LEASE_TTL", c.LeaseTTL, time.Second, "the lock is renewed every third of it"),
		config.DurationAtLeast("lease-wait", "QBACKUP_LEASE_WAIT", c.LeaseWait, 0, "no waiting"),
	)
}

func (c *rebalanceCmd) Help() string {
	return `Spreads the replicas of a live cluster's collections evenly over its
Ready pods and brings every shard back to its collection's replication
factor, without a backup: typically after a restore consolidated the
shards onto few pods and the StatefulSet was scaled back up. Replicas are
moved or replicated first and dropped only once a shard's new replicas are
Active, so reads and writes keep working; the last Active replica of a
shard is never dropped. Each collection is done once every peer sees the
new placement. The plan is journaled: a rerun after a kill resumes it.
Takes the cluster lock backups and restores take (exit 3 while one runs).

--shards K|auto changes the shard count of auto-sharded collections first
(custom-sharded ones keep their shard keys). Where the cluster offers
Qdrant's resharding (cluster.resharding_enabled), it is used one shard at
a time while reads and writes go on. Otherwise the collection is rebuilt
by copying its points, which loses writes made meanwhile: that needs
--writes-paused, and without it the rebalance is refused (exit 2) with
nothing changed.

Examples:
  qbackup rebalance --dry-run
  qbackup rebalance --collections=docs,images
  qbackup rebalance --shards auto --dry-run
  qbackup rebalance --shards 6 --writes-paused
  QBACKUP_DISCOVERY=static QBACKUP_QDRANT_URLS=http://10.0.0.1:6333 qbackup rebalance

` + config.SecretsHelp
}

func (c *rebalanceCmd) Run(ctx context.Context, env *runEnv) error {
	env.report.Cluster = c.Cluster
	journal, err := config.ParseJournal(c.Journal)
	if err != nil {
		return err
	}
	rs, err := cli.OpenReadSide(ctx, c.Source, env.log)
	if err != nil {
		return err
	}
	defer rs.Close()
	secrets, err := config.LoadSecrets(ctx, nil)
	if err != nil {
		return err
	}
	cl, err := discoverCluster(ctx, c.Discovery, secrets, env.log)
	if errors.Is(err, discovery.ErrAPIServerUnreachable) {
		return fmt.Errorf("rebalance did not start and changed nothing; run it again once the API server answers: %w", err)
	}
	if err != nil {
		return err
	}
	defer cl.close()
	clients, err := cl.peers()
	if err != nil {
		return err
	}
	peers := make(map[uint64]restore.LivePeer, len(clients))
	for id, cc := range clients {
		peers[id] = cc
	}
	structured := c.Format == "json" || c.Format == "yaml"
	deps := rebalance.Deps{
		Cluster: c.Cluster, Topology: cl.topo, Peers: peers, Logger: env.log,
		PrintPlan: func(p *rebalance.Plan, resumed string) error {
			switch {
			case structured && c.DryRun:
				return printer.Structured(env.stdout, c.Format, p)
			case structured:
				return nil
			}
			return printRebalancePlan(env.stdout, p, resumed)
		},
		// One backup, restore or rebalance of a cluster at a time: a
		// backup would snapshot shards in the middle of a move, and a
		// restore would plan on a placement that is changing.
		HoldLease: restoreLease(journal, rs, env, lease.Options{
			Cluster: c.Cluster, Holder: lease.DefaultHolder(), Operation: "rebalance",
			TTL: c.LeaseTTL, Wait: c.LeaseWait, Catalog: lease.FromCatalog(rs.Catalog), Store: rs.Store, Logger: env.log,
		}),
	}
	switch journal.Mode {
	case config.JournalAuto:
		// A store that refuses the write does not stop the rebalance:
		// it goes on without resume, and says so.
		deps.Journal = &rebalance.FallbackJournal{Journal: &rebalance.StoreJournal{Store: rs.Store, Cluster: c.Cluster}, Refused: storage.IsWriteRefused, Logger: env.log}
	case config.JournalStore:
		deps.Journal = &rebalance.StoreJournal{Store: rs.Store, Cluster: c.Cluster}
	case config.JournalFile:
		dir, err := storage.OpenFile(journal.Dir, false)
		if err != nil {
			return config.Invalid(fmt.Errorf("--journal=file://%s (QBACKUP_JOURNAL): %w", journal.Dir, err))
		}
		deps.Journal = &rebalance.StoreJournal{Store: dir, Cluster: c.Cluster}
	case config.JournalNone:
		env.log.Warn("no rebalance journal (--journal=none): a rerun after a kill plans anew from the half-moved cluster", "journal", "none")
	}
	shards, autoShards, _ := parseShards(c.Shards) // checked by Validate
	res, err := rebalance.Run(ctx, rebalance.RunOptions{
		Options: rebalance.Options{Collections: c.Collections, ReplicationFactor: optionalUint32(c.ReplicationFactor),
			Shards: shards, AutoShards: autoShards, WritesPaused: c.WritesPaused},
		DryRun:   c.DryRun,
		Converge: restore.LiveConvergeOptions{Timeout: c.TransferTimeout, TransferLimit: c.TransferLimit},
	}, deps)
	if c.DryRun {
		// A plan shown is no rebalance: its last success and figures
		// stay those of the last real one.
		env.report.Cluster = ""
	}
	if err != nil || c.DryRun {
		return err
	}
	env.report.Rebalance = metrics.Rebalance{Collections: res.Collections, Moved: res.Moved, Replicated: res.Replicated, Dropped: res.Dropped, Resharded: res.Resharded}
	env.summary = rebalanceSummary(c.Cluster, res)
	if structured {
		return printer.Structured(env.stdout, c.Format, res)
	}
	if res.Operations == 0 && res.Resumed == "" && res.Resharded == 0 {
		return nil
	}
	_, err = fmt.Fprintf(env.stdout, "\nRebalance %s done in %s: %d collections, %d operations, %d collections resharded\n", res.ID, res.Duration.Round(time.Millisecond), res.Collections, res.Operations, res.Resharded)
	return err
}

// rebalanceSummary is the one line of a successful rebalance, for its
// Event, log and termination message; a rebalance that found nothing to
// change says so with zeros.
func rebalanceSummary(cluster string, res *rebalance.Result) string {
	s := fmt.Sprintf("cluster %s rebalanced: %d collections, %d operations (%d replicas moved, %d replicated, %d dropped)",
		cluster, res.Collections, res.Operations, res.Moved, res.Replicated, res.Dropped)
	if res.Resharded > 0 {
		s += fmt.Sprintf(", %d collections resharded", res.Resharded)
	}
	return s + fmt.Sprintf(" in %s", res.Duration.Round(time.Second))
}

func printRebalancePlan(w io.Writer, p *rebalance.Plan, resumed string) error {
	if resumed != "" {
		fmt.Fprintf(w, "Resuming interrupted rebalance %s towards its journaled placement.\n", resumed)
	}
	return p.WriteText(w)
}
