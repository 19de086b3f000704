// Command qbackup-demo shows qbackup's main job end to end on the embedded
// defaults: it starts a simulated 3-pod Qdrant cluster in this process,
// loads sample data over REST, and drives the real qbackup binary to back
// the cluster up to a temporary folder, inspect and verify the backup,
// restore it onto 2 pods after a disaster (consolidation) and again onto
// 4 pods (redistribution), checking every point after each restore. It
// cleans up after itself, also on failure or Ctrl-C.
//
//	go run ./e2e/cmd/qbackup-demo --qbackup=bin/qbackup
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "\nqbackup-demo: FAILED:", err)
		os.Exit(1)
	}
}

// run is main without os.Exit, with its streams injected for the test.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("qbackup-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts options
	fs.StringVar(&opts.QBackup, "qbackup", "bin/qbackup", "path of the qbackup binary to drive")
	fs.Uint64Var(&opts.Seed, "seed", 1, "seed of the sample data and of the simulated placement")
	fs.BoolVar(&opts.Verbose, "v", false, "also show qbackup's logs")
	fs.DurationVar(&opts.Budget, "budget", 2*time.Minute, "wall time the demo should stay within (reported, not enforced)")
	timeout := fs.Duration("timeout", 5*time.Minute, "stop the demo (and clean up) after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return runDemo(ctx, opts, stdout)
}
