package qdrantsim

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// pointBody is an upsert body of one point with id.
func pointBody(id int) map[string]any {
	return map[string]any{"points": []map[string]any{{"id": id, "vector": []float32{float32(id), 1, 2, 3}}}}
}

// TestWriteLockIsPerPeer checks toc/locks.rs: the 1.15 lock lives on the
// peer that received POST /locks only. That peer refuses writes with 403
// "Storage locked", other peers keep accepting them, and deletes are not
// write operations.
func TestWriteLockIsPerPeer(t *testing.T) {
	c := startCluster(t, Options{Peers: 2, Version: "1.15.0"})
	peers := c.Peers()
	locked, free := newClient(t, peers[0]), newClient(t, peers[1])
	// One shard on the unlocked peer only: writes there never touch the
	// locked peer's data.
	free.ok("PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}, "shard_number": 1, "replication_factor": 1}, nil)
	if h := holders(c, "c", 0); len(h) != 1 {
		t.Fatalf("holders %v", h)
	}
	if holders(c, "c", 0)[0] == peers[0].ID() {
		locked, free = free, locked
		peers[0], peers[1] = peers[1], peers[0]
	}
	locked.ok("POST", "/locks", map[string]any{"write": true}, nil)

	var lk LocksOption
	free.ok("GET", "/locks", nil, &lk)
	if lk.Write {
		t.Error("the lock reached the other peer")
	}
	locked.ok("GET", "/locks", nil, &lk)
	if !lk.Write {
		t.Error("the locked peer does not report its lock")
	}

	if msg := locked.errorOf("PUT", "/collections/c/points?wait=true", pointBody(1), http.StatusForbidden); msg != "Storage locked: Write operations are forbidden" {
		t.Errorf("write on the locked peer: %q", msg)
	}
	if msg := locked.errorOf("PUT", "/collections/d", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}}, http.StatusForbidden); !strings.HasPrefix(msg, "Storage locked") {
		t.Errorf("create collection on the locked peer: %q", msg)
	}
	if msg := locked.errorOf("PUT", "/collections/c/index", map[string]any{"field_name": "f", "field_schema": "keyword"}, http.StatusForbidden); !strings.HasPrefix(msg, "Storage locked") {
		t.Errorf("create index on the locked peer: %q", msg)
	}
	free.ok("PUT", "/collections/c/points?wait=true", pointBody(2), nil)
	locked.ok("POST", "/collections/c/points/delete?wait=true", map[string]any{"points": []int{2}}, nil)
	var n struct{ Count int }
	free.ok("POST", "/collections/c/points/count", map[string]any{"exact": true}, &n)
	if n.Count != 0 {
		t.Errorf("count after delete through the locked peer = %d, want 0", n.Count)
	}
}

// TestWriteLockRefusesForwardedWrites checks that a write the leader
// forwards to a locked peer's replica fails there (toc/point_ops.rs checks
// the lock for updates from other peers too): with another replica taking
// the write the locked replica is deactivated (replica_set/update.rs,
// PreConditionFailed is transient); with no other replica the client gets
// the forwarded error.
func TestWriteLockRefusesForwardedWrites(t *testing.T) {
	t.Run("the only replica", func(t *testing.T) {
		c := startCluster(t, Options{Peers: 2, Version: "1.15.0"})
		peers := c.Peers()
		cl := newClient(t, peers[0])
		createCollection(t, cl, "c", 1, 1)
		holder := c.Peer(holders(c, "c", 0)[0])
		other := nonHolder(c, "c", 0)
		holder.SetWriteLock(LocksOption{Write: true})
		msg := newClient(t, other).errorOf("PUT", "/collections/c/points?wait=true", pointBody(1), http.StatusInternalServerError)
		want := `Pre-condition failure: Precondition failed: status: FailedPrecondition, message: "Storage locked: Write operations are forbidden"`
		if !strings.HasPrefix(msg, want) {
			t.Errorf("forwarded write: %q, want prefix %q", msg, want)
		}
	})
	t.Run("one of two replicas", func(t *testing.T) {
		c := startCluster(t, Options{Peers: 2, Version: "1.15.0"})
		peers := c.Peers()
		cl := newClient(t, peers[0])
		createCollection(t, cl, "c", 1, 2)
		peers[1].SetWriteLock(LocksOption{Write: true})
		cl.ok("PUT", "/collections/c/points?wait=true", pointBody(1), nil)
		if got := stateOf(c, "c", 0, peers[1].ID()); got != StateDead {
			t.Errorf("locked replica is %s, want Dead", got)
		}
		if got := stateOf(c, "c", 0, peers[0].ID()); got != StateActive {
			t.Errorf("receiving replica is %s, want Active", got)
		}
	})
}

// TestWriteLockMessage checks the custom message and that unlocking
// restores writes.
func TestWriteLockMessage(t *testing.T) {
	c := startCluster(t, Options{Peers: 1, Version: "1.15.0"})
	p := c.Peers()[0]
	cl := newClient(t, p)
	createCollection(t, cl, "c", 1, 1)
	for i, msg := range []string{"backup running", ""} {
		p.SetWriteLock(LocksOption{Write: true, ErrorMessage: &msg})
		want := "Storage locked: " + msg
		if got := cl.errorOf("PUT", "/collections/c/points", pointBody(i), http.StatusForbidden); got != want {
			t.Errorf("message %q: got %q, want %q", msg, got, want)
		}
	}
	p.SetWriteLock(LocksOption{})
	cl.ok("PUT", fmt.Sprintf("/collections/c/points?wait=%t", true), pointBody(3), nil)
}
