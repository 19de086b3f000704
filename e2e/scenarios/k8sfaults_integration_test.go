//go:build integration

package scenarios

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/qbackup/qbackup/e2e/faultproxy"
	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// The fault matrix on the real API server: the dev overlay installed,
// Qdrant a StatefulSet of simulator peers, Jobs run by the real job
// controller and the node agent. Each scenario ends with assertSettled.

// devCluster is the cluster name the dev overlay configures.
const devCluster = "qdrant-dev"

// faultConfig is what every fault scenario changes in the installed
// ConfigMap: a short lease, so that a killed run's lock expires in
// seconds instead of two minutes (the next Job waits for it, as
// QBACKUP_LEASE_WAIT says).
var faultConfig = map[string]string{"QBACKUP_LEASE_TTL": "4s"}

// newFaultMission is the mission's installation with faultConfig and
// extra settings in the ConfigMap.
func newFaultMission(t *testing.T, slot int, extra map[string]string) *statefulMission {
	t.Helper()
	ms := newStatefulMission(t, slot)
	cfg := map[string]string{}
	for k, v := range faultConfig {
		cfg[k] = v
	}
	for k, v := range extra {
		cfg[k] = v
	}
	ms.setConfig(t, cfg)
	return ms
}

// qb is the qbackup CLI as the operator runs it against the installation's
// storage and catalog.
func (ms *statefulMission) qb(t *testing.T) *cli {
	t.Helper()
	return newCLI(t).with(ms.st.env()...).with("QBACKUP_CATALOG_DSN", ms.cat.dsn)
}

// storeArgs is cmd with the dev cluster and the installation's storage.
func (ms *statefulMission) storeArgs(cmd ...string) []string {
	return append(append(cmd, "--cluster="+devCluster), ms.st.flags()...)
}

// assertSettled is how every fault scenario ends: once the operator has
// pruned (the dev overlay's retention, no orphan grace),
//   - every complete set of the catalog has its manifest in storage, and
//     every object the manifest lists has its recorded size and SHA-256;
//   - every object under the cluster's prefix belongs to such a set: no
//     orphan left by a killed run;
//   - the catalog's complete sets are exactly the manifests in storage;
//   - no lease is held and no multipart upload is open.
func (ms *statefulMission) assertSettled(t *testing.T) {
	t.Helper()
	eventually(t, 15*time.Second, "the cluster lock to be free", func() bool { return ms.cat.leaseHolder(t, devCluster) == "" })
	r := ms.qb(t).run(t, ms.storeArgs("prune", "--keep-last=2", "--keep-daily=2", "--orphan-grace=0")...)
	ok(t, r)
	sc := &scenario{st: ms.st, cluster: devCluster}
	complete := map[string]bool{}
	for _, row := range ms.cat.backups(t, devCluster) {
		if row.Status == "complete" {
			complete[row.ID] = true
		}
	}
	if len(complete) == 0 {
		t.Errorf("no complete set in the catalog")
	}
	listed := map[string]bool{}
	for _, k := range sc.manifests(t) {
		listed[strings.TrimSuffix(strings.TrimPrefix(k, devCluster+"/"), "/manifest.json")] = true
	}
	if fmt.Sprint(keys(listed)) != fmt.Sprint(keys(complete)) {
		t.Errorf("complete sets in the catalog %v, manifests in storage %v", keys(complete), keys(listed))
	}
	owned := map[string]bool{}
	for id := range listed {
		owned[devCluster+"/"+id+"/manifest.json"] = true
		m := sc.manifest(t, id)
		for _, c := range m.Collections {
			for _, sh := range c.Shards {
				owned[sh.Object] = true
				if b := ms.st.read(t, sh.Object); int64(len(b)) != sh.Size || sha256Hex(b) != sh.SHA256 {
					t.Errorf("set %s, %s shard %d: object %s differs from the manifest (%d bytes)", id, c.Name, sh.ID, sh.Object, len(b))
				}
			}
		}
	}
	for _, k := range ms.st.keys(t) {
		if !owned[k] {
			t.Errorf("object %s belongs to no complete set after prune", k)
		}
	}
	if up := ms.st.uploads(t); len(up) != 0 {
		t.Errorf("multipart uploads left open: %v", up)
	}
	if h := ms.cat.leaseHolder(t, devCluster); h != "" {
		t.Errorf("lease still held by %s", h)
	}
}

