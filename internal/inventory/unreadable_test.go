package inventory

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// breakManifest replaces a set's manifest with a damaged one.
func breakManifest(t *testing.T, st storage.Backend, cluster, id, how string) {
	t.Helper()
	ctx := context.Background()
	key := manifest.ManifestKey(cluster, id)
	var body []byte
	switch how {
	case "truncated":
		r, err := st.Open(ctx, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
		r.Close()
		body = buf.Bytes()[:buf.Len()/2]
	case "newer format":
		body = []byte(`{"format_version": 99, "backup_id": "` + id + `", "cluster": "` + cluster + `"}`)
	default:
		t.Fatalf("unknown damage %q", how)
	}
	if err := st.Put(ctx, key, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

func TestOneUnreadableManifestIsOneRowAmongTheOthers(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMemory()
	putManifest(t, st, "prod", "20261101T000000Z-aaaa", false)
	putManifest(t, st, "prod", "20261102T000000Z-bbbb", false)
	putManifest(t, st, "prod", "20261103T000000Z-cccc", false)
	breakManifest(t, st, "prod", "20261102T000000Z-bbbb", "truncated")

	all, err := List(ctx, st, nil, "prod")
	if err != nil {
		t.Fatalf("List with one truncated manifest: %v", err)
	}
	var got []string
	for _, b := range all {
		got = append(got, b.BackupID+"="+b.Status)
	}
	want := "20261103T000000Z-cccc=complete 20261102T000000Z-bbbb=unreadable 20261101T000000Z-aaaa=complete"
	if strings.Join(got, " ") != want {
		t.Fatalf("rows %s\nwant %s", strings.Join(got, " "), want)
	}
	bad := all[1]
	if bad.Reason == "" || bad.ManifestKey != manifest.ManifestKey("prod", "20261102T000000Z-bbbb") || bad.StartedAt.IsZero() {
		t.Errorf("the unreadable row lacks its reason, manifest key or time: %+v", bad)
	}
}

// warnings collects the messages and attributes logged at warn level.
type warnings struct{ lines []string }

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	line := r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.Key + "=" + a.Value.String(); return true })
	w.lines = append(w.lines, line)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func TestLoadLatestSkipsUnreadableSets(t *testing.T) {
	const (
		oldest = "20261101T000000Z-aaaa"
		middle = "20261102T000000Z-bbbb"
		newest = "20261103T000000Z-cccc"
	)
	tests := []struct {
		name string
		// damage maps backup ids to how their manifest is damaged.
		damage map[string]string
		// idx, when set, is the catalog's view.
		idx         Index
		deleteFirst string // a manifest deleted from storage
		want        string
		wantSkipped []string
		wantErr     error
	}{
		{name: "the newest set truncated", damage: map[string]string{newest: "truncated"}, want: middle, wantSkipped: []string{newest}},
		{name: "the two newest unreadable", damage: map[string]string{newest: "truncated", middle: "newer format"}, want: oldest, wantSkipped: []string{newest, middle}},
		{name: "every set unreadable", damage: map[string]string{newest: "truncated", middle: "truncated", oldest: "newer format"}, wantErr: manifest.ErrCorrupt, wantSkipped: []string{newest, middle, oldest}},
		{name: "nothing damaged", want: newest},
		{
			name: "the catalog's newest complete set truncated in storage", damage: map[string]string{newest: "truncated"},
			idx: fakeIndex{
				{Cluster: "prod", BackupID: newest, Status: catalog.StatusComplete},
				{Cluster: "prod", BackupID: middle, Status: catalog.StatusComplete},
			},
			want: middle, wantSkipped: []string{newest},
		},
		{
			name: "the catalog's newest complete set deleted from storage", deleteFirst: newest,
			idx: fakeIndex{
				{Cluster: "prod", BackupID: newest, Status: catalog.StatusComplete},
				{Cluster: "prod", BackupID: middle, Status: catalog.StatusComplete},
			},
			want: middle, wantSkipped: []string{newest},
		},
		{
			name: "the catalog's only complete set deleted from storage", deleteFirst: newest,
			idx:     fakeIndex{{Cluster: "prod", BackupID: newest, Status: catalog.StatusComplete}},
			wantErr: ErrNoBackup, wantSkipped: []string{newest},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := storage.NewMemory()
			for _, id := range []string{oldest, middle, newest} {
				putManifest(t, st, "prod", id, false)
			}
			for id, how := range tt.damage {
				breakManifest(t, st, "prod", id, how)
			}
			if tt.deleteFirst != "" {
				if err := st.Delete(ctx, manifest.ManifestKey("prod", tt.deleteFirst)); err != nil {
					t.Fatal(err)
				}
			}
			w := &warnings{}
			m, err := LoadLatest(ctx, st, tt.idx, "prod", nil, slog.New(w))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, %v; want an error matching %v", m, err, tt.wantErr)
				}
			} else if err != nil || m.BackupID != tt.want {
				t.Fatalf("got %v, %v; want %s", m, err, tt.want)
			}
			if len(w.lines) != len(tt.wantSkipped) {
				t.Fatalf("warnings %q; want one per skipped set %v", w.lines, tt.wantSkipped)
			}
			for i, id := range tt.wantSkipped {
				if !strings.Contains(w.lines[i], "backup_id="+id) || !strings.Contains(w.lines[i], "reason=") {
					t.Errorf("warning %q does not name skipped set %s and why", w.lines[i], id)
				}
			}
		})
	}
}
