package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildQBackup builds the qbackup binary the way make build does, so the
// build cache is shared with it.
func buildQBackup(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "qbackup")
	start := time.Now()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/qbackup/qbackup/cmd/qbackup")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build qbackup: %v\n%s", err, out)
	}
	t.Logf("built qbackup in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// privateTempDir points the demo's temporary folders (its storage, the
// simulator's state) at a folder of the test, so that clean-up can be
// checked.
func privateTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind: %s", filepath.Join(dir, e.Name()))
	}
}

func TestDemoBacksUpAndRestoresOntoFewerAndMorePods(t *testing.T) {
	bin := buildQBackup(t)
	tmp := privateTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(ctx, []string{"--qbackup=" + bin}, &stdout, &stderr)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("demo failed after %s: %v\n--- output ---\n%s\n--- stderr ---\n%s", took, err, stdout.String(), stderr.String())
	}
	t.Logf("demo took %s", took.Round(time.Millisecond))
	out := stdout.String()
	for _, want := range []string{
		`backup 2`, `of cluster "demo" complete: 3 collections, 13 shards`,
		"is intact: 13 objects",
		"Strategy: consolidate",
		"Pods then: 3, pods now: 2",
		"Strategy: redistribute",
		"Pods then: 3, pods now: 4",
		"3300 points in 3 collections equal to what was loaded",
		"Points checked after the restores: 6600",
		"Total wall time",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	assertEmpty(t, tmp)
}

// fakeQBackup writes a script that stands in for qbackup.
func fakeQBackup(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qbackup")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDemoStopsAtAFailingCommandAndShowsItsLogs(t *testing.T) {
	bin := fakeQBackup(t, "echo 'qbackup: open storage: permission denied' >&2\nexit 1\n")
	tmp := privateTempDir(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--qbackup=" + bin}, &stdout, &stderr)
	if err == nil {
		t.Fatalf("demo succeeded with a failing qbackup:\n%s", stdout.String())
	}
	for _, want := range []string{"step 3 (Back up the whole cluster)", "exit status 1", "permission denied"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	assertEmpty(t, tmp)
}

func TestDemoCleansUpWhenInterrupted(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "started")
	t.Setenv("DEMO_TEST_MARKER", marker)
	// exec, so that the interrupt reaches the process that runs.
	bin := fakeQBackup(t, "touch \"$DEMO_TEST_MARKER\"\nexec sleep 60\n")
	tmp := privateTempDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		done <- run(ctx, []string{"--qbackup=" + bin}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo never ran qbackup")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("want an interrupted error, got %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop after the interrupt")
	}
	assertEmpty(t, tmp)
}
