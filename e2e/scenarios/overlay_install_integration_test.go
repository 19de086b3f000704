//go:build integration

package scenarios

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// kubectl runs the stack's kubectl against its API server, as a user would.
func kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl not on PATH (source the stack's env file): %v", err)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// TestOverlaysInstallAsTheREADMESays applies each overlay exactly as the
// README's install section says, in its own namespace, on the real API
// server: without the namespace the apply fails naming it; after the one
// documented `kubectl create namespace`, it installs, and nothing runs
// but the schedule.
func TestOverlaysInstallAsTheREADMESays(t *testing.T) {
	cs := stacktest.KubeClient(t)
	for _, tc := range []struct{ overlay, ns string }{
		{"dev", "qdrant-dev"}, {"staging", "qdrant-staging"}, {"prod", "qdrant"},
	} {
		t.Run(tc.overlay, func(t *testing.T) {
			ctx := context.Background()
			dir := "../../kustomize/overlays/" + tc.overlay
			// A namespace of an earlier run may still be terminating.
			eventually(t, 2*time.Minute, "namespace "+tc.ns+" from an earlier run to be gone", func() bool {
				_, err := cs.CoreV1().Namespaces().Get(ctx, tc.ns, metav1.GetOptions{})
				return apierrors.IsNotFound(err)
			})
			t.Cleanup(func() {
				_ = cs.CoreV1().Namespaces().Delete(context.Background(), tc.ns, metav1.DeleteOptions{})
			})
			out, err := kubectl(t, "apply", "-k", dir)
			if err == nil || !strings.Contains(out, `namespaces "`+tc.ns+`" not found`) {
				t.Fatalf("apply without the namespace: err %v, output:\n%s", err, out)
			}
			if out, err := kubectl(t, "create", "namespace", tc.ns); err != nil {
				t.Fatalf("create namespace: %v\n%s", err, out)
			}
			if out, err := kubectl(t, "apply", "-k", dir); err != nil {
				t.Fatalf("apply -k %s: %v\n%s", dir, err, out)
			}
			suspended, err := kubectl(t, "-n", tc.ns, "get", "cronjob", "qbackup-restore", "-o", "jsonpath={.spec.suspend}")
			if err != nil || suspended != "true" {
				t.Fatalf("restore template: suspend=%q, err %v", suspended, err)
			}
			image, err := kubectl(t, "-n", tc.ns, "get", "cronjob", "qbackup", "-o", "jsonpath={.spec.jobTemplate.spec.template.spec.containers[0].image}")
			if err != nil || !strings.HasPrefix(image, "ghcr.io/qbackup/qbackup:") || strings.HasSuffix(image, ":latest") {
				t.Errorf("backup image %q (err %v): want a pinned image from the project's registry", image, err)
			}
			// Give the controllers a moment: an install that starts a Job
			// (a restore, a migration) would show it by now.
			time.Sleep(2 * time.Second)
			jobs, err := cs.BatchV1().Jobs(tc.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs.Items) != 0 {
				t.Errorf("installing started %d jobs, e.g. %s", len(jobs.Items), jobs.Items[0].Name)
			}
			// Applying again changes nothing and fails nothing.
			if out, err := kubectl(t, "apply", "-k", dir); err != nil || strings.Contains(out, "configured") {
				t.Errorf("second apply: err %v\n%s", err, out)
			}
		})
	}
}
