package kube

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Summaries reads and writes the backup summaries of one namespace: the
// Jobs record (Put, SetVerified) and remove (Delete, Reconcile) them, the
// plugin reads them (List, Get).
type Summaries struct {
	cs kubernetes.Interface
	ns string
}

// NewSummaries returns the summaries of namespace ns.
func NewSummaries(cs kubernetes.Interface, ns string) *Summaries {
	return &Summaries{cs: cs, ns: ns}
}

// Namespace is where the summaries are.
func (s *Summaries) Namespace() string { return s.ns }

// SummaryConfigMap is the ConfigMap that holds sum; it encodes sum
// within MaxSummaryBytes.
func SummaryConfigMap(sum *SetSummary) (*corev1.ConfigMap, error) {
	b, err := sum.Encode()
	if err != nil {
		return nil, err
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: SummaryName(sum.Cluster, sum.BackupID),
			Labels: map[string]string{
				"app.kubernetes.io/name": "qbackup",
				ManagedByLabel:           ManagedBy,
				ComponentLabel:           SummaryComponent,
				ClusterLabel:             ClusterLabelValue(sum.Cluster),
				BackupIDLabel:            sum.BackupID,
			},
		},
		Data: map[string]string{SummaryKey: string(b)},
	}, nil
}

// Put records sum, creating its ConfigMap or replacing the one there.
func (s *Summaries) Put(ctx context.Context, sum *SetSummary) error {
	cm, err := SummaryConfigMap(sum)
	if err != nil {
		return err
	}
	api := s.cs.CoreV1().ConfigMaps(s.ns)
	_, err = api.Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := api.Get(ctx, cm.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Labels, cur.Data = cm.Labels, cm.Data
			_, err = api.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("record the summary of backup %s in configmap/%s of namespace %s: %w", sum.BackupID, cm.Name, s.ns, err)
	}
	return nil
}

// Get reads the summary of one set; found is false when it has none.
func (s *Summaries) Get(ctx context.Context, cluster, backupID string) (sum *SetSummary, found bool, err error) {
	name := SummaryName(cluster, backupID)
	cm, err := s.cs.CoreV1().ConfigMaps(s.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read the summary of backup %s (configmap/%s in namespace %s): %w", backupID, name, s.ns, err)
	}
	sum, err = DecodeSummary([]byte(cm.Data[SummaryKey]))
	if err != nil {
		return nil, false, fmt.Errorf("configmap/%s in namespace %s: %w", name, s.ns, err)
	}
	if sum.Cluster != cluster || sum.BackupID != backupID {
		return nil, false, fmt.Errorf("configmap/%s in namespace %s holds backup %s of cluster %q, not %s of %q", name, s.ns, sum.BackupID, sum.Cluster, backupID, cluster)
	}
	return sum, true, nil
}

// Unreadable is a summary ConfigMap List could not decode.
type Unreadable struct {
	ConfigMap string
	Err       error
}

// List returns the summaries of cluster ("" for every cluster), newest
// first. ConfigMaps that do not decode (a newer format, an edit by hand)
// are returned apart, so one bad object does not hide the others.
func (s *Summaries) List(ctx context.Context, cluster string) ([]SetSummary, []Unreadable, error) {
	sel := SummarySelector
	if cluster != "" {
		sel += "," + ClusterLabel + "=" + ClusterLabelValue(cluster)
	}
	list, err := s.cs.CoreV1().ConfigMaps(s.ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, nil, fmt.Errorf("list backup summaries (configmaps -l %s) in namespace %s: %w", sel, s.ns, err)
	}
	var out []SetSummary
	var bad []Unreadable
	for _, cm := range list.Items {
		sum, err := DecodeSummary([]byte(cm.Data[SummaryKey]))
		if err != nil {
			bad = append(bad, Unreadable{ConfigMap: cm.Name, Err: err})
			continue
		}
		if cluster != "" && sum.Cluster != cluster {
			continue // another cluster whose name hashes to the same label
		}
		out = append(out, *sum)
	}
	slices.SortFunc(out, func(a, b SetSummary) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.BackupID, a.BackupID), cmp.Compare(a.Cluster, b.Cluster))
	})
	return out, bad, nil
}

// Delete removes the summary of one set; one already gone is no error.
func (s *Summaries) Delete(ctx context.Context, cluster, backupID string) error {
	name := SummaryName(cluster, backupID)
	err := s.cs.CoreV1().ConfigMaps(s.ns).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the summary of backup %s (configmap/%s in namespace %s): %w", backupID, name, s.ns, err)
	}
	return nil
}

// SetVerified records a verification result in the summary of a set
// that has one; found is false otherwise.
func (s *Summaries) SetVerified(ctx context.Context, cluster, backupID, status, detail string, at metav1.Time) (found bool, err error) {
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		name := SummaryName(cluster, backupID)
		cm, err := s.cs.CoreV1().ConfigMaps(s.ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		sum, err := DecodeSummary([]byte(cm.Data[SummaryKey]))
		if err != nil {
			return err
		}
		sum.VerifyStatus, sum.VerifyDetail, sum.VerifiedAt, sum.UpdatedAt = status, detail, at.UTC(), at.UTC()
		b, err := sum.Encode()
		if err != nil {
			return err
		}
		cm.Data[SummaryKey] = string(b)
		_, err = s.cs.CoreV1().ConfigMaps(s.ns).Update(ctx, cm, metav1.UpdateOptions{})
		found = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record the verification of backup %s in its summary (namespace %s): %w", backupID, s.ns, err)
	}
	return found, nil
}

// Reconcile deletes the summaries of cluster ("" for every cluster) in
// the store at location that keep does not keep (those whose set exists
// no more), and returns the backup ids it deleted. Summaries of other
// stores are left alone: two installations may share a namespace.
func (s *Summaries) Reconcile(ctx context.Context, cluster, location string, keep func(*SetSummary) bool) ([]string, error) {
	all, _, err := s.List(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var gone []string
	for i := range all {
		sum := &all[i]
		if sum.StorageLocation != "" && location != "" && sum.StorageLocation != location {
			continue
		}
		if keep(sum) {
			continue
		}
		if err := s.Delete(ctx, sum.Cluster, sum.BackupID); err != nil {
			return gone, err
		}
		gone = append(gone, sum.BackupID)
	}
	return gone, nil
}
