// Command kubectl-qbackup is the kubectl plugin of qbackup: `kubectl
// qbackup backup` starts a backup Job from the CronJob, `restore` creates a
// restore Job, `list` shows the backups. The plugin only creates objects;
// the Jobs in the cluster do the work. The logic lives in internal/kube;
// this package is wiring.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/restore"
	"github.com/qbackup/qbackup/internal/storage"
)

// Exit codes: the same meanings as the qbackup binary's.
const (
	exitOK           = 0
	exitFailure      = 1 // the operation failed; the message says why
	exitUsage        = 2 // bad flags or input; nothing was created
	exitClusterNotOK = 4 // the node-count check failed; nothing was created
	exitInterrupted  = 130
)

type cli struct {
	Kube kubeFlags `embed:""`

	Backup  backupCmd  `cmd:"" help:"Start a backup now: create a Job from the qbackup CronJob."`
	Restore restoreCmd `cmd:"" help:"Create a restore Job for a backup, after checking the Qdrant pods."`
	List    listCmd    `cmd:"" help:"List backups, newest first."`
}

// kubeFlags are the standard kubectl flags the plugin honours.
type kubeFlags struct {
	Kubeconfig string `name:"kubeconfig" help:"Kubeconfig file (default: $KUBECONFIG or ~/.kube/config)."`
	Namespace  string `name:"namespace" short:"n" help:"Namespace of qbackup and Qdrant (default: the kubeconfig context's)."`
}

// client connects to the API server and resolves the namespace.
func (k kubeFlags) client() (kubernetes.Interface, string, error) {
	cs, ns, err := discovery.NewKubeClient(k.Kubeconfig)
	if err != nil {
		return nil, "", err
	}
	if k.Namespace != "" {
		ns = k.Namespace
	}
	return cs, ns, nil
}

// runEnv is what every command's Run receives besides the context.
type runEnv struct {
	stdout, stderr io.Writer
	now            func() time.Time
}

// exitRequest carries kong's exit (after --help) out of the parser.
type exitRequest int

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without os.Exit and with its streams injected, so commands
// are testable in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("kubectl qbackup"),
		kong.Description("Back up and restore a distributed Qdrant with qbackup Jobs.\n\nExit codes: 0 ok, 1 failed, 2 usage or invalid input, 4 node-count check failed, 130 interrupted."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest(code)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil {
		fmt.Fprintln(stderr, "kubectl-qbackup:", err)
		return exitFailure
	}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			code = int(e)
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "kubectl-qbackup: %v (see kubectl qbackup --help)\n", err)
		return exitUsage
	}
	env := &runEnv{stdout: stdout, stderr: stderr, now: time.Now}
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(&c.Kube)
	if err := kctx.Run(env); err != nil {
		fmt.Fprintln(stderr, "kubectl-qbackup:", err)
		return exitCode(ctx, err)
	}
	return exitOK
}

func exitCode(ctx context.Context, err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, config.ErrInvalidInput):
		return exitUsage
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.Is(err, kube.ErrNodeCount):
		return exitClusterNotOK
	case errors.Is(err, inventory.ErrNoBackup), errors.Is(err, restore.ErrInvalidOptions),
		errors.Is(err, restore.ErrUnknownTargetNode), errors.Is(err, restore.ErrTooFewPods),
		errors.Is(err, storage.ErrInvalidURL), errors.Is(err, storage.ErrBucketNotFound),
		errors.Is(err, storage.ErrAccessDenied):
		return exitUsage
	}
	return exitFailure
}

// dryRun is kubectl's --dry-run flag; only the client mode is offered,
// because the plugin renders the object itself.
type dryRun struct {
	DryRun string `name:"dry-run" enum:"none,client" default:"none" help:"client: print the Job instead of creating it."`
	Output string `name:"output" short:"o" enum:",yaml" default:"" help:"yaml: print the Job (the one created, or with --dry-run=client the one that would be)."`
}

func (d dryRun) enabled() bool { return d.DryRun == "client" }
