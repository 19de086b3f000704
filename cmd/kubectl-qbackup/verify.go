package main

import (
	"context"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/manifest"
)

type verifyCmd struct {
	Backup    string `arg:"" name:"backup" optional:"" default:"latest" help:"Backup id, or latest (the newest complete set)."`
	From      string `name:"from" default:"cronjob/qbackup" help:"The CronJob whose configuration (image, settings, secrets) the verify Job runs with."`
	dryRun    `embed:""`
	waitFlags `embed:""`
}

func (c *verifyCmd) Help() string {
	return `Creates a Job that runs qbackup verify in the cluster, with the backup
CronJob's configuration: it re-reads every object of the backup and checks
its size and SHA-256 against the manifest, and records the result in the
catalog when there is one. The storage credentials stay in the cluster.
--wait follows the Job and exits with its exit code: 0 intact, 5 corrupt
or missing objects.

Examples:
  kubectl qbackup verify latest --wait
  kubectl qbackup verify 20261125T133000Z-3f9c --dry-run=client -o yaml`
}

// Validate runs before the API server is contacted.
func (c *verifyCmd) Validate() error {
	if err := validateFrom(c.From, kube.BackupCronJob); err != nil {
		return err
	}
	if err := c.waitFlags.Validate(); err != nil {
		return err
	}
	if c.Backup != "latest" && !manifest.IsBackupID(c.Backup) {
		return config.Invalidf("%q is not a backup id (e.g. 20261125T133000Z-3f9c) or latest: see kubectl qbackup list", c.Backup)
	}
	return nil
}

func (c *verifyCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	cs, ns, err := k.client()
	if err != nil {
		return err
	}
	cj, err := getCronJob(ctx, cs, ns, c.From)
	if err != nil {
		return err
	}
	job, err := kube.VerifyJobFromCronJob(cj, c.Backup, env.now())
	if err != nil {
		return config.Invalid(err)
	}
	created, err := createJob(ctx, env, cs, job, c.dryRun)
	if err != nil || c.dryRun.enabled() {
		return err
	}
	return c.wait(ctx, env, cs, created)
}
