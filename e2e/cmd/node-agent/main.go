// Command node-agent runs the test stack's node agent by hand: it
// registers a Node, schedules the Pending Pods of the given namespaces on
// it and runs their containers as local processes (see e2e/nodeagent).
//
//	source "$(e2e/stack/stack.sh env-file)"
//	go build -o bin/qbackup ./cmd/qbackup
//	sudo -E go run ./e2e/cmd/node-agent -namespace qdrant-dev -qbackup bin/qbackup
//
// It stops on SIGINT or SIGTERM, killing its containers and removing its
// Pods and Node.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/qbackup/qbackup/e2e/nodeagent"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig with admin rights (default $KUBECONFIG)")
	namespaces := flag.String("namespace", "", "comma-separated namespaces to run Pods of (default all)")
	qbackup := flag.String("qbackup", "bin/qbackup", "the built qbackup binary, run for qbackup:* images")
	node := flag.String("node", "", "Node name (default qbackup-node-<random>)")
	state := flag.String("state-dir", "", "directory for volumes and logs (default a new temporary directory)")
	flag.Parse()
	if err := run(*kubeconfig, *namespaces, *qbackup, *node, *state); err != nil {
		fmt.Fprintln(os.Stderr, "node-agent:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, namespaces, qbackup, node, state string) error {
	if kubeconfig == "" {
		return fmt.Errorf("no kubeconfig: pass -kubeconfig or source the stack's env file")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load %s: %w", kubeconfig, err)
	}
	bin, err := filepath.Abs(qbackup)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("qbackup binary: %w (build it with: go build -o bin/qbackup ./cmd/qbackup)", err)
	}
	if state == "" {
		if state, err = os.MkdirTemp("", "node-agent-"); err != nil {
			return err
		}
		defer os.RemoveAll(state)
	}
	var nss []string
	if namespaces != "" {
		nss = strings.Split(namespaces, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := nodeagent.Start(ctx, nodeagent.Config{
		Kube: cfg, NodeName: node, Namespaces: nss, StateDir: state,
		Images: map[string]nodeagent.Image{"qbackup": {Binary: bin, Entrypoint: "/usr/local/bin/qbackup", User: 65532, Group: 65532}},
		Log:    slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	return a.Close()
}
