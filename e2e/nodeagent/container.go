package nodeagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The kubelet's limits for a termination message taken from the logs
// (kubecontainer.MaxContainerTerminationMessageLogLines and ...Length),
// and for one read from the message file.
const (
	fallbackLogLines  = 80
	fallbackLogBytes  = 2048
	maxMessageFileLen = 4096
)

// containerRun is one container of a Pod: its resolved process, state and
// output. A restarted container is a new instance of it: a new process,
// restartCount one more, the previous instance's end in
// lastTerminationState and its output kept for `kubectl logs --previous`.
type containerRun struct {
	w       *podWorker
	spec    corev1.Container
	init    bool   // an init container
	dir     string // state: log and termination message
	logPath string

	mu       sync.Mutex
	argv     []string
	env      []string
	script   string
	uid, gid int64
	state    corev1.ContainerState
	cmd      *exec.Cmd
	// exited is closed when the current instance has ended; nil before
	// the first start.
	exited chan struct{}
	// instances is how many times the container was started;
	// restartCount is one less.
	instances int32
	lastTerm  *corev1.ContainerStateTerminated
	// finished is when the current instance ended, to the nanosecond
	// (the back-off counts from it, as the kubelet's from the runtime's
	// finishedAt).
	finished time.Time
	backOff  backOff
	// probed containers (Qdrant peers) are Ready only while ready is.
	probed, ready bool
}

func newContainerRun(w *podWorker, c corev1.Container, init bool) *containerRun {
	dir := filepath.Join(w.a.podDir(w.uid), "containers", c.Name)
	// Regular containers of a Pod with init containers wait for them
	// (the kubelet reports them PodInitializing).
	reason := "ContainerCreating"
	if !init && len(w.pod.Spec.InitContainers) > 0 {
		reason = "PodInitializing"
	}
	return &containerRun{
		w: w, spec: c, init: init, dir: dir, logPath: filepath.Join(dir, "output.log"),
		state:   corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}},
		backOff: backOff{initial: w.a.cfg.RestartBackOff, max: w.a.cfg.MaxRestartBackOff},
	}
}

// exitedCh is closed when the current instance has ended (nil before the
// first start).
func (c *containerRun) exitedCh() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exited
}

// instance is the container's progress: whether it was ever started,
// whether an instance runs now, and how the last one ended.
func (c *containerRun) instance() (started, running bool, last *corev1.ContainerStateTerminated) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.instances == 0 {
		return false, false, nil
	}
	select {
	case <-c.exited:
	default:
		return true, true, nil
	}
	if t := c.state.Terminated; t != nil {
		return true, false, t
	}
	return true, false, c.lastTerm
}

func (c *containerRun) setWaiting(reason, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

// newInstance begins an instance of the container: a restart moves the
// previous instance's end to lastTerminationState and its output aside
// (the kubelet keeps one previous instance's log), and empties the
// termination message file.
func (c *containerRun) newInstance() {
	if c.instances > 0 {
		if t := c.state.Terminated; t != nil {
			c.lastTerm = t
		}
		_ = os.Rename(c.logPath, c.logPath+".previous")
		if f := filepath.Join(c.dir, "termination-log"); fileExists(f) {
			_ = os.WriteFile(f, nil, 0o666)
		}
	}
	c.instances++
	c.exited = make(chan struct{})
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// setStartError records an instance the runtime could not start (the
// kubelet reports such a container terminated with reason StartError and
// exit code 128).
func (c *containerRun) setStartError(err error) {
	c.mu.Lock()
	now := metav1.Now()
	c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: now, FinishedAt: now,
	}}
	c.finished = now.Time
	close(c.exited)
	c.mu.Unlock()
	c.w.wakeUp()
}

// setBackOff reports the container waiting out its restart back-off, in
// the kubelet's words (kuberuntime_manager.go doBackOff).
func (c *containerRun) setBackOff(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.state.Terminated; t != nil {
		c.lastTerm = t
	}
	pod := c.w.pod
	c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason:  "CrashLoopBackOff",
		Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", d, c.spec.Name, pod.Name, pod.Namespace, pod.UID),
	}}
}

// waitingReason is why the container is waiting, if it is.
func (c *containerRun) waitingReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w := c.state.Waiting; w != nil {
		return w.Reason
	}
	return ""
}

// finishedAt is when the current instance ended.
func (c *containerRun) finishedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finished
}

