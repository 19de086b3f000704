package restore

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/qbackup/qbackup/internal/manifest"
)

// Strategy names how shards are placed on the target cluster.
type Strategy string

// Strategies. Auto is only an option value: a plan always records the
// strategy it resolved to.
const (
	StrategyAuto         Strategy = "auto"
	StrategyDirect       Strategy = "direct"
	StrategyConsolidate  Strategy = "consolidate"
	StrategyRedistribute Strategy = "redistribute"
	StrategyReshard      Strategy = "reshard"
)

// ParseStrategy reads a --plan value.
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case "", StrategyAuto:
		return StrategyAuto, nil
	case StrategyDirect, StrategyConsolidate, StrategyRedistribute:
		return st, nil
	}
	return "", fmt.Errorf("--plan %q: want auto, direct, consolidate or redistribute: %w", s, ErrInvalidOptions)
}

// TargetPeer is one peer of the cluster being restored into.
type TargetPeer struct {
	ID  uint64 `json:"peer_id"`
	Pod string `json:"pod,omitempty"`
	// URI is the REST address of the peer.
	URI string `json:"uri,omitempty"`
	// Version is what GET / reported on this peer.
	Version string `json:"version,omitempty"`
}

// Target is what the planner knows about the cluster now.
type Target struct {
	Peers []TargetPeer
	// Collections are the names of the collections that exist now.
	Collections []string
	// Aliases maps each existing alias to its collection.
	Aliases map[string]string
}

// PlanOptions are the user's choices.
type PlanOptions struct {
	Strategy Strategy
	// TargetNode, a pod name or a peer id, consolidates everything onto one
	// peer.
	TargetNode string
	// ReplicationFactor overrides the recorded one; 0 keeps the recorded
	// factor, capped at the number of pods that will hold the collection.
	ReplicationFactor uint32
	// Shards reshards to this many shards; 0 keeps the recorded count.
	Shards uint32
	// AutoShards reshards each auto-sharded collection whose shards ×
	// replication factor cannot give every pod a replica, when the
	// cluster has more pods than the backup's had, to the smallest count
	// that can (AutoShardCount); the others keep their count. Exclusive
	// with Shards.
	AutoShards bool
	// Collections restricts the restore to these backup collections.
	Collections []string
	Rename      Rename
	// Overwrite allows replacing existing target collections and aliases.
	Overwrite bool
}

// RestorePlan is the complete, deterministic description of a restore.
// Field names are a JSON contract: consumers must ignore unknown fields.
type RestorePlan struct {
	BackupID      string `json:"backup_id"`
	Cluster       string `json:"cluster"`
	SourceVersion string `json:"source_version"`
	TargetVersion string `json:"target_version,omitempty"`
	// SourcePods (N) and TargetPods (M) drive the automatic strategy.
	SourcePods int      `json:"source_pods"`
	TargetPods int      `json:"target_pods"`
	Strategy   Strategy `json:"strategy"`
	Reason     string   `json:"reason"`
	// TargetNode is set when everything is consolidated onto one peer.
	TargetNode  *uint64          `json:"target_node,omitempty"`
	Overwrite   bool             `json:"overwrite,omitempty"`
	Peers       []TargetPeer     `json:"peers"`
	Collections []CollectionPlan `json:"collections"`
	TotalBytes  int64            `json:"total_bytes"`
	ShardCount  int              `json:"shard_count"`
	Warnings    []string         `json:"warnings,omitempty"`

	// Manifest is the backup the plan was made from; the executor reads
	// collection configs, payload schemas and samples from it.
	Manifest *manifest.Manifest `json:"-"`
}

// CollectionPlan is the plan of one collection.
type CollectionPlan struct {
	Source   string   `json:"source"`
	Target   string   `json:"target"`
	Strategy Strategy `json:"strategy"`
	Reason   string   `json:"reason"`
	// Exists is true when the target collection exists now; Replace is true
	// when it will be deleted first (--overwrite).
	Exists         bool   `json:"exists,omitempty"`
	Replace        bool   `json:"replace,omitempty"`
	ShardingMethod string `json:"sharding_method"`
	// ShardNumber and ReplicationFactor are what the collection is created
	// with. For custom sharding ShardNumber is per shard key.
	ShardNumber               uint32 `json:"shard_number"`
	ReplicationFactor         uint32 `json:"replication_factor"`
	RecordedReplicationFactor uint32 `json:"recorded_replication_factor"`
	WriteConsistencyFactor    uint32 `json:"write_consistency_factor"`
	PointsCount               uint64 `json:"points_count"`
	// ShardKeys are created, in this order, before any shard is recovered.
	ShardKeys []ShardKeyPlan `json:"shard_keys,omitempty"`
	Shards    []ShardPlan    `json:"shards"`
	// Transfers are the redistribution steps predicted from the placement
	// after recovery; the executor recomputes them from the live placement.
	Transfers []Transfer   `json:"transfers,omitempty"`
	Aliases   []AliasPlan  `json:"aliases,omitempty"`
	Reshard   *ReshardPlan `json:"reshard,omitempty"`
	Warnings  []string     `json:"warnings,omitempty"`
}

