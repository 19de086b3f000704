package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// cluster is a discovered Qdrant cluster with one client per peer.
type cluster struct {
	topo    *discovery.Topology
	mu      sync.Mutex
	clients map[string]*qdrant.Client // by REST URL
}

func (c *cluster) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.clients {
		cl.Close()
	}
}

// client returns the client of a discovered peer.
func (c *cluster) client(id uint64) (*qdrant.Client, bool) {
	p, ok := c.topo.Peer(id)
	if !ok {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.clients[p.Addr.REST]
	return cl, ok
}

// discoverCluster finds the Qdrant peers and checks the node count. The
// clients opened for discovery are kept for the work that follows.
func discoverCluster(ctx context.Context, d config.Discovery, secrets config.Secrets, log *slog.Logger) (*cluster, error) {
	src, err := discoverySource(d)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := d.TLS()
	if err != nil {
		return nil, err
	}
	c := &cluster{clients: map[string]*qdrant.Client{}}
	dial := func(addr qdrant.PeerAddr) (discovery.ClusterReader, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if cl, ok := c.clients[addr.REST]; ok {
			return cl, nil
		}
		cl, err := qdrant.New(ctx, addr, qdrant.Options{APIKey: secrets.QdrantAPIKey, TLS: tlsCfg, Logger: log})
		if err != nil {
			return nil, err
		}
		c.clients[addr.REST] = cl
		return cl, nil
	}
	topo, err := discovery.Discover(ctx, src, dial, discovery.Options{AllowNodeMismatch: d.AllowNodeMismatch, Logger: log})
	if err != nil {
		c.close()
		return nil, err
	}
	c.topo = topo
	return c, nil
}

// peers returns a client per discovered peer, keyed by peer id.
func (c *cluster) peers() (map[uint64]*qdrant.Client, error) {
	out := make(map[uint64]*qdrant.Client, len(c.topo.Peers))
	for _, p := range c.topo.Peers {
		cl, ok := c.client(p.ID)
		if !ok {
			return nil, fmt.Errorf("no client for peer %s", p.Name())
		}
		out[p.ID] = cl
	}
	return out, nil
}
