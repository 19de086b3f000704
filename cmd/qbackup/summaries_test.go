package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// inPod makes the runs record their summaries in namespace qdrant of a
// fake API server, as in a pod.
func inPod(t *testing.T) *fake.Clientset {
	t.Helper()
	cs := fake.NewClientset()
	old := summaryClient
	summaryClient = func() (kubernetes.Interface, string, bool, error) { return cs, "qdrant", true, nil }
	t.Cleanup(func() { summaryClient = old })
	return cs
}

func summaries(t *testing.T, cs kubernetes.Interface) []kube.SetSummary {
	t.Helper()
	all, bad, err := kube.NewSummaries(cs, "qdrant").List(context.Background(), "")
	if err != nil || len(bad) > 0 {
		t.Fatalf("list summaries: %v %+v", err, bad)
	}
	return all
}

func summaryIDs(all []kube.SetSummary) []string {
	var out []string
	for _, s := range all {
		out = append(out, s.BackupID)
	}
	return out
}

// TestRunsKeepTheBackupSummaries: backup records the summary of its set,
// verify its verification, prune deletes the summaries of the sets it
// removes and of sets gone from storage, and records those missing.
func TestRunsKeepTheBackupSummaries(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := inPod(t)
	s := startCLISim(t, qdrantsim.Options{})
	ctx := context.Background()

	_, _, errOut := qbackup(t, s.args("backup")...)
	all := summaries(t, cs)
	if len(all) != 1 {
		t.Fatalf("after one backup: %d summaries\n%s", len(all), errOut)
	}
	first := all[0]
	if first.Cluster != "prod" || first.Status != catalog.StatusComplete || first.ShardCount != 3 || first.CollectionCount != 1 ||
		first.PodCount != 3 || first.VerifyStatus != catalog.VerifyUnverified || first.StorageLocation != "file://"+strings.TrimPrefix(s.storage, "file://") ||
		first.TotalBytes <= 0 || first.Detail != kube.DetailFull {
		t.Errorf("summary: %+v", first)
	}
	if !strings.Contains(errOut, "backup summary recorded") {
		t.Errorf("the run does not say it recorded the summary:\n%s", errOut)
	}
	time.Sleep(1100 * time.Millisecond) // ids are to the second
	mustQbackup(t, s.args("backup")...)
	all = summaries(t, cs)
	if len(all) != 2 || all[1].BackupID != first.BackupID {
		t.Fatalf("after two backups: %q", summaryIDs(all))
	}
	second := all[0]

	mustQbackup(t, storeArgs(s, "verify", "latest")...)
	got, found, err := kube.NewSummaries(cs, "qdrant").Get(ctx, "prod", second.BackupID)
	if err != nil || !found || got.VerifyStatus != catalog.VerifyVerified || got.VerifiedAt.IsZero() {
		t.Fatalf("after verify: %+v, %v, %v", got, found, err)
	}

	// The second set's summary lost (a failed write), a stray one of a
	// set that never was: prune --keep-last=1 removes the first set and
	// its summary, the stray one, and records the second's again.
	if err := kube.NewSummaries(cs, "qdrant").Delete(ctx, "prod", second.BackupID); err != nil {
		t.Fatal(err)
	}
	stray := first
	stray.BackupID = "20200101T000000Z-dead"
	if err := kube.NewSummaries(cs, "qdrant").Put(ctx, &stray); err != nil {
		t.Fatal(err)
	}
	mustQbackup(t, append(storeArgs(s, "prune", "--keep-last=1"), "--orphan-grace=0")...)
	if got := summaryIDs(summaries(t, cs)); !slices.Equal(got, []string{second.BackupID}) {
		t.Errorf("after prune: %q, want [%s]", got, second.BackupID)
	}

	// A dry run changes no summary.
	if err := kube.NewSummaries(cs, "qdrant").Put(ctx, &stray); err != nil {
		t.Fatal(err)
	}
	mustQbackup(t, storeArgs(s, "prune", "--keep-last=1", "--dry-run")...)
	if got := summaryIDs(summaries(t, cs)); len(got) != 2 {
		t.Errorf("a dry run changed the summaries: %q", got)
	}
}

