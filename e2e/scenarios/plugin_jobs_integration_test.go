//go:build integration

package scenarios

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// TestPluginRunsAndFollowsJobs drives an installation with kubectl qbackup
// alone, as an operator would: backup --wait succeeds with the Job, status
// and logs show it, and a Job refused by its configuration makes the
// waiting plugin exit with the Job's own exit code.
func TestPluginRunsAndFollowsJobs(t *testing.T) {
	t.Parallel()
	st, cat := newS3Store(t), newCatalog(t)
	in, _ := newInstallation(t, 10, st, map[string]string{
		"QBACKUP_CATALOG_DSN": cat.dsn, "AWS_ACCESS_KEY_ID": st.env_.AccessKey, "AWS_SECRET_ACCESS_KEY": st.env_.SecretKey,
	})
	kp := newCLI(t).with("KUBECONFIG", os.Getenv(stacktest.EnvKubeconfig)).plugin(t)
	k := func(args ...string) result { return kp.run(t, append([]string{args[0], "-n", in.ns}, args[1:]...)...) }

	// The Jobs push their outcome to the stack's real Pushgateway, under a
	// cluster name of this test's own.
	pushgateway, cluster := stacktest.Pushgateway(t), in.ns
	in.setConfig(t, map[string]string{"QBACKUP_METRICS_PUSHGATEWAY": pushgateway, "QBACKUP_CLUSTER": cluster})

	r := k("backup", "--wait", "--timeout=2m")
	ok(t, r)
	for metric, check := range map[string]func(float64) bool{
		"qbackup_last_run_success":               func(v float64) bool { return v == 1 },
		"qbackup_last_run_exit_code":             func(v float64) bool { return v == 0 },
		"qbackup_backup_shards":                  func(v float64) bool { return v == 8 },
		"qbackup_backup_bytes":                   func(v float64) bool { return v > 0 },
		"qbackup_last_success_timestamp_seconds": func(v float64) bool { return time.Since(time.Unix(int64(v), 0)) < 5*time.Minute },
	} {
		v, found := pushed(t, pushgateway, metric, cluster, "backup")
		if !found || !check(v) {
			t.Errorf("pushgateway: %s{cluster=%q,command=\"backup\"} = %v (found %v)", metric, cluster, v, found)
		}
	}
	// The run recorded Events on its Job, as kubectl describe job shows.
	jobName := strings.Fields(strings.TrimPrefix(r.stdout, "job.batch/"))[0]
	evs, err := in.cs.EventsV1().Events(in.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, e := range evs.Items {
		if e.Regarding.Kind == "Job" && e.Regarding.Name == jobName && e.ReportingController == "qbackup.io/qbackup" {
			reasons[e.Reason] = e.Note
		}
	}
	if _, ok := reasons["BackupStarted"]; !ok || !strings.Contains(reasons["BackupCompleted"], "8 shards") {
		t.Errorf("events on job %s: %v", jobName, reasons)
	}
	if !strings.Contains(r.stdout, "succeeded in") || !strings.Contains(r.stderr, ": pending") || !strings.Contains(r.stderr, ": succeeded (pod ") {
		t.Errorf("backup --wait shows no progress or outcome:\n%s", r)
	}
	// The outcome line carries the run's summary, from the pod's
	// termination message.
	summary := regexp.MustCompile(` succeeded in \S+: (backup \S+ of cluster "` + regexp.QuoteMeta(cluster) + `": [0-9]+ collections, 8 shards, [1-9][0-9]* bytes)\n`).FindStringSubmatch(r.stdout)
	if summary == nil {
		t.Errorf("backup --wait does not end with the run's summary:\n%s", r)
	}

	r = k("status", "-o", "json")
	ok(t, r)
	var s struct {
		Schedule        string `json:"schedule"`
		Image           string `json:"image"`
		RestoreTemplate bool   `json:"restoreTemplate"`
		Running         []string
		Jobs            []struct {
			Job, Component, Phase, Message string
			ExitCode                       int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	if s.Schedule == "" || !strings.Contains(s.Image, "qbackup") || !s.RestoreTemplate || len(s.Running) != 0 ||
		len(s.Jobs) != 1 || s.Jobs[0].Component != "backup" || s.Jobs[0].Phase != "succeeded" {
		t.Errorf("status: %+v", s)
	}
	if summary != nil && len(s.Jobs) == 1 && s.Jobs[0].Message != summary[1] {
		t.Errorf("status -o json: message %q, want the run's summary %q", s.Jobs[0].Message, summary[1])
	}
	r = k("status")
	ok(t, r)
	if !strings.Contains(r.stdout, s.Jobs[0].Job) || !strings.Contains(r.stdout, "succeeded") {
		t.Errorf("status table:\n%s", r.stdout)
	}

	r = k("logs")
	ok(t, r)
	if !strings.Contains(r.stdout, "backup complete") || !strings.Contains(r.stderr, s.Jobs[0].Job) {
		t.Errorf("logs latest:\n%s", r)
	}

	// A configuration the Job refuses (exit 2): the waiting plugin exits
	// 2 as well, naming the Job and the cause.
	in.setConfig(t, map[string]string{"QBACKUP_CONCURRENCY": "0"})
	r = k("backup", "--wait", "--timeout=2m")
	expect(t, r, exitUsage, "failed (PodFailurePolicy)", "exit code 2", "concurrency")
	if strings.Contains(r.stderr, "exit 2:") {
		t.Errorf("the exit code is repeated from the termination message:\n%s", r.stderr)
	}
	r = k("status")
	ok(t, r)
	if !strings.Contains(r.stdout, "failed") {
		t.Errorf("status does not show the failed job:\n%s", r.stdout)
	}

	// An operator holding only the shipped qbackup-operator Role can do
	// all of the above; one whose Role lacks pods/log is told which verb
	// on which resource is missing.
	in.setConfig(t, map[string]string{"QBACKUP_CONCURRENCY": "2"})
	operator := in.serviceAccountWithRole(t, "operator", "qbackup-operator", nil)
	as := func(sa string, args ...string) result {
		return k(append(args, "--as=system:serviceaccount:"+in.ns+":"+sa)...)
	}
	ok(t, as(operator, "backup", "--wait", "--timeout=2m"))
	ok(t, as(operator, "status"))
	ok(t, as(operator, "logs"))
	noLogs := in.serviceAccountWithRole(t, "operator-nolog", "qbackup-operator", func(r *rbacv1.Role) {
		var kept []rbacv1.PolicyRule
		for _, rule := range r.Rules {
			if !slices.Contains(rule.Resources, "pods/log") {
				kept = append(kept, rule)
			}
		}
		r.Rules = kept
	})
	ok(t, as(noLogs, "status"))
	// Without pods/log the outcome still says what the run did: the
	// summary comes from the pod's status.
	r = as(noLogs, "backup", "--wait", "--timeout=2m")
	ok(t, r)
	if !regexp.MustCompile(` succeeded in \S+: backup \S+ of cluster .*, 8 shards, `).MatchString(r.stdout) {
		t.Errorf("backup --wait without pods/log shows no summary:\n%s", r)
	}
	expect(t, as(noLogs, "logs"), exitFailed, `cannot get resource "pods/log"`)
}

// serviceAccountWithRole creates a ServiceAccount bound to a copy of the
// installed Role named role, edited by edit when given.
func (in *installation) serviceAccountWithRole(t *testing.T, name, role string, edit func(*rbacv1.Role)) string {
	t.Helper()
	ctx := context.Background()
	r, err := in.cs.RbacV1().Roles(in.ns).Get(ctx, role, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the installed role %s: %v", role, err)
	}
	bound := r.Name
	if edit != nil {
		cp := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: r.Rules}
		edit(cp)
		if _, err := in.cs.RbacV1().Roles(in.ns).Create(ctx, cp, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		bound = cp.Name
	}
	if _, err := in.cs.CoreV1().ServiceAccounts(in.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: bound},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: in.ns}},
	}
	if _, err := in.cs.RbacV1().RoleBindings(in.ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// pushed reads one metric of a group from the Pushgateway's own /metrics.
func pushed(t *testing.T, pushgateway, metric, cluster, command string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(pushgateway + "/metrics")
	if err != nil {
		t.Fatalf("read the pushgateway: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, metric+"{") || !strings.Contains(line, `cluster="`+cluster+`"`) || !strings.Contains(line, `command="`+command+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("pushgateway line %q: %v", line, err)
		}
		return v, true
	}
	return 0, false
}
