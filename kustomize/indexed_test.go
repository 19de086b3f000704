package kustomize_test

import (
	"os"
	"path/filepath"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// TestIndexedBackupComponent builds the prod overlay with the
// indexed-backup component: the scheduled backup becomes an Indexed Job
// of 3 workers whose counts agree with each other, the restore template
// and the RBAC stay as they are.
func TestIndexedBackupComponent(t *testing.T) {
	abs, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// kustomize takes no absolute base: reach the repository's relatively.
	rel := func(p string) string {
		r, err := filepath.Rel(dir, filepath.Join(abs, p))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	overlay := "resources:\n  - " + rel("overlays/prod") + "\ncomponents:\n  - " + rel("components/indexed-backup") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(overlay), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := build(t, filepath.Join(abs, "overlays/prod"))
	got := build(t, dir)

	var backup, restore batchv1.CronJob
	decode(t, got, "CronJob", "qbackup", &backup)
	decode(t, got, "CronJob", "qbackup-restore", &restore)
	spec := backup.Spec.JobTemplate.Spec
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("completionMode %v, want Indexed", spec.CompletionMode)
	}
	if spec.Completions == nil || spec.Parallelism == nil || *spec.Completions != 3 || *spec.Parallelism != 3 {
		t.Fatalf("completions %v, parallelism %v; want 3 and 3", spec.Completions, spec.Parallelism)
	}
	if spec.BackoffLimitPerIndex == nil || *spec.BackoffLimitPerIndex != 2 || spec.BackoffLimit != nil {
		t.Fatalf("backoffLimitPerIndex %v, backoffLimit %v; want 2 per index and none overall", spec.BackoffLimitPerIndex, spec.BackoffLimit)
	}
	env := map[string]string{}
	fields := map[string]string{}
	for _, e := range spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			fields[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["QBACKUP_WORKERS"] != "3" || env["QBACKUP_WORKER_RETRIES"] != "2" {
		t.Errorf("QBACKUP_WORKERS %q, QBACKUP_WORKER_RETRIES %q: want the completions and backoffLimitPerIndex", env["QBACKUP_WORKERS"], env["QBACKUP_WORKER_RETRIES"])
	}
	if fields["QBACKUP_SET_ID"] != "metadata.labels['batch.kubernetes.io/controller-uid']" {
		t.Errorf("QBACKUP_SET_ID from %q, want the Job's uid label", fields["QBACKUP_SET_ID"])
	}
	if fields["QBACKUP_WORKER_FAILURES"] != "metadata.annotations['batch.kubernetes.io/job-index-failure-count']" {
		t.Errorf("QBACKUP_WORKER_FAILURES from %q", fields["QBACKUP_WORKER_FAILURES"])
	}
	if restore.Spec.JobTemplate.Spec.CompletionMode != nil {
		t.Error("the restore template was made indexed")
	}
	// Least privilege unchanged: the same Roles as without the component.
	for _, name := range []string{"qbackup"} {
		var a, b rbacv1.Role
		decode(t, plain, "Role", name, &a)
		decode(t, got, "Role", name, &b)
		ay, _ := yaml.Marshal(a.Rules)
		by, _ := yaml.Marshal(b.Rules)
		if string(ay) != string(by) {
			t.Errorf("role %s changed:\n%s\nwas\n%s", name, by, ay)
		}
	}
}

// build runs kustomize on dir and returns the resources by kind/name.
func build(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, r := range res.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		out[r.GetKind()+"/"+r.GetName()] = y
	}
	return out
}

func decode(t *testing.T, res map[string][]byte, kind, name string, into any) {
	t.Helper()
	y, ok := res[kind+"/"+name]
	if !ok {
		t.Fatalf("no %s/%s in the build", kind, name)
	}
	if err := yaml.UnmarshalStrict(y, into); err != nil {
		t.Fatalf("decode %s/%s: %v", kind, name, err)
	}
}
