package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	restclient "k8s.io/client-go/rest"
	fakerest "k8s.io/client-go/rest/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/kube"

	"github.com/qbackup/qbackup/internal/golden"
)

// withLogs is a fake clientset whose pods/log answers log: client-go's
// fake always answers "fake logs".
type withLogs struct {
	*fake.Clientset
	log string
}

func (c withLogs) CoreV1() corev1client.CoreV1Interface {
	return logsCore{c.Clientset.CoreV1(), c.log}
}

type logsCore struct {
	corev1client.CoreV1Interface
	log string
}

func (c logsCore) Pods(ns string) corev1client.PodInterface {
	return logsPods{c.CoreV1Interface.Pods(ns), ns, c.log}
}

type logsPods struct {
	corev1client.PodInterface
	ns, log string
}

func (p logsPods) GetLogs(name string, _ *corev1.PodLogOptions) *restclient.Request {
	c := &fakerest.RESTClient{
		Client: fakerest.CreateHTTPClient(func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(p.log))}, nil
		}),
		NegotiatedSerializer: scheme.Codecs.WithoutConversion(),
		GroupVersion:         corev1.SchemeGroupVersion,
		VersionedAPIPath:     "/api/v1/namespaces/" + p.ns + "/pods/" + name + "/log",
	}
	return c.Request()
}

// peersJobsRun makes every peers query Job created in cs succeed at once,
// with a pod that ran, as the Job controller and a node would.
func peersJobsRun(t *testing.T, cs *fake.Clientset) {
	t.Helper()
	cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		if job.Labels[kube.ComponentLabel] != kube.PeersComponent {
			return false, nil, nil
		}
		job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-x1", Namespace: job.Namespace, Labels: map[string]string{"job-name": job.Name}},
			Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
		if err := cs.Tracker().Add(pod); err != nil {
			t.Error(err)
		}
		return false, nil, nil
	})
}

// surveyLog is the log of a peers Job: qdrant-0 and qdrant-1 are Ready,
// but Qdrant counts 3 peers: qdrant-1's peer is still a learner, and
// peer 13 (a pod scaled away, its peer never removed) has no pod.
const surveyLog = `{"time":"2026-11-26T09:00:00Z","level":"INFO","msg":"starting"}
{"kind":"QdrantPeers","version":1,"source":"pods in namespace \"qdrant\" with selector \"app.kubernetes.io/name=qdrant\"","pods":[` +
	`{"pod":"qdrant-0","url":"http://10.0.0.1:6333","qdrantVersion":"1.19.0","peerId":11,"peers":{"11":"http://qdrant-0.qdrant-headless:6335/","12":"http://qdrant-1.qdrant-headless:6335/","13":"http://qdrant-2.qdrant-headless:6335/"},"leader":11,"role":"Leader","isVoter":true,"consensus":"working"},` +
	`{"pod":"qdrant-1","url":"http://10.0.0.2:6333","qdrantVersion":"1.19.0","peerId":12,"peers":{"11":"http://qdrant-0.qdrant-headless:6335/","12":"http://qdrant-1.qdrant-headless:6335/","13":"http://qdrant-2.qdrant-headless:6335/"},"leader":11,"role":"Follower","isVoter":false,"consensus":"working"}]}
{"time":"2026-11-26T09:00:01Z","level":"INFO","msg":"summary","summary":"2 of 2 Ready pods answered"}
`

// TestRestorePreviewAsksQdrant: the preview runs the peers query Job,
// reads its answer through pods/log, names what disagrees, plans on
// Qdrant's count, records it in the Job's annotation and deletes the
// query Job. Golden output.
func TestRestorePreviewAsksQdrant(t *testing.T) {
	noCredentials(t)
	cs := summaryCluster(t)
	peersJobsRun(t, cs)
	var created []string
	cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		created = append(created, a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).Name)
		return false, nil, nil
	})
	code, out, errOut := runFake(t, withLogs{cs, surveyLog}, "restore", "latest", "--dry-run=client", "-o", "yaml")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	golden.CheckString(t, filepath.Join("testdata", "restore-preview-peers.txt"), errOut)
	if got := planAnnotation(t, out); got != "redistribute (pods in backup: 2, Ready pods: 2, Qdrant peers: 3)" {
		t.Errorf("the plan annotation %q does not carry Qdrant's count", got)
	}
	if len(created) != 1 || created[0] != "qbackup-peers-20261126090000" {
		t.Errorf("jobs created: %v, want the peers query only (a client dry run)", created)
	}
	assertNoJobs(t, cs)
}

// planAnnotation is the previewed plan of the restore Job printed as
// YAML.
func planAnnotation(t *testing.T, jobYAML string) string {
	t.Helper()
	var job batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(jobYAML), &job); err != nil {
		t.Fatalf("%v\n%s", err, jobYAML)
	}
	return job.Annotations[kube.PlanAnnotation]
}

func assertNoJobs(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	jobs, err := cs.BatchV1().Jobs("qdrant").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 0 {
		t.Errorf("%d jobs left: the peers query Job was not deleted", len(jobs.Items))
	}
}