// jobDone waits until the Job has finished and returns it.
func (in *installation) jobDone(t *testing.T, name string, timeout time.Duration) *batchv1.Job {
	t.Helper()
	var done *batchv1.Job
	eventually(t, timeout, "job "+name+" to finish", func() bool {
		j, err := in.cs.BatchV1().Jobs(in.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && (jobCondition(j, batchv1.JobComplete) || jobCondition(j, batchv1.JobFailed)) {
			done = j
			return true
		}
		return false
	})
	logMetrics(t, in.jobLogs(t, name))
	return done
}

// runningPod waits for a Running pod of the Job and returns it.
func (in *installation) runningPod(t *testing.T, job string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 30*time.Second, "a running pod of job "+job, func() bool {
		pods, err := in.cs.CoreV1().Pods(in.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + job})
		if err != nil {
			return false
		}
		for i := range pods.Items {
			if p := &pods.Items[i]; p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				pod = p
				return true
			}
		}
		return false
	})
	return pod
}

// exitOf watches the pod and delivers its container's exit code once the
// node agent reports it (the pod may be gone right after: the job
// controller removes its finalizer once counted).
func (in *installation) exitOf(t *testing.T, pod *corev1.Pod) <-chan *corev1.ContainerStateTerminated {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	w, err := in.cs.CoreV1().Pods(in.ns).Watch(ctx, metav1.ListOptions{
		FieldSelector: "metadata.name=" + pod.Name, ResourceVersion: pod.ResourceVersion,
	})
	if err != nil {
		cancel()
		t.Fatalf("watch pod %s: %v", pod.Name, err)
	}
	out := make(chan *corev1.ContainerStateTerminated, 1)
	go func() {
		defer cancel()
		defer w.Stop()
		for ev := range w.ResultChan() {
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || p.UID != pod.UID || ev.Type == watch.Error {
				continue
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Terminated != nil {
					out <- cs.State.Terminated
					return
				}
			}
		}
		close(out)
	}()
	return out
}

