package qdrantsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Peer is one simulated Qdrant node. Its methods behave as if the request
// had been received by this peer.
type Peer struct {
	c    *Cluster
	id   uint64
	addr string

	// life serialises Start and Stop.
	life     sync.Mutex
	httpPort int
	grpcPort int
	srv      *http.Server
	cancel   context.CancelFunc
	done     chan struct{}

	// Guarded by c.mu.
	running   bool
	stoppedAt time.Time
	data      map[string]map[uint32]*replicaData
	// lock is the 1.15 write lock this peer received (locks.go).
	lock lockState
	// disk is the peer's disk accounting (disk.go).
	disk diskState
	// recoveries serialises snapshot recoveries per shard from 1.19
	// (versionswitch.go).
	recoveries shardLocks
	// partialLocks are the shards' partial snapshot recovery locks
	// (partial_snapshots.go).
	partialLocks shardLocks
	// sizeCaches are the collections' size statistics by collection
	// uuid (strict_size.go); guarded by c.mu.
	sizeCaches map[string]*sizeStatsCache
	view       peerView

	faults faultSet
	// recoverMu serialises collection snapshot recoveries on this peer.
	recoverMu sync.Mutex
	// rate paces snapshot bytes in and out (Options.PeerRate).
	rate *peerRate
}

// ID is the peer id as shown by GET /cluster.
func (p *Peer) ID() uint64 { return p.id }

// Addr is the loopback address the peer listens on.
func (p *Peer) Addr() string { return p.addr }

// URL is the REST base URL, e.g. http://127.0.0.2:6333.
func (p *Peer) URL() string {
	p.life.Lock()
	defer p.life.Unlock()
	scheme := "http://"
	if p.c.opts.TLS != nil {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(p.addr, strconv.Itoa(p.httpPort))
}

// withALPN is cfg offering one application protocol: gRPC clients insist
// on negotiating h2.
func withALPN(cfg *tls.Config, proto string) *tls.Config {
	c := cfg.Clone()
	c.NextProtos = []string{proto}
	return c
}

// GRPCAddr is host:port of the gRPC listener.
func (p *Peer) GRPCAddr() string {
	p.life.Lock()
	defer p.life.Unlock()
	return net.JoinHostPort(p.addr, strconv.Itoa(p.grpcPort))
}

// P2PURI is the peer's uri in GET /cluster: the internal port 6335, which
// tools must map to the REST port themselves.
func (p *Peer) P2PURI() string { return "http://" + net.JoinHostPort(p.addr, "6335") + "/" }

// Running reports whether the peer is serving.
func (p *Peer) Running() bool {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return p.running
}

func (p *Peer) dir() string { return filepath.Join(p.c.stateDir, "peer-"+strconv.FormatUint(p.id, 10)) }

func (p *Peer) snapshotRoot() string { return filepath.Join(p.dir(), "snapshots") }

// Start opens the peer's listeners (the same ports again after a Stop) and
// serves REST and gRPC. Starting a running peer is a no-op.
func (p *Peer) Start(ctx context.Context) error {
	p.life.Lock()
	defer p.life.Unlock()
	if p.srv != nil {
		return nil
	}
	var lc net.ListenConfig
	hl, err := lc.Listen(ctx, "tcp", net.JoinHostPort(p.addr, strconv.Itoa(p.httpPort)))
	if err != nil {
		return fmt.Errorf("qdrantsim: peer %d: listen http: %w", p.id, err)
	}
	gl, err := lc.Listen(ctx, "tcp", net.JoinHostPort(p.addr, strconv.Itoa(p.grpcPort)))
	if err != nil {
		hl.Close()
		return fmt.Errorf("qdrantsim: peer %d: listen grpc: %w", p.id, err)
	}
	p.httpPort = hl.Addr().(*net.TCPAddr).Port
	p.grpcPort = gl.Addr().(*net.TCPAddr).Port
	if cfg := p.c.opts.TLS; cfg != nil {
		hl = tls.NewListener(hl, withALPN(cfg, "http/1.1"))
		gl = tls.NewListener(gl, withALPN(cfg, "h2"))
	}
	p.srv = &http.Server{Handler: p.restHandler(), ReadHeaderTimeout: 10 * time.Second}
	sctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	srv := p.srv
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.c.log.Error("rest server stopped", "peer", p.id, "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := p.serveGRPC(sctx, gl); err != nil {
			p.c.log.Error("grpc server stopped", "peer", p.id, "err", err)
		}
	}()
	done := p.done
	go func() {
		wg.Wait()
		close(done)
	}()
	p.c.mu.Lock()
	p.running = true
	// Qdrant loads its collections at start, each with fresh size
	// statistics (strict_size.go).
	p.sizeCaches = nil
	for _, col := range p.c.colls {
		p.initSizeCacheLocked(col)
	}
	p.c.mu.Unlock()
	return nil
}

// Stop closes the peer's listeners and connections: it refuses
// connections until Start. Its replicas keep their data and turn Dead in
// consensus after Options.PeerDownDelay.
func (p *Peer) Stop() {
	p.life.Lock()
	defer p.life.Unlock()
	if p.srv == nil {
		return
	}
	p.c.mu.Lock()
	p.running = false
	p.stoppedAt = time.Now()
	p.c.mu.Unlock()
	p.srv.Close()
	p.cancel()
	<-p.done
	p.srv = nil
}
