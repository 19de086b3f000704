// Package kustomize_test builds every overlay with kustomize's own library,
// the engine inside `kubectl apply -k`, so a broken overlay fails the tests
// rather than an installation.
package kustomize_test

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func TestOverlaysBuild(t *testing.T) {
	tests := []struct {
		overlay       string
		namespace     string
		schedule      string
		storagePrefix string
	}{
		{"dev", "qdrant-dev", "0 */6 * * *", "s3://qdrant-backups-dev/"},
		{"staging", "qdrant-staging", "15 3 * * *", "s3://qdrant-backups-staging/"},
		{"prod", "qdrant", "30 2 * * *", "s3://qdrant-backups-prod/"},
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
			for _, r := range res.Resources() {
				kinds[r.GetKind()] = true
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
