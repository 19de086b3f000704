// Package architecture holds no code: its test checks the package tree's
// rules (who may import whom) on every `make test`, so a shortcut that
// breaks a boundary fails the build instead of surfacing in review.
package architecture