// deletePod deletes a pod as `kubectl delete pod` does: with grace
// seconds (the node agent sends SIGTERM, then SIGKILL after grace), or
// with --grace-period=0 --force (SIGKILL at once).
func (in *installation) deletePod(t *testing.T, pod *corev1.Pod, grace int64) {
	t.Helper()
	uid := pod.UID
	err := in.cs.CoreV1().Pods(in.ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &grace, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil {
		t.Fatalf("delete pod %s: %v", pod.Name, err)
	}
}

// waitShardObject waits until the running backup has written a shard
// object of a set without a manifest yet (the run's own).
func (ms *statefulMission) waitShardObject(t *testing.T, job string) {
	t.Helper()
	sc := &scenario{st: ms.st, cluster: devCluster}
	eventually(t, 30*time.Second, "a shard object of job "+job+" in storage", func() bool {
		done := map[string]bool{}
		for _, m := range sc.manifests(t) {
			done[setOf(m)] = true
		}
		for _, k := range sc.setObjects(t) {
			if !done[setOf(k)] {
				return true
			}
		}
		return false
	})
}

// stallSnapshots makes peer i's shard snapshots stop after a few bytes
// until cleared: a backup holding the lock, stuck on that peer, with the
// other peers' shards written.
func (ms *statefulMission) stallSnapshots(i int) {
	stall := int64(1500)
	ms.sm.c.Peers()[i].SetFaults(faultOn(snapshotRoute, func(f *routeFault) { f.StallAfter = &stall }))
}

func (ms *statefulMission) clearFaults() {
	for _, p := range ms.sm.c.Peers() {
		p.ClearFaults()
	}
}

// recoveredShards counts the shards the restore journal records as done.
func (c *catalog) recoveredShards(t *testing.T) int {
	t.Helper()
	var n int
	if err := c.db.QueryRow(`SELECT COUNT(*) FROM restore_shards WHERE state IN ('recovered', 'verified')`).Scan(&n); err != nil {
		t.Fatalf("query restore_shards: %v", err)
	}
	return n
}

// kill is how a scenario stops a Job's pod.
type kill struct {
	name  string
	grace int64
	code  int32
}

var kills = []kill{
	{name: "SIGTERM", grace: 30, code: exitInterrupted},
	{name: "SIGKILL", grace: 0, code: 128 + 9},
}

// TestBackupJobPodKilled deletes the running backup Job's pod through the
// API, one run after the other in one installation: with a grace period (SIGTERM: the run fails its set, deletes what
// it wrote and releases the lock) and forced (SIGKILL: the lock stays
// until it expires, the objects until prune). The job controller retries
// the Job, whose next pod makes a complete set.
func TestBackupJobPodKilled(t *testing.T) {
	t.Parallel()
	ms := newFaultMission(t, 1, nil)
	completeBefore := 0
	for _, k := range kills {
		t.Run(k.name, func(t *testing.T) {
			name := "qbackup-" + strings.ToLower(k.name)
			ms.stallSnapshots(2)
			ms.startJob(t, name)
			pod := ms.runningPod(t, name)
			ms.waitShardObject(t, name)
			exit := ms.exitOf(t, pod)
			ms.deletePod(t, pod, k.grace)
			term := <-exit
			ms.clearFaults()
			if term == nil || term.ExitCode != k.code {
				t.Fatalf("the killed pod's container: %+v, want exit %d", term, k.code)
			}
			out, _ := ms.agent.Logs(ms.ns, pod.Name, "qbackup")
			holder := ms.cat.leaseHolder(t, devCluster)
			if k.grace > 0 {
				if !strings.Contains(out, "cancelled") {
					t.Errorf("the pod stopped by SIGTERM does not say its run was cancelled:\n%s", out)
				}
				if holder != "" {
					t.Errorf("the run stopped by SIGTERM left its lock held by %s", holder)
				}
			} else if holder == "" {
				t.Errorf("the run killed by SIGKILL released its lock: it cannot have")
			}

			job := ms.jobDone(t, name, 90*time.Second)
			if !jobCondition(job, batchv1.JobComplete) || job.Status.Failed != 1 || job.Status.Succeeded != 1 {
				t.Fatalf("job status %+v: want one failed pod (the killed one) and one that succeeded", job.Status)
			}
			ms.assertSettled(t)
			rows := ms.cat.backups(t, devCluster)
			if n := countStatus(rows, "complete"); n != completeBefore+1 {
				t.Errorf("catalog rows %+v: want %d complete sets", rows, completeBefore+1)
			}
			completeBefore = countStatus(rows, "complete")
		})
	}
}

func countStatus(rows []backupRow, status string) int {
	n := 0
	for _, r := range rows {
		if r.Status == status {
			n++
		}
	}
	return n
}

var restoreSkipped = regexp.MustCompile(`(\d+) shards recovered, (\d+) skipped`)

// TestRestoreJobPodKilled deletes the running restore Job's pod (SIGTERM
// with grace, then in a second disaster SIGKILL forced) after some shards
// are recovered; the restore Job is not retried (backoffLimit 0), and the
// rerun the operator starts with `kubectl qbackup restore latest --yes
// --wait` resumes from the journal: the shards done are skipped, every
// point comes back.
func TestRestoreJobPodKilled(t *testing.T) {
	t.Parallel()
	ms := newFaultMission(t, 5, map[string]string{"QBACKUP_RESTORE_PARALLEL": "1"})
	if job, _ := ms.runJobFromCronJob(t, "qbackup-first"); !jobCondition(job, batchv1.JobComplete) {
		t.Fatalf("the backup job failed: %+v", job.Status)
	}
	for _, k := range kills {
		t.Run(k.name, func(t *testing.T) {
			ms.sm.loseEverything(t)
			ms.sm.slowUploads(400 * time.Millisecond)
			before := ms.cat.recoveredShards(t)
			r := ms.plugin.run(t, append([]string{"restore", "latest", "--yes"}, ms.kflags...)...)
			m := createdJob.FindStringSubmatch(r.stdout)
			if r.code != exitOK || m == nil {
				t.Fatalf("kubectl qbackup restore latest --yes:\n%s", r)
			}
			pod := ms.runningPod(t, m[1])
			eventually(t, 60*time.Second, "3 shards recovered", func() bool { return ms.cat.recoveredShards(t)-before >= 3 })
			exit := ms.exitOf(t, pod)
			ms.deletePod(t, pod, k.grace)
			term := <-exit
			done := ms.cat.recoveredShards(t) - before
			ms.sm.slowUploads(0)
			if term == nil || term.ExitCode != k.code {
				t.Fatalf("the killed pod's container: %+v, want exit %d", term, k.code)
			}
			if job := ms.jobDone(t, m[1], 30*time.Second); !jobCondition(job, batchv1.JobFailed) {
				t.Errorf("the killed restore's job: %+v, want failed (a restore is never retried blindly)", job.Status)
			}
			if h := ms.cat.leaseHolder(t, devCluster); (h == "") != (k.grace > 0) {
				t.Errorf("after %s the lock is held by %q", k.name, h)
			}

			_, _, out := ms.pluginJob(t, "restore", "latest", "--yes")
			sm := restoreSkipped.FindStringSubmatch(out)
			if sm == nil {
				t.Fatalf("the rerun does not report recovered and skipped shards:\n%s", out)
			}
			skipped, _ := strconv.Atoi(sm[2])
			if skipped < done-1 || skipped == 0 {
				t.Errorf("the rerun skipped %d shards; the killed run had recovered %d", skipped, done)
			}
			ms.sm.assertEverything(t, ms.want)
			if got := ms.cat.restoreStatuses(t); len(got) == 0 || got[len(got)-1] != "complete" {
				t.Errorf("restores in the catalog: %v, want the last complete", got)
			}
			ms.assertSettled(t)
		})
	}
}

// TestQdrantPodDeletedMidBackup deletes a Qdrant pod while the backup
// Job streams a shard from it: the run fails its set, the StatefulSet
// recreates the pod, and the Job's retry makes a complete set.
func TestQdrantPodDeletedMidBackup(t *testing.T) {
	t.Parallel()
	ms := newFaultMission(t, 7, nil)
	ms.stallSnapshots(1)
	ms.startJob(t, "qbackup-peer-lost")
	job := ms.runningPod(t, "qbackup-peer-lost")
	ms.waitShardObject(t, "qbackup-peer-lost")
	qpod, err := ms.cs.CoreV1().Pods(ms.ns).Get(context.Background(), "qdrant-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exit := ms.exitOf(t, job)
	ms.deletePod(t, qpod, 30)
	term := <-exit
	ms.clearFaults()
	if term == nil {
		t.Fatal("the backup pod's exit was not seen")
	}
	t.Logf("the backup pod exited %d: %s", term.ExitCode, lastLine(term.Message))
	ms.scaleQdrant(t, 3) // the statefulset controller recreates qdrant-1
	done := ms.jobDone(t, "qbackup-peer-lost", 90*time.Second)
	// The lost stream fails the set (exit 1, a failure a retry may
	// cure); the job controller retries once qdrant-1 is back.
	if term.ExitCode != exitFailed || !jobCondition(done, batchv1.JobComplete) || done.Status.Failed != 1 {
		t.Fatalf("backup pod exit %d, job %+v: want exit 1, then the retry complete\n%s", term.ExitCode, done.Status, ms.jobLogs(t, "qbackup-peer-lost"))
	}
	ms.assertSettled(t)
	rows := ms.cat.backups(t, devCluster)
	if n := countStatus(rows, "complete"); n != 1 {
		t.Errorf("catalog rows %+v: want one complete set", rows)
	}
}

// setTimes is when a set's first shard snapshot started and when the
// set finished, and each collection's exact point count (the range read
// before and after the snapshots), from its manifest.
type setTimes struct {
	FinishedAt time.Time `json:"finished_at"`
	Window     struct {
		FirstStart time.Time `json:"first_start"`
	} `json:"window"`
	Collections []struct {
		Name        string `json:"name"`
		PointsCount uint64 `json:"points_count"`
		Range       *struct {
			Min uint64 `json:"min"`
			Max uint64 `json:"max"`
		} `json:"points_count_range"`
	} `json:"collections"`
}

func (ms *statefulMission) setTimes(t *testing.T, id string) setTimes {
	t.Helper()
	return decode[setTimes](t, "manifest.json", string(ms.st.read(t, devCluster+"/"+id+"/manifest.json")))
}

// TestTwoBackupJobsAtOnce starts two Jobs from the CronJob together (a
// manual run while the scheduled one runs): the lock makes one wait
// (QBACKUP_LEASE_WAIT) until the other is done; both complete, their
// sets do not overlap in time.
func TestTwoBackupJobsAtOnce(t *testing.T) {
	t.Parallel()
	ms := newFaultMission(t, 8, nil)
	for _, p := range ms.sm.c.Peers() {
		// Slow snapshots keep the first run holding the lock a while.
		p.SetFaults(qdrantsim.Faults{SnapshotDelay: duration(time.Second)})
	}
	var wg sync.WaitGroup
	for _, name := range []string{"qbackup-a", "qbackup-b"} {
		ms.startJob(t, name)
	}
	jobs := map[string]*batchv1.Job{}
	var mu sync.Mutex
	for _, name := range []string{"qbackup-a", "qbackup-b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := ms.jobDone(t, name, 90*time.Second)
			mu.Lock()
			jobs[name] = j
			mu.Unlock()
		}()
	}
	wg.Wait()
	waited := 0
	for name, j := range jobs {
		if !jobCondition(j, batchv1.JobComplete) || j.Status.Failed != 0 {
			t.Errorf("job %s: %+v, want complete at the first pod", name, j.Status)
		}
		pods, err := ms.cs.CoreV1().Pods(ms.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + name})
		if err != nil || len(pods.Items) != 1 {
			t.Fatalf("pods of %s: %v %v", name, len(pods.Items), err)
		}
		out, _ := ms.agent.Logs(ms.ns, pods.Items[0].Name, "qbackup")
		if strings.Contains(out, "waiting for the cluster lock") {
			waited++
		}
	}
	if waited != 1 {
		t.Errorf("%d jobs waited for the cluster lock, want 1", waited)
	}
	rows := ms.cat.backups(t, devCluster)
	if len(rows) != 2 || countStatus(rows, "complete") != 2 {
		t.Fatalf("catalog rows %+v, want two complete sets", rows)
	}
	// The backup ids are taken before the lock: which set is whose is
	// known from the times only.
	a, b := ms.setTimes(t, rows[0].ID), ms.setTimes(t, rows[1].ID)
	if a.Window.FirstStart.After(b.Window.FirstStart) {
		a, b = b, a
	}
	if a.Window.FirstStart.IsZero() || b.Window.FirstStart.Before(a.FinishedAt) {
		t.Errorf("the second set's snapshots started at %s, before the first set finished at %s", b.Window.FirstStart, a.FinishedAt)
	}
	ms.assertSettled(t)
}

