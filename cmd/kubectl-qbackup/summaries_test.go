package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/manifests"

	"github.com/qbackup/qbackup/internal/golden"
)

// now is the clock of the golden outputs.
var now = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// summaryManifest is a set of 2 pods with one collection of 2 shards.
func summaryManifest(id string, started time.Time) *manifest.Manifest {
	sum := strings.Repeat("0", 64)
	m := &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: id, Cluster: "prod", QdrantVersion: "1.19.0", ToolVersion: "v1.4.0",
		SnapshotMethod: manifest.MethodStream, StartedAt: started, FinishedAt: started.Add(90 * time.Second),
		Window: manifest.Window{FirstStart: started.Add(time.Second), LastStart: started.Add(1120 * time.Millisecond), SkewMillis: 120},
		Peers:  []manifest.Peer{{ID: 11, Pod: "qdrant-0", URI: "http://10.0.0.1:6333"}, {ID: 12, Pod: "qdrant-1", URI: "http://10.0.0.2:6333"}},
	}
	col := manifest.Collection{Name: "docs", Config: []byte(`{}`), ShardingMethod: "auto", ShardNumber: 2, ReplicationFactor: 1, PointsCount: 3000, Aliases: []string{"docs-live"}}
	for i := range uint32(2) {
		col.Shards = append(col.Shards, manifest.Shard{ID: i, SourcePeer: uint64(11 + i), Replicas: []manifest.Replica{{PeerID: uint64(11 + i), State: "Active"}},
			Object: manifest.ShardObjectKey("prod", id, "docs", i, "none"), Compression: "none",
			Size: 3 << 20, SHA256: sum, SnapshotSize: 3 << 20, SnapshotSHA256: sum, PointsCount: 1500})
	}
	m.Collections = []manifest.Collection{col}
	return m
}

const (
	failedID = "20261125T023000Z-dead"
	newestID = "20261125T133000Z-3f9c"
	olderID  = "20261124T133000Z-0a1b"
)

// summaryCluster is an installation in namespace qdrant whose storage
// cannot be reached (any read of it fails), with the summaries of two
// sets (the newer verified) and two Ready Qdrant pods.
func summaryCluster(t *testing.T) *fake.Clientset { return installedCluster(t, true) }

// installedCluster is summaryCluster, without the summaries unless
// withSummaries.
func installedCluster(t *testing.T, withSummaries bool) *fake.Clientset {
	t.Helper()
	const ns = "qdrant"
	var objs []runtime.Object
	for _, f := range []string{"cronjob.yaml", "restore-template.yaml"} {
		b, err := manifests.FS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cj batchv1.CronJob
		if err := yaml.UnmarshalStrict(b, &cj); err != nil {
			t.Fatal(err)
		}
		// The golden outputs show these: pinned here, not by the base.
		cj.Namespace, cj.Spec.Schedule, cj.Spec.TimeZone = ns, "30 2 * * *", nil
		cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = "ghcr.io/qbackup/qbackup:v1.4.0"
		objs = append(objs, &cj)
	}
	objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "qbackup-config", Namespace: ns}, Data: map[string]string{
		"QBACKUP_CLUSTER": "prod", "QBACKUP_STORAGE": "s3://unreachable/qbackup", "QBACKUP_S3_ENDPOINT": "http://127.0.0.1:1", "QBACKUP_S3_MAX_ATTEMPTS": "1",
	}})
	location := cli.StoreLocation(config.Source{Storage: "s3://unreachable/qbackup", S3Endpoint: "http://127.0.0.1:1"})
	for _, s := range []struct {
		id       string
		started  time.Time
		verified bool
	}{{newestID, time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC), true}, {olderID, time.Date(2026, 11, 24, 13, 30, 0, 0, time.UTC), false}} {
		if !withSummaries {
			break
		}
		sum := kube.SummarizeManifest(summaryManifest(s.id, s.started), location, s.started.Add(2*time.Minute))
		if s.verified {
			sum.VerifyStatus, sum.VerifiedAt = catalog.VerifyVerified, s.started.Add(time.Hour)
		}
		cm, err := kube.SummaryConfigMap(&sum)
		if err != nil {
			t.Fatal(err)
		}
		cm.Namespace = ns
		objs = append(objs, cm)
	}
	if withSummaries {
		// A run that failed between the two sets.
		failed := kube.SummarizeFailed("prod", failedID, time.Date(2026, 11, 25, 2, 30, 0, 0, time.UTC),
			"shard 1 of docs on peer 12: No space left on device", location, time.Date(2026, 11, 25, 2, 31, 5, 0, time.UTC))
		cm, err := kube.SummaryConfigMap(&failed)
		if err != nil {
			t.Fatal(err)
		}
		cm.Namespace = ns
		objs = append(objs, cm)
	}
	for i, name := range []string{"qdrant-0", "qdrant-1"} {
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: qdrantPodLabels},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0." + string(rune('1'+i)), Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}})
	}
	replicas := int32(2)
	objs = append(objs, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "qdrant", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: qdrantPodLabels}}})
	return fake.NewClientset(objs...)
}

