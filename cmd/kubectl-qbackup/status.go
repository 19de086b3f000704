package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/listing"
	"github.com/qbackup/qbackup/internal/printer"
)

type statusCmd struct {
	Output string `name:"output" short:"o" enum:"table,wide,name,json,yaml" default:"table" help:"Output format: table, wide (more Job columns), name (job.batch/<name> of the Jobs shown), json or yaml."`
	Last   int    `name:"last" default:"10" help:"How many of the newest Jobs to show."`
}

func (c *statusCmd) Help() string {
	return `Shows the installation in the namespace with kubectl access alone: the
schedule (and whether it is suspended), the image, when the last backup
was scheduled and succeeded, the last complete backup set (from the
backup summaries the Jobs record), and the newest backup, restore, verify
and rebalance Jobs with their outcome. The peers query Jobs of the restore
and rebalance previews are not among them: one is named, as a leftover
to delete, only once it has outlived the preview that made it.

Examples:
  kubectl qbackup status -n qdrant
  kubectl qbackup status -o json
  kubectl qbackup status -o wide
  kubectl qbackup status -o name --last=1 | xargs kubectl describe`
}

// Validate runs before anything is contacted.
func (c *statusCmd) Validate() error {
	if c.Last < 1 {
		return config.Invalidf("--last %d: show at least 1 job", c.Last)
	}
	return nil
}

// status is the `status -o json|yaml` document.
type status struct {
	Namespace       string            `json:"namespace"`
	Schedule        string            `json:"schedule"`
	TimeZone        string            `json:"timeZone,omitempty"`
	Suspended       bool              `json:"suspended"`
	Image           string            `json:"image"`
	RestoreTemplate bool              `json:"restoreTemplate"`
	LastScheduled   *metav1.Time      `json:"lastScheduled,omitempty"`
	LastSuccessful  *metav1.Time      `json:"lastSuccessful,omitempty"`
	Running         []string          `json:"running"`
	Jobs            []kube.JobSummary `json:"jobs"`
	// LeftoverQueries are peers query Jobs the preview that made them no
	// longer reads (it died, or its Role lacks delete on jobs): safe to
	// delete, and removed by their ttl anyway.
	LeftoverQueries    []kube.JobSummary `json:"leftoverQueries,omitempty"`
	LastCompleteBackup *kube.JobSummary  `json:"lastCompleteBackup,omitempty"`
	// LastCompleteSet is the newest complete backup set of the
	// installation's cluster, from the backup summaries; absent without
	// them (SetsNote says why).
	LastCompleteSet *listing.Backup `json:"lastCompleteSet,omitempty"`
	SetsNote        string          `json:"setsNote,omitempty"`
}

func (c *statusCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	cs, ns, err := k.client()
	if err != nil {
		return err
	}
	cj, err := getCronJob(ctx, cs, ns, "cronjob/"+kube.BackupCronJob)
	if err != nil {
		return err
	}
	st := status{Namespace: ns, Schedule: cj.Spec.Schedule, Suspended: cj.Spec.Suspend != nil && *cj.Spec.Suspend,
		LastScheduled: cj.Status.LastScheduleTime, LastSuccessful: cj.Status.LastSuccessfulTime, Running: []string{}}
	if cj.Spec.TimeZone != nil {
		st.TimeZone = *cj.Spec.TimeZone
	}
	if cs := cj.Spec.JobTemplate.Spec.Template.Spec.Containers; len(cs) > 0 {
		st.Image = cs[0].Image
	}
	if _, err := cs.BatchV1().CronJobs(ns).Get(ctx, kube.RestoreTemplate, metav1.GetOptions{}); err == nil {
		st.RestoreTemplate = true
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get cronjob %s in namespace %s: %w", kube.RestoreTemplate, ns, err)
	}
	st.LastCompleteSet, st.SetsNote = lastCompleteSet(ctx, cs, ns, env)
	jobs, err := kube.ListJobs(ctx, cs, ns)
	if err != nil {
		return err
	}
	jobs, st.LeftoverQueries = kube.SplitQueries(jobs, env.now())
	for i, j := range jobs {
		if j.Phase == "pending" || j.Phase == "running" {
			st.Running = append(st.Running, j.Job)
		}
		if j.Component == "backup" && j.Phase == "succeeded" && st.LastCompleteBackup == nil {
			st.LastCompleteBackup = &jobs[i]
		}
	}
	if len(jobs) > c.Last {
		jobs = jobs[:c.Last]
	}
	st.Jobs = jobs
	switch c.Output {
	case printer.JSON, printer.YAML:
		return printer.Structured(env.stdout, c.Output, st)
	case printer.Name:
		for _, j := range st.Jobs {
			fmt.Fprintf(env.stdout, "job.batch/%s\n", j.Job)
		}
		return nil
	}
	return c.table(env, st, c.Output == printer.Wide)
}

