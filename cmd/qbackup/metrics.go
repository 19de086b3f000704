package main

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/metrics"
)

type metricsOptions struct {
	Pushgateway string `name:"pushgateway" env:"QBACKUP_METRICS_PUSHGATEWAY" help:"Prometheus Pushgateway URL; backup, restore, rebalance, verify and prune push their outcome there at the end of each run."`
}

// pushTimeout bounds the push: a silent Pushgateway must not hold up the
// Job's exit, and the run's own context may already be cancelled.
const pushTimeout = 10 * time.Second

// Validate runs before anything is contacted.
func (o metricsOptions) Validate() error {
	if o.Pushgateway == "" {
		return nil
	}
	u, err := url.Parse(o.Pushgateway)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return config.Invalidf("--metrics-pushgateway (QBACKUP_METRICS_PUSHGATEWAY) %q: want an http:// or https:// URL such as http://pushgateway.monitoring:9091", o.Pushgateway)
	}
	return nil
}

// push sends the run's outcome when a Pushgateway is configured and the
// command is one that runs on a schedule. A failed push is logged and
// never changes the run's exit code.
func (o metricsOptions) push(command string, env *runEnv, start time.Time, exitCode int) {
	name, _, _ := strings.Cut(command, " ")
	switch name {
	case "backup", "restore", "rebalance", "verify", "prune":
	default:
		return
	}
	if o.Pushgateway == "" || env.report.Cluster == "" {
		return
	}
	r := env.report
	r.Command, r.Start, r.End, r.ExitCode = name, start, time.Now(), exitCode
	ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
	defer cancel()
	target := o.Pushgateway
	if u, err := url.Parse(target); err == nil {
		target = u.Redacted()
	}
	if err := metrics.Push(ctx, o.Pushgateway, nil, r); err != nil {
		env.log.Warn("metrics not pushed", "pushgateway", target, "error", err)
		return
	}
	env.log.Info("metrics pushed", "pushgateway", target, "command", name, "cluster", r.Cluster, "exit_code", exitCode)
}
