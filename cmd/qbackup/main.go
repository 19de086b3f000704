// Command qbackup takes and restores cluster-wide backups of a distributed
// Qdrant. It runs as a one-shot Kubernetes Job or CronJob: each command does
// its work and exits; the exit code tells the scheduler what happened.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/grpclog"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/printer"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type app struct {
	Log     logOptions     `embed:"" prefix:"log-"`
	Metrics metricsOptions `embed:"" prefix:"metrics-"`

	Backup    backupCmd    `cmd:"" help:"Take one cluster-wide backup set."`
	Restore   restoreCmd   `cmd:"" help:"Restore a backup set, also onto a cluster with a different pod count."`
	Rebalance rebalanceCmd `cmd:"" help:"Spread the replicas of a live cluster over its Ready pods and restore each replication factor."`
	List      listCmd      `cmd:"" help:"List backups, newest first."`
	Describe  describeCmd  `cmd:"" help:"Show one backup in full."`
	Peers     peersCmd     `cmd:"" help:"Show what each Ready Qdrant pod says of the cluster: peer id, peers in consensus, raft role (read-only)."`
	Verify    verifyCmd    `cmd:"" help:"Re-read a backup and check every object against the manifest."`
	Prune     pruneCmd     `cmd:"" help:"Apply the retention rules and remove failed and orphaned sets."`
	Catalog   catalogCmd   `cmd:"" help:"Manage the catalog (TiDB or any MySQL-compatible server)."`
	Version   versionCmd   `cmd:"" help:"Print the qbackup version."`
}

func main() {
	// Before any gRPC activity: SetLoggerV2 is not safe to call later.
	grpclog.SetLoggerV2(slogGRPC{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without os.Exit and with its streams injected, so commands
// and the exit code mapping are testable in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c app
	termLog := terminationLogPath(os.Getenv, fileExists)
	parseErr := &lastLineWriter{w: stderr}
	kctx, code, ok := cli.Parse(&c, cli.Program{Name: "qbackup", Description: "Cluster-coordinated backup and restore for distributed Qdrant.", Stdout: stdout, Stderr: parseErr}, args, defaultVars())
	if !ok {
		if code != cli.ExitOK {
			// A refused configuration is the failure an operator most
			// needs to see in the pod's status; the parser has said why
			// on stderr.
			_ = writeTerminationMessage(termLog, terminationMessage(code, errors.New(strings.TrimPrefix(parseErr.last(), "qbackup: ")), ""))
		}
		return code
	}
	logger, structured := c.Log.logger(stderr)
	grpcLogger.Store(logger)
	if path := os.Getenv(cpuProfileEnv); path != "" {
		stopProfile, err := startCPUProfile(path)
		if err != nil {
			fmt.Fprintln(stderr, "qbackup:", err)
			return cli.ExitUsage
		}
		defer func() {
			if err := stopProfile(); err != nil {
				logger.Warn("the CPU profile was not written", "error", err)
			}
		}()
	}
	env := &runEnv{stdout: stdout, stderr: stderr, log: logger}
	kctx.BindTo(ctx, (*context.Context)(nil))
	start := time.Now()
	events := startEvents(kctx.Command(), env)
	err := kctx.Run(env)
	events.end(err, cli.ExitCode(ctx, err))
	c.Metrics.push(kctx.Command(), env, start, cli.ExitCode(ctx, err))
	if err != nil {
		// One record of the failure: a JSON line for log collectors in a
		// pod, a plain sentence on a terminal.
		if structured {
			logger.Error("command failed", "command", kctx.Command(), "error", err, "exit_code", cli.ExitCode(ctx, err))
		} else {
			fmt.Fprintln(stderr, "qbackup:", err)
		}
	} else if structured && env.summary != "" {
		// What the run did, in one line of the log that kubectl qbackup
		// ... --wait shows (the report on stdout is for a terminal).
		logger.Info(printer.SummaryMessage, "command", kctx.Command(), "summary", env.summary)
	}
	// The same outcome in one line as the container's termination
	// message, for kubectl describe and kubectl qbackup status.
	if werr := writeTerminationMessage(termLog, terminationMessage(cli.ExitCode(ctx, err), err, env.summary)); werr != nil {
		logger.Warn("the termination message was not written; Kubernetes shows the log's tail instead", "error", werr)
	}
	return cli.ExitCode(ctx, err)
}
