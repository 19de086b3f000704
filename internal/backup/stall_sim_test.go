package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// TestAStalledSnapshotStreamFailsTheSetNamingTheShard: a peer that stops
// sending a streamed snapshot mid-way (and keeps the connection open)
// fails the set after the stall timeout, with a message naming the peer,
// collection and shard, and nothing of the set is left in storage.
func TestAStalledSnapshotStreamFailsTheSetNamingTheShard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a simulated cluster")
	}
	for _, compression := range []string{"none", "zstd"} {
		t.Run(compression, func(t *testing.T) {
			env := startSim(t, "1.19.0")
			after := int64(2048)
			stalled := env.sim.Peers()[1]
			stalled.SetFaults(qdrantsim.Faults{Routes: []qdrantsim.RouteFault{{
				Route: "GET /collections/{collection_name}/shards/{shard_id}/snapshot", StallAfter: &after}}})
			store, cat := newFakeStore(), newFakeCatalog()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			logs := &lockedBuffer{}
			deps := env.deps(store, cat)
			deps.Logger = slog.New(slog.NewTextHandler(logs, nil))
			_, err := Run(ctx, Options{Cluster: "sim", Compression: compression, StallTimeout: 300 * time.Millisecond}, deps)
			if ctx.Err() != nil {
				t.Fatalf("the run hung on the stalled stream: %v", err)
			}
			if !errors.Is(err, ErrStalled) {
				t.Fatalf("error %v, want ErrStalled", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, fmt.Sprintf("from peer %d", stalled.ID())) || !strings.Contains(msg, "snapshot of shard ") ||
				!strings.Contains(msg, "--stall-timeout") {
				t.Errorf("error %q does not name the peer, collection and shard", msg)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("failing took %s", took)
			}
			// Before failing, the log said which stream it waited on.
			if l := logs.String(); !strings.Contains(l, "waiting for the snapshot stream") ||
				!strings.Contains(l, fmt.Sprintf("peer=%d", stalled.ID())) || !strings.Contains(l, "waited=150ms") {
				t.Errorf("no warning naming the silent stream before the failure:\n%s", l)
			}
			assertNoSetObjects(t, store)
			assertFailedRow(t, cat, "sim")
		})
	}
}

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
