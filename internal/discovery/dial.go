package discovery

import (
	"context"
	"sync"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// Clients opens one *qdrant.Client per peer address and keeps them, so
// that discovery and the work after it share connections. Its Dial method
// is a Dialer.
type Clients struct {
	opts qdrant.Options

	mu     sync.Mutex
	byREST map[string]*qdrant.Client
}

// NewClients returns an empty set of clients made with opts.
func NewClients(opts qdrant.Options) *Clients {
	return &Clients{opts: opts, byREST: map[string]*qdrant.Client{}}
}

// Dial implements Dialer.
func (c *Clients) Dial(addr qdrant.PeerAddr) (ClusterReader, error) { return c.Client(addr) }

// Client returns the client of a peer, opening it on first use.
func (c *Clients) Client(addr qdrant.PeerAddr) (*qdrant.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.byREST[addr.REST]; ok {
		return cl, nil
	}
	// New does no I/O; the context only bounds future set-up work.
	cl, err := qdrant.New(context.Background(), addr, c.opts)
	if err != nil {
		return nil, err
	}
	c.byREST[addr.REST] = cl
	return cl, nil
}

// Close closes every client opened so far.
func (c *Clients) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for k, cl := range c.byREST {
		if err := cl.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.byREST, k)
	}
	return first
}