// ShardKeyPlan is one custom shard key to create.
type ShardKeyPlan struct {
	Key          manifest.ShardKeyValue `json:"key"`
	ShardsNumber uint32                 `json:"shards_number"`
	// ReplicationFactor is what the key is created with: the replicas of
	// each of its shards after recovery. RecordedReplicationFactor is the
	// backup's for the key, 0 when the set predates it (the key then
	// gets the collection's factor).
	ReplicationFactor         uint32 `json:"replication_factor"`
	RecordedReplicationFactor uint32 `json:"recorded_replication_factor,omitempty"`
	// Placement is the peer pool Qdrant places the key's replicas on.
	Placement []uint64 `json:"placement"`
	// SourceShardIDs are the backup's shard ids of this key, in order;
	// Qdrant allocates new ids on creation, matched to these by position.
	SourceShardIDs []uint32 `json:"source_shard_ids"`
}

// ShardPlan is one shard: the object restored and where it goes.
type ShardPlan struct {
	ID       uint32                  `json:"shard_id"`
	ShardKey *manifest.ShardKeyValue `json:"shard_key,omitempty"`
	// Object is empty for a shard missing from a partial backup: the shard
	// is created empty.
	Object      string `json:"object,omitempty"`
	Compression string `json:"compression,omitempty"`
	// Encryption is the object's client-side encryption, nil without.
	Encryption     *manifest.Encryption `json:"encryption,omitempty"`
	Size           int64                `json:"size"`
	SHA256         string               `json:"sha256,omitempty"`
	SnapshotSize   int64                `json:"snapshot_size"`
	SnapshotSHA256 string               `json:"snapshot_sha256,omitempty"`
	PointsCount    uint64               `json:"points_count"`
	SourcePeer     uint64               `json:"source_peer,omitempty"`
	// Primary receives the snapshot. Replicas is the replica set once
	// recovery has settled (Primary included; the others are filled by
	// Qdrant's replication). Final is the replica set after
	// redistribution, equal to Replicas when nothing moves.
	Primary  uint64   `json:"primary"`
	Replicas []uint64 `json:"replicas"`
	Final    []uint64 `json:"final"`

	// recorded are the other peers that held the shard at backup time.
	recorded []uint64
}

// TransferKind is a cluster operation used to redistribute shards.
type TransferKind string

// Transfer kinds, named as in Qdrant's cluster update API.
const (
	TransferMove      TransferKind = "move_shard"
	TransferReplicate TransferKind = "replicate_shard"
	TransferDrop      TransferKind = "drop_replica"
)

// Transfer is one redistribution step. For drop_replica only To... is
// unused and From is the peer losing its replica.
type Transfer struct {
	Kind    TransferKind `json:"kind"`
	ShardID uint32       `json:"shard_id"`
	From    uint64       `json:"from"`
	To      uint64       `json:"to,omitempty"`
}

// AliasPlan is one alias pointed at a restored collection.
type AliasPlan struct {
	Alias      string `json:"alias"`
	Collection string `json:"collection"`
	// Replaces is the collection the alias points at now, when it exists.
	Replaces string `json:"replaces,omitempty"`
}

// ReshardPlan restores into a staging collection with the recorded shard
// count, then copies the points into the target created with Shards
// shards, then deletes the staging collection.
type ReshardPlan struct {
	FromShards uint32 `json:"from_shards"`
	ToShards   uint32 `json:"to_shards"`
	Staging    string `json:"staging"`
	// Method is "copy": a streamed scroll→upsert. Qdrant's own resharding
	// is a Qdrant Cloud feature that open-source builds refuse.
	Method string `json:"method"`
}

// Plan decides how to restore m onto target. It does no I/O; equal inputs
// give equal plans.
func Plan(m *manifest.Manifest, target Target, opts PlanOptions) (*RestorePlan, error) {
	if m == nil {
		return nil, fmt.Errorf("plan restore: no manifest: %w", ErrInvalidOptions)
	}
	if len(target.Peers) == 0 {
		return nil, fmt.Errorf("plan restore of %s: %w", m.BackupID, ErrNoPeers)
	}
	peers := slices.Clone(target.Peers)
	slices.SortFunc(peers, comparePeers)
	p := &RestorePlan{
		BackupID:      m.BackupID,
		Cluster:       m.Cluster,
		SourceVersion: m.QdrantVersion,
		TargetVersion: targetVersion(peers),
		SourcePods:    len(m.Peers),
		TargetPods:    len(peers),
		Overwrite:     opts.Overwrite,
		Peers:         peers,
		Manifest:      m,
	}
	cols, err := selectCollections(m, opts)
	if err != nil {
		return nil, err
	}
	pp, err := planPeers(m, peers, opts)
	if err != nil {
		return nil, err
	}
	p.Strategy, p.Reason, p.TargetNode = pp.strategy, pp.reason, pp.targetNode
	p.Warnings = append(p.Warnings, versionWarnings(m.QdrantVersion, p.TargetVersion)...)
	if m.Partial {
		p.Warnings = append(p.Warnings, "the backup is partial: shards without an object are created empty")
	}

	existing := map[string]bool{}
	for _, c := range target.Collections {
		existing[c] = true
	}
	load := loadMap{}
	targets := map[string]string{}
	for _, c := range cols {
		cp, err := planCollection(c, pp, opts, existing, load)
		if err != nil {
			return nil, err
		}
		if prev, dup := targets[cp.Target]; dup {
			return nil, fmt.Errorf("plan restore: %q and %q would both be restored as %q: %w", prev, c.Name, cp.Target, ErrInvalidOptions)
		}
		targets[cp.Target] = c.Name
		p.Collections = append(p.Collections, cp)
	}
	planAliases(p, target.Aliases, existing, opts.Overwrite)
	for _, c := range p.Collections {
		for _, s := range c.Shards {
			p.TotalBytes += s.Size
			p.ShardCount++
		}
		p.Warnings = append(p.Warnings, c.Warnings...)
	}
	return p, nil
}

