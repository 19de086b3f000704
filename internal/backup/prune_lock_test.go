package backup

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
)

// lockSet rewrites the manifest of a stored set with an object lock.
func lockSet(t *testing.T, store *fakeStore, cluster, id string, lock *manifest.ObjectLock, mod time.Time) {
	t.Helper()
	m, err := manifest.Read(context.Background(), store, manifest.ManifestKey(cluster, id))
	if err != nil {
		t.Fatal(err)
	}
	m.ObjectLock = lock
	b, err := manifest.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	store.set(manifest.ManifestKey(cluster, id), b, mod)
}

func TestPruneKeepsSetsUnderObjectLock(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		lock       *manifest.ObjectLock
		wantAction string
		wantReason string
	}{
		{name: "a set outside the policy without a lock is removed", wantAction: PruneRemove},
		{name: "a set outside the policy under a lock is kept, saying until when",
			lock:       &manifest.ObjectLock{Mode: "COMPLIANCE", RetainUntil: now.Add(time.Hour)},
			wantAction: PruneSkip, wantReason: "under object lock (COMPLIANCE) until 2026-11-25T13:00:00Z"},
		{name: "a set whose lock has expired is removed",
			lock:       &manifest.ObjectLock{Mode: "GOVERNANCE", RetainUntil: now.Add(-time.Second)},
			wantAction: PruneRemove},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			old := storedBackup(t, store, "prod", now.Add(-48*time.Hour), StatusComplete, now.Add(-48*time.Hour))
			newest := storedBackup(t, store, "prod", now.Add(-time.Hour), StatusComplete, now.Add(-time.Hour))
			if tt.lock != nil {
				lockSet(t, store, "prod", old, tt.lock, now.Add(-48*time.Hour))
			}
			rep, err := Prune(context.Background(), PruneOptions{Cluster: "prod", Now: now, KeepLast: 1}, store, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]PruneItem{}
			for _, it := range rep.Items {
				if _, dup := got[it.BackupID]; dup {
					t.Errorf("set %s reported twice", it.BackupID)
				}
				got[it.BackupID] = it
			}
			if got[newest].Action != PruneKeep {
				t.Errorf("newest set: %+v, want kept", got[newest])
			}
			it := got[old]
			if it.Action != tt.wantAction || !strings.Contains(strings.Join(it.Reasons, "; "), tt.wantReason) {
				t.Fatalf("old set: %+v, want %s with %q", it, tt.wantAction, tt.wantReason)
			}
			_, err = manifest.Read(context.Background(), store, manifest.ManifestKey("prod", old))
			if stillThere := err == nil; stillThere != (tt.wantAction == PruneSkip) {
				t.Fatalf("old set's manifest present: %v, want %v", stillThere, tt.wantAction == PruneSkip)
			}
		})
	}
}
