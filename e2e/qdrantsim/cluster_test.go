package qdrantsim

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestShardTransfersProgressThroughReceiverStateToActive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		version   string
		op        string
		method    string
		receiver  string
		sourceEnd string
	}{
		{"move on 1.15 streams records", "1.15.0", "move_shard", "", StatePartial, ""},
		{"replicate on 1.19 uses snapshot", "1.19.0", "replicate_shard", "", StateRecovery, StateActive},
		{"explicit stream_records on 1.19", "1.19.0", "replicate_shard", MethodStreamRecords, StatePartial, StateActive},
		{"explicit wal_delta move", "1.17.0", "move_shard", MethodWalDelta, StateRecovery, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 2, Version: tc.version, TransferDelay: 300 * time.Millisecond})
			cl := newClient(t, c.Peers()[0])
			createCollection(t, cl, "c", 1, 1)
			upsertN(t, cl, "c", 12)
			from := holders(c, "c", 0)[0]
			to := nonHolder(c, "c", 0).ID()
			body := map[string]any{"shard_id": 0, "from_peer_id": from, "to_peer_id": to}
			if tc.method != "" {
				body["method"] = tc.method
			}
			cl.ok("POST", "/collections/c/cluster", map[string]any{tc.op: body}, nil)
			var info CollectionClusterInfo
			newClient(t, c.Peer(from)).ok("GET", "/collections/c/cluster", nil, &info)
			if len(info.ShardTransfers) != 1 || info.ShardTransfers[0].From != from || info.ShardTransfers[0].To != to ||
				info.ShardTransfers[0].Sync != (tc.op == "replicate_shard") || info.ShardTransfers[0].Comment == nil {
				t.Fatalf("transfers from the source's view: %+v", info.ShardTransfers)
			}
			wantMethod := tc.method
			if wantMethod == "" {
				wantMethod = map[string]string{"1.15.0": MethodStreamRecords, "1.19.0": MethodSnapshot}[tc.version]
			}
			if info.ShardTransfers[0].Method != wantMethod {
				t.Errorf("method %q, want %q", info.ShardTransfers[0].Method, wantMethod)
			}
			if got := stateOf(c, "c", 0, to); got != tc.receiver {
				t.Errorf("receiver during transfer: %q, want %q", got, tc.receiver)
			}
			waitFor(t, "transfer done", func() bool {
				var info CollectionClusterInfo
				cl.ok("GET", "/collections/c/cluster", nil, &info)
				return len(info.ShardTransfers) == 0
			})
			if got := stateOf(c, "c", 0, to); got != StateActive {
				t.Errorf("receiver after transfer: %q", got)
			}
			if got := stateOf(c, "c", 0, from); got != tc.sourceEnd {
				t.Errorf("source after transfer: %q, want %q", got, tc.sourceEnd)
			}
			var local CollectionClusterInfo
			newClient(t, c.Peer(to)).ok("GET", "/collections/c/cluster", nil, &local)
			if len(local.LocalShards) != 1 || local.LocalShards[0].PointsCount != 13 {
				t.Errorf("receiver's local shards: %+v", local.LocalShards)
			}
		})
	}
}

func TestAbortTransfer(t *testing.T) {
	for _, tc := range []struct {
		op        string
		wantAfter string
	}{{"move_shard", ""}, {"replicate_shard", StateDead}} {
		t.Run(tc.op, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 2, TransferDelay: time.Hour, AutoRecoveryDelay: time.Hour})
			cl := newClient(t, c.Peers()[0])
			createCollection(t, cl, "c", 1, 1)
			from, to := holders(c, "c", 0)[0], nonHolder(c, "c", 0).ID()
			ref := map[string]any{"shard_id": 0, "from_peer_id": from, "to_peer_id": to}
			cl.ok("POST", "/collections/c/cluster", map[string]any{tc.op: ref}, nil)
			restart := map[string]any{"shard_id": 0, "from_peer_id": from, "to_peer_id": to, "method": MethodSnapshot}
			if msg := cl.errorOf("POST", "/collections/c/cluster", map[string]any{"restart_transfer": restart}, 400); !strings.Contains(msg, "same method") {
				t.Errorf("restart with the same method: %q", msg)
			}
			restart["method"] = MethodStreamRecords
			cl.ok("POST", "/collections/c/cluster", map[string]any{"restart_transfer": restart}, nil)
			if got := stateOf(c, "c", 0, to); got != StatePartial {
				t.Errorf("receiver after restart with stream_records: %q", got)
			}
			cl.ok("POST", "/collections/c/cluster", map[string]any{"abort_transfer": ref}, nil)
			if got := stateOf(c, "c", 0, to); got != tc.wantAfter {
				t.Errorf("target after abort: %q, want %q", got, tc.wantAfter)
			}
			if got := stateOf(c, "c", 0, from); got != StateActive {
				t.Errorf("source after abort: %q", got)
			}
			msg := cl.errorOf("POST", "/collections/c/cluster", map[string]any{"abort_transfer": ref}, 404)
			if want := fmt.Sprintf("Not found: Shard transfer %d -> %d for collection c:0 does not exist", from, to); msg != want {
				t.Errorf("second abort: %q, want %q", msg, want)
			}
		})
	}
}

