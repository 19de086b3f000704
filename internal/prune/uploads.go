package prune

import (
	"context"
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
// uploads under the prune's prefix started longer than the orphan grace
// ago (every one with NoOrphanGrace), except those of a set whose run
// holds the storage lock. Like orphaned objects, an upload of a running
// backup is younger than the grace.
func (x *executor) abortStaleUploads(ctx context.Context) error {
	a, ok := x.store.(uploadAborter)
	if !ok {
		return nil
	}
	grace, now := x.opts.OrphanGrace, x.opts.Now
	n, err := a.AbortStaleUploads(ctx, x.prefix, func(key string, initiated time.Time) bool {
		parts := strings.SplitN(key, "/", 3)
		if len(parts) == 3 {
			if cluster, err := manifest.UnescapeName(parts[0]); err == nil && x.lockedSet(ctx, cluster) == parts[1] {
				return false
			}
		}
		return grace < 0 || now.Sub(initiated) >= grace
	})
	if n > 0 {
		x.log.Info("aborted incomplete uploads left by killed runs", "uploads", n)
	}
	return err
}
