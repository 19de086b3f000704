package kube

import (
	"fmt"
	"io/fs"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/qbackup/qbackup/manifests"
)

// InstantiateAnnotation marks a Job created by hand from a CronJob, as
// `kubectl create job --from=cronjob/...` does, so tools that list a
// CronJob's runs can tell manual runs from scheduled ones.
const InstantiateAnnotation = "cronjob.kubernetes.io/instantiate"

// RestoreTemplate is the name of the restore Job template in manifests.FS.
const RestoreTemplate = "restore-job.yaml"

// timestamp is the suffix of generated Job names: sortable and unique per
// second, which is enough for Jobs an operator creates by hand.
func timestamp(now time.Time) string { return now.UTC().Format("20060102150405") }

// ManualJobName names a manual backup Job.
func ManualJobName(cronJob string, now time.Time) string {
	return cronJob + "-manual-" + timestamp(now)
}

// RestoreJobName names a restore Job after the backup it restores. The
// random suffix of the backup id is enough to tell backups apart in a
// name, and keeps it well under the 63 characters of a label value.
func RestoreJobName(backupID string, now time.Time) string {
	short := strings.ToLower(backupID)
	if i := strings.LastIndexByte(short, '-'); i >= 0 {
		short = short[i+1:]
	}
	return "qbackup-restore-" + short + "-" + timestamp(now)
}

var jobTypeMeta = metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}

// JobFromCronJob is the Job `kubectl create job name --from=cronjob/x`
// makes: the CronJob's jobTemplate, owned by the CronJob so it is listed
// (and garbage-collected) with the scheduled runs.
func JobFromCronJob(cj *batchv1.CronJob, name string) *batchv1.Job {
	annotations := map[string]string{InstantiateAnnotation: "manual"}
	for k, v := range cj.Spec.JobTemplate.Annotations {
		annotations[k] = v
	}
	var labels map[string]string
	if len(cj.Spec.JobTemplate.Labels) > 0 {
		labels = make(map[string]string, len(cj.Spec.JobTemplate.Labels))
		for k, v := range cj.Spec.JobTemplate.Labels {
			labels[k] = v
		}
	}
	controller := true
	return &batchv1.Job{
		TypeMeta: jobTypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   cj.Namespace,
			Labels:      labels,
			Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1",
				Kind:       "CronJob",
				Name:       cj.Name,
				UID:        cj.UID,
				Controller: &controller,
			}},
		},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy(),
	}
}

// RestoreArgs are the restore Job's container arguments.
type RestoreArgs struct {
	// BackupID is resolved ("latest" already turned into an id), so the
	// Job restores the backup whose plan was shown.
	BackupID string
	// Cluster is the backup's cluster: passed on so the Job reads the
	// backup the plugin read, whatever the ConfigMap's default.
	Cluster    string
	Plan       string
	TargetNode string
	Rename     []string
	Overwrite  bool
	// AllowNodeMismatch is passed on when the operator overrode the
	// plugin's node-count check: the Job checks again and would refuse.
	AllowNodeMismatch bool
}

// Args renders the qbackup command line of the restore Job.
func (a RestoreArgs) Args() []string {
	args := []string{"restore", a.BackupID}
	if a.Cluster != "" {
		args = append(args, "--cluster="+a.Cluster)
	}
	if a.Plan != "" && a.Plan != "auto" {
		args = append(args, "--plan="+a.Plan)
	}
	if a.TargetNode != "" {
		args = append(args, "--target-node="+a.TargetNode)
	}
	for _, r := range a.Rename {
		args = append(args, "--rename="+r)
	}
	if a.Overwrite {
		args = append(args, "--overwrite")
	}
	if a.AllowNodeMismatch {
		args = append(args, "--allow-node-mismatch")
	}
	return args
}

// ParseJob reads one Job manifest.
func ParseJob(data []byte) (*batchv1.Job, error) {
	var job batchv1.Job
	if err := yaml.UnmarshalStrict(data, &job); err != nil {
		return nil, fmt.Errorf("parse job manifest: %w", err)
	}
	if job.Kind != "Job" || len(job.Spec.Template.Spec.Containers) != 1 {
		return nil, fmt.Errorf("job manifest: want a Job with one container, got kind %q with %d containers", job.Kind, len(job.Spec.Template.Spec.Containers))
	}
	return &job, nil
}

// RestoreJob renders the restore Job from the template in fsys (normally
// manifests.FS): only the name, namespace and arguments change, so the
// identity, configuration (envFrom) and security settings are exactly the
// installed ones.
func RestoreJob(fsys fs.FS, namespace, name string, a RestoreArgs) (*batchv1.Job, error) {
	data, err := fs.ReadFile(fsys, RestoreTemplate)
	if err != nil {
		return nil, fmt.Errorf("restore job template: %w", err)
	}
	job, err := ParseJob(data)
	if err != nil {
		return nil, err
	}
	job.TypeMeta = jobTypeMeta
	job.Name, job.Namespace = name, namespace
	job.Spec.Template.Spec.Containers[0].Args = a.Args()
	return job, nil
}

// DefaultRestoreJob renders the restore Job from the embedded template.
func DefaultRestoreJob(namespace, name string, a RestoreArgs) (*batchv1.Job, error) {
	return RestoreJob(manifests.FS, namespace, name, a)
}

// JobYAML prints a Job as `kubectl ... -o yaml` would show it before
// creation.
func JobYAML(job *batchv1.Job) ([]byte, error) {
	j := job.DeepCopy()
	j.TypeMeta = jobTypeMeta
	return yaml.Marshal(j)
}
