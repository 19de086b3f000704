package manifests

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

func TestJobTemplatesDecodeAndStayLocked(t *testing.T) {
	var cj batchv1.CronJob
	decode(t, "cronjob.yaml", &cj)
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("the CronJob allows concurrent runs: %q", cj.Spec.ConcurrencyPolicy)
	}
	var restore batchv1.CronJob
	decode(t, "restore-template.yaml", &restore)
	if restore.Spec.Suspend == nil || !*restore.Spec.Suspend {
		t.Error("the restore template is not suspended: installing it would schedule restores")
	}
	for name, spec := range map[string]batchv1.JobSpec{"cronjob": cj.Spec.JobTemplate.Spec, "restore template": restore.Spec.JobTemplate.Spec} {
		pod := spec.Template.Spec
		if pod.ServiceAccountName != "qbackup" {
			t.Errorf("%s runs as %q", name, pod.ServiceAccountName)
		}
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
			t.Errorf("%s may run as root", name)
		}
		for _, c := range pod.Containers {
			for _, a := range c.Args {
				if strings.Contains(strings.ToLower(a), "key") || strings.Contains(strings.ToLower(a), "dsn") {
					t.Errorf("%s passes a secret-looking argument %q: secrets come from the Secret only", name, a)
				}
			}
			for _, e := range c.Env {
				// The one literal: where the termination message goes,
				// which belongs with terminationMessagePath.
				if e.Name != "QBACKUP_TERMINATION_LOG" {
					t.Errorf("%s sets the literal env value %s; configuration belongs in the ConfigMap", name, e.Name)
				}
			}
		}
	}
}

// TestJobsWriteTheirTerminationMessage pins where qbackup's one-line
// outcome goes: an explicit terminationMessagePath under /run (the
// default /dev/termination-log depends on the runtime), the same path in
// QBACKUP_TERMINATION_LOG, and the log's tail when no message was written.
func TestJobsWriteTheirTerminationMessage(t *testing.T) {
	var backup, restore batchv1.CronJob
	decode(t, "cronjob.yaml", &backup)
	decode(t, "restore-template.yaml", &restore)
	for name, spec := range map[string]batchv1.JobSpec{"backup": backup.Spec.JobTemplate.Spec, "restore": restore.Spec.JobTemplate.Spec} {
		if n := len(spec.Template.Spec.Containers); n != 1 {
			t.Fatalf("%s: %d containers, want 1", name, n)
		}
		c := spec.Template.Spec.Containers[0]
		if c.TerminationMessagePath != "/run/qbackup/termination-log" {
			t.Errorf("%s: terminationMessagePath %q, want /run/qbackup/termination-log", name, c.TerminationMessagePath)
		}
		if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
			t.Errorf("%s: terminationMessagePolicy %q, want FallbackToLogsOnError", name, c.TerminationMessagePolicy)
		}
		var env []string
		for _, e := range c.Env {
			if e.Name == "QBACKUP_TERMINATION_LOG" {
				env = append(env, e.Value)
			}
		}
		if len(env) != 1 || env[0] != c.TerminationMessagePath {
			t.Errorf("%s: QBACKUP_TERMINATION_LOG %q, want exactly the terminationMessagePath %q", name, env, c.TerminationMessagePath)
		}
	}
}