// TestBackupJobWhileARestoreJobRuns starts the CronJob's Job while a
// restore Job recovers shards: the backup waits for the restore's lock,
// then backs up the restored cluster, every point in it.
func TestBackupJobWhileARestoreJobRuns(t *testing.T) {
	t.Parallel()
	ms := newFaultMission(t, 11, map[string]string{"QBACKUP_RESTORE_PARALLEL": "1"})
	if job, _ := ms.runJobFromCronJob(t, "qbackup-first"); !jobCondition(job, batchv1.JobComplete) {
		t.Fatalf("the backup job failed: %+v", job.Status)
	}
	ms.sm.loseEverything(t)
	ms.sm.slowUploads(300 * time.Millisecond)
	r := ms.plugin.run(t, append([]string{"restore", "latest", "--yes"}, ms.kflags...)...)
	m := createdJob.FindStringSubmatch(r.stdout)
	if r.code != exitOK || m == nil {
		t.Fatalf("kubectl qbackup restore latest --yes:\n%s", r)
	}
	eventually(t, 60*time.Second, "a shard recovered", func() bool { return ms.cat.recoveredShards(t) >= 1 })
	ms.startJob(t, "qbackup-during-restore")
	restore := ms.jobDone(t, m[1], 90*time.Second)
	ms.sm.slowUploads(0)
	backup := ms.jobDone(t, "qbackup-during-restore", 90*time.Second)
	if !jobCondition(restore, batchv1.JobComplete) || !jobCondition(backup, batchv1.JobComplete) {
		t.Fatalf("restore job %+v, backup job %+v: want both complete", restore.Status, backup.Status)
	}
	ms.sm.assertEverything(t, ms.want)
	rows := ms.cat.backups(t, devCluster)
	if len(rows) != 2 || countStatus(rows, "complete") != 2 {
		t.Fatalf("catalog rows %+v, want two complete sets", rows)
	}
	var restoreEnd time.Time
	if err := ms.cat.db.QueryRow(`SELECT finished_at FROM restores`).Scan(&restoreEnd); err != nil {
		t.Fatalf("the restore's end: %v", err)
	}
	after := ms.setTimes(t, rows[1].ID)
	if after.Window.FirstStart.Before(restoreEnd) {
		t.Errorf("the backup's snapshots started at %s, before the restore finished at %s", after.Window.FirstStart, restoreEnd)
	}
	// The set of the restored cluster holds every point: the exact count
	// read around its snapshots.
	for _, c := range after.Collections {
		if want := uint64(len(ms.want.points[c.Name])); c.Range == nil || c.Range.Min != want || c.Range.Max != want {
			t.Errorf("the backup after the restore records %s with %+v points (estimate %d), the cluster had %d\nbackup job:\n%s",
				c.Name, c.Range, c.PointsCount, want, ms.jobLogs(t, "qbackup-during-restore"))
		}
	}
	ms.assertSettled(t)
}

