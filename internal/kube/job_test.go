package kube

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/qbackup/qbackup/manifests"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var now = time.Date(2026, 11, 25, 16, 30, 5, 0, time.UTC)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func installedCronJob(t *testing.T) *batchv1.CronJob {
	t.Helper()
	data, err := manifests.FS.ReadFile("cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cj batchv1.CronJob
	if err := yaml.UnmarshalStrict(data, &cj); err != nil {
		t.Fatal(err)
	}
	cj.Namespace, cj.UID = "qdrant", types.UID("0b4c6a5e-4b1f-4f5e-9b1e-5f7a2c3d4e5f")
	return &cj
}

func TestJobFromCronJob(t *testing.T) {
	withAnnotations := installedCronJob(t)
	withAnnotations.Spec.JobTemplate.Annotations = map[string]string{"team": "search"}
	for _, tc := range []struct {
		name   string
		cj     *batchv1.CronJob
		golden string
	}{
		{"installed cronjob", installedCronJob(t), "backup-job.yaml"},
		{"template annotations are kept", withAnnotations, "backup-job-annotations.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := JobFromCronJob(tc.cj, ManualJobName(tc.cj.Name, now))
			if job.Name != "qbackup-manual-20261125163005" {
				t.Errorf("name %q", job.Name)
			}
			if len(job.OwnerReferences) != 1 || job.OwnerReferences[0].UID != tc.cj.UID || job.OwnerReferences[0].Kind != "CronJob" ||
				job.OwnerReferences[0].Controller == nil || !*job.OwnerReferences[0].Controller {
				t.Errorf("owner references %+v", job.OwnerReferences)
			}
			if job.Annotations[InstantiateAnnotation] != "manual" {
				t.Errorf("annotations %v", job.Annotations)
			}
			// The Job must not share maps with the CronJob it came from.
			job.Spec.Template.Labels["x"] = "y"
			if _, ok := tc.cj.Spec.JobTemplate.Spec.Template.Labels["x"]; ok {
				t.Error("job shares the pod template labels with the cronjob")
			}
			delete(job.Spec.Template.Labels, "x")
			b, err := JobYAML(job)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, b)
		})
	}
}

func TestRestoreJob(t *testing.T) {
	const id = "20261125T133000Z-3F9C"
	for _, tc := range []struct {
		name     string
		args     RestoreArgs
		wantArgs []string
		golden   string
	}{
		{"auto", RestoreArgs{BackupID: id, Cluster: "prod", Plan: "auto"}, []string{"restore", id, "--cluster=prod"}, "restore-job.yaml"},
		{"every flag", RestoreArgs{BackupID: id, Plan: "consolidate", TargetNode: "qdrant-0", Rename: []string{"_drill", "a=b"}, Overwrite: true, AllowNodeMismatch: true},
			[]string{"restore", id, "--plan=consolidate", "--target-node=qdrant-0", "--rename=_drill", "--rename=a=b", "--overwrite", "--allow-node-mismatch"}, "restore-job-flags.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := RestoreJobName(tc.args.BackupID, now)
			if name != "qbackup-restore-3f9c-20261125163005" {
				t.Errorf("name %q", name)
			}
			job, err := DefaultRestoreJob("qdrant", name, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			c := job.Spec.Template.Spec.Containers[0]
			if !slices.Equal(c.Args, tc.wantArgs) {
				t.Errorf("args %q, want %q", c.Args, tc.wantArgs)
			}
			if len(c.EnvFrom) != 2 || job.Spec.Template.Spec.ServiceAccountName != "qbackup" ||
				job.Spec.Template.Spec.SecurityContext == nil || c.SecurityContext == nil {
				t.Errorf("template settings lost: %+v", job.Spec.Template.Spec)
			}
			b, err := JobYAML(job)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, b)
		})
	}
}

func TestRestoreJobRejectsBadTemplate(t *testing.T) {
	if _, err := ParseJob([]byte("apiVersion: batch/v1\nkind: CronJob\n")); err == nil {
		t.Fatal("a CronJob was accepted as the restore template")
	}
	if _, err := ParseJob([]byte("kind: Job\nspec:\n  bogus: 1\n")); err == nil {
		t.Fatal("an unknown field was accepted")
	}
}