// TestJobsFailFastWhereARetryCannotHelp pins the pod failure policy: a
// retry is spent only on exit 1, and a node drain never fails a Job.
func TestJobsFailFastWhereARetryCannotHelp(t *testing.T) {
	var backup, restore batchv1.CronJob
	decode(t, "cronjob.yaml", &backup)
	decode(t, "restore-template.yaml", &restore)
	for name, spec := range map[string]batchv1.JobSpec{"backup": backup.Spec.JobTemplate.Spec, "restore": restore.Spec.JobTemplate.Spec} {
		p := spec.PodFailurePolicy
		if p == nil {
			t.Errorf("%s: no podFailurePolicy", name)
			continue
		}
		failFast, ignoresDrain := map[int32]bool{}, false
		for _, r := range p.Rules {
			if r.Action == batchv1.PodFailurePolicyActionFailJob && r.OnExitCodes != nil && r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn {
				for _, v := range r.OnExitCodes.Values {
					failFast[v] = true
				}
			}
			for _, c := range r.OnPodConditions {
				if r.Action == batchv1.PodFailurePolicyActionIgnore && c.Type == "DisruptionTarget" {
					ignoresDrain = true
				}
			}
		}
		if !ignoresDrain {
			t.Errorf("%s: an evicted pod counts as a failed run", name)
		}
		if failFast[1] {
			t.Errorf("%s: exit 1 (a failure a retry may cure) fails the job at once", name)
		}
		if *spec.BackoffLimit > 0 {
			for _, code := range []int32{2, 3, 4, 5} {
				if !failFast[code] {
					t.Errorf("%s: exit %d is retried, but a retry cannot cure it", name, code)
				}
			}
		}
	}
}

// TestJobRoleIsWhatTheJobsUse pins the Jobs' Role: pods read (discovery),
// Events created, and the backup summaries kept (configmaps).
func TestJobRoleIsWhatTheJobsUse(t *testing.T) {
	var role rbacv1.Role
	decode(t, "role.yaml", &role)
	allowed := map[string]map[string]bool{
		"/pods":                {"get": true, "list": true},
		"events.k8s.io/events": {"create": true},
		// The summaries: Put (create, then get and update), Get and
		// SetVerified (get, update), Reconcile (list, delete).
		"/configmaps": {"get": true, "list": true, "create": true, "update": true, "delete": true},
	}
	granted := map[string]bool{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				verbs, ok := allowed[g+"/"+res]
				if !ok {
					t.Errorf("the role grants access to %s/%s", g, res)
					continue
				}
				for _, v := range r.Verbs {
					granted[g+"/"+res+" "+v] = true
					if !verbs[v] {
						t.Errorf("the role grants %s on %s/%s", v, g, res)
					}
				}
			}
		}
	}
	for res, verbs := range allowed {
		for v := range verbs {
			if !granted[res+" "+v] {
				t.Errorf("the role lacks %s on %s", v, res)
			}
		}
	}
}

func decode(t *testing.T, name string, into any) {
	t.Helper()
	b, err := FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestOperatorRoleIsWhatThePluginUses pins the qbackup-operator Role to
// exactly the requests kubectl qbackup makes: a grant more is access an
// operator does not need, a grant less is a command that fails.
func TestOperatorRoleIsWhatThePluginUses(t *testing.T) {
	var role rbacv1.Role
	decode(t, "operator-role.yaml", &role)
	want := map[string]bool{
		"batch/cronjobs get":     true, // status, backup, restore (templates)
		"batch/cronjobs patch":   true, // schedule suspend|resume
		"/configmaps get":        true, // the installation's settings, a backup's summary
		"/configmaps list":       true, // the backup summaries (list, status, latest)
		"batch/jobs create":      true, // backup, restore
		"batch/jobs get":         true, // --wait, logs
		"batch/jobs list":        true, // status, logs latest
		"batch/jobs delete":      true, // the restore preview's peers query, once read
		"/pods get":              true, // logs
		"/pods list":             true, // the Jobs' pods, the Qdrant pods
		"/pods/log get":          true, // logs, the peers query's answer
		"apps/statefulsets list": true, // the node-count check of restore
	}
	got := map[string]bool{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					got[g+"/"+res+" "+v] = true
				}
			}
		}
	}
	for g := range got {
		if !want[g] {
			t.Errorf("the operator role grants %s, which the plugin does not use", g)
		}
	}
	for w := range want {
		if !got[w] {
			t.Errorf("the operator role lacks %s, which the plugin needs", w)
		}
	}
}
