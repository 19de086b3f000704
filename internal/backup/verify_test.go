package backup

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/verify"
)

func TestVerify(t *testing.T) {
	c := testCluster()
	store := newFakeStore()
	res, err := Run(context.Background(), Options{Cluster: "prod"}, testDeps(c, store, nil))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest

	t.Run("an intact set verifies", func(t *testing.T) {
		rep, err := verify.Run(context.Background(), store, m, nil)
		if err != nil || !rep.OK() || rep.Objects != m.ShardCount() || rep.Bytes != m.TotalSize() {
			t.Fatalf("report %+v, error %v", rep, err)
		}
	})
	t.Run("a changed object and a missing one are both named", func(t *testing.T) {
		changed := m.Collection("docs").Shards[0].Object
		data := slices.Clone(store.get(t, changed))
		data[100] ^= 0xff
		store.set(changed, data, time.Now())
		missing := m.Collection("images").Shards[1].Object
		if err := store.Delete(context.Background(), missing); err != nil {
			t.Fatal(err)
		}
		rep, err := verify.Run(context.Background(), store, m, nil)
		if !errors.Is(err, verify.ErrCorrupt) || len(rep.Bad) != 2 {
			t.Fatalf("report %+v, error %v", rep, err)
		}
		for _, k := range []string{changed, missing, "missing", "sha256"} {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("error does not mention %q: %v", k, err)
			}
		}
	})
}