// TestRestorePreviewWithoutQdrantsCount: a query that is skipped, cannot
// be created, does not finish in time or answers nothing readable is
// named, and the preview goes on with the Kubernetes counts.
func TestRestorePreviewWithoutQdrantsCount(t *testing.T) {
	noCredentials(t)
	for _, tc := range noPeerCountCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			cs := summaryCluster(t)
			if tc.setup != nil {
				tc.setup(cs)
			}
			code, out, errOut := runFake(t, cs, append([]string{"restore", "latest", "--dry-run=client", "-o", "yaml"}, tc.args...)...)
			if code != cli.ExitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "pods in backup: 2, Ready pods now: 2 → direct\n  "+tc.want) {
				t.Errorf("preview:\n%s\nwant %q", errOut, tc.want)
			}
			if got, want := planAnnotation(t, out), "direct (pods in backup: 2, Ready pods: 2, Qdrant peers: "+tc.wantCount+")"; got != want {
				t.Errorf("annotation %q, want %q", got, want)
			}
			assertQueryAttempt(t, cs, tc.wantAttempt)
			assertNoJobs(t, cs)
		})
	}
}

// noPeerCountCase is a peers query that is skipped or cannot run, and
// what every preview then says (restore and rebalance alike).
type noPeerCountCase struct {
	name        string
	args        []string
	setup       func(*fake.Clientset)
	want        string
	wantCount   string
	wantAttempt bool
}

func noPeerCountCases(t *testing.T) []noPeerCountCase {
	t.Helper()
	forbidden := func(cs *fake.Clientset) {
		cs.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "", nil)
		})
	}
	return []noPeerCountCase{
		{"skipped", []string{"--skip-peers-query"}, nil,
			"Qdrant's peers not asked (--skip-peers-query): the preview counts Kubernetes pods only", "not asked", false},
		{"forbidden", nil, forbidden,
			`Qdrant's peers not read: create job qbackup-peers-20261126090000: jobs.batch is forbidden`, "unknown", true},
		{"no node runs it", []string{"--peers-timeout=50ms"}, nil,
			"Qdrant's peers not read: job qbackup-peers-20261126090000 did not finish within --peers-timeout=50ms (job.batch/qbackup-peers-20261126090000: pending): is there a node to run it?; the preview counts Kubernetes pods only", "unknown", true},
		{"no answer in the log", nil, func(cs *fake.Clientset) { peersJobsRun(t, cs) },
			"Qdrant's peers not read: job qbackup-peers-20261126090000: no QdrantPeers document in the log; the preview counts Kubernetes pods only", "unknown", true},
	}
}

// assertQueryAttempt checks whether a Job was asked to be created.
func assertQueryAttempt(t *testing.T, cs *fake.Clientset, want bool) {
	t.Helper()
	attempted := false
	for _, a := range cs.Actions() {
		if a.Matches("create", "jobs") {
			attempted = true
		}
	}
	if attempted != want {
		t.Errorf("asked to create a Job: %v, want %v", attempted, want)
	}
}

// TestRebalancePreviewAsksQdrant: the rebalance preview runs the same
// peers query as the restore preview, names the peer still joining and
// the peer without a Ready pod before the Job is created, says the
// rebalance Job refuses it, records the counts in the Job's plan
// annotation and deletes the query Job. Golden output.
func TestRebalancePreviewAsksQdrant(t *testing.T) {
	noCredentials(t)
	cs := summaryCluster(t)
	peersJobsRun(t, cs)
	var created []string
	cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		created = append(created, a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).Name)
		return false, nil, nil
	})
	code, out, errOut := runFake(t, withLogs{cs, surveyLog}, "rebalance", "--dry-run=client", "-o", "yaml")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	golden.CheckString(t, filepath.Join("testdata", "rebalance-preview-peers.txt"), errOut)
	if got := planAnnotation(t, out); got != "rebalance (Ready pods: 2, Qdrant peers: 3)" {
		t.Errorf("the plan annotation %q does not carry Qdrant's count", got)
	}
	if len(created) != 1 || created[0] != "qbackup-peers-20261126090000" {
		t.Errorf("jobs created: %v, want the peers query only (a client dry run)", created)
	}
	assertNoJobs(t, cs)

	// --allow-node-mismatch: the disagreement is still named, without
	// the refusal the Job would no longer make.
	cs = summaryCluster(t)
	peersJobsRun(t, cs)
	code, out, errOut = runFake(t, withLogs{cs, surveyLog}, "rebalance", "--allow-node-mismatch", "--dry-run=client", "-o", "yaml")
	if code != cli.ExitOK {
		t.Fatalf("--allow-node-mismatch: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "qdrant-1 (peer 12) is still joining") || strings.Contains(errOut, "refuses") {
		t.Errorf("--allow-node-mismatch:\n%s", errOut)
	}
}

