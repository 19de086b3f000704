package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// qbackup runs the real qbackup binary, as an operator would.
type qbackup struct {
	bin     string
	out     io.Writer // the demo's output: command lines and their stdout
	verbose bool      // also show qbackup's logs
}

// commandError is a failed qbackup run, with everything needed to see why.
type commandError struct {
	args   []string
	err    error
	stdout string
	stderr string
}

func (e *commandError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "qbackup %s: %v", strings.Join(e.args, " "), e.err)
	if s := strings.TrimSpace(e.stdout); s != "" {
		fmt.Fprintf(&b, "\n--- its output ---\n%s", s)
	}
	if s := strings.TrimSpace(e.stderr); s != "" {
		fmt.Fprintf(&b, "\n--- its logs (stderr) ---\n%s", s)
	}
	return b.String()
}

func (e *commandError) Unwrap() error { return e.err }

// run prints the command line, runs it, and prints its stdout indented. The
// logs (stderr) are only shown when it fails, or with verbose.
func (q *qbackup) run(ctx context.Context, args ...string) (string, error) {
	fmt.Fprintf(q.out, "\n$ %s\n", commandLine(args))
	args = append(args, "--log-format=text")
	cmd := exec.CommandContext(ctx, q.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = cleanEnv()
	// On Ctrl-C, let qbackup stop the way it does under a Job's SIGTERM
	// (abort uploads, release the lock) before it is killed.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	out := stdout.String()
	if err != nil {
		return out, &commandError{args: args, err: err, stdout: out, stderr: stderr.String()}
	}
	fmt.Fprint(q.out, indent(out, "  "))
	if q.verbose {
		fmt.Fprint(q.out, indent(stderr.String(), "  | "))
	}
	return out, nil
}

// cleanEnv is the environment without QBACKUP_* variables: the demo runs
// on the embedded defaults plus its own flags, whatever the shell has set
// (a catalog DSN, a bucket).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QBACKUP_") {
			env = append(env, kv)
		}
	}
	return env
}

// commandLine shows a qbackup invocation as a shell line, one flag per
// continuation line when it gets long.
func commandLine(args []string) string {
	line := "qbackup " + strings.Join(args, " ")
	if len(line) <= 100 {
		return line
	}
	var b strings.Builder
	b.WriteString("qbackup")
	for _, a := range args {
		if strings.HasPrefix(a, "--") {
			b.WriteString(" \\\n    ")
		} else {
			b.WriteString(" ")
		}
		b.WriteString(a)
	}
	return b.String()
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}
