package main

import (
	"context"
	"fmt"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/restore"
)

type rebalanceCmd struct {
	Collections       []string `name:"collections" sep:"," help:"Rebalance only these collections (default: every collection)."`
	ReplicationFactor *uint32  `name:"replication-factor" help:"Set every rebalanced collection's replication factor to this, 1 or more (default: keep each collection's)."`
	Shards            string   `name:"shards" help:"Change the shard count of every rebalanced auto-sharded collection: a count from 1 to 1000, auto (the smallest count with count × replication factor ≥ Ready pods) or keep (the default). Uses Qdrant's resharding where the cluster offers it, else a point copy that needs --writes-paused."`
	WritesPaused      bool     `name:"writes-paused" help:"Confirm that nothing writes to the collections: allows --shards to copy points where the cluster does not offer Qdrant's resharding."`
	Selector          *string  `name:"selector" short:"l" help:"Label selector of the Qdrant pods (default: the installation's QBACKUP_SELECTOR, else app.kubernetes.io/name=qdrant)."`
	AllowNodeMismatch bool     `name:"allow-node-mismatch" help:"Create the Job although Ready pods and StatefulSet replicas disagree (not recommended)."`
	From              string   `name:"from" default:"cronjob/qbackup-restore" help:"The installed template: the suspended CronJob whose jobTemplate the rebalance Job is made from."`
	Yes               bool     `name:"yes" short:"y" help:"Do not ask for confirmation (asked only on a terminal)."`
	peersFlags        `embed:""`
	waitFlags         `embed:""`
	dryRun            `embed:""`
}

func (c *rebalanceCmd) Help() string {
	return `Checks that every Qdrant pod is Ready (and that their count is the
StatefulSet's replicas), asks Qdrant for its own peers through the same
short read-only Job as the restore preview (qbackup peers -o json;
--peers-timeout bounds it, --skip-peers-query skips it, and a query that
cannot run is reported and the preview goes on with the pod counts),
names any pod whose Qdrant has not joined consensus, and creates a Job
from the installed restore template that runs qbackup rebalance: it spreads the replicas of every
collection evenly over the Ready pods and brings each shard to its
collection's replication factor (or --replication-factor), moving and
replicating before it drops anything, so the cluster keeps serving. Use it
after scaling the StatefulSet up, e.g. once a restore consolidated the
shards onto fewer pods. The Job prints its plan first; a rerun after a
failure resumes it.

--shards K|auto changes the shard count of auto-sharded collections first
(custom-sharded ones keep their keys): with Qdrant's resharding where the
cluster offers it, else by copying points, which the Job refuses (exit 2,
nothing changed) unless --writes-paused confirms that nothing writes.

On a terminal it asks before creating the Job (--yes does not ask);
--wait follows the Job to its end and exits with its exit code.

Examples:
  kubectl qbackup rebalance --dry-run=client -o yaml
  kubectl qbackup rebalance --replication-factor=2 --yes --wait
  kubectl qbackup rebalance --collections=docs,images
  kubectl qbackup rebalance --shards=auto --yes --wait`
}

// Validate runs before the API server is contacted.
func (c *rebalanceCmd) Validate() error {
	if err := validateFrom(c.From, kube.RestoreTemplate); err != nil {
		return err
	}
	if err := c.waitFlags.Validate(); err != nil {
		return err
	}
	if err := c.peersFlags.Validate(); err != nil {
		return err
	}
	if c.ReplicationFactor != nil && *c.ReplicationFactor < 1 {
		return config.Invalidf("--replication-factor 0: must be at least 1; leave it out to keep each collection's")
	}
	if _, _, err := restore.ParseShards(c.Shards); err != nil {
		return config.Invalidf("--shards %s: %v", c.Shards, err)
	}
	return config.CollectionList("collections", "the Job's QBACKUP_COLLECTIONS", c.Collections)()
}

func (c *rebalanceCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	cs, ns, err := k.client()
	if err != nil {
		return err
	}
	tpl, err := getCronJob(ctx, cs, ns, c.From)
	if err != nil {
		return err
	}
	sel := (&restoreCmd{Selector: c.Selector}).selector(ctx, cs, ns, nil)
	nodes, err := kube.CountNodes(ctx, cs, ns, sel)
	if err != nil {
		return err
	}
	if err := nodes.Check(); err != nil {
		if !c.AllowNodeMismatch || len(nodes.Ready) == 0 {
			return err
		}
		fmt.Fprintf(env.stderr, "warning: %v (going on: --allow-node-mismatch)\n", err)
	}
	peers := c.peersFlags.check(ctx, env, cs, tpl, nodes)
	if err := ctx.Err(); err != nil {
		// Interrupted while the query ran (its Job is deleted): stop.
		return err
	}
	args := kube.RebalanceArgs{Collections: c.Collections, AllowNodeMismatch: c.AllowNodeMismatch, Shards: c.Shards, WritesPaused: c.WritesPaused}
	if c.ReplicationFactor != nil {
		args.ReplicationFactor = *c.ReplicationFactor
	}
	job, err := kube.RebalanceJobFromTemplate(tpl, kube.RebalanceJobName(env.now()), args)
	if err != nil {
		return config.Invalid(err)
	}
	job.Annotations[kube.PlanAnnotation] = fmt.Sprintf("rebalance (Ready pods: %d, Qdrant peers: %s)", len(nodes.Ready), peers.count())
	// With -o yaml the summary goes to stderr, so stdout is the object
	// alone.
	out := env.stdout
	if c.Output == "yaml" {
		out = env.stderr
	}
	counts := ""
	if peers.check.Known {
		counts = fmt.Sprintf(" (Qdrant peers: %d)", peers.check.Peers)
	}
	fmt.Fprintf(out, "Rebalance over the %d Ready pods of namespace %s%s\n  %s\n", len(nodes.Ready), ns, counts, peers.line("rebalance", c.AllowNodeMismatch))
	note := "the Job plans against the live cluster and logs its plan before it moves anything"
	if !c.dryRun.enabled() {
		// The Job's name, not "latest": a scheduled backup may start
		// meanwhile.
		note += fmt.Sprintf(": kubectl qbackup -n %s logs %s -f", ns, job.Name)
	}
	fmt.Fprintf(out, "  (%s%s)\n", note, peers.source())
	if !c.dryRun.enabled() && !c.Yes && env.interactive() {
		what := "Move and replicate shards"
		if c.Shards != "" && c.Shards != "keep" {
			what = fmt.Sprintf("Reshard (--shards=%s), then move and replicate shards", c.Shards)
		}
		question := fmt.Sprintf("%s over the %d Ready pods of namespace %s", what, len(nodes.Ready), ns)
		if peers.disagrees() {
			// Said again where the answer is given.
			question += ", although Qdrant's peers and the pods disagree"
		}
		if !env.confirm(question + "?") {
			fmt.Fprintln(env.stderr, "Not confirmed: no rebalance Job was created.")
			return nil
		}
	}
	created, err := createJob(ctx, env, cs, job, c.dryRun)
	if err != nil || c.dryRun.enabled() {
		return err
	}
	return c.wait(ctx, env, cs, created)
}