func TestInvalidClusterOperationsAreRefused(t *testing.T) {
	c := startCluster(t, Options{Peers: 3, TransferDelay: time.Hour})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 2)
	hs := holders(c, "c", 0)
	free := nonHolder(c, "c", 0).ID()
	cl.ok("POST", "/collections/c/cluster", map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": hs[0], "to_peer_id": free}}, nil)
	for _, tc := range []struct {
		name   string
		op     any
		status int
		want   string
	}{
		{"unknown shard", map[string]any{"move_shard": map[string]any{"shard_id": 5, "from_peer_id": hs[0], "to_peer_id": free}}, 400, "Bad request: Shard 5 of c does not exist"},
		{"unknown peer", map[string]any{"move_shard": map[string]any{"shard_id": 0, "from_peer_id": hs[0], "to_peer_id": 12345}}, 400, "Bad request: Peer 12345 does not exist"},
		{"same peer", map[string]any{"move_shard": map[string]any{"shard_id": 0, "from_peer_id": hs[0], "to_peer_id": hs[0]}}, 400, "Bad request: Source and target peers must be different"},
		{"source not active", map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": free, "to_peer_id": hs[1]}}, 400, fmt.Sprintf("Bad request: Shard 0 is not active on peer %d", free)},
		{"replica already there", map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": hs[1], "to_peer_id": hs[0]}}, 400, "Bad request: Shard 0 is already involved in transfer"},
		{"drop last active", map[string]any{"drop_replica": map[string]any{"shard_id": 0, "peer_id": 999}}, 400, "Bad request: Peer 999 has no replica of shard 0"},
		{"resharding", map[string]any{"start_resharding": map[string]any{"direction": "up"}}, 400, "resharding is only supported in Qdrant Cloud"},
		{"shard key on auto sharding", map[string]any{"create_sharding_key": map[string]any{"shard_key": "k"}}, 400, "Bad request: Shard key k cannot be created"},
		{"two operations", map[string]any{"drop_replica": map[string]any{"shard_id": 0, "peer_id": hs[0]}, "drop_sharding_key": map[string]any{"shard_key": "k"}}, 400, "Format error in JSON body"},
		{"unknown collection", nil, 404, "Not found: Collection `nope` doesn't exist!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/collections/c/cluster"
			op := tc.op
			if op == nil {
				path, op = "/collections/nope/cluster", map[string]any{"drop_replica": map[string]any{"shard_id": 0, "peer_id": 1}}
			}
			if msg := cl.errorOf("POST", path, op, tc.status); !strings.Contains(msg, tc.want) {
				t.Errorf("got %q, want it to contain %q", msg, tc.want)
			}
		})
	}
}

func TestReplicateToExistingReplicaAndDropReplica(t *testing.T) {
	c := startCluster(t, Options{Peers: 2})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 1, 2)
	hs := holders(c, "c", 0)
	// Qdrant's validate_transfer does not refuse a target that already
	// holds a replica: the transfer runs and replaces the target's data.
	cl.ok("POST", "/collections/c/cluster", map[string]any{"replicate_shard": map[string]any{"shard_id": 0, "from_peer_id": hs[0], "to_peer_id": hs[1]}}, nil)
	if got := stateOf(c, "c", 0, hs[1]); got != StateRecovery {
		t.Errorf("existing replica during the transfer: %q, want %q", got, StateRecovery)
	}
	waitFor(t, "transfer onto the existing replica done", func() bool { return stateOf(c, "c", 0, hs[1]) == StateActive })
	cl.ok("POST", "/collections/c/cluster", map[string]any{"drop_replica": map[string]any{"shard_id": 0, "peer_id": hs[1]}}, nil)
	msg := cl.errorOf("POST", "/collections/c/cluster", map[string]any{"drop_replica": map[string]any{"shard_id": 0, "peer_id": hs[0]}}, 400)
	if msg != fmt.Sprintf("Bad request: Shard 0 must have at least one active replica after removing %d", hs[0]) {
		t.Errorf("drop last replica: %q", msg)
	}
}

