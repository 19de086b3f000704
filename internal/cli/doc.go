// Package cli holds what the qbackup command and the kubectl plugin share
// beyond their flags: the exit codes and the mapping of domain errors to
// them, and the read side of the backup store (storage plus the optional
// catalog). Both binaries exit with the same code for the same failure.
package cli
