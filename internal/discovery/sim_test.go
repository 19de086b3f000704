package discovery

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
	"github.com/qbackup/qbackup/internal/qdrant"
)

const simKey = "discovery-test-key"

func startSim(t *testing.T, peers int) *qdrantsim.Cluster {
	t.Helper()
	sim, err := qdrantsim.Start(context.Background(), qdrantsim.Options{
		Peers: peers, APIKey: simKey, Seed: 5,
		Tick: 10 * time.Millisecond, PeerDownDelay: 60 * time.Millisecond,
		Realism: qdrantsim.RealismOr(qdrantsim.RealismDefault),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim
}

// staticURLs lists the peers as --qdrant-url values (free ports, so the
// gRPC port is given in the URL).
func staticURLs(sim *qdrantsim.Cluster) []string {
	var urls []string
	for _, p := range sim.Peers() {
		_, port, _ := strings.Cut(p.GRPCAddr(), ":")
		urls = append(urls, p.URL()+"?grpc="+port)
	}
	return urls
}

func TestSimStaticDiscoveryMapsEveryPeer(t *testing.T) {
	sim := startSim(t, 3)
	clients := NewClients(qdrant.Options{APIKey: simKey})
	defer clients.Close()
	topo, err := Discover(context.Background(), &Static{URLs: staticURLs(sim)}, clients.Dial, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Peers) != 3 || topo.Version != sim.Version() || len(topo.Consensus) != 3 {
		t.Fatalf("%+v", topo)
	}
	for _, sp := range sim.Peers() {
		p, ok := topo.Peer(sp.ID())
		if !ok || p.Addr.REST != sp.URL() || p.Addr.GRPC != sp.GRPCAddr() || p.URI != sp.P2PURI() {
			t.Errorf("peer %d: %+v", sp.ID(), p)
		}
		// The client opened for discovery serves gRPC too.
		c, err := clients.Client(p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ListCollections(context.Background()); err != nil {
			t.Fatalf("gRPC on peer %d: %v", sp.ID(), err)
		}
	}
}

func TestSimAStoppedPeerFailsTheNodeCount(t *testing.T) {
	sim := startSim(t, 3)
	down := sim.Peers()[2]
	down.Stop()
	clients := NewClients(qdrant.Options{APIKey: simKey})
	defer clients.Close()
	_, err := Discover(context.Background(), &Static{URLs: staticURLs(sim)}, clients.Dial, Options{Logger: quiet})
	var nce *NodeCountError
	if !errors.As(err, &nce) {
		t.Fatalf("error %v, want *NodeCountError", err)
	}
	msg := err.Error()
	for _, w := range []string{"peer " + strconv.FormatUint(down.ID(), 10), down.P2PURI(), down.URL(), "connection refused"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q: %s", w, msg)
		}
	}
}

func TestSimAWrongKeyStopsDiscovery(t *testing.T) {
	sim := startSim(t, 2)
	clients := NewClients(qdrant.Options{APIKey: "wrong"})
	defer clients.Close()
	_, err := Discover(context.Background(), &Static{URLs: staticURLs(sim)}, clients.Dial, Options{Logger: quiet})
	if !errors.Is(err, qdrant.ErrUnauthorized) || !strings.Contains(err.Error(), "QBACKUP_QDRANT_API_KEY") {
		t.Fatalf("%v", err)
	}
}

// TestSimAWrongSchemeNamesTheRightOne: a peer reached with https:// that
// speaks plain HTTP is a wrong URL, not a node-count problem, so the
// message says which scheme to use and does not offer
// --allow-node-mismatch.
func TestSimAWrongSchemeNamesTheRightOne(t *testing.T) {
	sim := startSim(t, 2)
	clients := NewClients(qdrant.Options{APIKey: simKey})
	defer clients.Close()
	var urls []string
	for _, u := range staticURLs(sim) {
		urls = append(urls, strings.Replace(u, "http://", "https://", 1))
	}
	_, err := Discover(context.Background(), &Static{URLs: urls}, clients.Dial, Options{Logger: quiet})
	if !errors.Is(err, ErrSchemeMismatch) {
		t.Fatalf("error %v, want ErrSchemeMismatch", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "use http://") || strings.Contains(msg, "--allow-node-mismatch") {
		t.Fatalf("message %q should say to use http:// and not suggest --allow-node-mismatch", msg)
	}
}

func TestHTTPToATLSPeerNamesHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake error is the point
	srv.StartTLS()
	defer srv.Close()
	clients := NewClients(qdrant.Options{})
	defer clients.Close()
	url := strings.Replace(srv.URL, "https://", "http://", 1)
	_, err := Discover(context.Background(), &Static{URLs: []string{url}}, clients.Dial, Options{Logger: quiet})
	if !errors.Is(err, ErrSchemeMismatch) || !strings.Contains(err.Error(), "use https://") {
		t.Fatalf("error %v, want ErrSchemeMismatch saying to use https://", err)
	}
}
