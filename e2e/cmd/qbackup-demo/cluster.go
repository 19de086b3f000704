package main

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// cluster is the simulated Qdrant cluster of the demo, with stable names
// for its pods in join order (pod-1, pod-2, ...), as a StatefulSet that
// never reuses a volume would name them.
type cluster struct {
	sim   *qdrantsim.Cluster
	names map[uint64]string
	next  int
}

func startCluster(ctx context.Context, peers int, seed uint64) (*cluster, error) {
	// Port 0 gives every peer its own free ports, so several demos (or a
	// test run) can share the loopback addresses. The timers are shortened
	// so that replica state changes and transfers take a fraction of a
	// second instead of Qdrant's real pace.
	sim, err := qdrantsim.Start(ctx, qdrantsim.Options{
		Peers:             peers,
		Seed:              seed,
		Tick:              20 * time.Millisecond,
		TransferDelay:     150 * time.Millisecond,
		PeerDownDelay:     100 * time.Millisecond,
		AutoRecoveryDelay: 50 * time.Millisecond,
		// Qdrant's asynchronous consensus, as the product meets it.
		Realism: qdrantsim.RealismOr(qdrantsim.RealismDefault),
	})
	if err != nil {
		return nil, fmt.Errorf("start simulated cluster: %w", err)
	}
	c := &cluster{sim: sim, names: map[uint64]string{}}
	for _, p := range sim.Peers() {
		c.name(p)
	}
	return c, nil
}

func (c *cluster) close() error { return c.sim.Close() }

func (c *cluster) name(p *qdrantsim.Peer) string {
	if n, ok := c.names[p.ID()]; ok {
		return n
	}
	c.next++
	c.names[p.ID()] = fmt.Sprintf("pod-%d", c.next)
	return c.names[p.ID()]
}

func (c *cluster) peers() []*qdrantsim.Peer { return c.sim.Peers() }

// api is a REST client on the first pod, like an application behind the
// cluster's Service.
func (c *cluster) api() *restClient { return newRESTClient(c.peers()[0].URL()) }

// urlFlags are qbackup's static discovery flags for the current pods. The
// gRPC port rides along in the URL because every peer has its own.
func (c *cluster) urlFlags() []string {
	var out []string
	for _, p := range c.peers() {
		u, err := url.Parse(p.URL())
		if err != nil {
			continue
		}
		_, port, err := net.SplitHostPort(p.GRPCAddr())
		if err != nil {
			continue
		}
		u.RawQuery = "grpc=" + port
		out = append(out, "--qdrant-url="+u.String())
	}
	return out
}

func (c *cluster) addPeer(ctx context.Context) (*qdrantsim.Peer, error) {
	p, err := c.sim.AddPeer(ctx)
	if err != nil {
		return nil, fmt.Errorf("add a pod: %w", err)
	}
	c.name(p)
	return p, nil
}

// removeLast removes the newest pod, as scaling a StatefulSet down does.
func (c *cluster) removeLast() (string, error) {
	peers := c.peers()
	last := peers[len(peers)-1]
	name := c.name(last)
	if err := c.sim.RemovePeer(last.ID()); err != nil {
		return "", fmt.Errorf("remove %s: %w", name, err)
	}
	return name, nil
}

// legend lists the pods with their peer ids and addresses, so that the
// peer ids in qbackup's plan can be read.
func (c *cluster) legend() []string {
	var out []string
	for _, p := range c.peers() {
		out = append(out, fmt.Sprintf("%s = peer %d at %s", c.name(p), p.ID(), p.URL()))
	}
	return out
}

// replica is one shard replica as a pod reports it.
type replica struct {
	Collection string
	ShardID    uint32
	State      string
}

// placement is where every replica lives, per pod name.
type placement struct {
	Pods     []string
	Replicas map[string][]replica
}

// readPlacement asks every pod for its local shards of each collection
// (GET /collections/{c}/cluster), the view an operator would check.
func (c *cluster) readPlacement(ctx context.Context, cols []*collection) (*placement, error) {
	l := &placement{Replicas: map[string][]replica{}}
	for _, p := range c.peers() {
		name := c.name(p)
		l.Pods = append(l.Pods, name)
		api := newRESTClient(p.URL())
		for _, col := range cols {
			var info struct {
				LocalShards []struct {
					ShardID uint32 `json:"shard_id"`
					State   string `json:"state"`
				} `json:"local_shards"`
			}
			if err := api.do(ctx, "GET", "/collections/"+col.Name+"/cluster", nil, &info); err != nil {
				return nil, fmt.Errorf("shard placement of %q on %s: %w", col.Name, name, err)
			}
			for _, s := range info.LocalShards {
				l.Replicas[name] = append(l.Replicas[name], replica{Collection: col.Name, ShardID: s.ShardID, State: s.State})
			}
		}
	}
	return l, nil
}

// notActive lists the replicas that are not Active.
func (l *placement) notActive() []string {
	var out []string
	for _, pod := range l.Pods {
		for _, r := range l.Replicas[pod] {
			if r.State != qdrantsim.StateActive {
				out = append(out, fmt.Sprintf("%s shard %d on %s is %s", r.Collection, r.ShardID, pod, r.State))
			}
		}
	}
	return out
}

// shards lists the shard ids of one collection held by a pod.
func (l *placement) shards(pod, coll string) []uint32 {
	var ids []uint32
	for _, r := range l.Replicas[pod] {
		if r.Collection == coll {
			ids = append(ids, r.ShardID)
		}
	}
	slices.Sort(ids)
	return ids
}

// replicaShortfall lists the shards of each collection that do not have
// the replication factor they were created with, capped at the pod count.
func (l *placement) replicaShortfall(cols []*collection) []string {
	var out []string
	for _, c := range cols {
		rf := 1
		if n, ok := c.Create["replication_factor"].(int); ok {
			rf = n
		}
		want := min(rf, len(l.Pods))
		count := map[uint32]int{}
		for _, pod := range l.Pods {
			for _, id := range l.shards(pod, c.Name) {
				count[id]++
			}
		}
		for _, id := range slices.Sorted(maps.Keys(count)) {
			if count[id] != want {
				out = append(out, fmt.Sprintf("%s shard %d has %d replicas, want %d", c.Name, id, count[id], want))
			}
		}
	}
	return out
}
