// Command kubectl-qbackup is the kubectl plugin of qbackup: `kubectl
// qbackup backup` starts a backup Job from the CronJob, `restore` creates a
// restore Job, `list` shows the backups. The plugin only creates objects;
// the Jobs in the cluster do the work. The logic lives in internal/kube;
// this package is wiring.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/inventory"
)

type app struct {
	Kube kubeFlags `embed:""`

	Backup    backupCmd    `cmd:"" help:"Start a backup now: create a Job from the qbackup CronJob."`
	Restore   restoreCmd   `cmd:"" help:"Create a restore Job for a backup, after checking the Qdrant pods."`
	Rebalance rebalanceCmd `cmd:"" help:"Create a Job that spreads the replicas over the Ready Qdrant pods and meets each replication factor."`
	List      listCmd      `cmd:"" help:"List backups, newest first."`
	Status    statusCmd    `cmd:"" help:"Show the schedule and the newest backup and restore Jobs, with kubectl access alone."`
	Logs      logsCmd      `cmd:"" help:"Print (or follow with -f) the log of a qbackup Job."`

	Describe describeCmd `cmd:"" help:"Show one backup in full: peers, collections, shards, sizes, skew, verification."`
	Verify   verifyCmd   `cmd:"" help:"Check a backup's objects against its manifest, in a Job with the installation's credentials."`
	Schedule scheduleCmd `cmd:"" help:"Suspend or resume the backup schedule (the CronJob's spec.suspend)."`
	Version  versionCmd  `cmd:"" help:"Print the plugin's version and the image the namespace's installation runs."`

	Completion completionCmd `cmd:"" help:"Print a shell completion script (bash, zsh, fish) or the kubectl_complete-qbackup helper."`
}

// runEnv is what every command's Run receives besides the context.
type runEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	// interactive says whether a person answers on stdin (a terminal).
	interactive func() bool
}

// confirm asks question on stderr and reads the answer from stdin: only
// y or yes (any case) confirms.
func (e *runEnv) confirm(question string) bool {
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(e.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

func init() {
	// Messages about backups point at this binary's own list.
	inventory.ListCommand = "kubectl qbackup list"
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// stdin is where answers are read, and stdinIsTerminal says whether a
// person types them; tests stand in for a terminal.
var (
	stdin           io.Reader = os.Stdin
	stdinIsTerminal           = func() bool { return term.IsTerminal(int(os.Stdin.Fd())) }
)

// run is main without os.Exit and with its streams injected, so commands
// are testable in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdout, stderr, nil, time.Now)
}

// runWith is run with the API server (nil: the one the flags name) and
// the clock injected.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, connect clientFunc, now func() time.Time) int {
	// Completion reads a half-typed line, which kong would refuse: it is
	// answered before parsing.
	if len(args) > 0 && args[0] == completeCommand {
		newCompleter().complete(ctx, args[1:], stdout)
		return cli.ExitOK
	}
	var c app
	kctx, code, ok := cli.Parse(&c, cli.Program{Name: "kubectl qbackup", Description: "Back up and restore a distributed Qdrant with qbackup Jobs.", Stdout: stdout, Stderr: stderr}, args)
	if !ok {
		return code
	}
	c.Kube.connect = connect
	env := &runEnv{stdin: stdin, stdout: stdout, stderr: stderr, now: now, interactive: stdinIsTerminal}
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(&c.Kube)
	if err := kctx.Run(env); err != nil {
		fmt.Fprintln(stderr, "kubectl-qbackup:", err)
		if hint := forbiddenHint(err); hint != "" {
			fmt.Fprintln(stderr, hint)
		}
		return cli.ExitCode(ctx, err)
	}
	return cli.ExitOK
}

// dryRun is kubectl's --dry-run flag, with kubectl's meanings.
type dryRun struct {
	DryRun string `name:"dry-run" enum:"none,client,server" default:"none" help:"client: print the Job, send nothing; server: send it with dryRun=All, so admission and RBAC check it, and print what would be created; none: create it."`
	Output string `name:"output" short:"o" enum:",yaml" default:"" help:"yaml: print the Job (the one created, or with --dry-run the one that would be)."`
}

// enabled says that nothing is to be created.
func (d dryRun) enabled() bool { return d.DryRun != "none" }
