package restore

import (
	"context"
	"fmt"

	"github.com/qbackup/qbackup/internal/discovery"
)

// ReadTarget describes the discovered cluster for the planner: its peers
// and the collections and aliases that exist now (read through any one
// peer: collections and aliases are cluster-wide).
func ReadTarget(ctx context.Context, topo *discovery.Topology, peer ClusterReader) (Target, error) {
	t := Target{}
	for _, p := range topo.Peers {
		t.Peers = append(t.Peers, TargetPeer{ID: p.ID, Pod: p.Pod, URI: p.Addr.REST, Version: p.Version})
	}
	var err error
	if t.Collections, err = peer.ListCollections(ctx); err != nil {
		return Target{}, fmt.Errorf("read target cluster: %w", err)
	}
	if t.Aliases, err = peer.ListAliases(ctx); err != nil {
		return Target{}, fmt.Errorf("read target cluster: %w", err)
	}
	return t, nil
}

// PreflightOptionsFor fills the readiness inputs of preflight from a
// discovery result. Discovery has already compared Ready pods with peers
// in consensus; a mismatch it let through (--allow-node-mismatch) is
// allowed here too.
func PreflightOptionsFor(topo *discovery.Topology) PreflightOptions {
	var o PreflightOptions
	for _, p := range topo.NotReady {
		o.NotReady = append(o.NotReady, p.String())
	}
	if topo.Mismatch != nil {
		o.AllowNodeMismatch = true
	}
	return o
}
