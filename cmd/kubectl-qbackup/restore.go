package main

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/restore"
)

type restoreCmd struct {
	storeFlags `embed:""`

	Backup            string   `arg:"" name:"backup" optional:"" help:"Backup id, or latest (the newest complete set); required."`
	Plan              string   `name:"plan" enum:"auto,direct,consolidate,redistribute" default:"auto" help:"Strategy: auto picks from the pods now versus the pods in the backup."`
	TargetNode        string   `name:"target-node" help:"Consolidate everything onto this pod (name)."`
	Rename            []string `name:"rename" sep:"," help:"Restore beside the live data: a SUFFIX appended to every name, or old=new (repeatable)."`
	Overwrite         bool     `name:"overwrite" help:"Replace target collections (and aliases) that exist."`
	Shards            string   `name:"shards" help:"Reshard: a count from 1 to 1000, auto (only collections whose shards × replication factor cannot reach the pods the cluster gained) or keep. Default: the installation's QBACKUP_SHARDS."`
	NoReshard         bool     `name:"no-reshard" help:"Keep every collection's recorded shard count, also where the installation asks for auto (QBACKUP_SHARDS): the Job gets --shards=keep."`
	Selector          *string  `name:"selector" short:"l" help:"Label selector of the Qdrant pods (default: the installation's QBACKUP_SELECTOR, else app.kubernetes.io/name=qdrant)."`
	AllowNodeMismatch bool     `name:"allow-node-mismatch" help:"Create the Job although Ready pods and StatefulSet replicas disagree (not recommended)."`
	From              string   `name:"from" default:"cronjob/qbackup-restore" help:"The installed template: the suspended CronJob whose jobTemplate the restore Job is made from."`
	Yes               bool     `name:"yes" short:"y" help:"Do not ask for confirmation (asked only on a terminal)."`
	Workers           int      `name:"workers" default:"0" help:"Restore with this many pods, as an Indexed Job (completions and parallelism N, each index retried on its own): each recovers a share of the shards, worker 0 plans, creates and verifies; 0 keeps the template's own setting."`
	WorkerRetries     int      `name:"worker-retries" default:"1" help:"With --workers, the retries each index gets (backoffLimitPerIndex); a retry resumes its share from the journal."`
	peersFlags        `embed:""`
	waitFlags         `embed:""`
	dryRun            `embed:""`
}

func (c *restoreCmd) Help() string {
	return `Checks that every Qdrant pod is Ready (and that their count is the
StatefulSet's replicas), asks Qdrant for its own peers through a short
read-only Job (qbackup peers -o json, made from the installed template,
read through pods/log and deleted; --peers-timeout bounds it,
--skip-peers-query skips it, and a query that cannot run is reported and
the preview goes on with the pod counts), names any disagreement between
Qdrant's peers in consensus, the Ready pods and the StatefulSet, reads
the backup's summary (the ConfigMap the Jobs record; kubectl access
alone) or, without one, its manifest in storage, shows the strategy
Qdrant's peer count implies, and creates a restore Job from the
installed template. The Job plans against the live cluster and checks
everything again before it touches anything. --dry-run creates no
restore Job; the peers query still runs (it changes nothing).

On a terminal it asks before creating the Job (--yes does not ask);
--wait follows the Job to its end and exits with its exit code.

Examples:
  kubectl qbackup restore latest --dry-run=client -o yaml
  kubectl qbackup restore latest --yes --wait
  kubectl qbackup restore 20261125T133000Z-3f9c --rename=_drill
  kubectl qbackup restore latest --target-node=qdrant-0 --overwrite
  kubectl qbackup restore latest --workers=3 --yes --wait   # 3 pods recover the shards

` + config.StorageSecretsHelp
}

