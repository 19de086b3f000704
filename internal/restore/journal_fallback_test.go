package restore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// refusingStore is a store whose writes fail with err; reads find nothing.
type refusingStore struct {
	mu   sync.Mutex
	err  error
	puts int
}

func (s *refusingStore) Open(context.Context, string, int64) (io.ReadCloser, error) {
	return nil, fs.ErrNotExist
}

func (s *refusingStore) Put(_ context.Context, key string, r io.Reader) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	return &fs.PathError{Op: "open", Path: key, Err: s.err}
}

func TestFallbackJournal(t *testing.T) {
	plan := &RestorePlan{Cluster: "prod", BackupID: "20261125T133000Z-3f9c"}
	refused := func(err error) bool { return errors.Is(err, fs.ErrPermission) }
	tests := []struct {
		name     string
		err      error
		wantErr  bool
		wantWarn bool
		wantPuts int
	}{
		// A refused write turns the journal off once, with one warning,
		// and nothing more is attempted.
		{name: "a store that refuses writes", err: fs.ErrPermission, wantWarn: true, wantPuts: 1},
		// Any other failure is the restore's to report.
		{name: "a passing failure", err: errors.New("connection reset"), wantErr: true, wantPuts: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := &refusingStore{err: tt.err}
			var logs bytes.Buffer
			j := &FallbackJournal{
				Journal: &StoreJournal{Store: st, Cluster: "prod"}, Refused: refused, Where: "s3://backups/prod",
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			}
			var errs []error
			errs = append(errs, j.Begin(ctx, "r1", plan))
			errs = append(errs, j.SetShard(ctx, ShardProgress{Collection: "docs", ShardID: 0, Peer: 1, State: ShardRecovered}))
			errs = append(errs, j.Finish(ctx, StatusComplete, ""))
			for i, err := range errs {
				if (err != nil) != tt.wantErr {
					t.Errorf("write %d: error %v, want error: %v", i, err, tt.wantErr)
				}
			}
			if j.Disabled() != tt.wantWarn {
				t.Errorf("Disabled() = %v, want %v", j.Disabled(), tt.wantWarn)
			}
			warned := strings.Count(logs.String(), "level=WARN")
			if tt.wantWarn && (warned != 1 || !strings.Contains(logs.String(), "rerun of this restore starts over") || !strings.Contains(logs.String(), "s3://backups/prod")) {
				t.Errorf("want one warning naming the journal and that a rerun starts over, got:\n%s", logs.String())
			}
			if !tt.wantWarn && warned != 0 {
				t.Errorf("unexpected warning:\n%s", logs.String())
			}
			if st.puts != tt.wantPuts {
				t.Errorf("%d writes reached the store, want %d", st.puts, tt.wantPuts)
			}
		})
	}
}
