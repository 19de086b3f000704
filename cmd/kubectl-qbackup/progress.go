package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/backup"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/printer"
	"github.com/qbackup/qbackup/internal/restore"
)

// progressDrain is how long a waiting plugin lets the log of a pod that
// has ended finish before it prints the outcome, so the last progress
// line comes before it.
var progressDrain = 2 * time.Second

// progressFollower shows the progress lines of a Job's running pod while
// the plugin waits for the Job: the run's own periodic lines (phase,
// shards, bytes, ETA; a rebalance's start and end of each collection)
// read through pods/log, one pod at a time (a retried
// Job gets a new pod, which is followed in turn).
type progressFollower struct {
	cs  kubernetes.Interface
	ns  string
	out *lockedWriter

	pod    string
	cancel context.CancelFunc
	done   chan struct{}
	// refused is set once reading a log failed: the reason is said once.
	refused bool
}

// lockedWriter serialises the waiter's state lines and the follower's
// progress lines onto one stream.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) println(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, s)
}

// observe is given every state change of the Job; it starts following a
// pod once it has started (one that has already ended is read whole: a
// short run can end between two polls).
func (f *progressFollower) observe(ctx context.Context, s kube.JobState) {
	if s.Pod == "" || s.Pod == f.pod || s.PodPhase == corev1.PodPending || s.PodPhase == "" {
		return
	}
	f.stop(0)
	f.pod = s.Pod
	ctx, f.cancel = context.WithCancel(ctx)
	f.done = make(chan struct{})
	go f.follow(ctx, s.Pod, f.done)
}

func (f *progressFollower) follow(ctx context.Context, pod string, done chan struct{}) {
	defer close(done)
	rc, err := f.cs.CoreV1().Pods(f.ns).GetLogs(pod, &corev1.PodLogOptions{Container: "qbackup", Follow: true}).Stream(ctx)
	if err != nil {
		if ctx.Err() == nil && !f.refused {
			f.refused = true
			f.out.println(fmt.Sprintf("(progress not shown: the log of pod %s cannot be read: %v)", pod, err))
		}
		return
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line, ok := printer.ProgressLine(sc.Bytes(), restore.ProgressMessage, backup.ProgressMessage, printer.SummaryMessage); ok {
			f.out.println("  " + line)
		} else if line, ok := printer.RebalanceLine(sc.Bytes()); ok {
			f.out.println("  " + line)
		}
	}
}

// stop lets the followed log end by itself for up to grace (a pod that
// has ended closes its log), then stops following.
func (f *progressFollower) stop(grace time.Duration) {
	if f.cancel == nil {
		return
	}
	select {
	case <-f.done:
	case <-time.After(grace):
	}
	f.cancel()
	<-f.done
	f.cancel = nil
}