// Validate runs before the API server or storage is contacted.
func (c *restoreCmd) Validate() error {
	if err := validateFrom(c.From, kube.RestoreTemplate); err != nil {
		return err
	}
	if err := c.storeFlags.Validate(); err != nil {
		return err
	}
	if err := c.waitFlags.Validate(); err != nil {
		return err
	}
	if err := c.peersFlags.Validate(); err != nil {
		return err
	}
	if c.Backup == "" {
		return config.Invalidf("name the backup to restore: a backup id (see kubectl qbackup list) or latest, e.g. kubectl qbackup restore latest")
	}
	if _, err := restore.ParseStrategy(c.Plan); err != nil {
		return config.Invalid(err)
	}
	if _, err := restore.ParseRename(c.Rename); err != nil {
		return config.Invalid(err)
	}
	if _, _, err := restore.ParseShards(c.Shards); err != nil {
		return config.Invalidf("--shards %s: %v", c.Shards, err)
	}
	if c.NoReshard && c.Shards != "" && c.Shards != "keep" {
		return config.Invalidf("--no-reshard and --shards %s contradict each other: give one of them", c.Shards)
	}
	if c.Workers < 0 || c.Workers > maxWorkers {
		return config.Invalidf("--workers %d: want 1 to %d pods, or 0 for the template's own setting", c.Workers, maxWorkers)
	}
	if c.WorkerRetries < 0 {
		return config.Invalidf("--worker-retries %d: want 0 or more retries per index", c.WorkerRetries)
	}
	return nil
}

func (c *restoreCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	strategy, err := restore.ParseStrategy(c.Plan)
	if err != nil {
		return config.Invalid(err)
	}
	rename, err := restore.ParseRename(c.Rename)
	if err != nil {
		return config.Invalid(err)
	}
	cs, ns, err := k.client()
	if err != nil {
		return err
	}
	// The template first: without an installation there is nothing to
	// check the cluster for.
	tpl, err := getCronJob(ctx, cs, ns, c.From)
	if err != nil {
		return err
	}
	client := func() (kubernetes.Interface, string, error) { return cs, ns, nil }
	_, installed, err := c.resolve(ctx, client)
	if err != nil {
		return err
	}
	nodes, err := kube.CountNodes(ctx, cs, ns, c.selector(ctx, cs, ns, installed))
	if err != nil {
		return err
	}
	if err := nodes.Check(); err != nil {
		if !c.AllowNodeMismatch || len(nodes.Ready) == 0 {
			return err
		}
		fmt.Fprintf(env.stderr, "warning: %v (going on: --allow-node-mismatch)\n", err)
	}
	l, err := loadBackup(ctx, env, c.storeFlags, client, c.Backup, true)
	if err != nil {
		return err
	}
	m := l.Manifest
	shards, autoShards, err := c.shards(installed)
	if err != nil {
		return err
	}
	peers := c.peersFlags.check(ctx, env, cs, tpl, nodes)
	if err := ctx.Err(); err != nil {
		// Interrupted while the query ran (its Job is deleted): stop.
		return err
	}
	planPods := nodes.Ready
	if peers.check.Known && len(peers.check.PlanPods) > 0 {
		// Qdrant's consensus, not the pod list, is what the Job plans on.
		planPods = peers.check.PlanPods
	}
	preview, err := kube.PreviewPlan(m, planPods, restore.PlanOptions{
		Strategy: strategy, TargetNode: c.TargetNode, Rename: rename, Shards: shards, AutoShards: autoShards,
	})
	if err != nil {
		return config.Invalid(err)
	}
	// With -o yaml the plan goes to stderr, so stdout is the object alone.
	out := env.stdout
	if c.Output == "yaml" {
		out = env.stderr
	}
	counts := fmt.Sprintf("pods in backup: %d, Ready pods now: %d", preview.SourcePods, len(nodes.Ready))
	if peers.check.Known {
		counts += fmt.Sprintf(", Qdrant peers: %d", peers.check.Peers)
	}
	fmt.Fprintf(out, "Backup %s of cluster %q: %s → %s\n", m.BackupID, m.Cluster, counts, preview.Strategy)
	fmt.Fprintf(out, "  %s\n", peers.line("restore", c.AllowNodeMismatch))
	fmt.Fprintf(out, "  %s\n  (read from %s%s; the restore Job makes the real plan against the live cluster)\n",
		preview.Reason, l.Source, peers.source())
	for _, cp := range preview.Collections {
		fmt.Fprintf(out, "  %s: %s, %s\n", cp.Name, cp.Strategy, cp.Reason)
	}

	job, err := kube.RestoreJobFromTemplate(tpl, kube.RestoreJobName(m.BackupID, env.now()), kube.RestoreArgs{
		BackupID: m.BackupID, Cluster: m.Cluster, Plan: c.Plan, TargetNode: c.TargetNode, Rename: c.Rename,
		Overwrite: c.Overwrite, AllowNodeMismatch: c.AllowNodeMismatch, Shards: c.shardsFlag(),
	})
	if err != nil {
		return config.Invalid(err)
	}
	if c.Workers > 0 {
		if err := kube.MakeIndexed(job, c.Workers, c.WorkerRetries); err != nil {
			return err
		}
	}
	job.Annotations[kube.PlanAnnotation] = fmt.Sprintf("%s (pods in backup: %d, Ready pods: %d, Qdrant peers: %s)", preview.Strategy, preview.SourcePods, len(nodes.Ready), peers.count())
	if !c.dryRun.enabled() && !c.Yes && env.interactive() {
		onto := "Ready pods"
		if peers.check.Known && len(peers.check.PlanPods) > 0 {
			onto = "Qdrant peers" // what the plan was made on
		}
		what := fmt.Sprintf("Restore backup %s onto the %d %s of namespace %s", m.BackupID, preview.TargetPods, onto, ns)
		if c.Overwrite {
			what += ", replacing the collections that exist"
		}
		if peers.disagrees() {
			// Said again where the answer is given.
			what += ", although Qdrant's peers and the pods disagree"
		}
		if !env.confirm(what + "?") {
			fmt.Fprintln(env.stderr, "Not confirmed: no restore Job was created.")
			return nil
		}
	}
	created, err := createJob(ctx, env, cs, job, c.dryRun)
	if err != nil || c.dryRun.enabled() {
		return err
	}
	return c.wait(ctx, env, cs, created)
}

