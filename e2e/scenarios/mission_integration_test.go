//go:build integration

package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"github.com/qbackup/qbackup/e2e/nodeagent"
	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// qdrantStatefulSet is the Qdrant StatefulSet as the Helm chart makes it
// (labels the dev overlay's selector matches, image, readiness on
// /readyz), with parallel pod management so scaling is quick.
func qdrantStatefulSet(replicas int32) *appsv1.StatefulSet {
	labels := map[string]string{"app.kubernetes.io/name": "qdrant", "app.kubernetes.io/instance": "qdrant"}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "qdrant"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, ServiceName: "qdrant-headless",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "qdrant", Image: "docker.io/qdrant/qdrant:v1.19.0",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 6333}, {Name: "grpc", ContainerPort: 6334}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(6333)}}},
				}}},
			},
		},
	}
}

// loadHybrid adds a collection with a dense and a sparse vector per point.
func (s *sim) loadHybrid(t *testing.T) {
	t.Helper()
	s.create(t, "hybrid", `{"vectors":{"dense":{"size":3,"distance":"Cosine"}},"sparse_vectors":{"text":{}},"shard_number":2}`)
	s.upsert(t, "hybrid", 1, 50, nil, func(i int) string {
		return fmt.Sprintf(`{"dense":[%d,1,2],"text":{"indices":[%d,%d],"values":[0.5,%d]}}`, i, i%7, 10+i%5, i)
	})
}

// everything is what a restore must bring back: every point of every
// collection, and the aliases.
type everything struct {
	points  map[string]map[string]string
	aliases string
}

func (s *sim) everything(t *testing.T) everything {
	t.Helper()
	e := everything{points: map[string]map[string]string{}}
	for _, c := range s.collections(t) {
		e.points[c] = s.points(t, c)
	}
	aliases, err := s.peer0().ListAliases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(aliases, func(i, j int) bool { return aliases[i].AliasName < aliases[j].AliasName })
	b, _ := json.Marshal(aliases)
	e.aliases = string(b)
	return e
}

