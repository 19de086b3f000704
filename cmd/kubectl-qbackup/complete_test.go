package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/qbackup/qbackup/internal/cli"
)

// asMainEnv makes the test binary behave as kubectl-qbackup, so shell
// scripts can run the real plugin (TestMain).
const asMainEnv = "KUBECTL_QBACKUP_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// answer runs __complete through run, as the kubectl_complete-qbackup
// helper does, and splits cobra's protocol: the candidates' values
// (descriptions dropped) and the directive.
func answer(t *testing.T, c *completer, args ...string) ([]string, int) {
	t.Helper()
	var out bytes.Buffer
	if c == nil {
		var errOut bytes.Buffer
		if code := run(context.Background(), append([]string{completeCommand}, args...), &out, &errOut); code != cli.ExitOK {
			t.Fatalf("__complete %q: exit %d: %s", args, code, errOut.String())
		}
	} else {
		c.complete(context.Background(), args, &out)
	}
	return parseProtocol(t, out.String())
}

func parseProtocol(t *testing.T, out string) ([]string, int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, ":") {
		t.Fatalf("no :<directive> line at the end of %q", out)
	}
	directive, err := strconv.Atoi(last[1:])
	if err != nil {
		t.Fatalf("directive %q: %v", last, err)
	}
	var vals []string
	for _, l := range lines[:len(lines)-1] {
		v, _, _ := strings.Cut(l, "\t")
		vals = append(vals, v)
	}
	return vals, directive
}

func TestCompleteCommandsAndFlags(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want      []string
		directive int
	}{
		{[]string{""}, []string{"backup", "restore", "rebalance", "list", "status", "logs", "describe", "verify", "schedule", "version", "completion"}, directiveNoFile},
		{[]string{"re"}, []string{"restore", "rebalance"}, directiveNoFile},
		{[]string{"-n", "qdrant", "--context=prod", "st"}, []string{"status"}, directiveNoFile},
		{[]string{"list", "--o"}, []string{"--output"}, directiveNoFile},
		{[]string{"restore", "--over"}, []string{"--overwrite"}, directiveNoFile},
		{[]string{"status", "--na"}, []string{"--namespace"}, directiveNoFile},
		{[]string{"list", "-o", ""}, []string{"table", "wide", "name", "json", "yaml"}, directiveNoFile},
		{[]string{"status", "--output", "w"}, []string{"wide"}, directiveNoFile},
		{[]string{"list", "--output=n"}, []string{"--output=name"}, directiveNoFile},
		{[]string{"backup", "--dry-run", ""}, []string{"none", "client", "server"}, directiveNoFile},
		{[]string{"restore", "--dry-run=s"}, []string{"--dry-run=server"}, directiveNoFile},
		{[]string{"restore", "--plan", "c"}, []string{"consolidate"}, directiveNoFile},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish", "kubectl"}, directiveNoFile},
		{[]string{"schedule", ""}, []string{"suspend", "resume"}, directiveNoFile},
		{[]string{"schedule", "resume", "--f"}, []string{"--from"}, directiveNoFile},
		// A typo earlier on the line does not stop completion.
		{[]string{"list", "--no-such-flag", "-o", "y"}, []string{"yaml"}, directiveNoFile},
		// Paths: the shell completes file names.
		{[]string{"-n", "x", "restore", "--kubeconfig", ""}, nil, directiveDefault},
		{[]string{"status", "--client-key="}, nil, directiveDefault},
		// Nothing more to type.
		{[]string{"status", ""}, nil, directiveNoFile},
		{[]string{"list", "--wait"}, nil, directiveNoFile},
	} {
		got, directive := answer(t, nil, tc.args...)
		if !slices.Equal(got, tc.want) || directive != tc.directive {
			t.Errorf("__complete %q: %q :%d, want %q :%d", tc.args, got, directive, tc.want, tc.directive)
		}
	}
}

func TestCompleteShortFlagsOnASingleDash(t *testing.T) {
	got, _ := answer(t, nil, "status", "-")
	for _, want := range []string{"-n", "-o", "--namespace", "--last", "--kubeconfig"} {
		if !slices.Contains(got, want) {
			t.Errorf("status -<TAB> offers %q, no %s", got, want)
		}
	}
	if slices.Contains(got, "--help") || slices.Contains(got, "--overwrite") {
		t.Errorf("status -<TAB> offers %q: --help, or a flag of another command", got)
	}
}

