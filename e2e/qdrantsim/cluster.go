package qdrantsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"
)

// Options configure a simulated cluster. Zero values give a 3-peer 1.19.0
// cluster on 127.0.0.2.. with free ports and fast background timers.
type Options struct {
	// Peers is the number of peers (default 3).
	Peers int
	// Version is the emulated Qdrant version, e.g. "1.15.0" (default "1.19.0").
	Version string
	// BindBase is the address of peer 0; peer i gets BindBase+i
	// (default 127.0.0.2). Distinct simulators on fixed ports need distinct
	// bases; with port 0 they can share one.
	BindBase string
	// HTTPPort and GRPCPort are used by every peer on its own address;
	// 0 picks a free port per peer.
	HTTPPort, GRPCPort int
	// APIKey enables authentication; ReadOnlyAPIKey may only read.
	APIKey, ReadOnlyAPIKey string
	// TLS serves REST and gRPC over TLS with this server configuration,
	// as Qdrant does with service.enable_tls (config/config.yaml: one
	// certificate for both ports; src/actix/mod.rs and src/tonic/mod.rs);
	// URL() is then https. A client certificate policy applies to both
	// ports, where Qdrant checks one on REST only
	// (service.verify_https_client_certificate, src/actix/mod.rs): a
	// client that passes here sends its certificate on both.
	TLS *tls.Config
	// StateDir holds stored snapshots (peer-<id>/snapshots/...). Empty means a
	// temporary directory removed by Close.
	StateDir string
	// Seed drives every random choice (peer ids, placement, segment ids,
	// consensus delays); 0 picks one, reported by Cluster.Seed.
	Seed uint64
	// Tick is the period of the background loop that detects down peers,
	// finishes transfers and starts automatic recovery (default 50ms).
	Tick time.Duration
	// TransferDelay is how long a shard transfer stays in progress
	// (default 200ms), so that Partial/Recovery states can be observed.
	// Set, it also keeps a realism profile from rating transfers by bytes.
	TransferDelay time.Duration
	// PeerDownDelay is how long after a peer stops its replicas turn Dead
	// in consensus (default 300ms).
	PeerDownDelay time.Duration
	// AutoRecoveryDelay is how long a replica stays Dead before a running
	// peer starts re-syncing it from an Active one (default 200ms).
	AutoRecoveryDelay time.Duration
	// DisableSnapshotURLRecovery emulates service.enable_snapshot_url_recovery
	// = false (1.18+): recovery from http(s) locations is forbidden.
	DisableSnapshotURLRecovery bool
	// StreamIdleTimeout aborts a streaming shard snapshot whose client has
	// not read for this long; from 1.18.2 Qdrant does so after 5 minutes
	// (the default there), older versions never (the option is ignored).
	StreamIdleTimeout time.Duration
	// DiskCapacity is every peer's disk size in bytes (0: unlimited);
	// Peer.SetDiskCapacity changes one peer's (disk.go).
	DiskCapacity int64
	// MaxRequestSizeMB is service.max_request_size_mb: the largest JSON
	// body the REST API accepts (default 32).
	MaxRequestSizeMB int
	// ApproximateCounts makes counts behave as Qdrant's (counts.go):
	// updates sent with wait=false become visible after UpdateApplyDelay
	// and non-exact filtered counts are cardinality estimates.
	ApproximateCounts bool
	// UpdateApplyDelay is how long the update worker takes to apply a
	// wait=false update with ApproximateCounts (default 20ms).
	UpdateApplyDelay time.Duration
	// WriteLoad starts live writes at Start (writeload.go).
	WriteLoad WriteLoad
	// Logger receives background events; nil discards them.
	Logger *slog.Logger

	// Realism selects a profile: "off" (cluster changes apply at once,
	// transfers take TransferDelay), "default" or "harsh" (see realism.go).
	// Empty means $QDRANTSIM_REALISM, else "off". The fields below override
	// the profile when set.
	Realism string
	// ConsensusDelayMin and ConsensusDelayMax bound the random delay after
	// which each peer applies a committed cluster change. Both 0 (and
	// realism off) means peers apply at once.
	ConsensusDelayMin, ConsensusDelayMax time.Duration
	// TransferRate (bytes/s) makes a shard transfer last its bytes divided
	// by the rate; 0 (and realism off) means a fixed TransferDelay.
	TransferRate int64
	// OutOfOrder is the probability that a peer applies a recover-related
	// replica state proposal before the previous one of the same recovery.
	OutOfOrder float64
	// ConsensusTimeout is how long a call waits for a lost proposal before
	// failing as Qdrant's does (default 10s, Qdrant's default wait).
	ConsensusTimeout time.Duration
	// ReshardingEnabled is Qdrant's cluster.resharding_enabled
	// (src/settings.rs): without it start_resharding is refused as in
	// open-source Qdrant ("resharding is only supported in Qdrant Cloud");
	// with it the resharding API works as on a cluster that offers it
	// (resharding.go).
	ReshardingEnabled bool
	// PeerRate caps the snapshot bytes each peer streams, serves and
	// receives, in bytes per second over all its requests together
	// (peerrate.go); 0 is unlimited. It stands for one machine's disk and
	// network, so benchmarks on one host see parallelism across peers.
	PeerRate int64
}

