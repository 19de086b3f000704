package rebalance

import (
	"context"
	"fmt"
	"slices"

	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// Reader reads the live cluster through one peer; *qdrant.Client
// implements it.
type Reader interface {
	ListCollections(ctx context.Context) ([]string, error)
	CollectionInfo(ctx context.Context, name string) (*qdrant.CollectionInfo, error)
	CollectionCluster(ctx context.Context, name string) (*qdrant.CollectionCluster, error)
}

// ReadState reads the collections of the cluster through r, with the
// discovered peers as the Ready ones (discovery has compared Ready pods
// with the peers in consensus). Only the collections of names are read
// when names is not empty; a missing one is left for MakePlan to refuse.
func ReadState(ctx context.Context, cluster string, topo *discovery.Topology, r Reader, names []string) (State, error) {
	st := State{Cluster: cluster}
	for _, p := range topo.Peers {
		st.Peers = append(st.Peers, Peer{ID: p.ID, Pod: p.Pod})
	}
	all, err := r.ListCollections(ctx)
	if err != nil {
		return State{}, fmt.Errorf("read the collections: %w", err)
	}
	slices.Sort(all)
	for _, name := range all {
		if len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		info, err := r.CollectionInfo(ctx, name)
		if err != nil {
			return State{}, err
		}
		cc, err := r.CollectionCluster(ctx, name)
		if err != nil {
			return State{}, fmt.Errorf("read cluster info of %q: %w", name, err)
		}
		c := Collection{Name: name, ReplicationFactor: info.ReplicationFactor, ShardingMethod: info.ShardingMethod}
		ops, err := cc.Resharding()
		if err != nil {
			return State{}, fmt.Errorf("read cluster info of %q: %w", name, err)
		}
		if len(ops) > 0 {
			c.Resharding = &Resharding{UUID: ops[0].UUID, Direction: ops[0].Direction, ShardID: ops[0].ShardID, PeerID: ops[0].PeerID}
		}
		byID := map[uint32]int{}
		for _, rep := range cc.Replicas() {
			i, ok := byID[rep.ShardID]
			if !ok {
				i = len(c.Shards)
				byID[rep.ShardID] = i
				s := Shard{ID: rep.ShardID}
				if rep.ShardKey != nil {
					s.Key = rep.ShardKey.String()
				}
				c.Shards = append(c.Shards, s)
			}
			c.Shards[i].Replicas = append(c.Shards[i].Replicas, Replica{Peer: rep.PeerID, State: rep.State})
		}
		st.Collections = append(st.Collections, c)
	}
	return st, nil
}
