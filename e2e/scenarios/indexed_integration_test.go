//go:build integration

package scenarios

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qbackup/qbackup/internal/kube"
)

// startIndexedJob creates a backup Job from the installed CronJob as
// `kubectl qbackup backup --workers=N --worker-retries=R` renders it.
func (in *installation) startIndexedJob(t *testing.T, name string, workers, retries int) {
	t.Helper()
	ctx := context.Background()
	cj, err := in.cs.BatchV1().CronJobs(in.ns).Get(ctx, "qbackup", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the installed CronJob: %v", err)
	}
	job := kube.JobFromCronJob(cj, name)
	if err := kube.MakeIndexedBackup(job, workers, retries); err != nil {
		t.Fatal(err)
	}
	if _, err := in.cs.BatchV1().Jobs(in.ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// podsByIndex lists a Job's pods by completion index.
func (in *installation) podsByIndex(t *testing.T, job string) map[string][]corev1.Pod {
	t.Helper()
	pods, err := in.cs.CoreV1().Pods(in.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		idx := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		out[idx] = append(out[idx], p)
	}
	return out
}

// shardHashes maps collection/shard to the SHA-256 of its stored object.
func shardHashes(m *manifestDoc) map[string]string {
	out := map[string]string{}
	for _, c := range m.Collections {
		for _, s := range c.Shards {
			out[fmt.Sprintf("%s/%d", c.Name, s.ID)] = s.SHA256
		}
	}
	return out
}

// TestIndexedBackupJob runs the backup as an Indexed Job of 3 pods on the
// test stack with the node agent (the Job controller creates the pods,
// the agent runs them): the set it commits equals, shard for shard, the
// set one pod takes of the same data; then a worker SIGKILLed half way,
// with no retry left, fails the Job, leaves no committed set, and after
// prune nothing of it is in storage.
var victims = []string{"2", "0"}

// committedSummary is worker 0's termination message once it committed.
var committedSummary = regexp.MustCompile(`^backup (\S+) of cluster `)

func TestIndexedBackupJob(t *testing.T) {
	t.Parallel()
	ms := newFaultMission(t, 17, nil)
	sc := &scenario{st: ms.st, cluster: devCluster}

	t.Run("three workers commit one set equal to one pod's", func(t *testing.T) {
		ms.startJob(t, "qbackup-single")
		if job := ms.jobDone(t, "qbackup-single", 90*time.Second); !jobCondition(job, batchv1.JobComplete) {
			t.Fatalf("single backup job: %+v\n%s", job.Status, ms.jobLogs(t, "qbackup-single"))
		}
		// As the operator runs it: the plugin renders the Indexed Job and
		// follows it to its end.
		r := ms.plugin.run(t, append([]string{"backup", "--workers=3", "--wait"}, ms.kflags...)...)
		created := createdJob.FindStringSubmatch(r.stdout)
		if r.code != exitOK || created == nil {
			t.Fatalf("kubectl qbackup backup --workers=3 --wait: %s", r)
		}
		name := created[1]
		job := ms.jobDone(t, name, 120*time.Second)
		logs := ms.jobLogs(t, name)
		if !jobCondition(job, batchv1.JobComplete) || job.Status.Succeeded != 3 || job.Spec.CompletionMode == nil || *job.Spec.CompletionMode != batchv1.IndexedCompletion {
			t.Fatalf("indexed backup job: %+v %+v\n%s", job.Spec, job.Status, logs)
		}
		rows := ms.cat.backups(t, devCluster)
		if len(rows) != 2 || rows[0].Status != "complete" || rows[1].Status != "complete" {
			t.Fatalf("catalog rows %+v, want two complete sets (one row for the 3 workers' set)\n%s", rows, logs)
		}
		if got := sc.manifests(t); len(got) != 2 {
			t.Fatalf("manifests %v, want 2", got)
		}
		one, three := sc.manifest(t, rows[0].ID), sc.manifest(t, rows[1].ID)
		a, b := shardHashes(one), shardHashes(three)
		if len(a) == 0 || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("the 3 workers' set differs from one pod's:\none:   %v\nthree: %v", a, b)
		}
		for _, c := range three.Collections {
			for _, sh := range c.Shards {
				if body := ms.st.read(t, sh.Object); int64(len(body)) != sh.Size || sha256Hex(body) != sh.SHA256 {
					t.Errorf("%s shard %d: object differs from the manifest", c.Name, sh.ID)
				}
			}
		}
		// The plugin's last line is worker 0's summary: the set.
		if !strings.Contains(r.stdout, "succeeded in ") || !strings.Contains(r.stdout, "backup "+rows[1].ID+" of cluster") {
			t.Errorf("the plugin did not report the committed set %s:\n%s", rows[1].ID, r)
		}
		// Every index ran once and said what it did: worker 0 the set,
		// the others their part.
		pods := ms.podsByIndex(t, name)
		for _, idx := range []string{"0", "1", "2"} {
			if len(pods[idx]) != 1 {
				t.Fatalf("index %s: %d pods, want 1", idx, len(pods[idx]))
			}
			term := pods[idx][0].Status.ContainerStatuses[0].State.Terminated
			want := "backup " + rows[1].ID + " of cluster"
			if idx != "0" {
				want = "worker " + idx + " of 3: part of backup " + rows[1].ID + " stored"
			}
			if term == nil || term.ExitCode != 0 || !strings.Contains(term.Message, want) {
				t.Errorf("index %s: %+v, want exit 0 and %q", idx, term, want)
			}
		}
		ms.assertSettled(t)
	})

	// A worker SIGKILLed half way is retried by the Job (its index only);
	// the retry stores that share again and worker 0 commits the set.
	// Killing worker 0 itself, its retry takes the plan up once the dead
	// pod's lock has expired.
	for _, victimIndex := range victims {
		t.Run("killed worker "+victimIndex+" is retried on its own", func(t *testing.T) {
			name := "qbackup-retried-" + victimIndex
			// Every snapshot request waits a few seconds: each worker is
			// inside its share when the plan is there (stalled streams
			// would hold the other workers until --stall-timeout).
			for _, p := range ms.sm.c.Peers() {
				p.SetFaults(faultOn(snapshotRoute, func(f *routeFault) { f.Latency = duration(6 * time.Second) }))
			}
			ms.startIndexedJob(t, name, 3, 2)
			eventually(t, 30*time.Second, "the plan of job "+name, func() bool {
				for _, k := range ms.st.keys(t) {
					if strings.HasPrefix(k, devCluster+"/.sets/") && strings.HasSuffix(k, "/plan.json") {
						return true
					}
				}
				return false
			})
			var victim *corev1.Pod
			eventually(t, 30*time.Second, "worker "+victimIndex+" running", func() bool {
				for _, p := range ms.podsByIndex(t, name)[victimIndex] {
					if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
						victim = &p
						return true
					}
				}
				return false
			})
			// Let it read the plan and open its snapshot streams.
			time.Sleep(2 * time.Second)
			first := map[string]string{} // index → pod uid
			for idx, ps := range ms.podsByIndex(t, name) {
				for _, p := range ps {
					first[idx] = string(p.UID)
				}
			}
			exit := ms.exitOf(t, victim)
			ms.deletePod(t, victim, 0)
			if term := <-exit; term == nil || term.ExitCode != 128+9 {
				t.Fatalf("the killed worker: %+v, want SIGKILL", term)
			}
			ms.clearFaults()
			t.Cleanup(func() {
				if t.Failed() {
					j, _ := ms.cs.BatchV1().Jobs(ms.ns).Get(context.Background(), name, metav1.GetOptions{})
					t.Logf("job status %+v\n%s", j.Status, ms.jobLogs(t, name))
				}
			})
			job := ms.jobDone(t, name, 120*time.Second)
			logs := ms.jobLogs(t, name)
			if !jobCondition(job, batchv1.JobComplete) || job.Status.Succeeded != 3 {
				t.Fatalf("job %+v, want complete with 3 indexes succeeded\n%s", job.Status, logs)
			}
			if job.Status.Failed != 1 {
				t.Errorf("job %+v, want the one killed pod failed", job.Status)
			}
			// Only the killed index ran again: the others' pods are the
			// ones that ran from the start.
			pods := ms.podsByIndex(t, name)
			for _, idx := range []string{"0", "1", "2"} {
				if len(pods[idx]) != 1 {
					t.Fatalf("index %s: %d pods left, want 1", idx, len(pods[idx]))
				}
				retried := string(pods[idx][0].UID) != first[idx]
				if retried != (idx == victimIndex) {
					t.Errorf("index %s retried: %t, want %t\n%s", idx, retried, idx == victimIndex, logs)
				}
			}
			if victimIndex == "0" && !strings.Contains(logs, "taking up the plan of an earlier attempt of worker 0") {
				t.Errorf("worker 0's retry did not take its plan up:\n%s", logs)
			}
			// Worker 0's summary names the committed set.
			term := pods["0"][0].Status.ContainerStatuses[0].State.Terminated
			m := committedSummary.FindStringSubmatch(term.Message)
			if m == nil {
				t.Fatalf("worker 0's termination message %q names no committed set\n%s", term.Message, logs)
			}
			status := ""
			for _, r := range ms.cat.backups(t, devCluster) {
				if r.ID == m[1] {
					status = r.Status
				}
			}
			if status != "complete" {
				t.Errorf("set %s is %q in the catalog, want complete", m[1], status)
			}
			ms.assertSettled(t)
		})
	}

	t.Run("a worker killed with no retry left fails the set", func(t *testing.T) {
		completeBefore := countStatus(ms.cat.backups(t, devCluster), "complete")
		// Peers 1 and 2 stall: every worker is held on its shards of
		// them while peer 0's shards are written.
		ms.stallSnapshots(1)
		ms.stallSnapshots(2)
		ms.startIndexedJob(t, "qbackup-killed", 3, 0)
		ms.waitShardObject(t, "qbackup-killed")
		var victim *corev1.Pod
		eventually(t, 30*time.Second, "a running worker other than 0", func() bool {
			for _, idx := range []string{"1", "2"} {
				for _, p := range ms.podsByIndex(t, "qbackup-killed")[idx] {
					if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
						victim = &p
						return true
					}
				}
			}
			return false
		})
		exit := ms.exitOf(t, victim)
		ms.deletePod(t, victim, 0)
		if term := <-exit; term == nil || term.ExitCode != 128+9 {
			t.Fatalf("the killed worker: %+v, want SIGKILL", term)
		}
		job := ms.jobDone(t, "qbackup-killed", 90*time.Second)
		ms.clearFaults()
		logs := ms.jobLogs(t, "qbackup-killed")
		if !jobCondition(job, batchv1.JobFailed) {
			t.Fatalf("job %+v, want failed (an index failed with no retry left)\n%s", job.Status, logs)
		}
		rows := ms.cat.backups(t, devCluster)
		if n := countStatus(rows, "complete"); n != completeBefore {
			t.Fatalf("catalog rows %+v: a set was committed\n%s", rows, logs)
		}
		if countStatus(rows, "failed") == 0 {
			t.Errorf("catalog rows %+v: the killed set is not recorded as failed\n%s", rows, logs)
		}
		// Prune (no grace) leaves only the committed sets: nothing of the
		// killed one, its coordination records included.
		ms.assertSettled(t)
		for _, k := range ms.st.keys(t) {
			if strings.Contains(k, "/.sets/") {
				t.Errorf("record %s left after prune", k)
			}
		}
	})
}