func TestCompleteBackupIDs(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	store := fileBackup(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"from --storage", nil, []string{"restore", "--storage", store, ""}, []string{"latest", backupID}},
		{"by prefix", nil, []string{"restore", "--storage=" + store, "2026"}, []string{backupID}},
		{"from QBACKUP_STORAGE", map[string]string{"QBACKUP_STORAGE": store}, []string{"restore", ""}, []string{"latest", backupID}},
		{"of another cluster", nil, []string{"restore", "--storage", store, "--qdrant-cluster", "other", ""}, []string{"latest"}},
		{"unreadable storage", nil, []string{"restore", "--storage", "file://" + filepath.Join(t.TempDir(), "none"), ""}, []string{"latest"}},
		{"of verify", map[string]string{"QBACKUP_STORAGE": store}, []string{"verify", ""}, []string{"latest", backupID}},
		{"of describe", nil, []string{"describe", "--storage", store, "2"}, []string{backupID}},
		{"after the id", nil, []string{"restore", "--storage", store, backupID, ""}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCompleter()
			c.env = func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			c.client = func(kubeFlags) (kubernetes.Interface, string, error) {
				return nil, "", fmt.Errorf("the cluster is not contacted when --storage says where the backups are")
			}
			got, directive := answer(t, c, tc.args...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("__complete %q: %q, want %q", tc.args, got, tc.want)
			}
			if tc.want != nil && directive != directiveNoFile|directiveKeepOrder {
				t.Errorf("directive %d, want %d (newest first, no files)", directive, directiveNoFile|directiveKeepOrder)
			}
		})
	}
}

// fakeCluster holds qbackup Jobs (and a peers query Job), Qdrant pods (one not Ready) and two
// namespaces; the client records the flags it was built from.
func fakeCluster(t *testing.T, got *kubeFlags) func(kubeFlags) (kubernetes.Interface, string, error) {
	t.Helper()
	const ns = "qdrant"
	created := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	job := func(name, component string, age time.Duration) runtime.Object {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(created.Add(-age)),
			Labels: map[string]string{"app.kubernetes.io/name": "qbackup", "app.kubernetes.io/component": component}}}
	}
	pod := func(name string, ready bool) runtime.Object {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: qdrantPodLabels},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}}
	}
	replicas := int32(3)
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		job("qbackup-manual-20261206090000", "backup", time.Hour),
		job("qbackup-restore-3f9c-20261206095000", "restore", 10*time.Minute),
		// A preview's query, the newest Job: never offered.
		job("qbackup-peers-20261206095900", "peers", time.Minute),
		pod("qdrant-0", true), pod("qdrant-1", true), pod("qdrant-2", false),
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "qdrant", Namespace: ns},
			Spec: appsv1.StatefulSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: qdrantPodLabels}}},
	)
	return func(k kubeFlags) (kubernetes.Interface, string, error) {
		*got = k
		return cs, ns, nil
	}
}

var qdrantPodLabels = map[string]string{"app.kubernetes.io/name": "qdrant"}

func TestCompleteFromTheCluster(t *testing.T) {
	for _, tc := range []struct {
		args        []string
		want        []string
		wantContext string
	}{
		{[]string{"--context", "prod", "logs", ""}, []string{"latest", "qbackup-restore-3f9c-20261206095000", "qbackup-manual-20261206090000"}, "prod"},
		{[]string{"logs", "qbackup-m"}, []string{"qbackup-manual-20261206090000"}, ""},
		{[]string{"logs", "-f", "--context=staging", ""}, []string{"latest", "qbackup-restore-3f9c-20261206095000", "qbackup-manual-20261206090000"}, "staging"},
		{[]string{"restore", "latest", "--target-node", ""}, []string{"qdrant-0", "qdrant-1"}, ""},
		{[]string{"restore", "--target-node=qdrant-1"}, []string{"--target-node=qdrant-1"}, ""},
		{[]string{"-n", ""}, []string{"default", "qdrant"}, ""},
		{[]string{"status", "--namespace", "q"}, []string{"qdrant"}, ""},
	} {
		var k kubeFlags
		c := newCompleter()
		c.client = fakeCluster(t, &k)
		got, _ := answer(t, c, tc.args...)
		slices.Sort(got[min(1, len(got)):]) // the order of equal-age objects is the fake's
		want := slices.Clone(tc.want)
		slices.Sort(want[min(1, len(want)):])
		if !slices.Equal(got, want) {
			t.Errorf("__complete %q: %q, want %q", tc.args, got, want)
		}
		if k.Context != tc.wantContext {
			t.Errorf("__complete %q: connected with --context %q, want %q", tc.args, k.Context, tc.wantContext)
		}
	}
}