// noCredentials empties the environment of every storage and catalog
// credential, as on an operator's workstation.
func noCredentials(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "QBACKUP_CATALOG_DSN",
		"QBACKUP_STORAGE", "QBACKUP_CLUSTER", "QBACKUP_S3_ENDPOINT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func runFake(t *testing.T, cs kubernetes.Interface, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	connect := func() (kubernetes.Interface, string, error) { return cs, "qdrant", nil }
	code := runWith(context.Background(), args, &out, &errOut, connect, func() time.Time { return now })
	return code, out.String(), errOut.String()
}

// TestCommandsReadTheSummaries: with kubectl access alone — no storage or
// catalog credentials, the store unreachable — list, describe, status
// and the restore preview answer from the summaries. The outputs are
// golden files.
func TestCommandsReadTheSummaries(t *testing.T) {
	noCredentials(t)
	cs := summaryCluster(t)
	for _, tc := range []struct {
		args       []string
		golden     string
		wantStderr string
	}{
		{[]string{"list"}, "summaries-list.table", ""},
		{[]string{"list", "-o", "wide"}, "summaries-list.wide", "Read from backup summaries (configmaps -l app.kubernetes.io/managed-by=qbackup,app.kubernetes.io/component=backup-summary in namespace qdrant)."},
		{[]string{"list", "-o", "json"}, "summaries-list.json", ""},
		{[]string{"list", "-o", "name"}, "summaries-list.name", ""},
		{[]string{"describe"}, "summaries-describe.txt", ""},
		{[]string{"describe", olderID, "-o", "json"}, "summaries-describe.json", ""},
		{[]string{"status"}, "summaries-status.table", ""},
		{[]string{"status", "-o", "json"}, "summaries-status.json", ""},
		{[]string{"restore", "latest", "--dry-run=client", "-o", "yaml", "--skip-peers-query"}, "",
			"pods in backup: 2, Ready pods now: 2 → direct\n  Qdrant's peers not asked (--skip-peers-query): the preview counts Kubernetes pods only\n  backup had 2 pods, cluster has 2: direct"},
	} {
		code, out, errOut := runFake(t, cs, tc.args...)
		if code != cli.ExitOK {
			t.Fatalf("%q: exit %d\n%s\n%s", tc.args, code, out, errOut)
		}
		if tc.golden != "" {
			golden.CheckString(t, filepath.Join("testdata", tc.golden), out)
		} else if !strings.Contains(out, "- restore\n        - "+newestID+"\n        - --cluster=prod\n") {
			t.Errorf("%q: the Job does not restore %s of prod:\n%s", tc.args, newestID, out)
		}
		if !strings.Contains(errOut, tc.wantStderr) {
			t.Errorf("%q: stderr lacks %q:\n%s", tc.args, tc.wantStderr, errOut)
		}
	}
}

// TestSummariesFallBackToStorage: without summaries, auto reads storage
// (here unreachable: the error names it); --read-from=summaries does not;
// --read-from=storage never reads the summaries.
func TestSummariesFallBackToStorage(t *testing.T) {
	noCredentials(t)
	empty := installedCluster(t, false)
	for _, tc := range []struct {
		name       string
		cs         kubernetes.Interface
		args       []string
		wantCode   int
		wantOut    string
		wantStderr string
	}{
		{"auto, none: storage", empty, []string{"list"}, cli.ExitFailure, "", "127.0.0.1:1"},
		{"summaries, none: empty", empty, []string{"list", "--read-from=summaries", "-o", "json"}, cli.ExitOK, "[]\n", ""},
		{"summaries, none: describe refused", empty, []string{"describe", "--read-from=summaries"}, cli.ExitUsage, "", `cluster "prod" has no complete backup among the backup summaries`},
		{"summaries, unknown id", summaryCluster(t), []string{"describe", "20200101T000000Z-0000", "--read-from=summaries"}, cli.ExitUsage, "", "has no summary in namespace qdrant"},
		{"storage asked for", summaryCluster(t), []string{"list", "--read-from=storage"}, cli.ExitFailure, "", "127.0.0.1:1"},
		{"a failed set", summaryCluster(t), []string{"describe", failedID}, cli.ExitUsage, "", "failed (shard 1 of docs on peer 12: No space left on device): it has no manifest"},
		{"--storage given", summaryCluster(t), []string{"describe", "latest", "--storage=file://" + t.TempDir()}, cli.ExitUsage, "", "no complete backup"},
	} {
		code, out, errOut := runFake(t, tc.cs, tc.args...)
		if code != tc.wantCode || out != tc.wantOut && tc.wantOut != "" || !strings.Contains(errOut, tc.wantStderr) {
			t.Errorf("%s: %q: exit %d (want %d)\nstdout %q\nstderr %s", tc.name, tc.args, code, tc.wantCode, out, errOut)
		}
	}
}

