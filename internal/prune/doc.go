// Package prune decides what a prune removes: given the backup sets
// storage holds (with what their manifests say), the catalog's rows,
// the live storage locks, the retention policy and the time, Decide
// returns a Plan — every set with its verdict (keep, remove, skip) and the
// reasons — as data. It reads nothing and changes nothing: the backup
// engine gathers the facts and carries the plan out, so every decision
// can be pinned by golden tests without storage or a catalog.
package prune
