package restore

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// A recorded strict mode must not refuse the restore's own scroll pages
// and upserts: collections are created with strict mode off, a rerun
// turns it off again, and the recorded settings are applied last.
func TestStrictModeIsAppliedAfterTheRestore(t *testing.T) {
	strict := map[string]any{"enabled": true, "max_query_limit": 10.0, "upsert_max_batchsize": 10.0, "read_rate_limit": nil}
	// applied is strict as Qdrant keeps it: the null is "not set".
	applied := map[string]any{"enabled": true, "max_query_limit": 10.0, "upsert_max_batchsize": 10.0}
	for _, rerun := range []bool{false, true} {
		name := "a fresh restore"
		if rerun {
			name = "a rerun after an earlier run applied strict mode"
		}
		t.Run(name, func(t *testing.T) {
			store := newMemStore()
			m := makeBackup(t, store, 2, "1.19.0", spec{name: "docs", shards: 2, rf: 1, perShard: 40, strict: strict})
			f := newFakeCluster(peerIDs(2), "1.19.0")
			j := &StoreJournal{Store: store, Cluster: m.Cluster}
			// The fresh restore reshards: its point copy scrolls and
			// upserts pages larger than the strict limits.
			opts := PlanOptions{Shards: 3}
			from := 0
			if rerun {
				opts = PlanOptions{}
				f.failUpload["docs/1"] = fakeFailure{n: 100, status: http.StatusServiceUnavailable}
				if _, err := runOnto(t, m, f, store, j, opts); err == nil {
					t.Fatal("first run succeeded with a shard that cannot be recovered")
				}
				f.failUpload = map[string]fakeFailure{}
				body, _ := json.Marshal(map[string]any{"strict_mode_config": applied})
				if err := (&fakePeer{f: f, id: f.peers[0]}).UpdateCollection(context.Background(), "docs", body); err != nil {
					t.Fatal(err)
				}
				from = len(f.mutations)
			}
			plan, _, err := restoreOnto(t, m, f, store, &StoreJournal{Store: store, Cluster: m.Cluster}, opts)
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			if rerun {
				ran := f.mutations[from:]
				off := slices.Index(ran, `update collection docs {"strict_mode_config":{"enabled":false}}`)
				first := slices.IndexFunc(ran, func(m string) bool { return strings.HasPrefix(m, "recover") })
				if off < 0 || first < 0 || off > first {
					t.Errorf("the rerun did not turn strict mode off before recovering: %q", ran)
				}
			}
			checkRestored(t, plan, f, store)
			if got := f.colls["docs"].strict; !reflect.DeepEqual(got, applied) {
				t.Errorf("strict mode after the restore %v, want %v", got, applied)
			}
		})
	}
}