// jobLogs is the output of every pod of the Job.
func (in *installation) jobLogs(t *testing.T, job string) string {
	t.Helper()
	pods, err := in.cs.CoreV1().Pods(in.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range pods.Items {
		out, _ := in.agent.Logs(in.ns, p.Name, "qbackup")
		fmt.Fprintf(&b, "--- pod %s\n%s", p.Name, out)
	}
	return b.String()
}

// TestServiceStalledMidBackup puts a TCP proxy in front of MinIO, then in
// front of the catalog, and stalls it while the backup Job's run is
// uploading (the service stopped answering: a crashed MinIO, a database
// failing over). The run fails (exit 1) within its deadlines
// (QBACKUP_S3_TIMEOUT, QBACKUP_CATALOG_TIMEOUT); the service comes back
// and the Job's retry makes a complete set. A run whose catalog stalls
// after its manifest is written is complete in storage only: the operator's
// `qbackup catalog sync`, as the run's error says, records it.
func TestServiceStalledMidBackup(t *testing.T) {
	t.Parallel()
	ms := newFaultMission(t, 2, map[string]string{
		"QBACKUP_S3_TIMEOUT": "2s", "QBACKUP_S3_MAX_ATTEMPTS": "2", "QBACKUP_CATALOG_TIMEOUT": "2s",
	})
	minio := strings.TrimPrefix(ms.st.env_.Endpoint, "http://")
	dsn, err := mysql.ParseDSN(ms.cat.dsn)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(t *testing.T, dsn string) {
		t.Helper()
		ctx := context.Background()
		sec, err := ms.cs.CoreV1().Secrets(ms.ns).Get(ctx, "qbackup-secrets", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sec.Data["QBACKUP_CATALOG_DSN"] = []byte(dsn)
		if _, err := ms.cs.CoreV1().Secrets(ms.ns).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	services := []struct {
		name   string
		target string
		// through points the installation at addr.
		through func(t *testing.T, addr string)
	}{
		{"MinIO", minio, func(t *testing.T, addr string) {
			ms.setConfig(t, map[string]string{"QBACKUP_S3_ENDPOINT": "http://" + addr})
		}},
		{"catalog", dsn.Addr, func(t *testing.T, addr string) {
			c := dsn.Clone()
			c.Addr = addr
			secret(t, c.FormatDSN())
		}},
	}
	completeBefore := 0
	for _, svc := range services {
		t.Run(svc.name, func(t *testing.T) {
			name := "qbackup-" + strings.ToLower(svc.name)
			p := faultproxy.Start(t, svc.target)
			svc.through(t, p.Addr())
			// Slow snapshots: the run is still uploading when the proxy stalls.
			for _, peer := range ms.sm.c.Peers() {
				peer.SetFaults(qdrantsim.Faults{SnapshotDelay: duration(700 * time.Millisecond)})
			}
			ms.startJob(t, name)
			pod := ms.runningPod(t, name)
			ms.waitShardObject(t, name)
			exit := ms.exitOf(t, pod)
			p.Stall()
			stalled := time.Now()
			term := <-exit
			t.Logf("%s stalled: the run exited %d after %s", svc.name, term.ExitCode, time.Since(stalled).Round(time.Millisecond))
			if term == nil || term.ExitCode != exitFailed {
				t.Fatalf("the run with %s stalled: %+v, want exit 1\n%s", svc.name, term, ms.jobLogs(t, name))
			}
			// Back: the service answers again where the installation first
			// had it. (A new address would be another store to the
			// catalog, which scopes its rows by the storage location.)
			svc.through(t, svc.target)
			ms.clearFaults()
			job := ms.jobDone(t, name, 90*time.Second)
			if !jobCondition(job, batchv1.JobComplete) || job.Status.Failed != 1 {
				t.Fatalf("job %+v: want the retry complete after the failed pod\n%s", job.Status, ms.jobLogs(t, name))
			}
			// The catalog stalled after the manifest was written (rather
			// than while the lock was renewed): the set is complete in
			// storage only, and the run said to sync.
			if out, _ := ms.agent.Logs(ms.ns, pod.Name, "qbackup"); strings.Contains(out, "run catalog sync") {
				t.Logf("the stalled run committed its set; catalog sync records it")
				ok(t, ms.qb(t).run(t, ms.storeArgs("catalog", "sync")...))
			}
			ms.assertSettled(t)
			rows := ms.cat.backups(t, devCluster)
			if n := countStatus(rows, "complete"); n != completeBefore+1 {
				t.Errorf("catalog rows %+v: want %d complete sets", rows, completeBefore+1)
			}
			completeBefore = countStatus(rows, "complete")
		})
	}
}
