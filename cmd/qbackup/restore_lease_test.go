package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
)

// TestRestoreTakesTheClusterLock: a restore refuses (exit 3, naming the
// holder) while a backup or another restore of the cluster holds the
// cluster lock, and a rerun after a crash proceeds once the dead holder's
// lock has expired.
func TestRestoreTakesTheClusterLock(t *testing.T) {
	s := startCLISim(t, qdrantsim.Options{})
	mustQbackup(t, s.args("backup")...)
	store, err := cli.OpenStore(context.Background(), config.Source{Storage: s.storage}, config.Secrets{}, false)
	if err != nil {
		t.Fatal(err)
	}

	for _, holder := range []struct{ name, op string }{
		{"backup-pod-1", "backup 20261206T070000Z-abcd"},
		{"restore-pod-1", "restore of backup 20261206T070000Z-abcd"},
	} {
		t.Run("refused while "+holder.op+" runs", func(t *testing.T) {
			_, release, err := lease.Hold(context.Background(), lease.Options{Cluster: "prod", Holder: holder.name, Operation: holder.op, Store: store})
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			code, _, errOut := qbackup(t, s.args("restore", "latest", "--rename=_r")...)
			if code != cli.ExitLocked || !strings.Contains(errOut, holder.name) || !strings.Contains(errOut, holder.op) {
				t.Fatalf("exit %d, want %d naming %s and %q\nstderr: %s", code, cli.ExitLocked, holder.name, holder.op, errOut)
			}
			if got := collectionNames(t, s); strings.Contains(got, "docs_r") {
				t.Fatalf("the refused restore created collections: %s", got)
			}
		})
	}

	t.Run("a rerun after a crash proceeds once the dead lock expired", func(t *testing.T) {
		dead := fmt.Sprintf(`{"holder":"crashed-pod","operation":"restore of backup x","since":%q,"expires":%q,"token":"t"}`,
			time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(-time.Second).UTC().Format(time.RFC3339))
		if err := store.Put(context.Background(), manifest.LockKey("prod"), strings.NewReader(dead)); err != nil {
			t.Fatal(err)
		}
		mustQbackup(t, s.args("restore", "latest", "--rename=_r")...)
		if got := collectionNames(t, s); !strings.Contains(got, "docs_r") {
			t.Fatalf("collections after the restore: %s", got)
		}
		if _, err := lease.ReadRecord(context.Background(), store, "prod"); err == nil {
			t.Error("the restore left its lock behind")
		}
	})
}

func collectionNames(t *testing.T, s *cliSim) string {
	t.Helper()
	names, err := s.c.Peers()[0].ListCollections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(names)
}

// TestRestoreWithTheAPIServerUnreachableChangesNothing: a restore whose
// Kubernetes API server does not answer the pod listing exits 1, says it
// did not start and to run it again, and has taken no lock and touched no
// collection, though --overwrite would replace them.
func TestRestoreWithTheAPIServerUnreachableChangesNothing(t *testing.T) {
	s := startCLISim(t, qdrantsim.Options{})
	mustQbackup(t, s.args("backup")...)
	before := collectionNames(t, s)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: db}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := qbackup(t, "restore", "latest", "--overwrite", "--cluster=prod", "--storage="+s.storage,
		"--discovery=kubernetes", "--kubeconfig="+kubeconfig, "--log-format=text")
	for _, want := range []string{"did not start and changed nothing", "run it again once the API server answers", "the Kubernetes API server at 127.0.0.1:1 did not answer"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
	if code != cli.ExitFailure {
		t.Errorf("exit %d, want %d", code, cli.ExitFailure)
	}
	store, err := cli.OpenStore(context.Background(), config.Source{Storage: s.storage}, config.Secrets{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := lease.ReadRecord(context.Background(), store, "prod"); err == nil {
		t.Errorf("the restore left a lock: %+v", rec)
	}
	if after := collectionNames(t, s); after != before {
		t.Errorf("collections %s, were %s", after, before)
	}
}
