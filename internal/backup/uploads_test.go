package backup

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// uploadStore is a store with incomplete multipart uploads, as S3 has.
type uploadStore struct {
	*fakeStore
	uploads map[string]time.Time // key → initiated
}

func (s *uploadStore) AbortStaleUploads(ctx context.Context, prefix string, stale func(string, time.Time) bool) (int, error) {
	n := 0
	for k, at := range s.uploads {
		if strings.HasPrefix(k, prefix) && stale(k, at) {
			delete(s.uploads, k)
			n++
		}
	}
	return n, nil
}

// TestPruneAbortsUploadsKilledRunsLeft: prune aborts the incomplete
// uploads older than the orphan grace (all of them with no grace), never
// those of the set whose run holds the storage lock.
func TestPruneAbortsUploadsKilledRunsLeft(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	const running = "20261206T115900Z-bbbb"
	cases := []struct {
		name  string
		grace time.Duration
		left  []string
	}{
		{"the default grace keeps young uploads", 0, []string{"prod/20261206T110000Z-cccc/docs/0.snapshot", "prod/" + running + "/docs/0.snapshot"}},
		{"no grace aborts all but the running set's", NoOrphanGrace, []string{"prod/" + running + "/docs/0.snapshot"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := &uploadStore{fakeStore: newFakeStore(), uploads: map[string]time.Time{
				"prod/20261201T000000Z-aaaa/docs/0.snapshot": now.Add(-5 * 24 * time.Hour),
				"prod/20261206T110000Z-cccc/docs/0.snapshot": now.Add(-time.Hour),
				"prod/" + running + "/docs/0.snapshot":       now.Add(-time.Minute),
			}}
			lock := `{"holder":"pod","backup_id":"` + running + `","since":"2026-12-06T11:59:00Z","expires":"2026-12-06T12:01:00Z","token":"t"}`
			if err := store.Put(context.Background(), "prod/.locks/backup.json", strings.NewReader(lock)); err != nil {
				t.Fatal(err)
			}
			if _, err := Prune(context.Background(), PruneOptions{Cluster: "prod", Now: now, OrphanGrace: c.grace}, store, nil); err != nil {
				t.Fatal(err)
			}
			var left []string
			for k := range store.uploads {
				left = append(left, k)
			}
			slices.Sort(left)
			if !slices.Equal(left, c.left) {
				t.Errorf("uploads left %v, want %v", left, c.left)
			}
		})
	}
}