func TestCompleteKubeconfigContexts(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: east
  cluster: {server: "https://east.example:6443"}
users:
- name: ops
  user: {token: not-a-secret}
contexts:
- name: prod-east
  context: {cluster: east, user: ops}
- name: staging
  context: {cluster: east, user: ops}
current-context: staging
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--kubeconfig", kubeconfig, "--context", ""}, []string{"prod-east", "staging"}},
		{[]string{"--kubeconfig=" + kubeconfig, "status", "--context=p"}, []string{"--context=prod-east"}},
		{[]string{"--kubeconfig", kubeconfig, "--cluster", ""}, []string{"east"}},
		{[]string{"--kubeconfig", kubeconfig, "--user", ""}, []string{"ops"}},
	} {
		if got, _ := answer(t, nil, tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("__complete %q: %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestBashCompletionScript runs the bash script against the plugin (this
// test binary as kubectl-qbackup) as bash does on Tab.
func TestBashCompletionScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	var script, errOut bytes.Buffer
	if code := run(context.Background(), []string{"completion", "bash"}, &script, &errOut); code != cli.ExitOK {
		t.Fatalf("completion bash: exit %d: %s", code, errOut.String())
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shim := fmt.Sprintf("#!/bin/sh\n%s=1 exec %q \"$@\"\n", asMainEnv, self)
	if err := os.WriteFile(filepath.Join(dir, "kubectl-qbackup"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "completion.bash"), script.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		words []string // COMP_WORDS, as bash splits the line (at = too)
		want  []string
	}{
		{[]string{"kubectl-qbackup", "st"}, []string{"status"}},
		{[]string{"kubectl-qbackup", "list", "-o", ""}, []string{"table", "wide", "name", "json", "yaml"}},
		{[]string{"kubectl-qbackup", "backup", "--dry-run", "=", "s"}, []string{"server"}},
		{[]string{"kubectl-qbackup", "backup", "--dry-run", "="}, []string{"none", "client", "server"}},
		{[]string{"kubectl-qbackup", "completion", "f"}, []string{"fish"}},
	} {
		var quoted []string
		for _, w := range tc.words {
			quoted = append(quoted, strconv.Quote(w))
		}
		prog := fmt.Sprintf(`source %q
COMP_WORDS=(%s); COMP_CWORD=%d
_kubectl_qbackup
printf '%%s\n' "${COMPREPLY[@]}"`, filepath.Join(dir, "completion.bash"), strings.Join(quoted, " "), len(tc.words)-1)
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
		cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tc.words, err, out)
		}
		got := strings.Fields(string(out))
		if !slices.Equal(got, tc.want) {
			t.Errorf("bash completion of %q: %q, want %q", tc.words, got, tc.want)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":    "complete -F _kubectl_qbackup kubectl-qbackup",
		"zsh":     "compdef _kubectl_qbackup kubectl-qbackup",
		"fish":    "complete -c kubectl-qbackup",
		"kubectl": `exec kubectl-qbackup __complete "$@"`,
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"completion", shell}, &out, &errOut); code != cli.ExitOK {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errOut.String())
		}
		if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), completeCommand) {
			t.Errorf("completion %s lacks %q:\n%s", shell, want, out.String())
		}
	}
	// The helper the release ships is the one the plugin prints.
	shipped, err := os.ReadFile("../../plugin/kubectl_complete-qbackup")
	if err != nil {
		t.Fatal(err)
	}
	if string(shipped) != kubectlHelper {
		t.Errorf("plugin/kubectl_complete-qbackup differs from `completion kubectl`:\n%s", shipped)
	}
}
