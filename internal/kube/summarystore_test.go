package kube

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/qbackup/qbackup/internal/catalog"
)

func summaryOf(cluster, id, location string, started time.Time) *SetSummary {
	m := richBackup()
	m.Cluster, m.BackupID, m.StartedAt, m.Partial = cluster, id, started, false
	s := SummarizeManifest(m, location, started)
	return &s
}

func ids(sums []SetSummary) []string {
	var out []string
	for _, s := range sums {
		out = append(out, s.Cluster+"/"+s.BackupID)
	}
	return out
}

func TestSummariesPutListGetDelete(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	s := NewSummaries(cs, "qdrant")
	t0 := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	for i, sum := range []*SetSummary{
		summaryOf("prod", "20261125T130000Z-0001", "s3://b/p", t0),
		summaryOf("prod", "20261125T140000Z-0002", "s3://b/p", t0.Add(time.Hour)),
		summaryOf("prod/eu", "20261125T140000Z-0002", "s3://b/p", t0.Add(time.Hour)),
	} {
		if err := s.Put(ctx, sum); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	// A hand-made ConfigMap with the labels is reported, not fatal.
	bad := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "qbackup-set-bad", Labels: map[string]string{
		ManagedByLabel: ManagedBy, ComponentLabel: SummaryComponent, ClusterLabel: "prod"}}, Data: map[string]string{SummaryKey: "{"}}
	if _, err := cs.CoreV1().ConfigMaps("qdrant").Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	all, unreadable, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(all), []string{"prod/20261125T140000Z-0002", "prod/eu/20261125T140000Z-0002", "prod/20261125T130000Z-0001"}; !slices.Equal(got, want) {
		t.Errorf("list all: %q, want %q (newest first)", got, want)
	}
	if len(unreadable) != 1 || unreadable[0].ConfigMap != "qbackup-set-bad" {
		t.Errorf("unreadable: %+v", unreadable)
	}
	prod, _, err := s.List(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(prod); !slices.Equal(got, []string{"prod/20261125T140000Z-0002", "prod/20261125T130000Z-0001"}) {
		t.Errorf("list prod: %q", got)
	}

	// Put again replaces (a verify, a re-sync).
	again := summaryOf("prod", "20261125T130000Z-0001", "s3://b/p", t0)
	again.VerifyStatus = catalog.VerifyVerified
	if err := s.Put(ctx, again); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.Get(ctx, "prod", "20261125T130000Z-0001")
	if err != nil || !found || got.VerifyStatus != catalog.VerifyVerified {
		t.Fatalf("get after put: %+v, %v, %v", got, found, err)
	}
	if _, found, err := s.Get(ctx, "prod", "20261124T130000Z-0009"); err != nil || found {
		t.Errorf("get of a set without summary: found %v, %v", found, err)
	}

	if err := s.Delete(ctx, "prod", "20261125T130000Z-0001"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "prod", "20261125T130000Z-0001"); err != nil {
		t.Errorf("deleting a summary already gone: %v", err)
	}
	if _, found, _ := s.Get(ctx, "prod", "20261125T130000Z-0001"); found {
		t.Error("deleted summary still there")
	}
}

func TestSummaryConfigMapIsLabelled(t *testing.T) {
	cm, err := SummaryConfigMap(summaryOf("Prod EU", "20261125T130000Z-0001", "", time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"app.kubernetes.io/managed-by": "qbackup", "app.kubernetes.io/component": "backup-summary",
		"qbackup.io/backup-id": "20261125T130000Z-0001", "qbackup.io/cluster": ClusterLabelValue("Prod EU"),
	} {
		if cm.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, cm.Labels[k], v)
		}
	}
	if !strings.HasPrefix(cm.Labels["qbackup.io/cluster"], "sha256-") {
		t.Errorf("a cluster name that is no label value is labelled %q", cm.Labels["qbackup.io/cluster"])
	}
}

func TestSummariesSetVerified(t *testing.T) {
	ctx := context.Background()
	s := NewSummaries(fake.NewClientset(), "qdrant")
	if found, err := s.SetVerified(ctx, "prod", "20261125T130000Z-0001", catalog.VerifyVerified, "", metav1.Now()); err != nil || found {
		t.Fatalf("verify without a summary: found %v, %v", found, err)
	}
	if err := s.Put(ctx, summaryOf("prod", "20261125T130000Z-0001", "", time.Unix(0, 0))); err != nil {
		t.Fatal(err)
	}
	at := metav1.NewTime(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC))
	if found, err := s.SetVerified(ctx, "prod", "20261125T130000Z-0001", catalog.VerifyCorrupt, "1 bad object", at); err != nil || !found {
		t.Fatalf("verify: found %v, %v", found, err)
	}
	got, _, err := s.Get(ctx, "prod", "20261125T130000Z-0001")
	if err != nil || got.VerifyStatus != catalog.VerifyCorrupt || got.VerifyDetail != "1 bad object" || !got.VerifiedAt.Equal(at.Time) {
		t.Errorf("after verify: %+v, %v", got, err)
	}
}

// TestSummariesReconcile deletes the summaries whose set is gone, of the
// store reconciled only.
func TestSummariesReconcile(t *testing.T) {
	ctx := context.Background()
	s := NewSummaries(fake.NewClientset(), "qdrant")
	t0 := time.Unix(0, 0)
	for _, sum := range []*SetSummary{
		summaryOf("prod", "20261125T130000Z-0001", "s3://b/p", t0),
		summaryOf("prod", "20261125T140000Z-0002", "s3://b/p", t0),
		summaryOf("prod", "20261125T150000Z-0003", "s3://other", t0),
		summaryOf("prod", "20261125T160000Z-0004", "", t0),
		summaryOf("test", "20261125T170000Z-0005", "s3://b/p", t0),
	} {
		if err := s.Put(ctx, sum); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(sum *SetSummary) bool { return sum.BackupID == "20261125T140000Z-0002" }
	gone, err := s.Reconcile(ctx, "prod", "s3://b/p", exists)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(gone)
	if want := []string{"20261125T130000Z-0001", "20261125T160000Z-0004"}; !slices.Equal(gone, want) {
		t.Errorf("deleted %q, want %q (another store's and another cluster's kept)", gone, want)
	}
	left, _, _ := s.List(ctx, "")
	if got := ids(left); len(got) != 3 {
		t.Errorf("left %q", got)
	}
}
