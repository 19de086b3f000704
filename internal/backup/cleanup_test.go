package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

// lateStore fails the Put of one shard object the way a cancelled S3 PUT
// can: the client sees an error, but the server had the whole body and
// stores the object anyway — here, right after the next listing.
type lateStore struct {
	*fakeStore
	mu      sync.Mutex
	lateKey string
	pending []byte
}

func (s *lateStore) Put(ctx context.Context, key string, r io.Reader) error {
	if !strings.HasSuffix(key, "/images/1.snapshot") {
		return s.fakeStore.Put(ctx, key, r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.lateKey, s.pending = key, b
	s.mu.Unlock()
	return errors.New("put: connection reset after the body was sent")
}

func (s *lateStore) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	err := s.fakeStore.List(ctx, prefix, fn)
	s.mu.Lock()
	key, b := s.lateKey, s.pending
	s.pending = nil
	s.mu.Unlock()
	if b != nil {
		if perr := s.fakeStore.Put(ctx, key, bytes.NewReader(b)); perr != nil {
			return perr
		}
	}
	return err
}

func TestRunFailureRemovesAnObjectStoredAfterItsUploadFailed(t *testing.T) {
	c := testCluster()
	store := &lateStore{fakeStore: newFakeStore()}
	cat := newFakeCatalog()
	_, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(c, store, cat))
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("error %v, want the failed upload", err)
	}
	assertNoSetObjects(t, store.fakeStore)
	assertFailedRow(t, cat, "prod")
}