// selector is the label selector of the Qdrant pods: the flag, else the
// installation's (in, or read now when --storage left it unread), else
// the default the installation ships with.
func (c *restoreCmd) selector(ctx context.Context, cs kubernetes.Interface, ns string, in *kube.Installed) string {
	if c.Selector != nil {
		return *c.Selector
	}
	if in == nil {
		in, _ = kube.ReadInstalled(ctx, cs, ns)
	}
	if in != nil && in.Values["QBACKUP_SELECTOR"] != "" {
		return in.Values["QBACKUP_SELECTOR"]
	}
	return "app.kubernetes.io/name=qdrant"
}

// shardsFlag is the --shards the Job gets: keep with --no-reshard, else
// the flag as given (empty: the installation's).
func (c *restoreCmd) shardsFlag() string {
	if c.NoReshard {
		return "keep"
	}
	return c.Shards
}

// shards is the shard choice the restore Job will follow: the flag, else
// the installation's QBACKUP_SHARDS (a bad installed value is named with
// where it was read).
func (c *restoreCmd) shards(installed *kube.Installed) (uint32, bool, error) {
	if f := c.shardsFlag(); f != "" || installed == nil {
		return restore.ParseShards(f)
	}
	v := installed.Values["QBACKUP_SHARDS"]
	n, auto, err := restore.ParseShards(v)
	if err != nil {
		return 0, false, config.Invalidf("QBACKUP_SHARDS=%s in %s: %v", v, installed.Source, err)
	}
	return n, auto, nil
}
