// Package manifests holds qbackup's base Kubernetes resources. They are
// embedded so the kubectl plugin renders exactly the Jobs that the
// installed manifests describe.
package manifests

import "embed"

// FS holds every manifest of the base, e.g. "restore-job.yaml" (the
// restore Job template) and "cronjob.yaml" (the scheduled backup).
//
//go:embed *.yaml
var FS embed.FS
