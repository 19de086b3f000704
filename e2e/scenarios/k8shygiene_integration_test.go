//go:build integration

package scenarios

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// assertNoSecretInKubernetesObjects reads every object a run leaves in the
// installation's namespace (CronJobs, Jobs, Pods with their statuses and
// termination messages, ConfigMaps, Events of both APIs) and every
// container's log, and fails if any holds a value of the installed Secrets
// (the S3 keys, the catalog DSN and its password, the API key). The
// Secrets themselves are the one place those values belong.
func assertNoSecretInKubernetesObjects(t *testing.T, in *installation) {
	t.Helper()
	ctx := context.Background()
	secrets, err := in.cs.CoreV1().Secrets(in.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, s := range secrets.Items {
		for k, v := range s.Data {
			if len(v) < 6 || strings.HasPrefix(k, "ca.") || k == "namespace" {
				continue // a service account's namespace or CA is public
			}
			values = append(values, string(v))
			if cfg, err := mysql.ParseDSN(string(v)); err == nil && len(cfg.Passwd) >= 6 {
				values = append(values, cfg.Passwd)
			}
		}
	}
	if len(values) == 0 {
		t.Fatal("no Secret values to look for: the installation has no Secret")
	}
	var docs []struct {
		what string
		body string
	}
	add := func(what string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, struct{ what, body string }{what, string(b)})
	}
	cronjobs, err := in.cs.BatchV1().CronJobs(in.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	add("cronjobs", cronjobs)
	jobs, err := in.cs.BatchV1().Jobs(in.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	add("jobs", jobs)
	pods, err := in.cs.CoreV1().Pods(in.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	add("pods", pods)
	configMaps, err := in.cs.CoreV1().ConfigMaps(in.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	add("configmaps", configMaps)
	events, err := in.cs.CoreV1().Events(in.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	add("events", events)
	newEvents, err := in.cs.EventsV1().Events(in.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	add("events.k8s.io", newEvents)
	logs := 0
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Name, "qbackup") {
			continue
		}
		for _, c := range p.Spec.Containers {
			if out, err := in.agent.Logs(in.ns, p.Name, c.Name); err == nil {
				docs = append(docs, struct{ what, body string }{"log of " + p.Name, out})
				logs++
			}
		}
	}
	if len(jobs.Items) == 0 || logs == 0 {
		t.Fatalf("%d jobs and %d qbackup logs: nothing ran to check", len(jobs.Items), logs)
	}
	for _, d := range docs {
		for _, v := range values {
			if strings.Contains(d.body, v) {
				t.Errorf("%s holds a value of a Secret (%d characters)", d.what, len(v))
			}
		}
	}
	t.Logf("no Secret value in %d Kubernetes documents (%d jobs, %d pods, %d events, %d qbackup logs)",
		len(docs), len(jobs.Items), len(pods.Items), len(events.Items)+len(newEvents.Items), logs)
}