// assertEverything checks that the cluster holds exactly want, every
// replica Active.
func (s *sim) assertEverything(t *testing.T, want everything) {
	t.Helper()
	got := s.everything(t)
	if !reflect.DeepEqual(keys(got.points), keys(want.points)) {
		t.Fatalf("collections %v, want %v", keys(got.points), keys(want.points))
	}
	for c, pts := range want.points {
		assertSamePoints(t, pts, got.points[c], c)
		for _, r := range s.replicas(t, c) {
			if r.State != "Active" {
				t.Errorf("%s: replica of shard %d on peer %d is %s", c, r.Shard, r.Peer, r.State)
			}
		}
	}
	if got.aliases != want.aliases {
		t.Errorf("aliases %s, want %s", got.aliases, want.aliases)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// loseEverything deletes every collection and alias: the data is gone.
func (s *sim) loseEverything(t *testing.T) {
	t.Helper()
	for _, c := range s.collections(t) {
		if _, err := s.peer0().DeleteCollection(context.Background(), c); err != nil {
			t.Fatalf("delete collection %s: %v", c, err)
		}
	}
	eventually(t, 10*time.Second, "every peer to see no collections", func() bool {
		for _, p := range s.c.Peers() {
			if names, err := p.ListCollections(context.Background()); err != nil || len(names) > 0 {
				return false
			}
		}
		return true
	})
}

// loadedReplicas are the replicas per shard, sorted, of each collection
// of loadMixed and loadHybrid: the collection's replication factor for
// every shard of an auto-sharded one (docs 2, images and hybrid 1); for
// tenants (factor 2) 2 for key eu and 1 for key 7's two shards, created
// with replication factor 1.
var loadedReplicas = map[string][]int{"docs": {2, 2, 2}, "images": {1, 1}, "tenants": {1, 1, 2}, "hybrid": {1, 1}}

// assertReplicationMet checks that every shard has exactly the replicas
// it had at backup time, as far as pods allow: the collection's
// replication factor, or for a custom shard key the factor the key was
// created with (tenants' key 7 has 1 where the collection has 2).
func assertReplicationMet(t *testing.T, s *sim, source map[string]map[uint32]int, pods int) {
	t.Helper()
	for c, rf := range source {
		got := s.replicasPerShard(t, c)
		if len(got) != len(rf) {
			t.Errorf("%s: shards %v, the backup had %v", c, got, rf)
		}
		for shard, n := range rf {
			if w := min(n, pods); got[shard] != w {
				t.Errorf("%s shard %d: %d replicas on %d pods, want %d (%d at backup time)", c, shard, got[shard], pods, w, n)
			}
		}
	}
}

// checkSourceReplication checks that the loaded collections have the
// replicas loadedReplicas says, so that a restore giving every shard key
// the collection's factor cannot pass assertReplicationMet.
func checkSourceReplication(t *testing.T, source map[string]map[uint32]int) {
	t.Helper()
	for c, rf := range source {
		var counts []int
		for _, n := range rf {
			counts = append(counts, n)
		}
		sort.Ints(counts)
		if !reflect.DeepEqual(counts, loadedReplicas[c]) {
			t.Fatalf("%s loaded with replicas per shard %v, want %v", c, counts, loadedReplicas[c])
		}
	}
}

// replicasPerShard counts the replicas of each shard of coll.
func (s *sim) replicasPerShard(t *testing.T, coll string) map[uint32]int {
	t.Helper()
	out := map[uint32]int{}
	for _, r := range s.replicas(t, coll) {
		out[r.Shard]++
	}
	return out
}

// scaleQdrant scales the StatefulSet and waits until exactly its n pods
// are Ready (the statefulset controller creates and deletes them, the node
// agent maps them to peers).
func (in *installation) scaleQdrant(t *testing.T, n int32) {
	t.Helper()
	ctx := context.Background()
	// As kubectl scale: the controller updates the StatefulSet's status
	// meanwhile, so a conflict is retried.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := in.cs.AppsV1().StatefulSets(in.ns).GetScale(ctx, "qdrant", metav1.GetOptions{})
		if err != nil || sc.Spec.Replicas == n {
			return err
		}
		sc.Spec.Replicas = n
		_, err = in.cs.AppsV1().StatefulSets(in.ns).UpdateScale(ctx, "qdrant", sc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("scale statefulset qdrant to %d: %v", n, err)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("qdrant-%d", i))
	}
	var last []string
	eventually(t, 60*time.Second, fmt.Sprintf("pods %v Ready", want), func() bool {
		pods, err := in.cs.CoreV1().Pods(in.ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=qdrant"})
		if err != nil {
			return false
		}
		last = last[:0]
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReadyCondition(&p) {
				last = append(last, p.Name)
			} else {
				last = append(last, p.Name+"(not Ready)")
			}
		}
		sort.Strings(last)
		return slices.Equal(last, want) // none left, when scaled to 0
	})
}

func podReadyCondition(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// createdJob is the Job name in the plugin's "job.batch/<name> created".
var createdJob = regexp.MustCompile(`job\.batch/(\S+) created`)

// statefulMission is the dev overlay installed with Qdrant as a
// StatefulSet of simulator peers holding the mission's collections, and
// the plugin set up as an operator runs it.
type statefulMission struct {
	*installation
	sm       *sim
	st       *s3Store
	cat      *catalog
	want     everything
	sourceRF map[string]map[uint32]int
	plugin   *cli
	kflags   []string
}

// newStatefulMission loads the mission's collections into a 3-peer
// simulator on pod addresses of slot, installs the dev overlay with its
// Secret, starts the node agent mapping StatefulSet qdrant to the
// simulator, and creates the StatefulSet with 3 replicas.
func newStatefulMission(t *testing.T, slot int) *statefulMission {
	t.Helper()
	st, cat := newS3Store(t), newCatalog(t)
	cs := stacktest.KubeClient(t)
	ns := stacktest.Namespace(t, cs)
	sm := podSim(t, slot, 3)
	sm.loadMixed(t) // docs: RF 2 and the alias current; tenants: custom shard keys
	sm.loadHybrid(t)
	ms := &statefulMission{sm: sm, st: st, cat: cat, want: sm.everything(t), sourceRF: map[string]map[uint32]int{}}
	if len(ms.want.points) != 4 {
		t.Fatalf("loaded collections %v", keys(ms.want.points))
	}
	for c := range ms.want.points {
		ms.sourceRF[c] = sm.replicasPerShard(t, c)
	}
	checkSourceReplication(t, ms.sourceRF)

	installDev(t, cs, ns, st)
	ms.installation = &installation{cs: cs, ns: ns}
	ms.createSecret(t, map[string]string{
		"QBACKUP_CATALOG_DSN": cat.dsn, "AWS_ACCESS_KEY_ID": st.env_.AccessKey, "AWS_SECRET_ACCESS_KEY": st.env_.SecretKey,
	})
	ms.startAgent(t, nodeagent.QdrantConfig{Cluster: func(_ context.Context, _, name string) (*qdrantsim.Cluster, error) {
		if name != "qdrant" {
			return nil, fmt.Errorf("no simulator for StatefulSet %s", name)
		}
		return sm.c, nil
	}})
	if _, err := cs.AppsV1().StatefulSets(ns).Create(context.Background(), qdrantStatefulSet(3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ms.scaleQdrant(t, 3)

	// The plugin runs as the operator would: admin kubeconfig and the
	// namespace, the catalog and storage credentials in the
	// environment; where the backups are it reads from the installation.
	ms.plugin = newCLI(t).plugin(t).with(append(st.env(), "QBACKUP_CATALOG_DSN", cat.dsn)...)
	ms.kflags = []string{"--kubeconfig=" + os.Getenv(stacktest.EnvKubeconfig), "-n", ns}
	return ms
}

// pluginJob runs a plugin command that creates a Job, with --wait: the
// plugin exits 0 only once the Job succeeded. It returns the plugin's
// output, the Job and the Job's output.
func (ms *statefulMission) pluginJob(t *testing.T, args ...string) (result, *batchv1.Job, string) {
	t.Helper()
	r := ms.plugin.run(t, append(append(args, "--wait"), ms.kflags...)...)
	m := createdJob.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("kubectl qbackup %s did not name the Job it created:\n%s", args[0], r)
	}
	job, pod := ms.waitJob(t, m[1])
	out, _ := ms.agent.Logs(ms.ns, pod.Name, "qbackup")
	if r.code != exitOK || !jobCondition(job, batchv1.JobComplete) {
		t.Fatalf("kubectl qbackup %s --wait exited %d; job %s: %+v\n%s\njob output:\n%s", args[0], r.code, m[1], job.Status, r, out)
	}
	if !strings.Contains(r.stdout, "job.batch/"+m[1]+" succeeded in ") {
		t.Errorf("kubectl qbackup %s --wait did not report the Job's success:\n%s", args[0], r)
	}
	return r, job, out
}

// restoreLatest runs `kubectl qbackup restore latest --yes --wait`, and
// checks the strategy the plugin showed and the backup the Job restored.
func (ms *statefulMission) restoreLatest(t *testing.T, wantStrategy string, extra ...string) result {
	t.Helper()
	began := time.Now()
	rows := ms.cat.backups(t, "qdrant-dev")
	if len(rows) == 0 {
		t.Fatal("no backup to restore")
	}
	latest := rows[len(rows)-1].ID
	r, job, out := ms.pluginJob(t, append([]string{"restore", "latest", "--yes"}, extra...)...)
	if !strings.Contains(r.stdout, "→ "+wantStrategy) {
		t.Errorf("kubectl qbackup restore did not show the %s strategy:\n%s", wantStrategy, r)
	}
	// While it waited, the plugin showed the run's own progress lines
	// from the pod's log (a line per phase start) and its summary.
	for _, want := range []string{"  create: 0/", " shards, ", "  recover: ", "  verify: ", "restored (" + wantStrategy + ")", ", RTO "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("kubectl qbackup restore --wait did not show %q while it waited:\n%s", want, r)
		}
	}
	// The Job is the installed template's, as the overlay patched it.
	tpl, err := ms.cs.BatchV1().CronJobs(ms.ns).Get(context.Background(), "qbackup-restore", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the installed restore template: %v", err)
	}
	if got, want := job.Spec.Template.Spec.Containers[0].Image, tpl.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image; got != want {
		t.Errorf("restore job image %s, the installed template's is %s", got, want)
	}
	if env := job.Spec.Template.Labels["qbackup.io/environment"]; env != "dev" {
		t.Errorf("restore job's pods are labelled environment %q, want the dev overlay's", env)
	}
	if !strings.Contains(out, latest) {
		t.Errorf("the restore job did not restore the latest backup %s:\n%s", latest, out)
	}
	t.Logf("restore (%s) job done in %s; kubectl qbackup restore --wait printed:\n%s%s", wantStrategy, time.Since(began).Round(time.Millisecond), r.stdout, r.stderr)
	return r
}

// shrink scales the StatefulSet down to n, removes the stopped peers from
// the cluster (as an operator does after scaling down) and loses every
// collection.
func (ms *statefulMission) shrink(t *testing.T, n int) {
	t.Helper()
	peers := ms.sm.c.Peers()
	ms.scaleQdrant(t, int32(n))
	for _, p := range peers[n:] {
		if p.Running() {
			t.Fatalf("the StatefulSet has %d pods but peer %d still runs", n, p.ID())
		}
		if err := ms.sm.c.RemovePeer(p.ID()); err != nil {
			t.Fatal(err)
		}
	}
	ms.sm.loseEverything(t)
}

// assertBalanced checks that every collection's replicas are spread over
// the peers evenly (at most one apart).
func (ms *statefulMission) assertBalanced(t *testing.T) {
	t.Helper()
	for c := range ms.sourceRF {
		perPeer := map[uint64]int{}
		for _, r := range ms.sm.replicas(t, c) {
			perPeer[r.Peer]++
		}
		lo, hi := 1<<30, 0
		for _, p := range ms.sm.c.Peers() {
			lo, hi = min(lo, perPeer[p.ID()]), max(hi, perPeer[p.ID()])
		}
		if hi-lo > 1 {
			t.Errorf("%s: replicas per peer %v: not balanced", c, perPeer)
		}
	}
}

// TestMissionOnKubernetes is the mission end to end on the real API
// server: the dev overlay installed, Qdrant a 3-pod StatefulSet run by the
// real statefulset controller, a backup Job from the CronJob and one from
// `kubectl qbackup backup --wait`, both listed by `kubectl qbackup list`;
// the StatefulSet scaled to 2 and the data lost; `kubectl qbackup restore
// latest --yes --wait` creates the restore Job from the installed
// template, which consolidates every point back;
// then scaled to 4 and restored again onto the emptied cluster, which
// redistributes with the replication factor met and balanced.
func TestMissionOnKubernetes(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ms := newStatefulMission(t, 12)
	t.Logf("installed, 3 Qdrant pods Ready: %s", time.Since(start).Round(time.Millisecond))

	// Backup 1: a Job from the CronJob, as `kubectl create job
	// --from=cronjob/qbackup` makes. Backup 2: `kubectl qbackup backup`.
	job, pod := ms.runJobFromCronJob(t, "qbackup-first")
	if !jobCondition(job, batchv1.JobComplete) {
		out, _ := ms.agent.Logs(ms.ns, pod.Name, "qbackup")
		t.Fatalf("backup job from the CronJob did not complete: %+v\n%s", job.Status, out)
	}
	ms.pluginJob(t, "backup") // kubectl qbackup backup --wait
	rows := ms.cat.backups(t, "qdrant-dev")
	if len(rows) != 2 || rows[0].Status != "complete" || rows[1].Status != "complete" {
		t.Fatalf("catalog rows %+v, want two complete backups", rows)
	}
	r := ms.plugin.run(t, append([]string{"list"}, ms.kflags...)...)
	ok(t, r)
	for _, row := range rows {
		if !regexp.MustCompile(`(?m)^qdrant-dev\s+` + regexp.QuoteMeta(row.ID) + `\s+complete\s`).MatchString(r.stdout) {
			t.Errorf("kubectl qbackup list does not show backup %s complete:\n%s", row.ID, r.stdout)
		}
	}
	t.Logf("two backups listed: %s", time.Since(start).Round(time.Millisecond))

	// Disaster: scaled to 2, the third peer gone, every collection lost.
	ms.shrink(t, 2)
	ms.restoreLatest(t, "consolidate")
	ms.sm.assertEverything(t, ms.want)
	assertReplicationMet(t, ms.sm, ms.sourceRF, 2)
	ms.assertBalanced(t)

	// Scaled to 4 (two new empty peers join), every collection removed:
	// a fresh cluster. The restore redistributes.
	ms.scaleQdrant(t, 4)
	if n := len(ms.sm.c.Peers()); n != 4 {
		t.Fatalf("%d peers after scaling to 4", n)
	}
	ms.sm.loseEverything(t)
	r = ms.restoreLatest(t, "redistribute")
	ms.sm.assertEverything(t, ms.want)
	// The preview named each collection's path, with the reshard below.
	for _, want := range []string{"  images: reshard, 2 → 4 shards through a staging copy: 2 shards × replication factor 1 cannot reach all 4 pods", "  docs: redistribute, "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the restore preview does not say %q:\n%s", want, r.stdout)
		}
	}
	// The installed ConfigMap reshards where pods the cluster gained would
	// stay empty (QBACKUP_SHARDS: auto): images and hybrid, 2 shards at
	// factor 1, come back with 4 shards, one replica per pod; docs (3
	// shards × 2) and tenants (custom shard keys) keep theirs. Restores
	// onto 3 pods or fewer (as many as the backup's) keep every count.
	onFour := maps.Clone(ms.sourceRF)
	for _, c := range []string{"images", "hybrid"} {
		if !maps.Equal(ms.sourceRF[c], map[uint32]int{0: 1, 1: 1}) {
			t.Fatalf("%s was backed up with replicas %v; the test expects 2 shards at factor 1", c, ms.sourceRF[c])
		}
		onFour[c] = map[uint32]int{0: 1, 1: 1, 2: 1, 3: 1}
	}
	assertReplicationMet(t, ms.sm, onFour, 4)
	ms.assertBalanced(t)
	if got := ms.cat.restoreStatuses(t); !reflect.DeepEqual(got, []string{"complete", "complete"}) {
		t.Errorf("restores in the catalog: %v, want two complete", got)
	}
	assertNoSecretInKubernetesObjects(t, ms.installation)
	t.Logf("mission done in %s", time.Since(start).Round(time.Millisecond))
}

// TestDownToOnePodAndBackToThree: everything consolidated onto the one
// pod left (`kubectl qbackup restore latest --target-node=qdrant-0`),
// then the StatefulSet back at 3 and the backup restored over the
// consolidated collections (--overwrite), spread over the 3 pods again.
func TestDownToOnePodAndBackToThree(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ms := newStatefulMission(t, 13)
	job, pod := ms.runJobFromCronJob(t, "qbackup-first")
	if !jobCondition(job, batchv1.JobComplete) {
		out, _ := ms.agent.Logs(ms.ns, pod.Name, "qbackup")
		t.Fatalf("backup job from the CronJob did not complete: %+v\n%s", job.Status, out)
	}

	ms.shrink(t, 1)
	ms.restoreLatest(t, "consolidate", "--target-node=qdrant-0")
	ms.sm.assertEverything(t, ms.want)
	only := ms.sm.c.Peers()[0].ID()
	for c := range ms.sourceRF {
		for _, r := range ms.sm.replicas(t, c) {
			if r.Peer != only {
				t.Errorf("%s shard %d has a replica on peer %d, not on qdrant-0's %d", c, r.Shard, r.Peer, only)
			}
		}
	}
	assertReplicationMet(t, ms.sm, ms.sourceRF, 1)

	ms.scaleQdrant(t, 3)
	ms.restoreLatest(t, "direct", "--overwrite")
	ms.sm.assertEverything(t, ms.want)
	// Every replica of the direct restore is placed so that the pods
	// stay balanced, even where the recorded placement was not.
	assertReplicationMet(t, ms.sm, ms.sourceRF, 3)
	ms.assertBalanced(t)
	t.Logf("down to one pod and back to three in %s", time.Since(start).Round(time.Millisecond))
}
