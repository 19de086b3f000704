package kube

import (
	"context"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// BackupCronJob is the installed scheduled backup; its configuration is
// the installation's.
const BackupCronJob = "qbackup"

// ErrNotInstalled: the namespace holds no qbackup installation.
var ErrNotInstalled = errors.New("qbackup is not installed")

// Installed is the configuration an installation's Jobs run with: the
// QBACKUP_* settings of the ConfigMaps (and literal env values) of the
// backup CronJob's qbackup container, in the order the kubelet applies
// them (later wins). Secrets are never read: the plugin does not need
// the job's credentials to know where its backups are.
type Installed struct {
	// Source names where the values came from, for messages:
	// "configmap/qbackup-config (via cronjob/qbackup)".
	Source string
	Values map[string]string
}

// ReadInstalled reads the installation in namespace ns. A namespace
// without the backup CronJob matches ErrNotInstalled.
func ReadInstalled(ctx context.Context, cs kubernetes.Interface, ns string) (*Installed, error) {
	cj, err := cs.BatchV1().CronJobs(ns).Get(ctx, BackupCronJob, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w in namespace %q (no cronjob/%s)", ErrNotInstalled, ns, BackupCronJob)
	}
	if err != nil {
		return nil, fmt.Errorf("read the installation in namespace %s: get cronjob/%s: %w", ns, BackupCronJob, err)
	}
	return readInstalled(ctx, cs, cj)
}

func readInstalled(ctx context.Context, cs kubernetes.Interface, cj *batchv1.CronJob) (*Installed, error) {
	containers := cj.Spec.JobTemplate.Spec.Template.Spec.Containers
	i, err := qbackupContainer(containers)
	if err != nil {
		return nil, fmt.Errorf("cronjob/%s in namespace %s: %w", cj.Name, cj.Namespace, err)
	}
	c := containers[i]
	in := &Installed{Values: map[string]string{}}
	for _, from := range c.EnvFrom {
		ref := from.ConfigMapRef
		if ref == nil {
			continue
		}
		cm, err := cs.CoreV1().ConfigMaps(cj.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && ref.Optional != nil && *ref.Optional {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read configmap/%s (configuration of cronjob/%s in namespace %s): %w", ref.Name, cj.Name, cj.Namespace, err)
		}
		for k, v := range cm.Data {
			in.Values[from.Prefix+k] = v
		}
		if in.Source == "" {
			in.Source = fmt.Sprintf("configmap/%s (via cronjob/%s)", ref.Name, cj.Name)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			in.Values[e.Name] = e.Value
		}
	}
	if in.Source == "" {
		in.Source = "cronjob/" + cj.Name
	}
	return in, nil
}
