package main

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/kube"
)

type scheduleCmd struct {
	Suspend scheduleSuspendCmd `cmd:"" help:"Suspend the backup schedule: the CronJob starts no Job until resumed."`
	Resume  scheduleResumeCmd  `cmd:"" help:"Resume the backup schedule."`
}

func (c *scheduleCmd) Help() string {
	return `Suspends or resumes the backup CronJob (its spec.suspend), as
kubectl patch cronjob/qbackup -p '{"spec":{"suspend":true}}' does. A
suspended schedule starts no Job; Jobs already running go on, and
kubectl qbackup backup still starts one by hand. status shows whether the
schedule is suspended. Needs patch on cronjobs (the qbackup-operator
Role has it).

Examples:
  kubectl qbackup -n qdrant schedule suspend     # before maintenance
  kubectl qbackup -n qdrant schedule resume`
}

// scheduleFlags name the CronJob; the restore template is refused, as it
// must stay suspended (resumed, it would restore on a schedule).
type scheduleFlags struct {
	From string `name:"from" default:"cronjob/qbackup" help:"The backup CronJob to suspend or resume."`
}

func (f scheduleFlags) Validate() error {
	if err := validateFrom(f.From, kube.BackupCronJob); err != nil {
		return err
	}
	if name, _ := strings.CutPrefix(f.From, "cronjob/"); name == kube.RestoreTemplate {
		return config.Invalidf("--from %s is the restore template, which stays suspended: kubectl qbackup restore makes Jobs from it; name the backup CronJob (default cronjob/%s)", f.From, kube.BackupCronJob)
	}
	return nil
}

type scheduleSuspendCmd struct{ scheduleFlags }

type scheduleResumeCmd struct{ scheduleFlags }

func (c *scheduleSuspendCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	return setSuspend(ctx, env, k, c.From, true)
}

func (c *scheduleResumeCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	return setSuspend(ctx, env, k, c.From, false)
}

// setSuspend patches spec.suspend of the CronJob from names, and says
// so as kubectl does (with "no change" when it already was).
func setSuspend(ctx context.Context, env *runEnv, k *kubeFlags, from string, suspend bool) error {
	cs, ns, err := k.client()
	if err != nil {
		return err
	}
	cj, err := getCronJob(ctx, cs, ns, from)
	if err != nil {
		return err
	}
	done := map[bool]string{true: "suspended", false: "resumed"}[suspend]
	if was := cj.Spec.Suspend != nil && *cj.Spec.Suspend; was == suspend {
		fmt.Fprintf(env.stdout, "cronjob.batch/%s %s (no change)\n", cj.Name, done)
		return nil
	}
	patch := fmt.Appendf(nil, `{"spec":{"suspend":%t}}`, suspend)
	if _, err := cs.BatchV1().CronJobs(ns).Patch(ctx, cj.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("patch cronjob %s in namespace %s (spec.suspend=%t): %w", cj.Name, ns, suspend, err)
	}
	fmt.Fprintf(env.stdout, "cronjob.batch/%s %s\n", cj.Name, done)
	return nil
}