// table prints the installation, then the Jobs; wide adds each Job's
// newest pod, its attempts and the start and end times.
func (c *statusCmd) table(env *runEnv, st status, wide bool) error {
	now := env.now()
	ago := func(t *metav1.Time) string {
		if t == nil {
			return "never"
		}
		return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), now.Sub(t.Time).Round(time.Second))
	}
	state := "active"
	if st.Suspended {
		state = "SUSPENDED"
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Namespace:\t%s\n", st.Namespace)
	fmt.Fprintf(tw, "Schedule:\t%s, %s\n", strings.TrimSpace(st.Schedule+" "+st.TimeZone), state)
	fmt.Fprintf(tw, "Image:\t%s\n", st.Image)
	if !st.RestoreTemplate {
		fmt.Fprintf(tw, "Restore template:\tmissing (cronjob/%s): kubectl qbackup restore and rebalance cannot create Jobs; reinstall the overlay (kubectl apply -k kustomize/overlays/<env>)\n", kube.RestoreTemplate)
	}
	fmt.Fprintf(tw, "Last scheduled:\t%s\n", ago(st.LastScheduled))
	fmt.Fprintf(tw, "Last successful:\t%s\n", ago(st.LastSuccessful))
	if st.LastCompleteBackup != nil {
		fmt.Fprintf(tw, "Last backup Job succeeded:\t%s\n", st.LastCompleteBackup.Job)
	}
	if b := st.LastCompleteSet; b != nil {
		verified := ""
		if b.VerifyStatus != "" && b.VerifyStatus != catalog.VerifyUnverified {
			verified = ", " + b.VerifyStatus
		}
		if b.FinishedAt.IsZero() {
			// The summary of a set whose manifest is encrypted: its
			// start (from the id) and size, nothing else.
			fmt.Fprintf(tw, "Last complete set:\t%s (started %s, %s ago; manifest encrypted, %s%s)\n", b.BackupID,
				printer.Time(b.StartedAt), now.Sub(b.StartedAt).Round(time.Second), printer.Bytes(b.TotalBytes), verified)
		} else {
			fmt.Fprintf(tw, "Last complete set:\t%s (finished %s, %s ago; %d collections, %d shards, %s%s)\n", b.BackupID,
				printer.Time(b.FinishedAt), now.Sub(b.FinishedAt).Round(time.Second), b.CollectionCount, b.ShardCount, printer.Bytes(b.TotalBytes), verified)
		}
	} else {
		fmt.Fprintf(tw, "Last complete set:\t%s\n", st.SetsNote)
	}
	running := "none"
	if len(st.Running) > 0 {
		running = fmt.Sprint(st.Running)
	}
	fmt.Fprintf(tw, "Running:\t%s\n", running)
	for _, j := range st.LeftoverQueries {
		fmt.Fprintf(tw, "Leftover query Job:\t%s (%s, %s old; its ttl removes it 5m after it ended): kubectl -n %s delete job %s\n",
			j.Job, j.Phase, now.Sub(j.Created.Time).Round(time.Second), st.Namespace, j.Job)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout)
	tw = tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	head := "JOB\tKIND\tSTATUS\tAGE\tDURATION\tEXIT"
	if wide {
		head += "\tPOD\tATTEMPTS\tSTARTED\tFINISHED"
	}
	fmt.Fprintln(tw, head+"\tMESSAGE")
	for _, j := range st.Jobs {
		duration, exit := "-", "-"
		if !j.Started.IsZero() && !j.Finished.IsZero() {
			duration = printer.Duration(j.Finished.Sub(j.Started))
		} else if !j.Started.IsZero() {
			duration = printer.Duration(now.Sub(j.Started))
		}
		if j.Phase == "succeeded" || j.Phase == "failed" {
			exit = fmt.Sprint(j.ExitCode)
		}
		// A Job that ended says how: its run's termination message, the
		// summary of a success or the error of a failure (whole with -o
		// wide).
		msg := j.Reason
		if j.Message != "" && (j.Phase == "failed" || j.Phase == "succeeded") {
			msg = j.Message
			if !wide {
				msg = truncate(msg, 80)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s", j.Job, j.Component, j.Phase,
			now.Sub(j.Created.Time).Round(time.Second), duration, exit)
		if wide {
			fmt.Fprintf(tw, "\t%s\t%d\t%s\t%s", printer.Dash(j.Pod), j.Attempts, printer.Time(j.Started), printer.Time(j.Finished))
		}
		fmt.Fprintf(tw, "\t%s\n", msg)
	}
	return tw.Flush()
}

// lastCompleteSet is the newest complete, not corrupt set of the
// installation's cluster among the backup summaries, or why there is
// none: status reads no storage. A refused or failed read is a note, not
// a failed status.
func lastCompleteSet(ctx context.Context, cs kubernetes.Interface, ns string, env *runEnv) (*listing.Backup, string) {
	cluster := "default"
	if in, err := kube.ReadInstalled(ctx, cs, ns); err == nil && in.Values["QBACKUP_CLUSTER"] != "" {
		cluster = in.Values["QBACKUP_CLUSTER"]
	}
	sums, err := readSummaryList(ctx, cs, ns, cluster, "", env.stderr)
	if err != nil {
		if forbiddenHint(err) != "" {
			return nil, fmt.Sprintf("unknown: %v (the %s Role grants list on configmaps)", err, operatorRole)
		}
		return nil, "unknown: " + err.Error()
	}
	for _, s := range sums {
		if s.Status == catalog.StatusComplete && s.VerifyStatus != catalog.VerifyCorrupt {
			row := s.Row()
			return &row, ""
		}
	}
	if len(sums) == 0 {
		return nil, fmt.Sprintf("no backup summaries of cluster %q in the namespace yet (kubectl qbackup list reads storage)", cluster)
	}
	return nil, fmt.Sprintf("none among the %d backup summaries of cluster %q", len(sums), cluster)
}

// truncate shortens s to n runes for a table cell.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