func TestStoppedPeerRefusesConnectionsAndItsReplicasGoDead(t *testing.T) {
	c := startCluster(t, Options{Peers: 3})
	peers := c.Peers()
	cl := newClient(t, peers[0])
	createCollection(t, cl, "c", 3, 2)
	upsertN(t, cl, "c", 30)
	victim := peers[2]
	url := victim.URL()
	victim.Stop()
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second); err == nil {
		t.Fatal("stopped peer still accepts connections")
	}
	waitFor(t, "victim's replicas Dead", func() bool {
		states := replicaStates(t, cl, "c")
		dead := 0
		for k, st := range states {
			if strings.HasSuffix(k, fmt.Sprintf("/%d", victim.ID())) {
				if st != StateDead {
					return false
				}
				dead++
			}
		}
		return dead > 0
	})
	var cs ClusterStatus
	cl.ok("GET", "/cluster", nil, &cs)
	if len(cs.Peers) != 3 || len(cs.MessageSendFailures) != 1 {
		t.Errorf("cluster view with a down peer: %+v", cs)
	}
	// Reads and writes keep working on the surviving replicas.
	upsertN(t, cl, "c", 40)
	if err := victim.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if victim.URL() != url {
		t.Errorf("restarted peer moved from %s to %s", url, victim.URL())
	}
	waitFor(t, "victim's replicas recovered", func() bool {
		for _, st := range replicaStates(t, cl, "c") {
			if st != StateActive {
				return false
			}
		}
		return true
	})
	var n struct{ Count int }
	newClient(t, victim).ok("POST", "/collections/c/points/count", map[string]any{}, &n)
	if n.Count != 41 {
		t.Errorf("count on restarted peer %d, want 41", n.Count)
	}
}

func TestAddAndRemovePeer(t *testing.T) {
	c := startCluster(t, Options{Peers: 2})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "c", 2, 1)
	p, err := c.AddPeer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var cs ClusterStatus
	newClient(t, p).ok("GET", "/cluster", nil, &cs)
	if len(cs.Peers) != 3 || cs.Peers[fmt.Sprint(p.ID())].URI != "http://"+p.Addr()+":6335/" {
		t.Errorf("after add: %+v", cs.Peers)
	}
	var info CollectionClusterInfo
	newClient(t, p).ok("GET", "/collections/c/cluster", nil, &info)
	if len(info.LocalShards) != 0 || len(info.RemoteShards) != 2 {
		t.Errorf("new peer's view: %+v", info)
	}
	if err := c.RemovePeer(p.ID()); err != nil {
		t.Fatal(err)
	}
	var after ClusterStatus
	cl.ok("GET", "/cluster", nil, &after)
	if len(after.Peers) != 2 {
		t.Errorf("after remove: %+v", after.Peers)
	}
}

