// Package metrics pushes the outcome of a run to a Prometheus Pushgateway.
// A Job lives for minutes and is gone before Prometheus would scrape it,
// so each run pushes once, at its end: when it ran, how long, whether it
// succeeded, and what a successful backup stored or a successful
// rebalance changed.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	neturl "net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

// Job is the Pushgateway job label of every push.
const Job = "qbackup"

// Run is what one run reports.
type Run struct {
	// Command is backup, restore, rebalance, verify or prune; with Cluster it names
	// the Pushgateway group, so each command of each cluster keeps its
	// own last values.
	Command string
	Cluster string
	Start   time.Time
	End     time.Time
	// ExitCode is the run's exit code, 0 for success.
	ExitCode int
	// Backup figures, set by a successful backup.
	Bytes  int64
	Shards int
	Skew   time.Duration
	// Rebalance figures, set by a successful rebalance; all zero when it
	// found nothing to change.
	Rebalance Rebalance
}

// Rebalance is what a successful rebalance changed.
type Rebalance struct {
	// Collections whose replicas were moved, added or dropped.
	Collections int
	// Replica operations by kind.
	Moved, Replicated, Dropped int
	// Resharded counts the collections whose shard count changed.
	Resharded int
}

// Push sends r to the Pushgateway at url. It adds to the group rather
// than replacing it (HTTP POST), so the metrics only a success sets —
// the last success time, a backup's size — keep their values when a run
// fails: "time since the last success" is the alert that matters.
func Push(ctx context.Context, url string, client *http.Client, r Run) error {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "qbackup", Name: name, Help: help})
		g.Set(v)
		reg.MustRegister(g)
	}
	success := 0.0
	if r.ExitCode == 0 {
		success = 1
	}
	gauge("last_run_timestamp_seconds", "When the last run ended (Unix time).", float64(r.End.UnixNano())/1e9)
	gauge("last_run_duration_seconds", "How long the last run took.", r.End.Sub(r.Start).Seconds())
	gauge("last_run_success", "1 if the last run succeeded, else 0.", success)
	gauge("last_run_exit_code", "Exit code of the last run (see the README's table).", float64(r.ExitCode))
	if r.ExitCode == 0 {
		gauge("last_success_timestamp_seconds", "When the last successful run ended (Unix time).", float64(r.End.UnixNano())/1e9)
		switch r.Command {
		case "backup":
			gauge("backup_bytes", "Bytes stored by the last successful backup.", float64(r.Bytes))
			gauge("backup_shards", "Shards in the last successful backup.", float64(r.Shards))
			gauge("backup_skew_seconds", "Spread of the snapshot start times of the last successful backup.", r.Skew.Seconds())
		case "rebalance":
			rb := r.Rebalance
			gauge("rebalance_collections", "Collections whose replicas the last successful rebalance changed.", float64(rb.Collections))
			gauge("rebalance_replicas_moved", "Replicas the last successful rebalance moved to another peer.", float64(rb.Moved))
			gauge("rebalance_replicas_replicated", "Replicas the last successful rebalance added.", float64(rb.Replicated))
			gauge("rebalance_replicas_dropped", "Surplus replicas the last successful rebalance dropped.", float64(rb.Dropped))
			gauge("rebalance_collections_resharded", "Collections whose shard count the last successful rebalance changed.", float64(rb.Resharded))
		}
	}
	// Credentials in the URL go as basic auth, so no error (the push
	// library's included) ever carries them.
	target, user, pass := splitUserinfo(url)
	p := push.New(target, Job).Gatherer(reg).Grouping("cluster", r.Cluster).Grouping("command", r.Command)
	if user != "" {
		p = p.BasicAuth(user, pass)
	}
	if client != nil {
		p = p.Client(client)
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push metrics to the pushgateway at %s: %w", target, err)
	}
	return nil
}

// splitUserinfo returns the URL without its user:password part, and that
// part.
func splitUserinfo(u string) (target, user, pass string) {
	p, err := neturl.Parse(u)
	if err != nil || p.User == nil {
		return u, "", ""
	}
	user = p.User.Username()
	pass, _ = p.User.Password()
	p.User = nil
	return p.String(), user, pass
}
