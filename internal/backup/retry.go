package backup

import (
	"context"
	"time"

	"github.com/qbackup/qbackup/internal/qdrant"
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
	var err error
	for attempt := 1; ; attempt++ {
		if err = fn(); err == nil || attempt >= startAttempts || !qdrant.IsTransient(err) {
			return err
		}
		t := time.NewTimer(time.Duration(attempt) * 500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