func (c *containerRun) status() corev1.ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	running := c.state.Running != nil
	ready := running && (!c.probed || c.ready)
	restarts := max(c.instances-1, 0)
	st := corev1.ContainerStatus{
		Name: c.spec.Name, Image: c.spec.Image, ImageID: "process://" + c.spec.Image,
		ContainerID: fmt.Sprintf("process://%s/%s/%d", c.w.uid, c.spec.Name, restarts),
		State:       *c.state.DeepCopy(), Ready: ready, Started: &running, RestartCount: restarts,
	}
	if c.lastTerm != nil {
		st.LastTerminationState = corev1.ContainerState{Terminated: c.lastTerm.DeepCopy()}
	}
	return st
}

// prepare resolves the container's image, user, environment, command and
// mounts. A configuration error leaves it Waiting with the kubelet's
// reason.
func (c *containerRun) prepare(ctx context.Context) error {
	a := c.w.a
	img, ok := a.image(c.spec.Image)
	if !ok {
		msg := fmt.Sprintf("Back-off pulling image %q: the test node agent has no program for this image", c.spec.Image)
		c.setWaiting("ImagePullBackOff", msg)
		return errors.New(msg)
	}
	err := c.resolve(ctx, img)
	var ce *configError
	if errors.As(err, &ce) {
		c.setWaiting("CreateContainerConfigError", ce.msg)
		return err
	}
	if err != nil {
		c.setWaiting("ContainerCreating", err.Error())
	}
	return err
}

func (c *containerRun) resolve(ctx context.Context, img Image) error {
	a, pod := c.w.a, c.w.pod
	uid, gid := img.User, img.Group
	nonRoot := false
	if sc := pod.Spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
		nonRoot = optional(sc.RunAsNonRoot)
	}
	if sc := c.spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
	}
	if nonRoot && uid == 0 {
		// The kubelet's words (kuberuntime verifyRunAsNonRoot).
		return configErrorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod.Name+"_"+pod.Namespace+"("+string(pod.UID)+")", c.spec.Name)
	}
	env, err := containerEnv(ctx, a.cs, pod, &c.spec, a.svc)
	if err != nil {
		return err
	}
	// What the image and the runtime add when the pod does not set them.
	for k, v := range map[string]string{
		"PATH":     "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOSTNAME": pod.Name,
		"HOME":     "/",
	} {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }

	// The image's program is bind-mounted into the container's /run: it
	// may live where the pod's user cannot reach (a test's temporary
	// directory).
	prog := "/run/.node-agent/image/" + filepath.Base(img.Binary)
	var argv []string
	if len(c.spec.Command) == 0 {
		argv = []string{prog}
	} else {
		cmd0 := expand(c.spec.Command[0], lookup)
		if cmd0 != img.Entrypoint && cmd0 != path.Base(img.Entrypoint) {
			return &configError{msg: fmt.Sprintf("command %q: the test node agent can only run the image's entrypoint %s", cmd0, img.Entrypoint)}
		}
		argv = []string{prog}
		for _, s := range c.spec.Command[1:] {
			argv = append(argv, expand(s, lookup))
		}
	}
	for _, s := range c.spec.Args {
		argv = append(argv, expand(s, lookup))
	}

	// The mount script, run as root in the container's private mount
	// namespace before it becomes the pod's user.
	var sb strings.Builder
	t := a.tools
	fmt.Fprintf(&sb, "set -e\n%s -t tmpfs -o mode=0755 node-agent-run /run\n", q(t.mount))
	fmt.Fprintf(&sb, "%s -p /run/.node-agent/image\n: > %s\n%s --bind -o ro %s %s\n", q(t.mkdir), q(prog), q(t.mount), q(img.Binary), q(prog))
	vols := filepath.Join(a.podDir(c.w.uid), "volumes")
	known := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		known[v.Name] = true
	}
	for _, m := range c.spec.VolumeMounts {
		if !known[m.Name] {
			return configErrorf("cannot find volume %q to mount into container %q", m.Name, c.spec.Name)
		}
		target, err := mountTarget(m.MountPath)
		if err != nil {
			return err
		}
		src := filepath.Join(vols, m.Name, filepath.Clean("/"+m.SubPath))
		fmt.Fprintf(&sb, "%s -p %s\n%s --bind %s %s\n", q(t.mkdir), q(target), q(t.mount), q(src), q(target))
		if m.ReadOnly {
			fmt.Fprintf(&sb, "%s -o remount,bind,ro %s\n", q(t.mount), q(target))
		}
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("container %s: %w", c.spec.Name, err)
	}
	if mp := c.spec.TerminationMessagePath; mp != "" {
		if target, err := mountTarget(mp); err == nil {
			msgFile := filepath.Join(c.dir, "termination-log")
			if err := os.WriteFile(msgFile, nil, 0o666); err != nil {
				return fmt.Errorf("container %s: %w", c.spec.Name, err)
			}
			_ = os.Chmod(msgFile, 0o666)
			fmt.Fprintf(&sb, "%s -p %s\n: > %s\n%s --bind %s %s\n", q(t.mkdir), q(path.Dir(target)), q(target), q(t.mount), q(msgFile), q(target))
		}
		// Elsewhere (the default /dev/termination-log) the agent cannot
		// create the file: the message then comes from the logs only.
	}
	wd := c.spec.WorkingDir
	if wd == "" {
		wd = "/"
	}
	fmt.Fprintf(&sb, "cd %s\nexec %s --reuid=%d --regid=%d --clear-groups -- \"$@\"\n", q(wd), q(t.setpriv), uid, gid)

	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	envList := make([]string, 0, len(keys))
	for _, k := range keys {
		envList = append(envList, k+"="+env[k])
	}
	c.mu.Lock()
	c.argv, c.env, c.script, c.uid, c.gid = argv, envList, sb.String(), uid, gid
	c.mu.Unlock()
	return nil
}

