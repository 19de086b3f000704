package restore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPreflightRefusesWithoutChangingAnything(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fakeCluster, store *memStore, plan *RestorePlan)
		opts  PreflightOptions
		want  error
	}{
		{
			name: "a corrupted object is refused",
			setup: func(t *testing.T, f *fakeCluster, store *memStore, plan *RestorePlan) {
				key := plan.Collections[0].Shards[1].Object
				store.objects[key][10] ^= 0xff
			},
			want: ErrObjectChecksum,
		},
		{
			name: "a truncated object is refused",
			setup: func(t *testing.T, f *fakeCluster, store *memStore, plan *RestorePlan) {
				key := plan.Collections[0].Shards[0].Object
				store.objects[key] = store.objects[key][:5]
			},
			want: ErrObjectSize,
		},
		{
			name: "a missing object is refused",
			setup: func(t *testing.T, f *fakeCluster, store *memStore, plan *RestorePlan) {
				delete(store.objects, plan.Collections[0].Shards[0].Object)
			},
			want: ErrObjectMissing,
		},
		{
			name: "an existing target collection is refused",
			setup: func(t *testing.T, f *fakeCluster, store *memStore, plan *RestorePlan) {
				createLive(t, f, "docs")
			},
			want: ErrCollectionExists,
		},
		{
			name: "a target older than the backup is refused",
			setup: func(t *testing.T, f *fakeCluster, store *memStore, plan *RestorePlan) {
				f.version[202] = "1.18.3"
			},
			want: ErrTargetTooOld,
		},
		{
			name: "a transfer in progress is refused",
			setup: func(t *testing.T, f *fakeCluster, store *memStore, plan *RestorePlan) {
				createLive(t, f, "live")
				if err := (&fakePeer{f: f, id: 201}).ReplicateShard(context.Background(), "live", 0, f.colls["live"].anyPeer(0), 999); err != nil {
					t.Fatal(err)
				}
				f.transferPolls = 1 << 30
			},
			want: ErrTransferInProgress,
		},
		{
			name: "a peer whose consensus stopped is refused",
			setup: func(t *testing.T, f *fakeCluster, store *memStore, plan *RestorePlan) {
				f.consensus = "stopped"
			},
			want: ErrPeerNotReady,
		},
		{
			name: "a pod that is not Ready is refused",
			opts: PreflightOptions{NotReady: []string{"qdrant-2 (Pending)"}},
			want: ErrPeerNotReady,
		},
		{
			name: "a peer in consensus without a pod is refused",
			setup: func(t *testing.T, f *fakeCluster, store *memStore, plan *RestorePlan) {
				f.hiddenPeers = []uint64{299}
			},
			want: ErrNodeCount,
		},
		{
			name: "fewer Ready pods than planned peers are refused",
			opts: PreflightOptions{ReadyPods: 3},
			want: ErrNodeCount,
		},
		{
			name: "a presigned transfer of compressed objects is refused",
			opts: PreflightOptions{Transfer: TransferPresigned},
			want: ErrInvalidOptions,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newMemStore()
			m := makeBackup(t, store, 2, "1.19.0", spec{name: "docs", shards: 2, rf: 1, zstd: true})
			f := newFakeCluster(peerIDs(2), "1.19.0")
			plan, err := Plan(m, targetOf(f, podNames(2)), PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(t, f, store, plan)
			}
			before := slices.Clone(f.mutations)
			deps := Deps{Peers: f.clients(), Store: store, Journal: &StoreJournal{Store: store, Cluster: m.Cluster}, Logger: quietLogger()}
			_, err = Preflight(context.Background(), plan, deps, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Preflight error = %v, want %v", err, tt.want)
			}
			if !slices.Equal(f.mutations, before) {
				t.Errorf("preflight changed the cluster: %q", f.mutations[len(before):])
			}
			if journals := store.keys(m.Cluster + "/.restores/"); len(journals) > 0 {
				t.Errorf("preflight wrote %v", journals)
			}
		})
	}
}

func TestPreflightWarnsAboutAVersionGap(t *testing.T) {
	store := newMemStore()
	m := makeBackup(t, store, 1, "1.15.2", spec{name: "docs", shards: 1, rf: 1})
	f := newFakeCluster(peerIDs(1), "1.19.0")
	plan, err := Plan(m, targetOf(f, podNames(1)), PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Preflight(context.Background(), plan, Deps{Peers: f.clients(), Store: store, Logger: quietLogger()}, PreflightOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "more than one minor version") }) {
		t.Errorf("no version gap warning in %q", rep.Warnings)
	}
}

func createLive(t *testing.T, f *fakeCluster, name string) {
	t.Helper()
	if err := (&fakePeer{f: f, id: f.peers[0]}).CreateCollection(context.Background(), name, []byte(`{"vectors":{"size":2,"distance":"Dot"},"shard_number":1}`)); err != nil {
		t.Fatal(err)
	}
}

func (c *fakeColl) anyPeer(shard uint32) uint64 {
	for p := range c.shards[shard].replicas {
		return p
	}
	return 0
}
