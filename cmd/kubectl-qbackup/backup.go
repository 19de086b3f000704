package main

import (
	"context"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/kube"
)

// maxWorkers is qbackup backup's own bound on --workers.
const maxWorkers = 256

type backupCmd struct {
	From          string `name:"from" default:"cronjob/qbackup" help:"The CronJob whose jobTemplate the Job is made from."`
	Workers       int    `name:"workers" default:"0" help:"Take the backup with this many pods, as an Indexed Job (completions and parallelism N, each index retried on its own); 0 keeps the CronJob's own setting."`
	WorkerRetries int    `name:"worker-retries" default:"2" help:"With --workers, the retries each index gets (backoffLimitPerIndex)."`
	dryRun        `embed:""`
	waitFlags     `embed:""`
}

func (c *backupCmd) Help() string {
	return `Creates a Job from the qbackup CronJob's jobTemplate, as
kubectl create job --from=cronjob/qbackup does: same configuration, owned
by the CronJob, annotated as a manual run. The backup holds qbackup's lock,
so it cannot overlap a scheduled run.

Examples:
  kubectl qbackup backup -n qdrant
  kubectl qbackup backup -n qdrant --wait
  kubectl qbackup backup --dry-run=client -o yaml
  kubectl qbackup backup --dry-run=server     # may I? does admission accept it?
  kubectl qbackup backup --workers=4 --wait   # one set, taken by 4 pods`
}

// Validate runs before the API server is contacted.
func (c *backupCmd) Validate() error {
	if err := c.waitFlags.Validate(); err != nil {
		return err
	}
	if c.Workers < 0 || c.Workers > maxWorkers {
		return config.Invalidf("--workers %d: want 1 to %d pods, or 0 for the CronJob's own setting", c.Workers, maxWorkers)
	}
	if c.WorkerRetries < 0 {
		return config.Invalidf("--worker-retries %d: want 0 or more retries per index", c.WorkerRetries)
	}
	return validateFrom(c.From, "qbackup")
}

// validateFrom checks a --from flag's cronjob/<name> form.
func validateFrom(from, example string) error {
	if name, ok := strings.CutPrefix(from, "cronjob/"); !ok || name == "" {
		return config.Invalidf("--from %q: want cronjob/<name>, e.g. --from=cronjob/%s", from, example)
	}
	return nil
}

// getCronJob reads the CronJob a --from flag names; a missing one means
// qbackup is not installed in the namespace.
func getCronJob(ctx context.Context, cs kubernetes.Interface, ns, from string) (*batchv1.CronJob, error) {
	name, _ := strings.CutPrefix(from, "cronjob/")
	cj, err := cs.BatchV1().CronJobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, config.Invalidf("cronjob %q not found in namespace %q: install qbackup there (kubectl apply -k kustomize/overlays/<env>) or name the namespace with -n", name, ns)
	}
	if err != nil {
		return nil, fmt.Errorf("get cronjob %s in namespace %s: %w", name, ns, err)
	}
	return cj, nil
}

func (c *backupCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	cs, ns, err := k.client()
	if err != nil {
		return err
	}
	cj, err := getCronJob(ctx, cs, ns, c.From)
	if err != nil {
		return err
	}
	job := kube.JobFromCronJob(cj, kube.ManualJobName(cj.Name, env.now()))
	if c.Workers > 0 {
		if err := kube.MakeIndexedBackup(job, c.Workers, c.WorkerRetries); err != nil {
			return err
		}
	}
	created, err := createJob(ctx, env, cs, job, c.dryRun)
	if err != nil || c.dryRun.enabled() {
		return err
	}
	return c.wait(ctx, env, cs, created)
}

// createJob creates job; with --dry-run=client it only renders it, with
// --dry-run=server the API server runs the create through admission and
// RBAC and persists nothing. It reports as kubectl does: the object with
// -o yaml (the API server's answer, defaults filled in, unless client),
// else one line.
func createJob(ctx context.Context, env *runEnv, cs kubernetes.Interface, job *batchv1.Job, d dryRun) (*batchv1.Job, error) {
	suffix := " (dry run)"
	if d.DryRun != "client" {
		opts := metav1.CreateOptions{}
		if d.DryRun == "server" {
			opts.DryRun, suffix = []string{metav1.DryRunAll}, " (server dry run)"
		} else {
			suffix = ""
		}
		created, err := cs.BatchV1().Jobs(job.Namespace).Create(ctx, job, opts)
		if err != nil {
			return nil, fmt.Errorf("create job %s%s: %w", job.Name, suffix, err)
		}
		job = created
	}
	if d.Output == "yaml" {
		b, err := kube.JobYAML(job)
		if err != nil {
			return nil, err
		}
		_, err = env.stdout.Write(b)
		return job, err
	}
	fmt.Fprintf(env.stdout, "job.batch/%s created%s\n", job.Name, suffix)
	return job, nil
}
