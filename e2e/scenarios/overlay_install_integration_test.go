//go:build integration

package scenarios

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// TestOverlaysInstallAsTheREADMESays runs the README's install section's
// commands for each overlay, in its own namespace, on the real API
// server: without the namespace the apply fails naming it; after the
// documented `kubectl create namespace`, it installs, the documented
// Secret is the one the Jobs read, and nothing runs but the schedule.
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
			// The README's commands, verbatim but for the overlay and its
			// namespace, in its order.
			for _, c := range installCommands(t, tc.overlay, tc.ns) {
				if out, err := readmeCommand(t, c); err != nil {
					t.Fatalf("the README's %q: %v\n%s", c, err, out)
				}
			}
			// The Secret the README creates is the one both Jobs read, and
			// the catalog is migrated by the first backup.
			for _, cj := range []string{"qbackup", "qbackup-restore"} {
				ref, err := kubectl(t, "-n", tc.ns, "get", "cronjob", cj, "-o", "jsonpath={.spec.jobTemplate.spec.template.spec.containers[0].envFrom[*].secretRef.name}")
				if err != nil || ref != "qbackup-secrets" {
					t.Errorf("cronjob %s reads the Secret %q (err %v), the README creates qbackup-secrets", cj, ref, err)
				}
			}
			if keys, err := kubectl(t, "-n", tc.ns, "get", "secret", "qbackup-secrets", "-o", "go-template={{range $k, $v := .data}}{{$k}} {{end}}"); err != nil ||
				keys != "AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY QBACKUP_CATALOG_DSN QBACKUP_QDRANT_API_KEY " {
				t.Errorf("the README's Secret holds %q (err %v)", keys, err)
			}
			if migrate, err := kubectl(t, "-n", tc.ns, "get", "configmap", "qbackup-config", "-o", "jsonpath={.data.QBACKUP_MIGRATE_CATALOG}"); err != nil || migrate != "true" {
				t.Errorf("QBACKUP_MIGRATE_CATALOG is %q (err %v): the README says the first backup migrates the catalog", migrate, err)
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

// installCommands are the shell commands of the README's install section
// (its sh blocks, continuation lines joined, comments dropped), for the
// overlay and namespace given instead of the README's prod and qdrant.
func installCommands(t *testing.T, overlay, ns string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "**Install**")
	end := strings.Index(readme, "**Commands.**")
	if start < 0 || end < start {
		t.Fatal("README: no install section (**Install** ... **Commands.**)")
	}
	// Fenced blocks: sh blocks are commands, the plain one the Secret's
	// env file.
	var cmds []string
	var envBlocks []string
	for _, block := range regexp.MustCompile("(?ms)^```(\\w*)\n(.*?)^```$").FindAllStringSubmatch(readme[start:end], -1) {
		if block[1] == "" {
			envBlocks = append(envBlocks, block[2])
			continue
		}
		if block[1] != "sh" {
			continue
		}
		text := strings.ReplaceAll(block[2], "\\\n", " ")
		for _, line := range strings.Split(text, "\n") {
			if i := strings.Index(line, " #"); i >= 0 {
				line = line[:i]
			}
			if line = strings.Join(strings.Fields(line), " "); line != "" {
				cmds = append(cmds, line)
			}
		}
	}
	if len(cmds) < 3 {
		t.Fatalf("README install section: commands %q, want the namespace, the apply and the Secret", cmds)
	}
	if len(envBlocks) != 1 || !strings.Contains(envBlocks[0], "AWS_SECRET_ACCESS_KEY=") {
		t.Fatalf("README install section: want one env-file block with the Secret's keys, found %d", len(envBlocks))
	}
	envFile := filepath.Join(t.TempDir(), "qbackup.env")
	if err := os.WriteFile(envFile, []byte(envBlocks[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	nsArg := regexp.MustCompile(`(create namespace|-n) qdrant\b`)
	for i, c := range cmds {
		c = nsArg.ReplaceAllString(c, "${1} "+ns)
		c = strings.ReplaceAll(c, " qbackup.env", " "+envFile)
		c = strings.ReplaceAll(c, "=qbackup.env", "="+envFile)
		cmds[i] = strings.ReplaceAll(c, "kustomize/overlays/prod", "kustomize/overlays/"+overlay)
	}
	return cmds
}

// readmeCommand runs a README command as a user's shell would, from the
// repository's root.
func readmeCommand(t *testing.T, command string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	return string(out), err
}
