// Package kustomize_test builds every overlay with kustomize's own library,
// the engine inside `kubectl apply -k`, so a broken overlay fails the tests
// rather than an installation.
package kustomize_test

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func TestOverlaysBuild(t *testing.T) {
	tests := []struct {
		overlay       string
		namespace     string
		schedule      string
		storagePrefix string
		memoryLimit   string
	}{
		{"dev", "qdrant-dev", "0 */6 * * *", "s3://qdrant-backups-dev/", "512Mi"},
		{"staging", "qdrant-staging", "15 3 * * *", "s3://qdrant-backups-staging/", "1Gi"},
		{"prod", "qdrant", "30 2 * * *", "s3://qdrant-backups-prod/", "2Gi"},
	}
	fs := filesys.MakeFsOnDisk()
	for _, tt := range tests {
		t.Run(tt.overlay, func(t *testing.T) {
			k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
			res, err := k.Run(fs, "overlays/"+tt.overlay)
			if err != nil {
				t.Fatalf("kustomize build overlays/%s: %v", tt.overlay, err)
			}
			kinds := map[string]bool{}
			var configMapName string
			cronJobs := map[string]*batchv1.CronJob{}
			for _, r := range res.Resources() {
				kinds[r.GetKind()] = true
				if r.GetKind() == "CronJob" {
					y, err := r.AsYAML()
					if err != nil {
						t.Fatal(err)
					}
					var cj batchv1.CronJob
					if err := yaml.UnmarshalStrict(y, &cj); err != nil {
						t.Fatalf("decode cronjob %s: %v", r.GetName(), err)
					}
					cronJobs[cj.Name] = &cj
				}
				if r.GetNamespace() != tt.namespace {
					t.Errorf("%s/%s is in namespace %q, want %q", r.GetKind(), r.GetName(), r.GetNamespace(), tt.namespace)
				}
				if r.GetKind() == "Secret" {
					t.Errorf("the overlay ships a Secret %q: secrets are created outside the manifests", r.GetName())
				}
				if r.GetKind() == "ConfigMap" {
					configMapName = r.GetName()
					data := r.GetDataMap()
					if !strings.HasPrefix(data["QBACKUP_STORAGE"], tt.storagePrefix) {
						t.Errorf("storage %q, want prefix %q", data["QBACKUP_STORAGE"], tt.storagePrefix)
					}
					if data["QBACKUP_SELECTOR"] == "" {
						t.Error("the base configuration was lost in the merge")
					}
				}
			}
			for _, want := range []string{"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "CronJob"} {
				if !kinds[want] {
					t.Errorf("no %s in the build", want)
				}
			}
			// Installing must start nothing: the only thing that runs is
			// the schedule.
			for _, runs := range []string{"Job", "Pod", "Deployment", "StatefulSet", "DaemonSet"} {
				if kinds[runs] {
					t.Errorf("installing the overlay creates a %s", runs)
				}
			}
			checkCronJobs(t, cronJobs, tt.overlay, tt.schedule, tt.memoryLimit)
			yml, err := res.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			out := string(yml)
			if !strings.Contains(out, `schedule: `+tt.schedule) && !strings.Contains(out, `schedule: "`+tt.schedule+`"`) {
				t.Errorf("schedule %q not in the build", tt.schedule)
			}
			if !strings.Contains(out, "name: "+configMapName) || strings.Count(out, configMapName) < 2 {
				t.Errorf("the CronJob does not reference the generated ConfigMap %q", configMapName)
			}
		})
	}
}

// checkCronJobs checks what the Jobs of an overlay will run with: the
// scheduled backup and the restore template carry the overlay's pinned
// image, resources and labels, and only the backup is scheduled.
func checkCronJobs(t *testing.T, cronJobs map[string]*batchv1.CronJob, overlay, schedule, memoryLimit string) {
	t.Helper()
	backup, restore := cronJobs["qbackup"], cronJobs["qbackup-restore"]
	if backup == nil || restore == nil {
		t.Fatalf("want the cronjobs qbackup and qbackup-restore, got %v", cronJobs)
	}
	if backup.Spec.Suspend != nil && *backup.Spec.Suspend {
		t.Error("the scheduled backup is suspended")
	}
	if restore.Spec.Suspend == nil || !*restore.Spec.Suspend {
		t.Error("the restore template is not suspended: it would run restores on a schedule")
	}
	if restore.Spec.Schedule == schedule {
		t.Errorf("the backup schedule %q was patched into the restore template", schedule)
	}
	for _, cj := range []*batchv1.CronJob{backup, restore} {
		tpl := cj.Spec.JobTemplate
		for where, labels := range map[string]map[string]string{"job": tpl.Labels, "pod": tpl.Spec.Template.Labels} {
			if labels["qbackup.io/environment"] != overlay {
				t.Errorf("%s: the %s template has labels %v, want qbackup.io/environment=%s", cj.Name, where, labels, overlay)
			}
		}
		c := tpl.Spec.Template.Spec.Containers[0]
		registry, rest, ok := strings.Cut(c.Image, "/")
		if !ok || !strings.ContainsAny(registry, ".:") {
			t.Errorf("%s: image %q names no registry: it would be pulled from Docker Hub", cj.Name, c.Image)
		}
		if _, tag, _ := strings.Cut(rest, ":"); (tag == "" || tag == "latest") && !strings.Contains(c.Image, "@sha256:") {
			t.Errorf("%s: image %q is not pinned to a version", cj.Name, c.Image)
		}
		if got := c.Resources.Limits.Memory().String(); got != memoryLimit {
			t.Errorf("%s: memory limit %s, want the overlay's %s", cj.Name, got, memoryLimit)
		}
		// The overlay's patches keep where qbackup writes its termination
		// message and where the kubelet reads it in step.
		var termLog string
		for _, e := range c.Env {
			if e.Name == "QBACKUP_TERMINATION_LOG" {
				termLog = e.Value
			}
		}
		if c.TerminationMessagePath != "/run/qbackup/termination-log" || termLog != c.TerminationMessagePath || c.TerminationMessagePolicy != "FallbackToLogsOnError" {
			t.Errorf("%s: terminationMessagePath %q, QBACKUP_TERMINATION_LOG %q, policy %q; want /run/qbackup/termination-log in both, FallbackToLogsOnError",
				cj.Name, c.TerminationMessagePath, termLog, c.TerminationMessagePolicy)
		}
	}
}
