// Package lease is the one cluster lock that backups and restores of a
// cluster take, so that they exclude each other: a restore refuses while a
// backup runs and vice versa, and a second restore refuses while the first
// runs. With a catalog the lock is a catalog lease row; without one it
// is a lock object in storage. Either way it expires unless renewed, so a
// rerun after a crash proceeds once the dead holder's lock has expired.
//
// Hold takes the lock, renews it in the background, and hands back a
// context that is cancelled (with ErrLost as its cause) if the lock is
// lost, so the run stops instead of going on unprotected.
package lease
