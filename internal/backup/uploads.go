package backup

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
)

// uploadAborter is a store with incomplete multipart uploads (S3): a run
// killed in the middle of an upload leaves one behind, invisible to
// listings.
type uploadAborter interface {
	AbortStaleUploads(ctx context.Context, prefix string, stale func(key string, initiated time.Time) bool) (int, error)
}

// abortStaleUploads aborts, in stores that have them, the incomplete
// uploads under prefix started longer than grace ago (every one with
// NoOrphanGrace), except those of a set whose run holds the storage lock
// (lockedSet gives the id of that set per cluster, "" for none). Like
// orphaned objects, an upload of a running backup is younger than the
// grace.
func abortStaleUploads(ctx context.Context, store Store, prefix string, now time.Time, grace time.Duration, lockedSet func(cluster string) string, log *slog.Logger) error {
	a, ok := store.(uploadAborter)
	if !ok {
		return nil
	}
	n, err := a.AbortStaleUploads(ctx, prefix, func(key string, initiated time.Time) bool {
		parts := strings.SplitN(key, "/", 3)
		if len(parts) == 3 {
			if cluster, err := manifest.UnescapeName(parts[0]); err == nil && lockedSet(cluster) == parts[1] {
				return false
			}
		}
		return grace < 0 || now.Sub(initiated) >= grace
	})
	if n > 0 {
		log.Info("aborted incomplete uploads left by killed runs", "uploads", n)
	}
	return err
}
