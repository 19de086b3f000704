// Package kube is the kubectl plugin's side of Kubernetes: it renders the
// Jobs the plugin creates (a manual backup from the CronJob, a restore
// from the embedded template) and reads what they land on (the Qdrant
// pods a restore goes to, and the strategy their count implies). The
// plugin creates objects; the Jobs do the work.
package kube