func TestCustomShardingRoutesByShardKey(t *testing.T) {
	c := startCluster(t, Options{Peers: 3})
	cl := newClient(t, c.Peers()[0])
	cl.ok("PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"}, "sharding_method": "custom", "shard_number": 2}, nil)
	var info CollectionClusterInfo
	cl.ok("GET", "/collections/c/cluster", nil, &info)
	if info.ShardCount != 0 {
		t.Fatalf("custom collection starts with %d shards", info.ShardCount)
	}
	cl.ok("POST", "/collections/c/cluster", map[string]any{"create_sharding_key": map[string]any{"shard_key": "eu"}}, nil)
	cl.ok("PUT", "/collections/c/shards", map[string]any{"shard_key": 7, "shards_number": 3, "replication_factor": 2}, nil)
	cl.ok("GET", "/collections/c/cluster", nil, &info)
	if info.ShardCount != 5 {
		t.Errorf("shard_count %d, want 5", info.ShardCount)
	}
	pt := map[string]any{"points": []map[string]any{{"id": 1, "vector": []float32{1, 2, 3, 4}}}}
	if msg := cl.errorOf("PUT", "/collections/c/points", pt, 400); msg != "Wrong input: Shard key not specified" {
		t.Errorf("write without key: %q", msg)
	}
	pt["shard_key"] = "us"
	if msg := cl.errorOf("PUT", "/collections/c/points", pt, 400); !strings.Contains(msg, "Shard key us not found") {
		t.Errorf("write with unknown key: %q", msg)
	}
	pt["shard_key"] = "eu"
	cl.ok("PUT", "/collections/c/points?wait=true", pt, nil)
	pt["shard_key"] = 7
	pt["points"] = []map[string]any{{"id": 2, "vector": []float32{1, 2, 3, 4}}, {"id": 3, "vector": []float32{1, 2, 3, 4}}}
	cl.ok("PUT", "/collections/c/points?wait=true", pt, nil)
	for _, tc := range []struct {
		key  any
		want int
	}{{nil, 3}, {"eu", 1}, {7, 2}} {
		var n struct{ Count int }
		body := map[string]any{}
		if tc.key != nil {
			body["shard_key"] = tc.key
		}
		cl.ok("POST", "/collections/c/points/count", body, &n)
		if n.Count != tc.want {
			t.Errorf("count for key %v = %d, want %d", tc.key, n.Count, tc.want)
		}
	}
	var recs []Record
	cl.ok("POST", "/collections/c/points", map[string]any{"ids": []int{1}}, &recs)
	if len(recs) != 1 || recs[0].ShardKey == nil || recs[0].ShardKey.Str != "eu" {
		t.Errorf("record shard key: %+v", recs)
	}
	var keys ShardKeysResponse
	cl.ok("GET", "/collections/c/shards", nil, &keys)
	if len(keys.ShardKeys) != 2 {
		t.Errorf("shard keys %+v", keys)
	}
	cl.ok("POST", "/collections/c/shards/delete", map[string]any{"shard_key": "eu"}, nil)
	var n struct{ Count int }
	cl.ok("POST", "/collections/c/points/count", map[string]any{}, &n)
	if n.Count != 2 {
		t.Errorf("count after dropping eu = %d", n.Count)
	}
}

// A shard key's replication factor is the request's, else 1 with an
// initial state, else the collection's; capped at the placement pool
// (src/common/collections.rs, CreateShardingKey and
// generate_even_placement). The cluster info shows it only as the
// replica count of the key's shards.
func TestShardKeyReplicationFactor(t *testing.T) {
	c := startCluster(t, Options{Peers: 3, Version: "1.19.0"})
	cl := newClient(t, c.Peers()[0])
	cl.ok("PUT", "/collections/c", map[string]any{"vectors": map[string]any{"size": 4, "distance": "Dot"},
		"sharding_method": "custom", "shard_number": 2, "replication_factor": 2}, nil)
	tests := []struct {
		key  string
		req  map[string]any
		want int
	}{
		{"default", map[string]any{}, 2},
		{"one", map[string]any{"replication_factor": 1}, 1},
		{"three", map[string]any{"replication_factor": 3}, 3},
		{"capped", map[string]any{"replication_factor": 5}, 3},
		{"pool", map[string]any{"replication_factor": 3, "placement": []uint64{c.Peers()[0].ID(), c.Peers()[1].ID()}}, 2},
		{"initial", map[string]any{"initial_state": "Active"}, 1},
		{"initial-rf", map[string]any{"initial_state": "Active", "replication_factor": 2}, 2},
	}
	for _, tc := range tests {
		tc.req["shard_key"] = tc.key
		cl.ok("PUT", "/collections/c/shards", tc.req, nil)
	}
	var info CollectionClusterInfo
	cl.ok("GET", "/collections/c/cluster", nil, &info)
	count := map[string]map[uint32]int{}
	add := func(key *ShardKey, shard uint32) {
		k := "<none>"
		if key != nil {
			k = key.String()
		}
		if count[k] == nil {
			count[k] = map[uint32]int{}
		}
		count[k][shard]++
	}
	for _, l := range info.LocalShards {
		add(l.ShardKey, l.ShardID)
	}
	for _, r := range info.RemoteShards {
		add(r.ShardKey, r.ShardID)
	}
	for _, tc := range tests {
		if len(count[tc.key]) != 2 {
			t.Errorf("key %s: shards %v, want 2", tc.key, count[tc.key])
		}
		for shard, n := range count[tc.key] {
			if n != tc.want {
				t.Errorf("key %s shard %d: %d replicas, want %d", tc.key, shard, n, tc.want)
			}
		}
	}
}