// TestRBACRefusalNamesVerbResourceAndRole: a user whose Role lacks list
// on configmaps is told which verb on which resource, and which Role
// grants it.
func TestRBACRefusalNamesVerbResourceAndRole(t *testing.T) {
	noCredentials(t)
	cs := summaryCluster(t)
	cs.PrependReactor("list", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "",
			errors.New(`User "alice" cannot list resource "configmaps" in API group "" in the namespace "qdrant"`))
	})
	for _, args := range [][]string{{"list"}, {"describe", "latest"}} {
		code, _, errOut := runFake(t, cs, args...)
		for _, want := range []string{`cannot list resource "configmaps"`, "qbackup-operator", "kubectl -n qdrant create rolebinding", "--read-from=storage"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%q: exit %d, stderr lacks %q:\n%s", args, code, want, errOut)
			}
		}
		if code == cli.ExitOK {
			t.Errorf("%q: exit 0 although refused", args)
		}
	}
	// status goes on, saying why the last set is unknown.
	code, out, errOut := runFake(t, cs, "status")
	if code != cli.ExitOK || !strings.Contains(out, "Last complete set:  unknown: ") || !strings.Contains(out, "Role grants list on configmaps") {
		t.Errorf("status: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestCompletionOffersTheSummarizedSets: backup ids complete from the
// summaries, newest first, complete sets only.
func TestCompletionOffersTheSummarizedSets(t *testing.T) {
	noCredentials(t)
	cs := summaryCluster(t)
	c := &completer{client: func(kubeFlags) (kubernetes.Interface, string, error) { return cs, "qdrant", nil }, env: func(string) (string, bool) { return "", false }}
	got, _ := answer(t, c, "describe", "")
	if want := []string{"latest", newestID, olderID}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("describe <TAB>: %q, want %q", got, want)
	}
}

// TestTheSummaryOfAnEncryptedManifest: list and describe show what the
// store shows without the key; the restore preview needs the manifest.
func TestTheSummaryOfAnEncryptedManifest(t *testing.T) {
	noCredentials(t)
	cs := installedCluster(t, false)
	m := summaryManifest(newestID, time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC))
	m.Encryption = &manifest.Encryption{Scheme: manifest.EncryptionAge, Recipients: []string{"age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"}}
	m.ManifestEncrypted = true
	sum := kube.SummarizeManifest(m, "", now)
	if err := kube.NewSummaries(cs, "qdrant").Put(context.Background(), &sum); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args   []string
		golden string
	}{
		{[]string{"list"}, "summaries-encrypted-list.table"},
		{[]string{"describe"}, "summaries-encrypted-describe.txt"},
	} {
		code, out, errOut := runFake(t, cs, tc.args...)
		if code != cli.ExitOK {
			t.Fatalf("%q: exit %d\n%s\n%s", tc.args, code, out, errOut)
		}
		golden.CheckString(t, filepath.Join("testdata", tc.golden), out)
		if strings.Contains(out, "docs") || strings.Contains(out, "qdrant-0") {
			t.Errorf("%q shows what the encrypted manifest holds:\n%s", tc.args, out)
		}
	}
	code, out, errOut := runFake(t, cs, "status")
	if code != cli.ExitOK || !strings.Contains(out, "Last complete set:  "+newestID+" (started 2026-11-25T13:30:00Z, 19h30m0s ago; manifest encrypted, 6.0 MiB)") {
		t.Errorf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = runFake(t, cs, "restore", "latest", "--read-from=summaries", "--dry-run=client")
	if code != cli.ExitUsage || !strings.Contains(errOut, "is encrypted") || !strings.Contains(errOut, "QBACKUP_AGE_IDENTITY") {
		t.Errorf("restore preview from an encrypted manifest's summary: exit %d\n%s", code, errOut)
	}
}

// TestSummariesOfOtherStoresAndClusters: the summaries of another store
// in the namespace (a second installation) are not this installation's
// backups; another cluster's are listed with --all-clusters only.
func TestSummariesOfOtherStoresAndClusters(t *testing.T) {
	noCredentials(t)
	cs := summaryCluster(t)
	ctx := context.Background()
	other := kube.SummarizeManifest(summaryManifest("20261125T150000Z-0001", time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)), "s3://another/store", now)
	staging := kube.SummarizeManifest(summaryManifest("20261125T160000Z-0002", time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)), "", now)
	staging.Cluster = "staging"
	for _, s := range []*kube.SetSummary{&other, &staging} {
		if err := kube.NewSummaries(cs, "qdrant").Put(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "-o", "name"}, "backup/" + newestID + "\nbackup/" + failedID + "\nbackup/" + olderID + "\n"},
		{[]string{"list", "-o", "name", "--all-clusters"}, "backup/20261125T160000Z-0002\nbackup/" + newestID + "\nbackup/" + failedID + "\nbackup/" + olderID + "\n"},
		{[]string{"list", "-o", "name", "--qdrant-cluster=staging"}, "backup/20261125T160000Z-0002\n"},
	} {
		code, out, errOut := runFake(t, cs, tc.args...)
		if code != cli.ExitOK || out != tc.want {
			t.Errorf("%q: exit %d\n%s\nwant\n%s\n%s", tc.args, code, out, tc.want, errOut)
		}
	}
}
