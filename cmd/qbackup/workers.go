package main

import (
	"errors"
	"strconv"
	"time"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/workerset"
)

// workerFlags make a backup or a restore one worker of several: the pods
// of an Indexed Job (see the README's "Backup across several pods" and
// "Restore across several pods").
type workerFlags struct {
	Workers       int           `name:"workers" env:"QBACKUP_WORKERS" default:"1" help:"Run with this many workers, one pod each (a Kubernetes Indexed Job with as many completions); 1 is a single run."`
	WorkerIndex   int           `name:"worker-index" env:"JOB_COMPLETION_INDEX" default:"0" help:"This worker's index, 0 to --workers minus 1; in an Indexed Job, Kubernetes sets JOB_COMPLETION_INDEX. Worker 0 plans, holds the cluster lock and finishes the run (a backup's commit, a restore's verification)."`
	SetID         string        `name:"set-id" env:"QBACKUP_SET_ID" help:"Names the set all workers of one run share; required with --workers above 1. The Job passes its uid (label batch.kubernetes.io/controller-uid) through the downward API."`
	PlanWait      time.Duration `name:"plan-wait" env:"QBACKUP_PLAN_WAIT" default:"${default_plan_wait}" help:"How long a worker waits for worker 0's plan."`
	PartsWait     time.Duration `name:"parts-wait" env:"QBACKUP_PARTS_WAIT" default:"${default_parts_wait}" help:"How long worker 0 waits for the other workers' parts after its own; then the run fails."`
	WorkerRetries int           `name:"worker-retries" env:"QBACKUP_WORKER_RETRIES" default:"0" help:"Retries the Job gives each index (its backoffLimitPerIndex): a worker that fails with none left fails the run at once."`
	// WorkerFailures is a string: the downward API gives "" for an
	// annotation a pod lacks, which counts as none.
	WorkerFailures string `name:"worker-failures" env:"QBACKUP_WORKER_FAILURES" help:"Earlier failures of this index (the pod annotation batch.kubernetes.io/job-index-failure-count, through the downward API); empty is 0."`
}

// maxWorkers: every worker polls storage for the set's records and the
// plan lists every shard with its worker; beyond this the peers, not the
// workers, are the limit.
const maxWorkers = 256

// validate checks the flags; component names the kustomize component
// that renders such a Job.
func (c *workerFlags) validate(component string) error {
	if err := config.IntAtLeast("workers", "QBACKUP_WORKERS", c.Workers, 1, maxWorkers, "each worker polls storage and the plan lists every shard")(); err != nil {
		return err
	}
	switch {
	case c.WorkerIndex < 0 || c.WorkerIndex >= c.Workers:
		return config.Invalidf("--worker-index %d (JOB_COMPLETION_INDEX): must be 0 to %d for --workers %d (QBACKUP_WORKERS): give the Job as many completions as workers", c.WorkerIndex, c.Workers-1, c.Workers)
	case c.Workers == 1:
		return nil
	case c.SetID == "":
		return config.Invalidf("--workers %d (QBACKUP_WORKERS) needs --set-id (QBACKUP_SET_ID), the same for every worker of the set: in a Job, the Job's uid from the downward API (see %s)", c.Workers, component)
	case !workerset.ValidSetID(c.SetID):
		return config.Invalidf("--set-id %q (QBACKUP_SET_ID): use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", c.SetID)
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
func (c *workerFlags) workerFailures() (int, error) {
	if c.WorkerFailures == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(c.WorkerFailures)
	if err == nil && n < 0 {
		err = errors.New("negative")
	}
	return n, err
}

// finalAttempt: the Job does not retry this index if it fails.
func (c *workerFlags) finalAttempt() bool {
	n, _ := c.workerFailures() // checked by validate
	return n >= c.WorkerRetries
}