// TestRebalancePreviewWithoutQdrantsCount: a query that is skipped or
// cannot run is named with the restore preview's very words, and the
// rebalance preview goes on with the Kubernetes counts.
func TestRebalancePreviewWithoutQdrantsCount(t *testing.T) {
	noCredentials(t)
	for _, tc := range noPeerCountCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			cs := summaryCluster(t)
			if tc.setup != nil {
				tc.setup(cs)
			}
			code, out, errOut := runFake(t, cs, append([]string{"rebalance", "--dry-run=client", "-o", "yaml"}, tc.args...)...)
			if code != cli.ExitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "Rebalance over the 2 Ready pods of namespace qdrant\n  "+tc.want) {
				t.Errorf("preview:\n%s\nwant %q", errOut, tc.want)
			}
			if got, want := planAnnotation(t, out), "rebalance (Ready pods: 2, Qdrant peers: "+tc.wantCount+")"; got != want {
				t.Errorf("annotation %q, want %q", got, want)
			}
			assertQueryAttempt(t, cs, tc.wantAttempt)
			assertNoJobs(t, cs)
		})
	}
}

// onTerminal makes the commands ask, as on a terminal, with answer typed.
func onTerminal(t *testing.T, answer string) {
	t.Helper()
	oldIn, oldTTY := stdin, stdinIsTerminal
	stdin, stdinIsTerminal = strings.NewReader(answer), func() bool { return true }
	t.Cleanup(func() { stdin, stdinIsTerminal = oldIn, oldTTY })
}

// TestQuestionRepeatsTheDisagreement: on a terminal, restore and
// rebalance ask before they create their Job; when Qdrant's peers and
// the pods disagree the question says so again, right where the answer
// is given, and "no" creates nothing.
func TestQuestionRepeatsTheDisagreement(t *testing.T) {
	noCredentials(t)
	for _, tc := range []struct {
		args []string
		want string
		kind string
	}{
		{[]string{"rebalance"}, "Move and replicate shards over the 2 Ready pods of namespace qdrant, although Qdrant's peers and the pods disagree? [y/N] ", "rebalance"},
		{[]string{"restore", "latest"}, "Restore backup 20261125T133000Z-3f9c onto the 3 Qdrant peers of namespace qdrant, although Qdrant's peers and the pods disagree? [y/N] ", "restore"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			onTerminal(t, "n\n")
			cs := summaryCluster(t)
			peersJobsRun(t, cs)
			code, out, errOut := runFake(t, withLogs{cs, surveyLog}, tc.args...)
			if code != cli.ExitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, tc.want+"Not confirmed: no "+tc.kind+" Job was created.\n") {
				t.Errorf("the question:\n%s\nwant %q", errOut, tc.want)
			}
			assertNoJobs(t, cs)
		})
	}
}

// TestRebalanceConfirmedCreatesTheJob: "y" on a terminal creates the
// rebalance Job, with the counts the preview saw.
func TestRebalanceConfirmedCreatesTheJob(t *testing.T) {
	noCredentials(t)
	onTerminal(t, "y\n")
	cs := summaryCluster(t)
	peersJobsRun(t, cs)
	code, out, errOut := runFake(t, withLogs{cs, surveyLog}, "rebalance")
	if code != cli.ExitOK || !strings.Contains(out, "job.batch/qbackup-rebalance-20261126090000 created\n") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "logs its plan before it moves anything: kubectl qbackup -n qdrant logs qbackup-rebalance-20261126090000 -f; ") {
		t.Errorf("the preview does not name the command that shows the Job's plan:\n%s", out)
	}
	job, err := cs.BatchV1().Jobs("qdrant").Get(t.Context(), "qbackup-rebalance-20261126090000", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := job.Annotations[kube.PlanAnnotation]; got != "rebalance (Ready pods: 2, Qdrant peers: 3)" {
		t.Errorf("plan annotation %q", got)
	}
}

// TestTwoPreviewsInOneSecond: a second preview in the same second (a
// peers Job of that name exists) runs its own query under a name of its
// own, and leaves the other preview's Job alone.
func TestTwoPreviewsInOneSecond(t *testing.T) {
	noCredentials(t)
	cs := summaryCluster(t)
	peersJobsRun(t, cs)
	other := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "qbackup-peers-20261126090000", Namespace: "qdrant",
		Labels: map[string]string{"app.kubernetes.io/name": "qbackup", kube.ComponentLabel: kube.PeersComponent}}}
	if err := cs.Tracker().Add(other); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runFake(t, withLogs{cs, surveyLog}, "rebalance", "--dry-run=client")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !regexp.MustCompile(`\n  Qdrant reports 3 peers, 2 pods Ready: .*\n  \(.*; Qdrant's peers from job qbackup-peers-20261126090000-[0-9a-f]{4}\)\n`).MatchString(out) {
		t.Errorf("the second preview did not run its own query:\n%s\n%s", out, errOut)
	}
	jobs, err := cs.BatchV1().Jobs("qdrant").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 || jobs.Items[0].Name != other.Name {
		t.Errorf("jobs left: %v, want the other preview's only", jobs.Items)
	}
}
