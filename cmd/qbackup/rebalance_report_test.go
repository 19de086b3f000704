package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/metrics/metricstest"
	"github.com/qbackup/qbackup/internal/placement"
	"github.com/qbackup/qbackup/internal/rebalance"
)

func TestRebalanceSummary(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  rebalance.Result
		want string
	}{
		{
			name: "replicas moved, added and dropped",
			res:  rebalance.Result{Collections: 2, Operations: 9, Moved: 2, Replicated: 4, Dropped: 3, Duration: 83400 * time.Millisecond},
			want: "cluster prod rebalanced: 2 collections, 9 operations (2 replicas moved, 4 replicated, 3 dropped) in 1m23s",
		},
		{
			name: "resharded",
			res:  rebalance.Result{Collections: 1, Operations: 1, Replicated: 1, Resharded: 1, Duration: 4 * time.Second},
			want: "cluster prod rebalanced: 1 collections, 1 operations (0 replicas moved, 1 replicated, 0 dropped), 1 collections resharded in 4s",
		},
		{
			name: "nothing to change is a success with zeros",
			want: "cluster prod rebalanced: 0 collections, 0 operations (0 replicas moved, 0 replicated, 0 dropped) in 0s",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rebalanceSummary("prod", &tc.res)
			if got != tc.want {
				t.Errorf("summary %q, want %q", got, tc.want)
			}
			// The summary is the termination message as it is.
			if msg := terminationMessage(0, nil, got); msg != tc.want {
				t.Errorf("termination message %q, want %q", msg, tc.want)
			}
		})
	}
}

// gatewayRecorder is a Pushgateway that keeps every push: its method, its
// path and its metrics in the text format.
type gatewayRecorder struct {
	mu     sync.Mutex
	pushes []recordedPush
}

type recordedPush struct{ method, path, text string }

func newGatewayRecorder(t *testing.T) (*gatewayRecorder, string) {
	t.Helper()
	g := &gatewayRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		text, err := metricstest.Text(string(b))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		g.pushes = append(g.pushes, recordedPush{r.Method, r.URL.Path, text})
		g.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return g, srv.URL
}

// take returns the pushes received since the last call.
func (g *gatewayRecorder) take() []recordedPush {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pushes
	g.pushes = nil
	return p
}

// opsByKind counts a plan's operations: moves, replications, drops.
func opsByKind(p rebalance.Plan) (moved, replicated, dropped int) {
	for _, c := range p.Collections {
		for _, op := range c.Ops {
			switch op.Kind {
			case placement.Move:
				moved++
			case placement.Replicate:
				replicated++
			case placement.Drop:
				dropped++
			}
		}
	}
	return moved, replicated, dropped
}