// comparePeers orders peers by pod name, then id, so that pod qdrant-0
// comes first whatever ids consensus handed out.
func comparePeers(a, b TargetPeer) int {
	if c := strings.Compare(a.Pod, b.Pod); c != 0 {
		return c
	}
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

// targetVersion is the lowest version reported by the target peers: the
// policy checks must hold for every peer.
func targetVersion(peers []TargetPeer) string {
	var low string
	var lowV Version
	for _, p := range peers {
		v, err := ParseVersion(p.Version)
		if err != nil {
			continue
		}
		if low == "" || v.Compare(lowV) < 0 {
			low, lowV = p.Version, v
		}
	}
	return low
}

func versionWarnings(source, target string) []string {
	sv, err1 := ParseVersion(source)
	tv, err2 := ParseVersion(target)
	switch {
	case err1 != nil || err2 != nil:
		return nil
	case tv.Compare(sv) < 0:
		return []string{fmt.Sprintf("target Qdrant %s is older than the backup's %s: preflight will refuse", target, source)}
	case tv.MinorsAhead(sv) > 1:
		return []string{fmt.Sprintf("target Qdrant %s is more than one minor version ahead of the backup's %s: Qdrant only guarantees storage compatibility across one minor version", target, source)}
	}
	return nil
}

// selectCollections applies --collections and checks --rename names.
func selectCollections(m *manifest.Manifest, opts PlanOptions) ([]manifest.Collection, error) {
	for _, n := range opts.Rename.sources() {
		if m.Collection(n) == nil {
			return nil, fmt.Errorf("--rename %s: %q: %w", n, n, ErrUnknownCollection)
		}
	}
	var out []manifest.Collection
	if len(opts.Collections) == 0 {
		out = slices.Clone(m.Collections)
	} else {
		seen := map[string]bool{}
		for _, n := range opts.Collections {
			c := m.Collection(n)
			if c == nil {
				return nil, fmt.Errorf("--collections: %q: %w", n, ErrUnknownCollection)
			}
			if !seen[n] {
				seen[n] = true
				out = append(out, *c)
			}
		}
	}
	slices.SortFunc(out, func(a, b manifest.Collection) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// planAliases points each recorded alias at its restored collection. An
// alias that exists now and points elsewhere is only taken over with
// --overwrite: a drill restored under --rename must not steal live
// traffic.
func planAliases(p *RestorePlan, live map[string]string, existing map[string]bool, overwrite bool) {
	for i := range p.Collections {
		cp := &p.Collections[i]
		src := p.Manifest.Collection(cp.Source)
		if cp.Replace {
			for _, a := range slices.Sorted(maps.Keys(live)) {
				if live[a] == cp.Target && !slices.Contains(src.Aliases, a) {
					cp.Warnings = append(cp.Warnings, fmt.Sprintf("alias %q of the replaced collection %q goes with it (the backup does not record it)", a, cp.Target))
				}
			}
		}
		aliases := slices.Clone(src.Aliases)
		slices.Sort(aliases)
		for _, a := range slices.Compact(aliases) {
			now, exists := live[a]
			switch {
			case existing[a]:
				cp.Warnings = append(cp.Warnings, fmt.Sprintf("alias %q not restored: a collection has that name", a))
			case exists && now != cp.Target && !overwrite:
				cp.Warnings = append(cp.Warnings, fmt.Sprintf("alias %q not restored: it points at %q now (use --overwrite to repoint it)", a, now))
			case exists && now == cp.Target:
				cp.Aliases = append(cp.Aliases, AliasPlan{Alias: a, Collection: cp.Target})
			case exists:
				cp.Aliases = append(cp.Aliases, AliasPlan{Alias: a, Collection: cp.Target, Replaces: now})
			default:
				cp.Aliases = append(cp.Aliases, AliasPlan{Alias: a, Collection: cp.Target})
			}
		}
	}
}

// restoreName is the collection the snapshots go into: the staging
// collection when resharding.
func restoreName(c CollectionPlan) string {
	if c.Reshard != nil {
		return c.Reshard.Staging
	}
	return c.Target
}
