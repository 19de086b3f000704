package verify

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/inventory/inventorytest"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// openOnly hides Stat, so Run reads the object to learn its size.
type openOnly struct{ *storage.Memory }

func TestRun(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		damage  func(store *storage.Memory, obj string)
		problem string // "" for an intact set
	}{
		{name: "an intact set verifies"},
		{name: "a changed object is named with its checksum",
			damage: func(s *storage.Memory, obj string) {
				r, _ := s.Open(context.Background(), obj, 0)
				data, _ := io.ReadAll(r)
				data[0] ^= 0xff
				s.PutAt(obj, data, at)
			},
			problem: "sha256"},
		{name: "a missing object is named",
			damage:  func(s *storage.Memory, obj string) { _ = s.Delete(context.Background(), obj) },
			problem: "missing"},
		{name: "a short object fails on its size",
			damage:  func(s *storage.Memory, obj string) { s.PutAt(obj, []byte("short"), at) },
			problem: "size 5,"},
	}
	for _, tt := range tests {
		for _, statted := range []bool{true, false} {
			t.Run(tt.name, func(t *testing.T) {
				store := storage.NewMemory()
				id := inventorytest.WriteSet(t, store, "prod", at, catalog.StatusComplete, at)
				m, err := manifest.Read(context.Background(), store, manifest.ManifestKey("prod", id))
				if err != nil {
					t.Fatal(err)
				}
				obj := m.Collections[0].Shards[0].Object
				if tt.damage != nil {
					tt.damage(store, obj)
				}
				var s Store = store
				if !statted {
					s = openOnly{store}
				}
				rep, err := Run(context.Background(), s, m, nil)
				if tt.problem == "" {
					if err != nil || !rep.OK() || rep.Objects != 1 || rep.Bytes != m.TotalSize() {
						t.Fatalf("report %+v, error %v", rep, err)
					}
					return
				}
				if !errors.Is(err, ErrCorrupt) || len(rep.Bad) != 1 || !strings.Contains(rep.Bad[0].Problem, tt.problem) || !strings.Contains(err.Error(), obj) {
					t.Fatalf("report %+v, error %v; want %s named", rep, err, tt.problem)
				}
			})
		}
	}
}
