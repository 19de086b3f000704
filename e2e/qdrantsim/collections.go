package qdrantsim

import (
	"context"
	"encoding/json"
	"regexp"
	"sort"
	"time"
)

// CollectionInfo is the result of GET /collections/{c}.
type CollectionInfo struct {
	Status              string                     `json:"status"`
	OptimizerStatus     string                     `json:"optimizer_status"`
	VectorsCount        *uint64                    `json:"vectors_count,omitempty"`
	IndexedVectorsCount uint64                     `json:"indexed_vectors_count"`
	PointsCount         uint64                     `json:"points_count"`
	SegmentsCount       int                        `json:"segments_count"`
	Config              collectionConfig           `json:"config"`
	PayloadSchema       map[string]json.RawMessage `json:"payload_schema"`
}

// AliasDescription is one alias.
type AliasDescription struct {
	AliasName      string `json:"alias_name"`
	CollectionName string `json:"collection_name"`
}

// AliasAction is one action of POST /collections/aliases.
type AliasAction struct {
	CreateAlias *struct {
		CollectionName string `json:"collection_name"`
		AliasName      string `json:"alias_name"`
	} `json:"create_alias,omitempty"`
	DeleteAlias *struct {
		AliasName string `json:"alias_name"`
	} `json:"delete_alias,omitempty"`
	RenameAlias *struct {
		OldAliasName string `json:"old_alias_name"`
		NewAliasName string `json:"new_alias_name"`
	} `json:"rename_alias,omitempty"`
}

var collectionNameRE = regexp.MustCompile(`^[^<>:"/\\|?*\x00-\x1f]{1,255}$`)

// resolve finds a collection by name or alias; c.mu must be held.
func (c *Cluster) resolve(name string) (*collection, error) {
	if col, ok := c.colls[name]; ok {
		return col, nil
	}
	if target, ok := c.aliases[name]; ok {
		if col, ok := c.colls[target]; ok {
			return col, nil
		}
	}
	return nil, errCollectionNotFound(name)
}

