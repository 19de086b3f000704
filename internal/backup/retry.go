package backup

import (
	"context"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/retry"
)

// startAttempts bounds the attempts to start one shard snapshot (open the
// stream, or create the stored snapshot) when the peer answers with a
// transient error (503 shard unavailable, 429, 5xx, a reset connection).
// Nothing has been read yet at that point, so a retry is safe; once bytes
// flow a stream cannot be resumed and the set fails instead.
const startAttempts = 3

// retryStart calls fn until it succeeds, fails permanently, or the
// attempts are used up, waiting a little longer each time.
func retryStart(ctx context.Context, fn func() error) error {
	return retry.Do(ctx, retry.Policy{Attempts: startAttempts, Base: 500 * time.Millisecond, Retryable: qdrant.IsTransient},
		func(context.Context) error { return fn() })
}
