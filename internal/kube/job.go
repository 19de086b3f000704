package kube

import (
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// InstantiateAnnotation marks a Job created by hand from a CronJob, as
// `kubectl create job --from=cronjob/...` does, so tools that list a
// CronJob's runs can tell manual runs from scheduled ones.
const InstantiateAnnotation = "cronjob.kubernetes.io/instantiate"

// RestoreTemplate is the suspended CronJob whose jobTemplate restore Jobs
// are made from (manifests/restore-template.yaml).
const RestoreTemplate = "qbackup-restore"

// TemplateAnnotation on a restore Job names the template it was made from.
const TemplateAnnotation = "qbackup.io/template"

// PlanAnnotation on a restore or rebalance Job records the plan the
// plugin previewed and the counts it saw (backup pods, Ready pods,
// Qdrant's peers), so the Job's own plan can be compared with it.
const PlanAnnotation = "qbackup.io/previewed-plan"

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
	labels := copyMap(cj.Spec.JobTemplate.Labels)
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
	// Shards is passed on as --shards when set (a count, auto or keep);
	// unset, the Job follows the installation's QBACKUP_SHARDS.
	Shards string
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
	if a.Shards != "" {
		args = append(args, "--shards="+a.Shards)
	}
	if a.AllowNodeMismatch {
		args = append(args, "--allow-node-mismatch")
	}
	return args
}

// RestoreJobFromTemplate makes the restore Job from the installed
// template (the suspended CronJob RestoreTemplate): its jobTemplate as the
// overlay patched it — image, resources, labels, identity, configuration,
// security settings — with only the name and the qbackup container's
// arguments set. Unlike a manual backup the Job is not owned by the
// template: deleting or reinstalling the template must not take the record
// of a restore with it.
func RestoreJobFromTemplate(tpl *batchv1.CronJob, name string, a RestoreArgs) (*batchv1.Job, error) {
	return jobFromTemplate(tpl, name, a.Args())
}

// jobFromTemplate is a Job of the restore template running qbackup with
// args.
func jobFromTemplate(tpl *batchv1.CronJob, name string, args []string) (*batchv1.Job, error) {
	spec := tpl.Spec.JobTemplate.Spec.DeepCopy()
	i, err := qbackupContainer(spec.Template.Spec.Containers)
	if err != nil {
		return nil, fmt.Errorf("restore template cronjob/%s: %w", tpl.Name, err)
	}
	spec.Template.Spec.Containers[i].Args = args
	job := &batchv1.Job{
		TypeMeta: jobTypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   tpl.Namespace,
			Labels:      copyMap(tpl.Spec.JobTemplate.Labels),
			Annotations: copyMap(tpl.Spec.JobTemplate.Annotations),
		},
		Spec: *spec,
	}
	if job.Annotations == nil {
		job.Annotations = map[string]string{}
	}
	job.Annotations[TemplateAnnotation] = "cronjob/" + tpl.Name
	return job, nil
}

// RebalanceComponent is the component label of a rebalance Job.
const RebalanceComponent = "rebalance"

// RebalanceArgs are the rebalance Job's container arguments.
type RebalanceArgs struct {
	Collections       []string
	ReplicationFactor uint32
	// AllowNodeMismatch is passed on when the operator overrode the
	// plugin's node-count check.
	AllowNodeMismatch bool
	// Shards is --shards (a count, auto or keep; empty: keep) and
	// WritesPaused --writes-paused.
	Shards       string
	WritesPaused bool
}

// Args renders the qbackup command line of the rebalance Job.
func (a RebalanceArgs) Args() []string {
	args := []string{"rebalance"}
	if len(a.Collections) > 0 {
		args = append(args, "--collections="+strings.Join(a.Collections, ","))
	}
	if a.ReplicationFactor > 0 {
		args = append(args, fmt.Sprintf("--replication-factor=%d", a.ReplicationFactor))
	}
	if a.Shards != "" && a.Shards != "keep" {
		args = append(args, "--shards="+a.Shards)
	}
	if a.WritesPaused {
		args = append(args, "--writes-paused")
	}
	if a.AllowNodeMismatch {
		args = append(args, "--allow-node-mismatch")
	}
	return args
}

// RebalanceJobName names a rebalance Job after the time it was made.
func RebalanceJobName(now time.Time) string { return "qbackup-rebalance-" + timestamp(now) }

// RebalanceJobFromTemplate makes the rebalance Job from the installed
// restore template, as a restore Job is made (same image, configuration,
// identity and failure policy: a rebalance changes the live cluster as a
// restore does, and is rerun by the operator, resuming from its journal),
// labelled as a rebalance.
func RebalanceJobFromTemplate(tpl *batchv1.CronJob, name string, a RebalanceArgs) (*batchv1.Job, error) {
	job, err := jobFromTemplate(tpl, name, a.Args())
	if err != nil {
		return nil, err
	}
	if job.Labels == nil {
		job.Labels = map[string]string{}
	}
	job.Labels[ComponentLabel] = RebalanceComponent
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	job.Spec.Template.Labels[ComponentLabel] = RebalanceComponent
	return job, nil
}

// qbackupContainer finds the container that runs qbackup: the only one,
// or the one named "qbackup" when an overlay added sidecars.
func qbackupContainer(cs []corev1.Container) (int, error) {
	if len(cs) == 1 {
		return 0, nil
	}
	for i, c := range cs {
		if c.Name == "qbackup" {
			return i, nil
		}
	}
	return 0, fmt.Errorf("want one container, or one named qbackup, among %d", len(cs))
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// JobYAML prints a Job as `kubectl ... -o yaml` would show it before
// creation.
func JobYAML(job *batchv1.Job) ([]byte, error) {
	j := job.DeepCopy()
	j.TypeMeta = jobTypeMeta
	return yaml.Marshal(j)
}

// VerifyComponent is the component label of a verify Job.
const VerifyComponent = "verify"

// VerifyJobFromCronJob makes a Job that runs `qbackup verify BACKUP`
// with the backup CronJob's configuration (its image, settings, secrets
// and failure policy, so a corrupt set, exit 5, fails at once), owned by
// the CronJob like a manual backup. It is labelled as a verify Job, and
// named after the backup as a restore Job is.
func VerifyJobFromCronJob(cj *batchv1.CronJob, backupID string, now time.Time) (*batchv1.Job, error) {
	name := "qbackup-verify-" + strings.TrimPrefix(RestoreJobName(backupID, now), "qbackup-restore-")
	job := JobFromCronJob(cj, name)
	i, err := qbackupContainer(job.Spec.Template.Spec.Containers)
	if err != nil {
		return nil, fmt.Errorf("cronjob %s: %w", cj.Name, err)
	}
	job.Spec.Template.Spec.Containers[i].Args = []string{"verify", backupID}
	if job.Labels == nil {
		job.Labels = map[string]string{}
	}
	job.Labels[ComponentLabel] = VerifyComponent
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	job.Spec.Template.Labels[ComponentLabel] = VerifyComponent
	return job, nil
}
