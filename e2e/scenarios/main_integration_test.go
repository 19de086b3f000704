//go:build integration

package scenarios

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// qbackupBin is the binary under test, built once by TestMain, and
// pluginBin the kubectl plugin (empty when a prebuilt qbackup is tested).
var qbackupBin, pluginBin string

// envBinary names a prebuilt qbackup to test instead of building
// ./cmd/qbackup, e.g. the release binary in CI.
const envBinary = "QBACKUP_SCENARIOS_BINARY"

func TestMain(m *testing.M) {
	if bin := os.Getenv(envBinary); bin != "" {
		qbackupBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "qbackup-scenarios-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "scenarios:", err)
		os.Exit(1)
	}
	qbackupBin = filepath.Join(dir, "qbackup")
	pluginBin = filepath.Join(dir, "kubectl-qbackup")
	build := exec.Command("go", "build", "-o", dir, "github.com/qbackup/qbackup/cmd/qbackup", "github.com/qbackup/qbackup/cmd/kubectl-qbackup")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "scenarios: build qbackup:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// Exit codes as documented by `qbackup --help`.
const (
	exitOK           = 0
	exitFailed       = 1
	exitUsage        = 2
	exitLocked       = 3
	exitClusterNotOK = 4
	exitCorrupt      = 5
	exitInterrupted  = 130
)

var (
	sigterm os.Signal = syscall.SIGTERM
	sigkill os.Signal = syscall.SIGKILL
)

// runTimeout bounds one qbackup run; a hang is a failure, not a stuck CI.
const runTimeout = 2 * time.Minute

// cli runs qbackup with a controlled environment: nothing is inherited from
// the test process but PATH, so no secret reaches it by accident. Secrets
// go into env, never into arguments.
type cli struct {
	env map[string]string
	// bin is the program run; empty means qbackupBin.
	bin string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	return &cli{env: map[string]string{
		"PATH":                        os.Getenv("PATH"),
		"HOME":                        t.TempDir(),
		"QBACKUP_LOG_FORMAT":          "text",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             "/nonexistent",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
	}}
}

// with returns a copy of c with more variables.
func (c *cli) with(kv ...string) *cli {
	out := &cli{env: map[string]string{}, bin: c.bin}
	for k, v := range c.env {
		out.env[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.env[kv[i]] = kv[i+1]
	}
	return out
}

func (c *cli) environ() []string {
	out := make([]string, 0, len(c.env))
	for k, v := range c.env {
		out = append(out, k+"="+v)
	}
	return out
}

// result is what one run of qbackup did.
type result struct {
	args   []string
	code   int
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("qbackup %s\nexit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// proc is a qbackup process started in the background.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *bytes.Buffer
	cancel         context.CancelFunc
	done           chan struct{}
	res            result
}

func (c *cli) start(t *testing.T, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	bin := c.bin
	if bin == "" {
		bin = qbackupBin
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = c.environ()
	p := &proc{cmd: cmd, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, cancel: cancel, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start qbackup: %v", err)
	}
	go func() {
		defer close(p.done)
		defer cancel()
		err := cmd.Wait()
		p.res = result{args: args, stdout: p.stdout.String(), stderr: p.stderr.String()}
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.res.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.res.code = 128 + int(ws.Signal())
			}
		default:
			p.res.code = -1
			p.res.stderr += "\n(wait: " + err.Error() + ")"
		}
	}()
	t.Cleanup(func() {
		p.cancel()
		<-p.done
	})
	return p
}

// signal sends sig to the running process.
func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal qbackup: %v", err)
	}
}

func (p *proc) wait() result {
	<-p.done
	return p.res
}

// plugin returns a copy of c that runs kubectl-qbackup instead.
func (c *cli) plugin(t *testing.T) *cli {
	t.Helper()
	if pluginBin == "" {
		t.Skip("no kubectl-qbackup binary: a prebuilt qbackup is under test")
	}
	out := c.with()
	out.bin = pluginBin
	return out
}

func (c *cli) run(t *testing.T, args ...string) result {
	t.Helper()
	return c.start(t, args...).wait()
}

// expect fails the test unless r exited with code and stderr contains every
// one of msgs.
func expect(t *testing.T, r result, code int, msgs ...string) {
	t.Helper()
	t.Logf("qbackup %s: exit %d: %s", strings.Join(r.args[:1], " "), r.code, lastLine(r.stderr))
	if r.code != code {
		t.Fatalf("exit code %d, want %d\n%s", r.code, code, r)
	}
	for _, m := range msgs {
		if !strings.Contains(r.stderr, m) {
			t.Fatalf("stderr does not say %q\n%s", m, r)
		}
	}
}

// ok fails the test unless r succeeded.
func ok(t *testing.T, r result) {
	t.Helper()
	expect(t, r, exitOK)
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lastLine is the last non-empty line of s: qbackup's final message.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