// TestASummaryThatCannotBeWrittenDoesNotFailTheBackup: the ServiceAccount
// may not create ConfigMaps (a Role of an older install): the backup
// succeeds and says what is missing.
func TestASummaryThatCannotBeWrittenDoesNotFailTheBackup(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := inPod(t)
	cs.PrependReactor("*", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "", errors.New(`User "system:serviceaccount:qdrant:qbackup" cannot `+a.GetVerb()+` resource "configmaps"`))
	})
	s := startCLISim(t, qdrantsim.Options{})
	code, out, errOut := qbackup(t, s.args("backup", "--prune", "--keep-last=3")...)
	if code != 0 || !strings.Contains(out, "complete") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"backup summary not recorded", `cannot create resource \"configmaps\"`, "manifests/role.yaml", "backup summaries not reconciled"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the warnings do not say %q:\n%s", want, errOut)
		}
	}
	obj, err := cs.Tracker().List(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "qdrant")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(obj.(*corev1.ConfigMapList).Items); n != 0 {
		t.Errorf("%d configmaps written past the refusal", n)
	}
}

// TestOutsideKubernetesNoSummaryIsWritten: no in-cluster configuration,
// no client, nothing said.
func TestOutsideKubernetesNoSummaryIsWritten(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if cs, _, ok, err := summaryClient(); ok || err != nil || cs != nil {
		t.Fatalf("outside a pod: client %v, ok %v, %v", cs, ok, err)
	}
}

// TestAnEncryptedManifestsSummaryHidesWhatItHides: a set written with
// --encrypt-manifest is summarized with what a listing of the store
// shows without the key — by the backup, and by prune recording a set
// without a summary — and never its collections or peers.
func TestAnEncryptedManifestsSummaryHidesWhatItHides(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := inPod(t)
	s := startCLISim(t, qdrantsim.Options{})
	key := newAgeKey(t)
	mustQbackup(t, s.args("backup", "--encrypt-recipient="+key.Recipient().String(), "--encrypt-manifest")...)
	check := func(when string) {
		t.Helper()
		all := summaries(t, cs)
		if len(all) != 1 {
			t.Fatalf("%s: %d summaries", when, len(all))
		}
		sum := all[0]
		if !sum.ManifestEncrypted || sum.Detail != kube.DetailTotals || len(sum.Collections) != 0 || len(sum.Peers) != 0 ||
			sum.ShardCount != 0 || sum.PodCount != 0 || !sum.FinishedAt.IsZero() || sum.TotalBytes <= 0 ||
			sum.Encryption == nil || sum.Encryption.Recipients[0] != key.Recipient().String() {
			t.Errorf("%s: summary %+v", when, sum)
		}
		cm, err := cs.CoreV1().ConfigMaps("qdrant").Get(context.Background(), kube.SummaryName(sum.Cluster, sum.BackupID), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{`"docs"`, "qdrant-0", s.c.Peers()[0].URL()} {
			if strings.Contains(cm.Data[kube.SummaryKey], secret) {
				t.Errorf("%s: the summary of an encrypted manifest holds %s:\n%s", when, secret, cm.Data[kube.SummaryKey])
			}
		}
	}
	check("after the backup")
	// Prune, without the key, records the summary of a set that has none.
	if err := kube.NewSummaries(cs, "qdrant").Delete(context.Background(), "prod", summaries(t, cs)[0].BackupID); err != nil {
		t.Fatal(err)
	}
	mustQbackup(t, storeArgs(s, "prune", "--keep-last=1")...)
	check("after prune")
}

// hidingStore lists every object but those whose key contains hide, as a
// listing taken before another Job committed that set would.
type hidingStore struct {
	inventory.Store
	hide string
}

func (h hidingStore) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	return h.Store.List(ctx, prefix, func(o storage.ObjectInfo) error {
		if strings.Contains(o.Key, h.hide) {
			return nil
		}
		return fn(o)
	})
}

