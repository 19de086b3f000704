// Package kube holds the logic of the kubectl plugin: rendering the Jobs it
// creates (a manual backup from the CronJob, a restore from the embedded
// template), counting the Qdrant pods a restore lands on, and the strategy
// those counts imply. The plugin creates objects; the Jobs do the work.
package kube
