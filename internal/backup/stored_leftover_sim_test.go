package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

var errKilled = errors.New("the process was killed")

// dyingPeer behaves like a peer of a run that gets killed: downloads hang
// until the run ends and deletions never happen (the process is gone
// before its cleanup). On the peers of hangCreate the create call itself
// is cut: Qdrant makes the snapshot but the run never learns its name.
type dyingPeer struct {
	Peer
	hangCreate bool
	created    func()
}

func (p dyingPeer) CreateShardSnapshot(ctx context.Context, collection string, shard uint32) (*qdrant.SnapshotDescription, error) {
	d, err := p.Peer.CreateShardSnapshot(ctx, collection, shard)
	p.created()
	if err != nil || !p.hangCreate {
		return d, err
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (p dyingPeer) DownloadShardSnapshot(ctx context.Context, collection string, shard uint32, name string, offset int64) (io.ReadCloser, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (p dyingPeer) DeleteShardSnapshot(context.Context, string, uint32, string) error {
	return errKilled
}

// TestTheNextBackupDeletesStoredSnapshotsAKilledOneLeft: a stored backup
// killed after its snapshots were created leaves them on the peers, and
// the next backup (streamed here) deletes every one of them — also the
// snapshot whose create call was cut before Qdrant named it — and their
// records, while snapshots the tool did not make stay.
func TestTheNextBackupDeletesStoredSnapshotsAKilledOneLeft(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	env := startSim(t, "1.19.0")
	ctx := context.Background()
	var ids []uint64
	for id := range env.clients {
		ids = append(ids, id)
	}

	// An operator's own shard snapshot, made well before: not ours.
	var operatorPeer uint64
	var operatorSnap string
	for id, c := range env.clients {
		cc, err := c.CollectionCluster(ctx, "images")
		if err != nil || len(cc.LocalShards) == 0 {
			continue
		}
		d, err := c.CreateShardSnapshot(ctx, "images", cc.LocalShards[0].ShardID)
		if err != nil {
			t.Fatal(err)
		}
		operatorPeer, operatorSnap = id, d.Name
		break
	}
	if operatorSnap == "" {
		t.Fatal("no peer holds a shard of images")
	}
	time.Sleep(1100 * time.Millisecond) // the run's snapshots get later seconds

	var mu sync.Mutex
	created := 0
	dying := map[uint64]Peer{}
	for i, id := range ids {
		dying[id] = dyingPeer{Peer: env.clients[id], hangCreate: i == 0, created: func() {
			mu.Lock()
			created++
			mu.Unlock()
		}}
	}
	store, cat := newFakeStore(), newFakeCatalog()
	deps := env.deps(store, cat)
	deps.Peers = dying
	runCtx, kill := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := Run(runCtx, Options{Cluster: "sim", SnapshotMethod: manifest.MethodStored, Concurrency: 16, PerPeerConcurrency: 8}, deps)
		done <- err
	}()
	const shards = 8 // docs 3, images 2, tenants 3
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := created
		mu.Unlock()
		if n == shards {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d snapshots created", n, shards)
		}
		time.Sleep(10 * time.Millisecond)
	}
	kill()
	if err := <-done; err == nil {
		t.Fatal("the killed run succeeded")
	}
	left := snapshotsOnPeers(t, env)
	if len(left) != shards+1 {
		t.Fatalf("after the kill the peers hold %d snapshots, want %d: %v", len(left), shards+1, left)
	}
	if recs := storedRecordKeys(store); len(recs) != shards {
		t.Fatalf("%d records of stored snapshots, want %d: %v", len(recs), shards, recs)
	}

	if _, err := Run(ctx, Options{Cluster: "sim"}, env.deps(store, cat)); err != nil {
		t.Fatal(err)
	}
	left = snapshotsOnPeers(t, env)
	if len(left) != 1 || !strings.HasSuffix(left[0], "/"+operatorSnap) {
		t.Errorf("after the next backup the peers hold %v, want only the operator's %s on peer %d", left, operatorSnap, operatorPeer)
	}
	if recs := storedRecordKeys(store); len(recs) != 0 {
		t.Errorf("records left: %v", recs)
	}
}

// snapshotsOnPeers lists every stored shard snapshot on every peer as
// "peer/collection/shard/name".
func snapshotsOnPeers(t *testing.T, env *simEnv) []string {
	t.Helper()
	var out []string
	for id, c := range env.clients {
		for _, coll := range []string{"docs", "images", "tenants"} {
			cc, err := c.CollectionCluster(context.Background(), coll)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range cc.LocalShards {
				list, err := c.ListShardSnapshots(context.Background(), coll, s.ShardID)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range list {
					out = append(out, fmt.Sprintf("%d/%s/%d/%s", id, coll, s.ShardID, d.Name))
				}
			}
		}
	}
	return out
}

func storedRecordKeys(store *fakeStore) []string {
	var out []string
	for _, k := range store.keys() {
		if strings.HasPrefix(k, manifest.StoredSnapshotsPrefix("sim")) {
			out = append(out, k)
		}
	}
	return out
}