// TestReconcileKeepsASetCommittedAfterTheListing: a set missing from the
// listing whose manifest is in storage when its summary would be deleted
// (committed by another Job meanwhile) keeps its summary.
func TestReconcileKeepsASetCommittedAfterTheListing(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := inPod(t)
	s := startCLISim(t, qdrantsim.Options{})
	mustQbackup(t, s.args("backup")...)
	id := summaries(t, cs)[0].BackupID
	store, err := storage.Open(context.Background(), s.storage, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := openSummaries(config.Source{Cluster: "prod", Storage: s.storage}, slog.New(slog.DiscardHandler))
	w.sync(context.Background(), hidingStore{Store: store, hide: id}, "prod")
	if got := summaryIDs(summaries(t, cs)); !slices.Equal(got, []string{id}) {
		t.Errorf("after a reconcile whose listing missed %s: %q", id, got)
	}
	// Gone for real: deleted.
	if err := store.Delete(context.Background(), manifest.ManifestKey("prod", id)); err != nil {
		t.Fatal(err)
	}
	w.sync(context.Background(), store, "prod")
	if got := summaryIDs(summaries(t, cs)); len(got) != 0 {
		t.Errorf("the summary of a set without manifest is kept: %q", got)
	}
}

// TestAFailedBackupIsSummarizedAsFailed: a run that began and failed
// records a failed summary with its cause; the next prune deletes it,
// as the set has no manifest.
func TestAFailedBackupIsSummarizedAsFailed(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := inPod(t)
	s := startCLISim(t, qdrantsim.Options{})
	s.c.Peers()[1].SetFaults(qdrantsim.Faults{SnapshotNoSpace: true})
	if code, _, errOut := qbackup(t, s.args("backup", "--snapshot-method=stored")...); code == 0 {
		t.Fatalf("a backup onto a full disk succeeded:\n%s", errOut)
	}
	all := summaries(t, cs)
	if len(all) != 1 || all[0].Status != catalog.StatusFailed || all[0].Reason == "" || all[0].StartedAt.IsZero() {
		t.Fatalf("after a failed backup: %+v", all)
	}
	failedID := all[0].BackupID
	s.c.Peers()[1].ClearFaults()
	mustQbackup(t, s.args("backup", "--prune", "--keep-last=1")...)
	if got := summaryIDs(summaries(t, cs)); len(got) != 1 || got[0] == failedID {
		t.Errorf("after the next backup's prune: %q (the failed %s must be gone)", got, failedID)
	}
}

// TestVerifyOfACorruptSetRecordsIt: verify of a set with a damaged object
// exits 5 naming the object, and records the set as corrupt in its
// summary (with the bad object), so that latest passes over it.
func TestVerifyOfACorruptSetRecordsIt(t *testing.T) {
	t.Setenv("QBACKUP_CATALOG_DSN", "")
	cs := inPod(t)
	s := startCLISim(t, qdrantsim.Options{})
	mustQbackup(t, s.args("backup")...)
	all := summaries(t, cs)
	if len(all) != 1 {
		t.Fatalf("after the backup: %d summaries", len(all))
	}
	dir := strings.TrimPrefix(s.storage, "file://")
	var damaged string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && damaged == "" && strings.HasSuffix(p, ".snapshot") {
			damaged = p
		}
		return err
	})
	if err != nil || damaged == "" {
		t.Fatalf("no shard object under %s: %v", dir, err)
	}
	b, err := os.ReadFile(damaged)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(damaged, b, 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, errOut := qbackup(t, storeArgs(s, "verify", all[0].BackupID)...)
	if code != cli.ExitCorrupt || !strings.Contains(errOut, filepath.Base(damaged)) {
		t.Fatalf("verify of the damaged set: exit %d, want %d naming %s\n%s", code, cli.ExitCorrupt, filepath.Base(damaged), errOut)
	}
	got, found, err := kube.NewSummaries(cs, "qdrant").Get(context.Background(), "prod", all[0].BackupID)
	if err != nil || !found || got.VerifyStatus != catalog.VerifyCorrupt || !strings.Contains(got.VerifyDetail, "sha256") {
		t.Fatalf("summary after verify: %+v, %v, %v; want corrupt with the bad object", got, found, err)
	}
}
