// Package scenarios runs the real qbackup binary end to end: built once,
// started as a subprocess with flags and a controlled environment, against
// simulated Qdrant clusters on loopback, MinIO or file:// storage, the
// MariaDB catalog and the test Kubernetes API server.
//
// Every scenario asserts the exit code, the message on stderr and the state
// afterwards (objects in storage, catalog rows, the cluster). The tests
// carry the integration build tag and need the test stack:
//
//	make stack-up
//	source "$(e2e/stack/stack.sh env-file)"
//	go test -tags integration ./e2e/scenarios/ -run 'TestBackup/…'
package scenarios
