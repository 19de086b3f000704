package kube

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/qbackup/qbackup/manifests"

	"github.com/qbackup/qbackup/internal/golden"
)

var now = time.Date(2026, 11, 25, 16, 30, 5, 0, time.UTC)

func installedCronJob(t *testing.T) *batchv1.CronJob {
	t.Helper()
	return installed(t, "cronjob.yaml")
}

// installed decodes one of the base's CronJobs as the API server would
// return it: in a namespace, with a UID.
func installed(t *testing.T, file string) *batchv1.CronJob {
	t.Helper()
	data, err := manifests.FS.ReadFile(file)
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
			golden.Check(t, filepath.Join("testdata", tc.golden), b)
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
			tpl := installed(t, "restore-template.yaml")
			job, err := RestoreJobFromTemplate(tpl, name, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if len(job.OwnerReferences) != 0 {
				t.Errorf("the restore job is owned by %+v: removing the template would delete it", job.OwnerReferences)
			}
			if job.Annotations[TemplateAnnotation] != "cronjob/qbackup-restore" {
				t.Errorf("annotations %v", job.Annotations)
			}
			if got := tpl.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"restore"}) {
				t.Errorf("the template's own args changed to %q", got)
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
			golden.Check(t, filepath.Join("testdata", tc.golden), b)
		})
	}
}

func TestRestoreJobFindsTheQbackupContainer(t *testing.T) {
	args := RestoreArgs{BackupID: "20261125T133000Z-3F9C"}
	sidecar := corev1.Container{Name: "proxy", Image: "envoy", Args: []string{"--config", "x"}}

	tpl := installed(t, "restore-template.yaml")
	pod := &tpl.Spec.JobTemplate.Spec.Template.Spec
	pod.Containers = append([]corev1.Container{sidecar}, pod.Containers...)
	job, err := RestoreJobFromTemplate(tpl, "r", args)
	if err != nil {
		t.Fatal(err)
	}
	cs := job.Spec.Template.Spec.Containers
	if !slices.Equal(cs[0].Args, sidecar.Args) || !slices.Equal(cs[1].Args, args.Args()) {
		t.Errorf("args went to the wrong container: %q, %q", cs[0].Args, cs[1].Args)
	}

	pod.Containers[1].Name = "main"
	if _, err := RestoreJobFromTemplate(tpl, "r", args); err == nil || !strings.Contains(err.Error(), "named qbackup") {
		t.Fatalf("two containers, none named qbackup: err = %v", err)
	}
}

func TestRebalanceJob(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     RebalanceArgs
		wantArgs []string
		golden   string
	}{
		{"defaults", RebalanceArgs{}, []string{"rebalance"}, "rebalance-job.yaml"},
		{"every flag", RebalanceArgs{Collections: []string{"docs", "images"}, ReplicationFactor: 2, AllowNodeMismatch: true},
			[]string{"rebalance", "--collections=docs,images", "--replication-factor=2", "--allow-node-mismatch"}, "rebalance-job-flags.yaml"},
		{"reshard", RebalanceArgs{Shards: "auto", WritesPaused: true},
			[]string{"rebalance", "--shards=auto", "--writes-paused"}, "rebalance-job-reshard.yaml"},
		{"shards keep", RebalanceArgs{Shards: "keep"}, []string{"rebalance"}, "rebalance-job.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := RebalanceJobName(now)
			if name != "qbackup-rebalance-20261125163005" {
				t.Errorf("name %q", name)
			}
			tpl := installed(t, "restore-template.yaml")
			job, err := RebalanceJobFromTemplate(tpl, name, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if got := job.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, tc.wantArgs) {
				t.Errorf("args %q, want %q", got, tc.wantArgs)
			}
			if job.Labels[ComponentLabel] != RebalanceComponent || job.Spec.Template.Labels[ComponentLabel] != RebalanceComponent {
				t.Errorf("labels %v, pod labels %v", job.Labels, job.Spec.Template.Labels)
			}
			if len(job.OwnerReferences) != 0 || job.Annotations[TemplateAnnotation] != "cronjob/qbackup-restore" {
				t.Errorf("owners %+v, annotations %v", job.OwnerReferences, job.Annotations)
			}
			// The template is left as it was.
			if got := tpl.Spec.JobTemplate.Labels[ComponentLabel]; got != "restore" {
				t.Errorf("the template's component label changed to %q", got)
			}
			b, err := JobYAML(job)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tc.golden), b)
		})
	}
}

func TestVerifyJob(t *testing.T) {
	cj := installedCronJob(t)
	job, err := VerifyJobFromCronJob(cj, "20261125T133000Z-3F9C", now)
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != "qbackup-verify-3f9c-20261125163005" {
		t.Errorf("name %q", job.Name)
	}
	if got := job.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"verify", "20261125T133000Z-3F9C"}) {
		t.Errorf("args %q", got)
	}
	if job.Labels[ComponentLabel] != VerifyComponent || job.Spec.Template.Labels[ComponentLabel] != VerifyComponent {
		t.Errorf("labels %v, pod labels %v", job.Labels, job.Spec.Template.Labels)
	}
	// The CronJob is left as it was: its next scheduled run backs up.
	if got := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args; slices.Contains(got, "verify") ||
		cj.Spec.JobTemplate.Spec.Template.Labels[ComponentLabel] == VerifyComponent {
		t.Errorf("the cronjob was changed: args %q, labels %v", got, cj.Spec.JobTemplate.Spec.Template.Labels)
	}
	b, err := JobYAML(job)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "verify-job.yaml"), b)

	sidecars := installedCronJob(t)
	c := sidecars.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	c.Name = "other"
	sidecars.Spec.JobTemplate.Spec.Template.Spec.Containers = append(sidecars.Spec.JobTemplate.Spec.Template.Spec.Containers, c)
	sidecars.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Name = "also-other"
	if _, err := VerifyJobFromCronJob(sidecars, "x", now); err == nil || !strings.Contains(err.Error(), "named qbackup") {
		t.Errorf("no qbackup container among two: %v", err)
	}
}
