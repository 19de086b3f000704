// Package manifests holds qbackup's base Kubernetes resources, the base of
// every kustomize overlay. They are embedded so tests check the shipped
// files themselves; the plugin reads what is installed in the cluster.
package manifests

import "embed"

// FS holds every manifest of the base, e.g. "restore-template.yaml" (the
// restore Job template, a suspended CronJob) and "cronjob.yaml" (the
// scheduled backup).
//
//go:embed *.yaml
var FS embed.FS
