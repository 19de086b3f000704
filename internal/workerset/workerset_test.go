package workerset

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

func keys(t *testing.T, s *storage.Memory) []string {
	t.Helper()
	var out []string
	if err := s.List(context.Background(), "", func(o storage.ObjectInfo) error { out = append(out, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRecords(t *testing.T) {
	ctx := context.Background()
	s := storage.NewMemory()
	key := PlanKey("prod", "uid-1")
	if key != "prod/.sets/uid-1/plan.json" || PartKey("prod", "uid-1", 2) != "prod/.sets/uid-1/parts/2.json" ||
		WorkerFailedKey("prod", "uid-1", 0) != "prod/.sets/uid-1/failed/0.json" {
		t.Fatalf("keys moved: %s", key)
	}
	if err := Put(ctx, s, key, Plan{Format: Format, BackupID: "20261207T060000Z-0001"}, true); err != nil {
		t.Fatal(err)
	}
	if err := Put(ctx, s, key, Plan{Format: Format}, true); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	var p Plan
	if err := Read(ctx, s, key, &p); err != nil || p.BackupID != "20261207T060000Z-0001" {
		t.Fatalf("read back %+v %v", p, err)
	}
	if err := Put(ctx, s, key, map[string]int{"format": Format + 1}, false); err != nil {
		t.Fatal(err)
	}
	if err := Read(ctx, s, key, &p); err == nil || !strings.Contains(err.Error(), "upgrade qbackup in every worker") {
		t.Fatalf("a newer format: %v", err)
	}
	if err := Read(ctx, s, CommitKey("prod", "uid-1"), &p); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing record: %v", err)
	}
	for name, want := range map[string]int{"0.json": 0, "12.json": 12, "x.json": -1, "1.jsonx": -1, "-1.json": -1} {
		w, ok := WorkerOf(name)
		if (want < 0) == ok || (ok && w != want) {
			t.Errorf("WorkerOf(%q) = %d, %t; want %d", name, w, ok, want)
		}
	}
	for id, ok := range map[string]bool{"3f6e1c2a-9b1d-4c7e-8f00-1a2b3c4d5e6f": true, "qbackup-manual-1": true, "": false, "a/b": false, "-x": false, strings.Repeat("a", 129): false} {
		if ValidSetID(id) != ok {
			t.Errorf("ValidSetID(%q) = %t", id, !ok)
		}
	}
}

// TestPrune: records go once their newest is older than the grace, a
// committed set's note included; a set whose backup holds the storage
// lock stays; a dry run removes nothing; other clusters' keys and
// anything not a set's record stay.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	cases := []struct {
		name  string
		setup func(t *testing.T, s *storage.Memory)
		opts  PruneOptions
		left  []string
	}{
		{"a set never committed, past the grace", func(t *testing.T, s *storage.Memory) {
			put(t, s, PlanKey("prod", "a"), Plan{Format: Format, BackupID: "20261207T060000Z-0001"})
			put(t, s, PartKey("prod", "a", 1), Part{Format: Format})
		}, PruneOptions{Now: now.Add(2 * time.Hour), Grace: time.Hour}, nil},
		{"within the grace", func(t *testing.T, s *storage.Memory) {
			put(t, s, PlanKey("prod", "a"), Plan{Format: Format, BackupID: "20261207T060000Z-0001"})
		}, PruneOptions{Now: now, Grace: time.Hour}, []string{"prod/.sets/a/plan.json"}},
		{"a committed set's note, no grace", func(t *testing.T, s *storage.Memory) {
			put(t, s, CommitKey("prod", "a"), Commit{Format: Format, BackupID: "20261207T060000Z-0001", Committed: true})
			if err := s.Put(ctx, manifest.ManifestKey("prod", "20261207T060000Z-0001"), strings.NewReader("{}")); err != nil {
				t.Fatal(err)
			}
		}, PruneOptions{Now: now, Grace: -1}, []string{"prod/20261207T060000Z-0001/manifest.json"}},
		{"its worker 0 holds the storage lock", func(t *testing.T, s *storage.Memory) {
			put(t, s, PlanKey("prod", "a"), Plan{Format: Format, BackupID: "20261207T060000Z-0001"})
			put(t, s, manifest.LockKey("prod"), lease.Record{Holder: "pod-0", BackupID: "20261207T060000Z-0001", Expires: now.Add(time.Minute)})
		}, PruneOptions{Now: now, Grace: -1}, []string{"prod/.locks/backup.json", "prod/.sets/a/plan.json"}},
		{"a restore set whose worker 0 holds the lock", func(t *testing.T, s *storage.Memory) {
			put(t, s, PlanKey("prod", "r"), Plan{Format: Format, Kind: KindRestore, BackupID: "20261207T060000Z-0001", Holder: "restore-0"})
			put(t, s, manifest.LockKey("prod"), lease.Record{Holder: "restore-0", Expires: now.Add(time.Minute)})
		}, PruneOptions{Now: now, Grace: -1}, []string{"prod/.locks/backup.json", "prod/.sets/r/plan.json"}},
		{"a restore set of a committed backup, its worker 0 gone", func(t *testing.T, s *storage.Memory) {
			// The restored backup's manifest exists: that does not make
			// the restore set committed.
			put(t, s, PlanKey("prod", "r"), Plan{Format: Format, Kind: KindRestore, BackupID: "20261207T060000Z-0001", Holder: "restore-0"})
			put(t, s, PartKey("prod", "r", 1), Part{Format: Format})
			if err := s.Put(ctx, manifest.ManifestKey("prod", "20261207T060000Z-0001"), strings.NewReader("{}")); err != nil {
				t.Fatal(err)
			}
		}, PruneOptions{Now: now.Add(2 * time.Hour), Grace: time.Hour}, []string{"prod/20261207T060000Z-0001/manifest.json"}},
		{"a dry run", func(t *testing.T, s *storage.Memory) {
			put(t, s, PlanKey("prod", "a"), Plan{Format: Format, BackupID: "20261207T060000Z-0001"})
		}, PruneOptions{Now: now, Grace: -1, DryRun: true}, []string{"prod/.sets/a/plan.json"}},
		{"one cluster only", func(t *testing.T, s *storage.Memory) {
			put(t, s, PlanKey("prod", "a"), Plan{Format: Format})
			put(t, s, PlanKey("staging", "b"), Plan{Format: Format})
		}, PruneOptions{Prefix: manifest.ClusterPrefix("prod"), Now: now, Grace: -1}, []string{"staging/.sets/b/plan.json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := storage.NewMemory()
			tc.setup(t, s)
			if err := Prune(ctx, s, tc.opts); err != nil {
				t.Fatal(err)
			}
			if got := keys(t, s); !slices.Equal(got, tc.left) {
				t.Fatalf("left %v, want %v", got, tc.left)
			}
		})
	}
}

func put(t *testing.T, s *storage.Memory, key string, v any) {
	t.Helper()
	if err := Put(context.Background(), s, key, v, false); err != nil {
		t.Fatal(err)
	}
}

func TestWaitPause(t *testing.T) {
	for _, tc := range []struct {
		poll, waited, want time.Duration
	}{
		{2 * time.Second, 0, 100 * time.Millisecond},
		{2 * time.Second, 200 * time.Millisecond, 100 * time.Millisecond},
		{2 * time.Second, 2 * time.Second, 500 * time.Millisecond},
		{2 * time.Second, time.Minute, 2 * time.Second},
		{10 * time.Millisecond, 0, 10 * time.Millisecond},
		{10 * time.Millisecond, time.Second, 10 * time.Millisecond},
	} {
		if got := waitPause(tc.poll, tc.waited); got != tc.want {
			t.Errorf("waitPause(%s, %s) = %s, want %s", tc.poll, tc.waited, got, tc.want)
		}
	}
}