// TestRebalanceReportsLikeTheOtherJobs: a rebalance pushes its outcome to
// the Pushgateway (group cluster and command=rebalance) with the
// operations its plan listed, and leaves its summary as the termination
// message; a second one that finds nothing to change is a success with
// zeros; a dry run pushes nothing; one refused by the cluster lock pushes
// its exit code and no figures.
func TestRebalanceReportsLikeTheOtherJobs(t *testing.T) {
	_, dst := consolidatedOnOne(t)
	gw, url := newGatewayRecorder(t)
	termLog := filepath.Join(t.TempDir(), "termination-log")
	t.Setenv(TerminationLogEnv, termLog)
	withGateway := func(args ...string) []string { return append(dst.args(args...), "--metrics-pushgateway="+url) }
	termination := func() string {
		t.Helper()
		b, err := os.ReadFile(termLog)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	onePush := func(what string) string {
		t.Helper()
		p := gw.take()
		if len(p) != 1 {
			t.Fatalf("%s: %d pushes, want 1", what, len(p))
		}
		if p[0].method != http.MethodPost || !metricstest.SameGroup(p[0].path, "/metrics/job/qbackup/cluster/prod/command/rebalance") {
			t.Errorf("%s: %s %s, want POST to the group of cluster prod and command rebalance", what, p[0].method, p[0].path)
		}
		return p[0].text
	}
	wantSamples := func(what, text string, samples ...string) {
		t.Helper()
		for _, s := range samples {
			if !strings.Contains(text, s+"\n") {
				t.Errorf("%s: pushed metrics lack %q:\n%s", what, s, text)
			}
		}
	}

	var plan rebalance.Plan
	if err := json.Unmarshal([]byte(mustQbackup(t, withGateway("rebalance", "--replication-factor=2", "--dry-run", "-o", "json")...)), &plan); err != nil {
		t.Fatalf("rebalance --dry-run -o json: %v", err)
	}
	if p := gw.take(); len(p) != 0 {
		t.Errorf("a dry run pushed %d times: %v", len(p), p)
	}
	moved, replicated, dropped := opsByKind(plan)
	if moved+replicated == 0 {
		t.Fatalf("the plan has nothing to move or replicate: %+v", plan)
	}

	// A rebalance refused by the cluster lock: the failure is pushed,
	// without the figures only a success sets.
	_, release, err := lease.Hold(context.Background(), lease.Options{Cluster: "prod", Holder: "backup-pod-1", Operation: "backup", Store: openStore(t, dst)})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := qbackup(t, withGateway("rebalance")...); code != cli.ExitLocked {
		t.Fatalf("exit %d, want %d: %s", code, cli.ExitLocked, errOut)
	}
	text := onePush("the refused rebalance")
	wantSamples("the refused rebalance", text, "qbackup_last_run_success 0", "qbackup_last_run_exit_code 3")
	for _, none := range []string{"last_success_timestamp", "rebalance_"} {
		if strings.Contains(text, none) {
			t.Errorf("the refused rebalance pushed %q:\n%s", none, text)
		}
	}
	if msg := termination(); !strings.HasPrefix(msg, "exit 3: ") {
		t.Errorf("termination message %q, want exit 3 and the error", msg)
	}
	release()

	mustQbackup(t, withGateway("rebalance", "--replication-factor=2")...)
	text = onePush("the rebalance")
	wantSamples("the rebalance", text, "qbackup_last_run_success 1", "qbackup_last_run_exit_code 0",
		"qbackup_rebalance_collections 1", "qbackup_rebalance_collections_resharded 0",
		"qbackup_rebalance_replicas_moved "+strconv.Itoa(moved), "qbackup_rebalance_replicas_replicated "+strconv.Itoa(replicated),
		"qbackup_rebalance_replicas_dropped "+strconv.Itoa(dropped))
	if !strings.Contains(text, "qbackup_last_success_timestamp_seconds") {
		t.Errorf("no last success time pushed:\n%s", text)
	}
	wantLine := "cluster prod rebalanced: 1 collections, " + strconv.Itoa(moved+replicated+dropped) + " operations (" + strconv.Itoa(moved) + " replicas moved, " +
		strconv.Itoa(replicated) + " replicated, " + strconv.Itoa(dropped) + " dropped) in "
	if msg := termination(); !strings.HasPrefix(msg, wantLine) || strings.Contains(msg, "\n") {
		t.Errorf("termination message %q, want one line starting %q", msg, wantLine)
	}

	mustQbackup(t, withGateway("rebalance")...)
	text = onePush("the second rebalance")
	wantSamples("the second rebalance", text, "qbackup_last_run_success 1", "qbackup_rebalance_collections 0",
		"qbackup_rebalance_replicas_moved 0", "qbackup_rebalance_replicas_replicated 0", "qbackup_rebalance_replicas_dropped 0",
		"qbackup_rebalance_collections_resharded 0")
	if msg, want := termination(), "cluster prod rebalanced: 0 collections, 0 operations (0 replicas moved, 0 replicated, 0 dropped) in 0s"; msg != want {
		t.Errorf("termination message %q, want %q", msg, want)
	}

}

// TestRebalanceEventsOnItsJob: a rebalance records RebalanceStarted-style
// Events on the Job that owns its pod; the completed one carries the
// summary, the failed one the exit code and error, as a Warning.
func TestRebalanceEventsOnItsJob(t *testing.T) {
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "qbackup-rebalance-1-abcde", Namespace: "qdrant", UID: types.UID("pod-uid"),
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "qbackup-rebalance-1", UID: types.UID("job-uid")}}}}
	cs := fake.NewClientset(pod)
	ev, err := kube.NewJobEvents(ctx, cs, "qdrant", pod.Name)
	if err != nil {
		t.Fatal(err)
	}
	summary := rebalanceSummary("prod", &rebalance.Result{Collections: 1, Operations: 4, Moved: 1, Replicated: 3, Duration: time.Second})
	(&runEvents{ev: ev, action: "Rebalance", started: time.Now(), env: &runEnv{summary: summary}}).end(nil, 0)
	(&runEvents{ev: ev, action: "Rebalance", started: time.Now(), env: &runEnv{}}).end(errors.New("cluster lock held by backup-pod-1"), cli.ExitLocked)
	list, err := cs.EventsV1().Events("qdrant").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range list.Items {
		if e.Regarding.Kind != "Job" || e.Regarding.Name != "qbackup-rebalance-1" || e.Action != "Rebalance" {
			t.Errorf("event %s about %s/%s, action %q: want the Job's, action Rebalance", e.Reason, e.Regarding.Kind, e.Regarding.Name, e.Action)
		}
		got[e.Reason] = e.Type + ": " + e.Note
	}
	for reason, want := range map[string]string{
		"RebalanceCompleted": "Normal: rebalance complete in 0s: " + summary,
		"RebalanceFailed":    "Warning: rebalance failed after 0s with exit code 3: cluster lock held by backup-pod-1",
	} {
		if got[reason] != want {
			t.Errorf("%s: %q, want %q", reason, got[reason], want)
		}
	}
}
