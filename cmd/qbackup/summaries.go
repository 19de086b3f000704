package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/cli"
	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/inventory"
	"github.com/qbackup/qbackup/internal/kube"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/prune"
	"github.com/qbackup/qbackup/internal/storage"
)

// summaryTimeout bounds the summary writes of one run: the API server
// being slow must not hold up the run or its exit.
const summaryTimeout = 20 * time.Second

// summaryRBACHint is said with every failed summary write: the usual
// cause is a Role installed before the Jobs wrote summaries.
const summaryRBACHint = "the plugin then reads storage instead; the Job's Role needs get, list, create, update and delete on configmaps (manifests/role.yaml)"

// summaryClient connects to the API server of the pod the run is in; ok
// is false outside Kubernetes. A variable so tests can put a fake
// cluster behind it.
var summaryClient = func() (cs kubernetes.Interface, ns string, ok bool, err error) {
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return nil, "", false, nil
	}
	cs, ns, err = discovery.NewKubeClient("")
	return cs, ns, err == nil, err
}

// setSummaries records backup summaries (kube.SetSummary) in the
// namespace of the run's pod, so kubectl qbackup list, describe, status
// and the restore preview need no storage credentials. Recording is
// best effort: a failure is a warning and never fails a run whose work
// succeeded. A nil *setSummaries (outside Kubernetes) does nothing.
type setSummaries struct {
	s        *kube.Summaries
	log      *slog.Logger
	location string
	now      func() time.Time
}

// openSummaries returns the run's summaries in its pod's namespace, nil
// outside Kubernetes or when the API server cannot be reached (said
// once).
func openSummaries(src config.Source, log *slog.Logger) *setSummaries {
	cs, ns, ok, err := summaryClient()
	if err != nil {
		log.Warn("backup summaries not recorded: no Kubernetes client", "error", err, "hint", summaryRBACHint)
	}
	if !ok {
		return nil
	}
	return &setSummaries{s: kube.NewSummaries(cs, ns), log: log, location: cli.StoreLocation(src), now: time.Now}
}

// record writes the summary of a committed set.
func (w *setSummaries) record(m *manifest.Manifest) {
	if w == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), summaryTimeout)
	defer cancel()
	sum := kube.SummarizeManifest(m, w.location, w.now())
	if err := w.s.Put(ctx, &sum); err != nil {
		w.log.Warn("backup summary not recorded", "backup_id", m.BackupID, "error", err, "hint", summaryRBACHint)
		return
	}
	w.log.Info("backup summary recorded", "backup_id", m.BackupID, "configmap", kube.SummaryName(m.Cluster, m.BackupID), "detail", sum.Detail)
}

// failed records a run that began as set id and failed with cause: a
// failed set, without a manifest, which the next prune's reconcile
// deletes with the set's leftovers.
func (w *setSummaries) failed(cluster, id string, start time.Time, cause error) {
	if w == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), summaryTimeout)
	defer cancel()
	sum := kube.SummarizeFailed(cluster, id, start, cause.Error(), w.location, w.now())
	if err := w.s.Put(ctx, &sum); err != nil {
		w.log.Warn("summary of the failed backup not recorded", "backup_id", id, "error", err, "hint", summaryRBACHint)
	}
}

// verified records a verification result in the set's summary, writing
// the summary from the manifest when the set has none yet.
func (w *setSummaries) verified(m *manifest.Manifest, status, detail string) {
	if w == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), summaryTimeout)
	defer cancel()
	now := metav1.NewTime(w.now())
	found, err := w.s.SetVerified(ctx, m.Cluster, m.BackupID, status, detail, now)
	if err == nil && !found {
		sum := kube.SummarizeManifest(m, w.location, now.Time)
		sum.VerifyStatus, sum.VerifyDetail, sum.VerifiedAt = status, detail, now.UTC()
		err = w.s.Put(ctx, &sum)
	}
	if err != nil {
		w.log.Warn("verification not recorded in the backup summary", "backup_id", m.BackupID, "error", err, "hint", summaryRBACHint)
	}
}