// Cluster is a running simulated Qdrant cluster. All consensus state and
// every peer's local data are guarded by mu: the simulator favours obvious
// correctness over parallelism; long operations (snapshot streaming,
// downloads) copy what they need and run unlocked.
type Cluster struct {
	opts     Options
	ver      version
	log      *slog.Logger
	stateDir string
	ownsDir  bool

	mu        sync.Mutex
	rng       *rand.Rand
	peers     []*Peer
	colls     map[string]*collection
	aliases   map[string]string
	transfers []*transfer
	commit    uint64
	nextAddr  netip.Addr
	closed    bool
	// wl is the live write load (writeload.go).
	wl writeLoadState

	seed     uint64
	delayRng *rand.Rand
	// last is the committed metadata as of commit, the state a lost
	// proposal rolls back to.
	last        *metaView
	dropNext    int
	dropped     int
	transferred int64
	// recoverGroup numbers shard recoveries, whose state proposals the
	// harsh profile may reorder.
	recoverGroup uint64

	stop chan struct{}
	wg   sync.WaitGroup
	// started is when the cluster started (telemetry's app.startup).
	started time.Time
}

// Start builds a cluster and starts every peer's listeners.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Peers == 0 {
		opts.Peers = 3
	}
	if opts.Peers < 1 {
		return nil, fmt.Errorf("qdrantsim: peers must be at least 1, got %d", opts.Peers)
	}
	ver, err := parseVersion(opts.Version)
	if err != nil {
		return nil, fmt.Errorf("qdrantsim: %w", err)
	}
	opts.Version = ver.text
	if opts.BindBase == "" {
		opts.BindBase = "127.0.0.2"
	}
	base, err := netip.ParseAddr(opts.BindBase)
	if err != nil || !base.Is4() {
		return nil, fmt.Errorf("qdrantsim: bind base %q: want an IPv4 address", opts.BindBase)
	}
	if opts.MaxRequestSizeMB <= 0 {
		opts.MaxRequestSizeMB = defaultMaxRequestSizeMB
	}
	setDefault(&opts.UpdateApplyDelay, defaultUpdateApplyDelay)
	if err := applyRealism(&opts); err != nil {
		return nil, fmt.Errorf("qdrantsim: %w", err)
	}
	setDefault(&opts.Tick, 50*time.Millisecond)
	setDefault(&opts.ConsensusTimeout, 10*time.Second)
	setDefault(&opts.TransferDelay, 200*time.Millisecond)
	setDefault(&opts.PeerDownDelay, 300*time.Millisecond)
	setDefault(&opts.AutoRecoveryDelay, 200*time.Millisecond)
	if !ver.hasStreamIdleTimeout() {
		opts.StreamIdleTimeout = 0
	} else if opts.StreamIdleTimeout == 0 {
		opts.StreamIdleTimeout = 5 * time.Minute
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	// Keep the effective seed: the write load draws from it too.
	opts.Seed = seed
	c := &Cluster{
		started: time.Now(),
		opts:    opts,
		ver:     ver,
		log:     logger,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		seed:    seed,
		// Delays use their own stream so that placement and ids stay the
		// same for a seed whatever the realism.
		delayRng: rand.New(rand.NewPCG(seed^0x5851f42d4c957f2d, seed)),
		colls:    map[string]*collection{},
		aliases:  map[string]string{},
		nextAddr: base,
		stop:     make(chan struct{}),
	}
	c.last = c.snapshotLocked()
	if opts.StateDir == "" {
		dir, err := os.MkdirTemp("", "qdrantsim-")
		if err != nil {
			return nil, fmt.Errorf("qdrantsim: state dir: %w", err)
		}
		c.stateDir, c.ownsDir = dir, true
	} else {
		c.stateDir = opts.StateDir
	}
	for i := 0; i < opts.Peers; i++ {
		if _, err := c.AddPeer(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.wg.Add(1)
	go c.loop()
	if opts.WriteLoad.Rate > 0 {
		c.SetWriteLoad(opts.WriteLoad)
	}
	return c, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Version is the emulated Qdrant version.
func (c *Cluster) Version() string { return c.ver.text }

// Peers returns the peers currently in consensus, in join order.
func (c *Cluster) Peers() []*Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Peer(nil), c.peers...)
}

// Peer returns the peer with the given id, or nil.
func (c *Cluster) Peer(id uint64) *Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerLocked(id)
}

