package main

import (
	"context"
	"fmt"
	"runtime"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qbackup/qbackup/internal/kube"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

type versionCmd struct {
	Client bool `name:"client" help:"Print the plugin's version only; do not contact the cluster."`
}

// Run prints the plugin's version and, as kubectl version does for the
// server, what the namespace's installation runs: a plugin and Jobs of
// different releases are the first thing to rule out.
func (c *versionCmd) Run(ctx context.Context, env *runEnv, k *kubeFlags) error {
	fmt.Fprintf(env.stdout, "Plugin: kubectl-qbackup %s (%s)\n", version, runtime.Version())
	if c.Client {
		return nil
	}
	cs, ns, err := k.client()
	if err != nil {
		return err
	}
	cj, err := cs.BatchV1().CronJobs(ns).Get(ctx, kube.BackupCronJob, metav1.GetOptions{})
	if err != nil {
		fmt.Fprintf(env.stdout, "Installed in %s: unknown (%v)\n", ns, err)
		return nil
	}
	for _, ct := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers {
		fmt.Fprintf(env.stdout, "Installed in %s: %s (cronjob/%s)\n", ns, ct.Image, cj.Name)
	}
	return nil
}
