package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/kube"
)

// eventTimeout bounds each Event: the API server being slow must not hold
// up the run or its exit.
const eventTimeout = 5 * time.Second

// runEvents records a Job's run as Kubernetes Events (started, completed,
// failed) when qbackup runs in a pod; elsewhere it does nothing.
type runEvents struct {
	ev      *kube.JobEvents
	action  string
	started time.Time
	env     *runEnv
}

// startEvents records the start of a backup, restore or rebalance run in a pod. A
// failure to record is logged once and the run goes on without Events.
func startEvents(command string, env *runEnv) *runEvents {
	name, _, _ := strings.Cut(command, " ")
	action := map[string]string{"backup": "Backup", "restore": "Restore", "rebalance": "Rebalance"}[name]
	if action == "" || os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return nil
	}
	// A pod's hostname is its name; container runtimes also export it
	// as HOSTNAME.
	pod := os.Getenv("HOSTNAME")
	if pod == "" {
		var err error
		if pod, err = os.Hostname(); err != nil {
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	cs, ns, err := discovery.NewKubeClient("")
	if err == nil {
		var ev *kube.JobEvents
		if ev, err = kube.NewJobEvents(ctx, cs, ns, pod); err == nil {
			r := &runEvents{ev: ev, action: action, started: time.Now(), env: env}
			err = ev.Emit(ctx, false, action+"Started", action, fmt.Sprintf("%s started (qbackup %s)", strings.ToLower(action), version))
			if err == nil {
				return r
			}
		}
	}
	env.log.Warn("Kubernetes events not recorded (the ServiceAccount needs create on events.k8s.io events)", "error", err)
	return nil
}

// end records how the run ended.
func (r *runEvents) end(err error, exitCode int) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	took := time.Since(r.started).Round(time.Second)
	var emitErr error
	if err == nil {
		note := fmt.Sprintf("%s complete in %s", strings.ToLower(r.action), took)
		if r.env.summary != "" {
			note += ": " + r.env.summary
		}
		emitErr = r.ev.Emit(ctx, false, r.action+"Completed", r.action, note)
	} else {
		emitErr = r.ev.Emit(ctx, true, r.action+"Failed", r.action, fmt.Sprintf("%s failed after %s with exit code %d: %v", strings.ToLower(r.action), took, exitCode, err))
	}
	if emitErr != nil {
		r.env.log.Warn("Kubernetes event not recorded", "error", emitErr)
	}
}