func (c *Cluster) peerLocked(id uint64) *Peer {
	for _, p := range c.peers {
		if p.id == id {
			return p
		}
	}
	return nil
}

// AddPeer creates a new empty peer, joins it to consensus and starts it.
func (c *Cluster) AddPeer(ctx context.Context) (*Peer, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("qdrantsim: cluster closed")
	}
	// Peer ids stay below 2^53 so that JSON consumers using doubles
	// do not lose precision (Qdrant's ids look like 3766212330831337).
	id := c.rng.Uint64() >> 11
	for id == 0 || c.peerLocked(id) != nil {
		id = c.rng.Uint64() >> 11
	}
	addr := c.nextAddr
	c.nextAddr = addr.Next()
	p := &Peer{c: c, id: id, addr: addr.String(), httpPort: c.opts.HTTPPort, grpcPort: c.opts.GRPCPort,
		data: map[string]map[uint32]*replicaData{}, disk: diskState{capacity: c.opts.DiskCapacity},
		rate: newPeerRate(c.opts.PeerRate)}
	p.view.applied = c.last
	c.peers = append(c.peers, p)
	c.commitLocked(proposal{what: "add peer"})
	c.mu.Unlock()
	if err := os.MkdirAll(p.snapshotRoot(), 0o755); err != nil {
		return nil, fmt.Errorf("qdrantsim: peer %d: %w", id, err)
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// RemovePeer stops a peer, deletes its data and removes it from consensus
// together with its replicas, like a scaled-down StatefulSet whose peer was
// then removed from the cluster. Running transfers touching it are dropped.
func (c *Cluster) RemovePeer(id uint64) error {
	p := c.Peer(id)
	if p == nil {
		return fmt.Errorf("qdrantsim: peer %d does not exist", id)
	}
	p.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, q := range c.peers {
		if q == p {
			c.peers = append(c.peers[:i], c.peers[i+1:]...)
			break
		}
	}
	for _, col := range c.colls {
		// Removing the resharding's peer aborts it
		// (tests/consensus_tests/test_resharding.py
		// test_resharding_abort_on_remove_peer).
		if r := col.resharding; r != nil && r.peer == id && r.stage < stageReadHashRingCommitted {
			if err := c.abortReshardingLocked(col); err != nil {
				c.log.Warn("resharding not aborted with its peer", "collection", col.name, "err", err)
			}
		}
		for _, s := range col.shards {
			delete(s.replicas, id)
		}
	}
	kept := c.transfers[:0]
	for _, t := range c.transfers {
		if t.from != id && t.to != id {
			kept = append(kept, t)
		}
	}
	c.transfers = kept
	p.data = map[string]map[uint32]*replicaData{}
	c.commitLocked(proposal{what: "remove peer"})
	return os.RemoveAll(p.dir())
}

// Close stops every peer and the background loop, and removes the state
// directory if the cluster created it.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	peers := append([]*Peer(nil), c.peers...)
	c.mu.Unlock()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	for _, p := range peers {
		p.Stop()
	}
	c.wg.Wait()
	if c.ownsDir {
		return os.RemoveAll(c.stateDir)
	}
	return nil
}

// sortedPeerIDs returns the ids of peers in consensus, ascending.
func (c *Cluster) sortedPeerIDs() []uint64 {
	ids := make([]uint64, 0, len(c.peers))
	for _, p := range c.peers {
		ids = append(ids, p.id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// newUUID returns a random-looking UUID from the cluster's generator.
func (c *Cluster) newUUID() string {
	id := PointID{IsUUID: true}
	for i := range id.UUID {
		id.UUID[i] = byte(c.rng.Uint32())
	}
	id.UUID[6] = id.UUID[6]&0x0f | 0x40
	id.UUID[8] = id.UUID[8]&0x3f | 0x80
	return id.String()
}
