// Package prune applies the retention policy to the sets in storage and
// the catalog, in three steps. Run gathers the facts: the backup sets
// storage holds (with what their manifests say), the catalog's rows, the
// live storage locks. Decide (plan.go) turns them, with the policy and
// the time, into a Plan — every set with its verdict (keep, remove,
// skip) and the reasons — as data: it reads nothing and changes nothing,
// so every decision is pinned by golden tests without storage or a
// catalog (the architecture test keeps plan.go pure). Run then carries
// the plan out: objects, stale multipart uploads, catalog rows.
package prune