// q quotes s for sh.
func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// run starts a new instance of the container; one the runtime cannot
// start ends at once with StartError.
func (c *containerRun) run() {
	c.mu.Lock()
	c.newInstance()
	c.mu.Unlock()
	if err := c.start(); err != nil {
		c.setStartError(err)
	}
}

// start runs the container's process: sh sets up the private mount
// namespace, then execs setpriv, which execs the program, so the pid the
// agent signals is the program's.
func (c *containerRun) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("container %s output: %w", c.spec.Name, err)
	}
	cmd := exec.Command(c.w.a.tools.sh, append([]string{"-c", c.script, "node-agent-container"}, c.argv...)...)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// A private mount namespace (Go makes / private in it, so nothing
		// mounted there reaches the host), its own process group for
		// signals, and death with the agent.
		Unshareflags: syscall.CLONE_NEWNS,
		Setpgid:      true,
		Pdeathsig:    syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start container %s: %w", c.spec.Name, err)
	}
	c.cmd = cmd
	started := metav1.Now()
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	exited, id := c.exited, fmt.Sprintf("process://%s/%s/%d", c.w.uid, c.spec.Name, c.instances-1)
	go func() {
		err := cmd.Wait()
		out.Close()
		code := int32(0)
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = int32(ee.ExitCode())
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int32(ws.Signal())
			}
		default:
			code = 128
		}
		reason := "Completed"
		if code != 0 {
			reason = "Error"
		}
		msg := c.terminationMessage(code)
		c.mu.Lock()
		now := metav1.Now()
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, Message: msg, StartedAt: started, FinishedAt: now, ContainerID: id,
		}}
		c.finished = now.Time
		close(exited)
		c.mu.Unlock()
		// Every exit is acted on and reported at once, as the kubelet's
		// PLEG event would have it.
		c.w.wakeUp()
	}()
	return nil
}

// terminationMessage is what the kubelet reports: the message file, or
// with FallbackToLogsOnError and a failure and no message, the tail of
// the output.
func (c *containerRun) terminationMessage(code int32) string {
	var msg string
	if b, err := os.ReadFile(filepath.Join(c.dir, "termination-log")); err == nil {
		if len(b) > maxMessageFileLen {
			b = b[:maxMessageFileLen]
		}
		msg = string(b)
	}
	if msg != "" || code == 0 || c.spec.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		return msg
	}
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	return tail(b, fallbackLogLines, fallbackLogBytes)
}

// tail is the last lines lines of b, at most n bytes.
func tail(b []byte, lines, n int) string {
	b = bytes.TrimRight(b, "\n")
	start := len(b)
	for i := 0; i < lines && start > 0; i++ {
		j := bytes.LastIndexByte(b[:start], '\n')
		start = j
		if j < 0 {
			start = 0
			break
		}
	}
	if start > 0 {
		start++ // past the newline
	}
	out := b[start:]
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return string(out)
}

// stop sends SIGTERM to the container's process group, then SIGKILL after
// grace; it returns once the process has exited.
func (c *containerRun) stop(grace time.Duration) {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	pgid := -cmd.Process.Pid
	if grace > 0 {
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-exited:
			return
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	<-exited
}
