package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/backup"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/restore"
)

const (
	benchPeers      = 3
	benchCollection = "bulk"
)

// config is the data set of a run, read from the environment.
type config struct {
	shardMiB      []int64
	shardsPerPeer int
	dir           string
}

func loadConfig(b *testing.B) config {
	b.Helper()
	cfg := config{shardMiB: []int64{64, 128}, shardsPerPeer: 2}
	if v := os.Getenv("QBACKUP_BENCH_SHARD_MIB"); v != "" {
		cfg.shardMiB = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || n <= 0 {
				b.Fatalf("QBACKUP_BENCH_SHARD_MIB=%q: want a comma-separated list of positive sizes in MiB", v)
			}
			cfg.shardMiB = append(cfg.shardMiB, n)
		}
	}
	if v := os.Getenv("QBACKUP_BENCH_SHARDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("QBACKUP_BENCH_SHARDS=%q: want a positive number", v)
		}
		cfg.shardsPerPeer = n
	}
	cfg.dir = os.Getenv("QBACKUP_BENCH_DIR")
	if cfg.dir == "" {
		// The file store goes to tmpfs when there is one: the benchmark is
		// about the tool and the peers, not about this machine's disk.
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			cfg.dir = "/dev/shm"
		}
	}
	return cfg
}

func (c config) shards() int { return benchPeers * c.shardsPerPeer }

// tempDir is a directory under cfg.dir (or the test temp dir) removed when
// the benchmark ends.
func (c config) tempDir(b *testing.B) string {
	b.Helper()
	if c.dir == "" {
		return b.TempDir()
	}
	d, err := os.MkdirTemp(c.dir, "qbackup-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// cluster is a simulated Qdrant cluster discovered as the command does it,
// with the product's client for every peer.
type cluster struct {
	sim     *qdrantsim.Cluster
	topo    *discovery.Topology
	clients map[uint64]*qdrant.Client
	// urls maps peer id → REST base URL.
	urls map[uint64]string
	stop func()
}

func startCluster(b *testing.B, seed uint64) *cluster {
	b.Helper()
	ctx := context.Background()
	sim, err := qdrantsim.Start(ctx, qdrantsim.Options{Peers: benchPeers, Seed: seed, Tick: 10 * time.Millisecond,
		TransferDelay: 20 * time.Millisecond, AutoRecoveryDelay: 20 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	c := &cluster{sim: sim, clients: map[uint64]*qdrant.Client{}, urls: map[uint64]string{}}
	byURL := map[string]*qdrant.Client{}
	var mu sync.Mutex
	c.stop = sync.OnceFunc(func() {
		for _, cl := range byURL {
			cl.Close()
		}
		sim.Close()
	})
	b.Cleanup(c.stop)
	dial := func(addr qdrant.PeerAddr) (discovery.ClusterReader, error) {
		mu.Lock()
		defer mu.Unlock()
		if cl, ok := byURL[addr.REST]; ok {
			return cl, nil
		}
		cl, err := qdrant.New(ctx, addr, qdrant.Options{Logger: quiet()})
		if err != nil {
			return nil, err
		}
		byURL[addr.REST] = cl
		return cl, nil
	}
	var urls []string
	for _, p := range sim.Peers() {
		urls = append(urls, p.URL()+"?grpc="+p.GRPCAddr())
	}
	c.topo, err = discovery.Discover(ctx, &discovery.Static{URLs: urls}, dial, discovery.Options{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range c.topo.Peers {
		c.clients[p.ID] = byURL[p.Addr.REST]
		c.urls[p.ID] = p.Addr.REST
	}
	return c
}

func (c *cluster) any() *qdrant.Client { return c.clients[c.topo.Peers[0].ID] }

// createCollection creates the benchmark collection, one replica per shard.
func (c *cluster) createCollection(b *testing.B, shards int) {
	b.Helper()
	body := fmt.Sprintf(`{"vectors":{"size":4,"distance":"Dot"},"shard_number":%d,"replication_factor":1}`, shards)
	if err := c.any().CreateCollection(context.Background(), benchCollection, json.RawMessage(body)); err != nil {
		b.Fatal(err)
	}
}

// fill gives every shard size bytes of synthetic content.
func (c *cluster) fill(b *testing.B, shards int, size int64) {
	b.Helper()
	for id := range shards {
		if err := c.sim.SetSyntheticShard(context.Background(), benchCollection, uint32(id), size, uint64(id)+1); err != nil {
			b.Fatal(err)
		}
	}
}

// placement maps shard id → the peer holding its only replica.
func (c *cluster) placement(b *testing.B) map[uint32]uint64 {
	b.Helper()
	cc, err := c.any().CollectionCluster(context.Background(), benchCollection)
	if err != nil {
		b.Fatal(err)
	}
	out := map[uint32]uint64{}
	for _, r := range cc.Replicas() {
		out[r.ShardID] = r.PeerID
	}
	return out
}

func (c *cluster) peers() map[uint64]backup.Peer {
	out := map[uint64]backup.Peer{}
	for id, cl := range c.clients {
		out[id] = cl
	}
	return out
}

func (c *cluster) restorePeers() map[uint64]restore.Peer {
	out := map[uint64]restore.Peer{}
	for id, cl := range c.clients {
		out[id] = cl
	}
	return out
}

// close stops the cluster and its clients now rather than when the
// benchmark ends, so that iterations do not pile up peers.
func (c *cluster) close() { c.stop() }

// removeAll removes dir/name.
func removeAll(dir, name string) error { return os.RemoveAll(filepath.Join(dir, name)) }
