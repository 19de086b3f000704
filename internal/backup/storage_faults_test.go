package backup

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
	"github.com/qbackup/qbackup/internal/verify"
)

func TestRunWithTheMemoryBackend(t *testing.T) {
	t.Run("a committed set verifies", func(t *testing.T) {
		store := storage.NewMemory()
		res, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(testCluster(), store, nil))
		if err != nil {
			t.Fatal(err)
		}
		m, err := manifest.Read(context.Background(), store, res.ManifestKey)
		if err != nil {
			t.Fatal(err)
		}
		if rep, err := verify.Run(context.Background(), store, m, nil); err != nil || rep.Objects != 8 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
	cases := []struct {
		name  string
		fault storage.Fault
	}{
		{"a shard upload failing half way fails the set and leaves nothing", storage.Fault{Op: storage.OpPut, Prefix: "prod/", After: 5000, Times: 1}},
		// "prod/2": the listing of the set (ids start with the year), not the
		// one of the stored-snapshot records the run also reads.
		{"a failing listing before the commit fails the set and leaves nothing", storage.Fault{Op: storage.OpList, Prefix: "prod/2", Times: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := storage.NewMemory()
			store.Inject(tc.fault)
			cat := newFakeCatalog()
			_, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(testCluster(), store, cat))
			if !errors.Is(err, storage.ErrInjected) {
				t.Fatalf("error %v does not carry the storage failure", err)
			}
			_ = store.List(context.Background(), "", func(o storage.ObjectInfo) error {
				t.Errorf("object left: %s", o.Key)
				return nil
			})
			assertFailedRow(t, cat, "prod")
		})
	}
}

func TestRunFailsCleanlyWhenTheManifestCannotBeWritten(t *testing.T) {
	store, cat := newFakeStore(), newFakeCatalog()
	store.putErr = func(key string) error {
		if strings.HasSuffix(key, manifest.ManifestName) {
			return errBoom
		}
		return nil
	}
	_, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(testCluster(), store, cat))
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "write manifest") {
		t.Fatalf("error %v", err)
	}
	assertNoSetObjects(t, store)
	assertFailedRow(t, cat, "prod")
}

func TestVerifyOnABackendResumesReadsAndChecksSizesFirst(t *testing.T) {
	store := storage.NewMemory()
	res, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(testCluster(), store, nil))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	// A connection dropping once mid-object is survived.
	store.Inject(storage.Fault{Op: storage.OpRead, Prefix: m.Collection("docs").Shards[0].Object, After: 1000, Times: 1})
	if _, err := verify.Run(context.Background(), store, m, nil); err != nil {
		t.Fatalf("verify with one dropped read: %v", err)
	}
	// A shortened object is reported by its size.
	short := m.Collection("images").Shards[0].Object
	if err := store.Put(context.Background(), short, strings.NewReader("too short")); err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Run(context.Background(), store, m, nil)
	if !errors.Is(err, verify.ErrCorrupt) || len(rep.Bad) != 1 || rep.Bad[0].Key != short || !strings.HasPrefix(rep.Bad[0].Problem, "size 9,") {
		t.Fatalf("report %+v, error %v", rep, err)
	}
}
