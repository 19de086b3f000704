package kube

import (
	"fmt"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/restore"
)

// Preview is the strategy a restore would take, judged from pod counts.
type Preview struct {
	SourcePods, TargetPods int
	Strategy               restore.Strategy
	Reason                 string
	// Collections say what each collection would go through and why.
	Collections []CollectionPreview
}

// CollectionPreview is one collection's part of a Preview.
type CollectionPreview struct {
	Name     string
	Strategy restore.Strategy
	Reason   string
}

// PreviewPlan plans m onto pods (Ready pod names) with restore.Plan. Peer
// ids are not known without asking Qdrant, so each pod stands in as a peer
// numbered by its position and the cluster is taken as empty: the strategy
// and its reason follow from the counts, while the restore Job makes the
// real plan against the live cluster.
func PreviewPlan(m *manifest.Manifest, pods []string, opts restore.PlanOptions) (Preview, error) {
	target := restore.Target{Peers: make([]restore.TargetPeer, len(pods))}
	for i, p := range pods {
		target.Peers[i] = restore.TargetPeer{ID: uint64(i) + 1, Pod: p}
	}
	// Existing collections are unknown here; the Job checks them.
	opts.Overwrite = true
	plan, err := restore.Plan(m, target, opts)
	if err != nil {
		return Preview{}, err
	}
	p := Preview{SourcePods: plan.SourcePods, TargetPods: plan.TargetPods, Strategy: plan.Strategy, Reason: plan.Reason}
	for _, c := range plan.Collections {
		cp := CollectionPreview{Name: c.Target, Strategy: c.Strategy, Reason: c.Reason}
		if r := c.Reshard; r != nil {
			cp.Strategy = restore.StrategyReshard
			cp.Reason = fmt.Sprintf("%d → %d shards through a staging copy", r.FromShards, r.ToShards)
			if opts.Shards == 0 {
				cp.Reason += fmt.Sprintf(": %d shards × replication factor %d cannot reach all %d pods", r.FromShards, c.ReplicationFactor, plan.TargetPods)
			}
		}
		p.Collections = append(p.Collections, cp)
	}
	return p, nil
}
