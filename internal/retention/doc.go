// Package retention decides which backup sets a prune keeps. It is a pure
// function over (id, time, status): no storage, no catalog, no clock, so
// the rules can be tested exhaustively and printed by a dry run exactly as
// they will be applied.
//
// The rules follow restic's `forget`: sets are walked newest first; keep-last
// keeps the N newest, and each of keep-daily, keep-weekly and keep-monthly
// keeps the newest set of each of its N newest periods (days, ISO weeks,
// months, in UTC). Only complete sets count and are kept by a rule; failed,
// partial and corrupt (failed verification) sets are never a good backup
// and always go. Whatever the
// policy, the newest complete set is kept, so a prune can never leave a
// cluster without a backup.
package retention
