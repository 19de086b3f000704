package rebalance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"testing"
)

// memStore is a Store in memory whose writes fail with putErr when set.
type memStore struct {
	objects map[string][]byte
	putErr  error
}

func (m *memStore) Open(_ context.Context, key string, _ int64) (io.ReadCloser, error) {
	b, ok := m.objects[key]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memStore) Put(_ context.Context, key string, r io.Reader) error {
	if m.putErr != nil {
		return m.putErr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.objects[key] = b
	return nil
}

var errRefused = errors.New("write refused")

func TestStoreJournalRoundTrip(t *testing.T) {
	ctx := context.Background()
	j := &StoreJournal{Store: &memStore{objects: map[string][]byte{}}, Cluster: "prod"}
	if rec, err := j.Load(ctx); rec != nil || err != nil {
		t.Fatalf("empty store: %v, %v", rec, err)
	}
	p, err := MakePlan(State{Cluster: "prod", Peers: peers(2), Collections: []Collection{coll("docs", 1, repeat(2, 1), nil)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Record{ID: "rb-1", Status: StatusRunning, Peers: []uint64{1, 2}, Plan: p, Done: []string{"docs"}}
	if err := j.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := j.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Status != want.Status || len(got.Plan.Collections) != 1 || got.Plan.Collections[0].Shards[1].Final[0] != 2 {
		t.Errorf("read back %+v, wrote %+v", got, want)
	}
}

// TestFallbackJournalGoesOnWithoutAStoreThatRefusesWrites: a refused
// write turns the journal off (later loads find nothing, saves do
// nothing); any other write error fails as it is.
func TestFallbackJournalGoesOnWithoutAStoreThatRefusesWrites(t *testing.T) {
	ctx := context.Background()
	refused := func(err error) bool { return errors.Is(err, errRefused) }
	store := &memStore{objects: map[string][]byte{}, putErr: errRefused}
	j := &FallbackJournal{Journal: &StoreJournal{Store: store, Cluster: "prod"}, Refused: refused, Logger: slog.New(slog.DiscardHandler)}
	if err := j.Save(ctx, &Record{ID: "rb-1"}); err != nil {
		t.Fatalf("a refused write failed the run: %v", err)
	}
	store.putErr = nil
	if err := j.Save(ctx, &Record{ID: "rb-1"}); err != nil || len(store.objects) != 0 {
		t.Errorf("the journal kept writing after a refusal: %v, %d objects", err, len(store.objects))
	}

	other := errors.New("disk on fire")
	j = &FallbackJournal{Journal: &StoreJournal{Store: &memStore{objects: map[string][]byte{}, putErr: other}, Cluster: "prod"}, Refused: refused}
	if err := j.Save(ctx, &Record{ID: "rb-1"}); !errors.Is(err, other) {
		t.Errorf("another write error gave %v, want it returned", err)
	}
}
