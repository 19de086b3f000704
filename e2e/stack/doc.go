// Package stack holds the real test stack: stack.sh builds (cached) and
// runs etcd, kube-apiserver, kube-controller-manager, MinIO and a private
// MariaDB on loopback, and writes an env file that `make test` sources.
//
// Its integration tests (build tag integration) prove that each service is
// real and does what qbackup relies on: controllers turn Jobs and CronJobs
// into Pods, RBAC refuses what a Role does not grant, MinIO takes checksummed
// multipart uploads, and a conditional UPDATE decides a lease race. Tests
// elsewhere reach the services through package stacktest.
package stack