// ListCollections returns the collection names, sorted.
func (p *Peer) ListCollections(ctx context.Context) ([]string, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.colls))
	for n := range c.colls {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// CollectionExists reports whether a collection (not an alias) exists.
func (p *Peer) CollectionExists(ctx context.Context, name string) (bool, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.colls[name]
	return ok, nil
}

// CreateCollection creates a collection and places its shards (§4.5):
// each shard gets min(replication_factor, peers) Active replicas on the
// peers with the fewest replicas so far, random tie-break. Custom sharding
// creates no shards.
func (p *Peer) CreateCollection(ctx context.Context, name string, req CreateCollection) error {
	if !collectionNameRE.MatchString(name) {
		return errBadCollectionName()
	}
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := p.lockErrorLocked(); err != nil {
		return err
	}
	if _, ok := c.colls[name]; ok {
		return errf(KindAlreadyExists, "Collection `%s` already exists!", name)
	}
	if _, ok := c.aliases[name]; ok {
		return errf(KindAlreadyExists, "Alias `%s` already exists!", name)
	}
	cfg, err := buildConfig(req, len(c.peers))
	if err != nil {
		return err
	}
	c.createLocked(name, cfg, nil)
	return nil
}

// createLocked adds a collection with the given config; c.mu must be held.
func (c *Cluster) createLocked(name string, cfg collectionConfig, schema map[string]json.RawMessage) *collection {
	col := &collection{name: name, uuid: c.newUUID(), config: cfg, shards: map[uint32]*shard{}, payloadSchema: map[string]json.RawMessage{}}
	for k, v := range schema {
		col.payloadSchema[k] = v
	}
	if !col.custom() {
		ids := make([]uint32, cfg.Params.ShardNumber)
		for i := range ids {
			ids[i] = uint32(i)
		}
		c.placeShards(col, ids, nil, int(cfg.Params.ReplicationFactor), c.sortedPeerIDs(), StateActive)
	}
	c.colls[name] = col
	for _, p := range c.peers {
		delete(p.data, name)
	}
	for _, s := range col.shards {
		for pid := range s.replicas {
			c.peerLocked(pid).localShardsLocked(name)[s.id] = newReplicaData(c.newUUID())
		}
	}
	c.commit++
	return col
}

// placeShards gives every new shard min(rf, len(pool)) replicas on the
// pool peers holding the fewest replicas of col so far.
func (c *Cluster) placeShards(col *collection, ids []uint32, key *ShardKey, rf int, pool []uint64, state string) {
	load := map[uint64]int{}
	for _, pid := range pool {
		load[pid] = 0
	}
	for _, s := range col.shards {
		for pid := range s.replicas {
			if _, ok := load[pid]; ok {
				load[pid]++
			}
		}
	}
	n := min(rf, len(pool))
	now := time.Now()
	for _, id := range ids {
		cand := append([]uint64(nil), pool...)
		c.rng.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
		sort.SliceStable(cand, func(i, j int) bool { return load[cand[i]] < load[cand[j]] })
		s := &shard{id: id, key: key, replicas: map[uint64]*replica{}}
		for _, pid := range cand[:n] {
			s.replicas[pid] = &replica{state: state, since: now}
			load[pid]++
		}
		col.shards[id] = s
	}
	col.shardsChanged()
}

// localShardsLocked returns (creating) the peer's replica map of a
// collection; c.mu must be held.
func (p *Peer) localShardsLocked(coll string) map[uint32]*replicaData {
	m, ok := p.data[coll]
	if !ok {
		m = map[uint32]*replicaData{}
		p.data[coll] = m
	}
	return m
}

// DeleteCollection removes a collection, its aliases and every replica;
// stored snapshots stay. It returns false if the collection did not exist.
func (p *Peer) DeleteCollection(ctx context.Context, name string) (bool, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.colls[name]; !ok {
		return false, nil
	}
	c.dropCollectionLocked(name)
	return true, nil
}

func (c *Cluster) dropCollectionLocked(name string) {
	delete(c.colls, name)
	for a, t := range c.aliases {
		if t == name {
			delete(c.aliases, a)
		}
	}
	kept := c.transfers[:0]
	for _, t := range c.transfers {
		if t.coll != name {
			kept = append(kept, t)
		}
	}
	c.transfers = kept
	for _, q := range c.peers {
		delete(q.data, name)
	}
	c.commit++
}

// UpdateCollection applies PATCH /collections/{c}.
func (p *Peer) UpdateCollection(ctx context.Context, name string, req UpdateCollection) error {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(name)
	if err != nil {
		return err
	}
	cfg, err := applyUpdate(col.config, req)
	if err != nil {
		return err
	}
	col.config = cfg
	if req.StrictModeConfig != nil {
		col.strictGen++
	}
	c.commit++
	return nil
}

// CollectionInfo returns GET /collections/{c}; points_count counts one
// readable replica per shard.
func (p *Peer) CollectionInfo(ctx context.Context, name string) (*CollectionInfo, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(name)
	if err != nil {
		return nil, err
	}
	var n uint64
	segments := 0
	for _, id := range col.shardIDs() {
		if d := p.readReplicaLocked(col, id); d != nil {
			n += uint64(d.count())
		}
		if _, ok := p.data[col.name][id]; ok {
			segments++
		}
	}
	info := &CollectionInfo{Status: "green", OptimizerStatus: "ok", PointsCount: n, SegmentsCount: segments,
		Config: col.config, PayloadSchema: p.payloadSchemaInfoLocked(col)}
	if !c.ver.atLeast(1, 19, 0) {
		specs, _ := vectorSpecs(col.config.Params.Vectors)
		vc := n * uint64(len(specs))
		info.VectorsCount = &vc
	}
	return info, nil
}

// ListAliases returns every alias, sorted by alias name.
func (p *Peer) ListAliases(ctx context.Context) ([]AliasDescription, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aliasesLocked(""), nil
}

// CollectionAliases returns the aliases of one collection.
func (p *Peer) CollectionAliases(ctx context.Context, name string) ([]AliasDescription, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.resolve(name); err != nil {
		return nil, err
	}
	return c.aliasesLocked(name), nil
}

func (c *Cluster) aliasesLocked(coll string) []AliasDescription {
	out := []AliasDescription{}
	for a, t := range c.aliases {
		if coll == "" || t == coll {
			out = append(out, AliasDescription{AliasName: a, CollectionName: t})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AliasName < out[j].AliasName })
	return out
}

// UpdateAliases applies alias actions atomically: all or nothing.
func (p *Peer) UpdateAliases(ctx context.Context, actions []AliasAction) error {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[string]string, len(c.aliases))
	for k, v := range c.aliases {
		next[k] = v
	}
	for _, a := range actions {
		switch {
		case a.CreateAlias != nil:
			if _, ok := c.colls[a.CreateAlias.CollectionName]; !ok {
				return errCollectionNotFound(a.CreateAlias.CollectionName)
			}
			if _, ok := c.colls[a.CreateAlias.AliasName]; ok {
				return errf(KindAlreadyExists, "Collection `%s` already exists!", a.CreateAlias.AliasName)
			}
			// Creating an existing alias re-points it, as in Qdrant.
			next[a.CreateAlias.AliasName] = a.CreateAlias.CollectionName
		case a.DeleteAlias != nil:
			if _, ok := next[a.DeleteAlias.AliasName]; !ok {
				return errf(KindNotFound, "Alias %s not found", a.DeleteAlias.AliasName)
			}
			delete(next, a.DeleteAlias.AliasName)
		case a.RenameAlias != nil:
			t, ok := next[a.RenameAlias.OldAliasName]
			if !ok {
				return errf(KindNotFound, "Alias %s not found", a.RenameAlias.OldAliasName)
			}
			delete(next, a.RenameAlias.OldAliasName)
			next[a.RenameAlias.NewAliasName] = t
		default:
			return errf(KindFormat, "unknown alias action")
		}
	}
	c.aliases = next
	c.commit++
	return nil
}

// readReplicaLocked returns the data of a readable replica of a shard on a
// running peer, preferring p's own; nil if none. c.mu must be held.
func (p *Peer) readReplicaLocked(col *collection, id uint32) *replicaData {
	s := col.shards[id]
	if s == nil {
		return nil
	}
	if r, ok := s.replicas[p.id]; ok && readable(r.state) {
		if d := p.data[col.name][id]; d != nil {
			return d
		}
	}
	for _, pid := range s.peerIDs() {
		q := p.c.peerLocked(pid)
		if q == nil || !q.running || !readable(s.replicas[pid].state) {
			continue
		}
		if d := q.data[col.name][id]; d != nil {
			return d
		}
	}
	return nil
}
