package backup

import (
	"context"
	"testing"
	"time"
)

func TestPruneOrphanGrace(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		grace time.Duration
		want  string
	}{
		{"no grace removes a fresh orphan at once", NoOrphanGrace, PruneRemove},
		{"the zero value keeps the default grace", 0, PruneSkip},
		{"a grace longer than the orphan's age keeps it", time.Hour, PruneSkip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			id := storedBackup(t, store, "prod", now.Add(-time.Minute), StatusFailed, now.Add(-time.Minute))
			rep, err := Prune(context.Background(), PruneOptions{Cluster: "prod", Now: now, OrphanGrace: tt.grace}, store, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Items) != 1 || rep.Items[0].BackupID != id || rep.Items[0].Action != tt.want {
				t.Fatalf("items %+v, want %s of %s", rep.Items, tt.want, id)
			}
		})
	}
}