// pruned brings the summaries of cluster ("" for every cluster) in line
// with storage after a prune or a catalog sync: the summaries of the
// sets removed, and of any other set whose manifest is gone, are
// deleted; a set in storage without a summary (taken before summaries
// were recorded, or whose write failed) gets one.
func (w *setSummaries) pruned(ctx context.Context, rep *prune.Report, store inventory.Store, cluster string) {
	if w == nil || (rep != nil && rep.DryRun) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*summaryTimeout)
	defer cancel()
	if rep != nil {
		for _, it := range rep.Removed() {
			if err := w.s.Delete(ctx, it.Cluster, it.BackupID); err != nil {
				w.log.Warn("summary of a removed backup not deleted", "backup_id", it.BackupID, "error", err, "hint", summaryRBACHint)
			}
		}
	}
	w.sync(ctx, store, cluster)
}

// manifestExists says whether the set's manifest is in storage; a failed
// read counts as there (a summary is only deleted when its set is known
// to be gone).
func manifestExists(ctx context.Context, store inventory.Store, cluster, id string) bool {
	r, err := store.Open(ctx, manifest.ManifestKey(cluster, id), 0)
	if err != nil {
		return !errors.Is(err, storage.ErrNotFound)
	}
	r.Close()
	return true
}

// committedSets lists the sets of cluster ("" for every cluster) whose
// manifest (the commit marker) storage holds: one listing, no manifest
// read.
func committedSets(ctx context.Context, store inventory.Store, cluster string) (map[[2]string]*inventory.Set, error) {
	prefix := ""
	if cluster != "" {
		prefix = manifest.ClusterPrefix(cluster)
	}
	sets, err := inventory.Scan(ctx, store, prefix)
	if err != nil {
		return nil, err
	}
	out := map[[2]string]*inventory.Set{}
	for _, s := range sets {
		if s.ManifestKey != "" {
			out[[2]string{s.Cluster, s.ID}] = s
		}
	}
	return out, nil
}

// sync reconciles the summaries of cluster with the sets in storage.
func (w *setSummaries) sync(ctx context.Context, store inventory.Store, cluster string) {
	inStorage, err := committedSets(ctx, store, cluster)
	if err != nil {
		w.log.Warn("backup summaries not reconciled with storage", "error", err)
		return
	}
	gone, err := w.s.Reconcile(ctx, cluster, w.location, func(s *kube.SetSummary) bool {
		if _, ok := inStorage[[2]string{s.Cluster, s.BackupID}]; ok {
			return true
		}
		// Not listed: asked again, as another Job may have committed
		// the set (and recorded this summary) since the listing.
		return manifestExists(ctx, store, s.Cluster, s.BackupID)
	})
	for _, id := range gone {
		w.log.Info("summary of a backup no longer in storage deleted", "backup_id", id)
	}
	if err != nil {
		w.log.Warn("backup summaries not reconciled with storage", "error", err, "hint", summaryRBACHint)
		return
	}
	have, _, err := w.s.List(ctx, cluster)
	if err != nil {
		w.log.Warn("backup summaries not reconciled with storage", "error", err, "hint", summaryRBACHint)
		return
	}
	for _, s := range have {
		delete(inStorage, [2]string{s.Cluster, s.BackupID})
	}
	// The sets without a summary: taken before summaries were recorded,
	// or whose write failed. Only their manifests are read.
	for _, set := range inStorage {
		m, p, err := manifest.ReadCommit(ctx, store, set.ManifestKey)
		if err != nil {
			w.log.Warn("summary of a backup in storage not recorded: its manifest cannot be read", "backup_id", set.ID, "error", err)
			continue
		}
		if p != nil {
			// Encrypted: the summary holds what the listing shows
			// without the key, which is all a run may need to hold.
			started, _ := manifest.BackupIDTime(set.ID)
			sum := kube.SummarizePublic(p, started, set.Bytes, w.location, w.now())
			if err := w.s.Put(ctx, &sum); err != nil {
				w.log.Warn("backup summary not recorded", "backup_id", set.ID, "error", err, "hint", summaryRBACHint)
			}
			continue
		}
		if m.Cluster != set.Cluster || m.BackupID != set.ID {
			w.log.Warn("summary of a backup in storage not recorded: its manifest describes another set", "backup_id", set.ID, "describes", m.BackupID)
			continue
		}
		w.record(m)
	}
}
