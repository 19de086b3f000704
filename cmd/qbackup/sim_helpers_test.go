package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// cliSim is a simulated cluster with one collection, and file storage,
// driven through the command line as an operator would.
type cliSim struct {
	c       *qdrantsim.Cluster
	storage string
}

func startCLISim(t *testing.T, opts qdrantsim.Options) *cliSim {
	t.Helper()
	return startCLISimWith(t, opts, nil)
}

// startCLISimWith is startCLISim with edit applied to the options after
// the test defaults.
func startCLISimWith(t *testing.T, opts qdrantsim.Options, edit func(*qdrantsim.Options)) *cliSim {
	t.Helper()
	if opts.Peers == 0 {
		opts.Peers = 3
	}
	opts.Tick, opts.TransferDelay = 10*time.Millisecond, 50*time.Millisecond
	opts.PeerDownDelay, opts.AutoRecoveryDelay = 60*time.Millisecond, 50*time.Millisecond
	if edit != nil {
		edit(&opts)
	}
	c, err := qdrantsim.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s := &cliSim{c: c, storage: "file://" + t.TempDir()}
	var req qdrantsim.CreateCollection
	if err := json.Unmarshal([]byte(`{"vectors":{"size":4,"distance":"Cosine"},"shard_number":3,"replication_factor":2}`), &req); err != nil {
		t.Fatal(err)
	}
	if err := c.Peers()[0].CreateCollection(context.Background(), "docs", req); err != nil {
		t.Fatalf("create collection: %v", err)
	}
	s.upsert(t, 1, 200)
	return s
}

func (s *cliSim) upsert(t *testing.T, from, n int) {
	t.Helper()
	if err := upsertPoints(context.Background(), s.c.Peers()[0], from, n, 0); err != nil {
		t.Fatal(err)
	}
}

// upsertPoints writes points from..from+n-1; gen changes their content.
func upsertPoints(ctx context.Context, p *qdrantsim.Peer, from, n, gen int) error {
	var pts []qdrantsim.PointStruct
	for i := from; i < from+n; i++ {
		pts = append(pts, qdrantsim.PointStruct{ID: qdrantsim.NumID(uint64(i)), Vector: json.RawMessage(fmt.Sprintf(`[%d,1,0.5,%d]`, i, gen)),
			Payload: map[string]any{"i": i, "gen": gen}})
	}
	if _, err := p.Upsert(ctx, "docs", qdrantsim.UpsertRequest{Points: pts}); err != nil {
		return fmt.Errorf("upsert into docs: %w", err)
	}
	return nil
}

// args are the storage and discovery flags of this cluster.
func (s *cliSim) args(cmd ...string) []string {
	out := append(cmd, "--cluster=prod", "--storage="+s.storage, "--discovery=static", "--log-format=text")
	for _, p := range s.c.Peers() {
		out = append(out, "--qdrant-url="+p.URL()+"?grpc="+p.GRPCAddr())
	}
	return out
}

// qbackup runs the command line and returns exit code, stdout and stderr.
func qbackup(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustQbackup runs the command line and fails the test unless it exits 0.
func mustQbackup(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := qbackup(t, args...)
	if code != 0 {
		t.Fatalf("qbackup %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args[:1], " "), code, out, errOut)
	}
	return out
}
