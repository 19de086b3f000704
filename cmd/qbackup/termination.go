package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// TerminationLogEnv names the file qbackup writes its termination message
// to: the container's terminationMessagePath, which the manifests set
// explicitly so that the message does not depend on the runtime's
// default.
const TerminationLogEnv = "QBACKUP_TERMINATION_LOG"

// defaultTerminationLog is Kubernetes' default terminationMessagePath.
const defaultTerminationLog = "/dev/termination-log"

// maxTerminationMessage is Kubernetes' limit for the message file: the
// kubelet reads no more than 4096 bytes of it.
const maxTerminationMessage = 4096

// terminationLogPath is where the termination message goes: the path in
// QBACKUP_TERMINATION_LOG, else Kubernetes' default file when it exists
// (a pod), else nowhere (a workstation, where nothing must be created).
func terminationLogPath(getenv func(string) string, exists func(string) bool) string {
	if p := getenv(TerminationLogEnv); p != "" {
		return p
	}
	if exists(defaultTerminationLog) {
		return defaultTerminationLog
	}
	return ""
}

// terminationMessage is the one line a run leaves in its pod's status:
// the summary of a success, the exit code and error of a failure, empty
// when a success has no summary (list, describe).
func terminationMessage(code int, err error, summary string) string {
	if err == nil && code == 0 {
		return oneLine(summary, maxTerminationMessage)
	}
	msg := fmt.Sprintf("exit %d", code)
	if err != nil && err.Error() != "" {
		msg += ": " + err.Error()
	}
	return oneLine(msg, maxTerminationMessage)
}

// oneLine joins s's lines with "; " and cuts it to at most max bytes on a
// rune boundary: the plugin shows a message's last line, and the kubelet
// drops what lies beyond its limit.
func oneLine(s string, max int) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	s = strings.Join(lines, "; ")
	if len(s) <= max {
		return s
	}
	const ellipsis = "..."
	cut := max - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// writeTerminationMessage writes msg to path, replacing what is there. It
// never fails the run: a message that cannot be written leaves the
// kubelet to fall back to the log (FallbackToLogsOnError), so the
// failure is only returned for the caller to log.
func writeTerminationMessage(path, msg string) error {
	if path == "" || msg == "" {
		return nil
	}
	// No O_CREATE for the default path: outside a pod it is not ours to
	// create. A configured path may be created (a container runtime
	// without a mounted file).
	flags := os.O_WRONLY | os.O_TRUNC
	if path != defaultTerminationLog {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return fmt.Errorf("write termination message to %s: %w", path, err)
	}
	_, err = f.WriteString(msg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write termination message to %s: %w", path, err)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// lastLineWriter passes writes through to w and keeps the last non-empty
// line written (up to the termination message's limit): the parser's
// error, which it prints rather than returns.
type lastLineWriter struct {
	w   io.Writer
	buf []byte
}

func (l *lastLineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	if len(l.buf) > 2*maxTerminationMessage {
		l.buf = l.buf[len(l.buf)-2*maxTerminationMessage:]
	}
	return l.w.Write(p)
}

func (l *lastLineWriter) last() string {
	s := strings.TrimRight(string(l.buf), "\n ")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
