package qdrantsim

import (
	"context"
	"encoding/json"
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
	// Warnings exist from 1.16, omitted when empty; UpdateQueue from 1.17
	// (lib/collection/src/operations/types.rs CollectionInfo).
	Warnings    []CollectionWarning `json:"warnings,omitempty"`
	UpdateQueue *UpdateQueueInfo    `json:"update_queue,omitempty"`
}

// CollectionWarning is one configuration warning of a collection.
type CollectionWarning struct {
	Message string `json:"message"`
}

// UpdateQueueInfo is the number of updates waiting for the update worker.
type UpdateQueueInfo struct {
	Length int `json:"length"`
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

// ListCollections returns the collection names, sorted, as p has applied
// them (lib/storage/src/content_manager/toc reads the local state).
func (p *Peer) ListCollections(ctx context.Context) ([]string, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.viewLocked(p)
	names := make([]string, 0, len(v.colls))
	for n := range v.colls {
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
	_, ok := c.viewLocked(p).colls[name]
	return ok, nil
}

// CreateCollection creates a collection and places its shards (§4.5):
// each shard gets min(replication_factor, peers) Active replicas on the
// peers with the fewest replicas so far, random tie-break. Custom sharding
// creates no shards. It returns once every peer has applied the creation
// (lib/storage/src/dispatcher.rs syncs all nodes for it).
func (p *Peer) CreateCollection(ctx context.Context, name string, req CreateCollection) error {
	if err := p.c.ver.validateCollectionName(name, true); err != nil {
		return err
	}
	// Qdrant validates the body while extracting it, before any state is
	// read (src/actix/api/collections_api.rs create_collection).
	if _, err := buildConfig(req, 1); err != nil {
		return err
	}
	return p.consensusOp(ctx, waitAll, func() error {
		// lib/storage/src/dispatcher.rs checks the 1.15 write lock of the
		// receiving peer before proposing.
		if err := p.lockErrorLocked(); err != nil {
			return err
		}
		return p.c.createCollectionLocked(name, req)
	})
}

func (c *Cluster) createCollectionLocked(name string, req CreateCollection) error {
	if _, ok := c.colls[name]; ok {
		return errf(KindAlreadyExists, "Collection `%s` already exists!", name)
	}
	// lib/storage/src/content_manager/toc/create_collection.rs: a name
	// taken by an alias is a bad input (400), checked after the
	// collection's own existence.
	if _, ok := c.aliases[name]; ok {
		return errf(KindBadInput, "Can't create collection with name %s. Alias with the same name already exists", name)
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
			d := newReplicaData(c.newUUID())
			d.lineage = lineageOf(col.uuid, s.id)
			c.peerLocked(pid).localShardsLocked(name)[s.id] = d
		}
	}
	for _, p := range c.peers {
		p.initSizeCacheLocked(col)
	}
	c.commitLocked(proposal{what: "create collection", droppable: true})
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
// stored snapshots stay. It returns false if the collection did not exist,
// and waits only for p to apply the deletion (Qdrant's dispatcher does not
// sync other nodes for it, lib/storage/src/dispatcher.rs).
func (p *Peer) DeleteCollection(ctx context.Context, name string) (bool, error) {
	existed := false
	err := p.consensusOp(ctx, waitSelf, func() error {
		if _, ok := p.c.colls[name]; ok {
			existed = true
			p.c.dropCollectionLocked(name)
		}
		return nil
	})
	return existed, err
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
	c.commitLocked(proposal{what: "delete collection", droppable: true})
}

// UpdateCollection applies PATCH /collections/{c}.
func (p *Peer) UpdateCollection(ctx context.Context, name string, req UpdateCollection) error {
	c := p.c
	return p.consensusOp(ctx, waitSelf, func() error {
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
		c.commitLocked(proposal{what: "update collection", droppable: true})
		return nil
	})
}

// CollectionInfo returns GET /collections/{c}; points_count counts one
// readable replica per shard. Existence and config are p's applied view.
func (p *Peer) CollectionInfo(ctx context.Context, name string) (*CollectionInfo, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	vcol, err := resolveIn(c.viewLocked(p), name)
	if err != nil {
		return nil, err
	}
	col := vcol
	if cur := c.colls[vcol.name]; cur != nil && cur.uuid == vcol.uuid {
		col = cur
	}
	var n, indexed uint64
	segments := 0
	for _, id := range col.shardIDs() {
		if d := p.readReplicaLocked(col, id); d != nil {
			n += uint64(d.count())
			indexed += indexedVectorsLocked(col, d)
		}
		if _, ok := p.data[col.name][id]; ok {
			segments++
		}
	}
	info := &CollectionInfo{Status: "green", OptimizerStatus: "ok", PointsCount: n, IndexedVectorsCount: indexed, SegmentsCount: segments,
		Config: vcol.config, PayloadSchema: p.payloadSchemaInfoLocked(col)}
	if c.ver.atLeast(1, 16, 0) {
		info.Warnings = configWarnings(vcol.config)
	}
	if c.ver.atLeast(1, 17, 0) {
		// The queue of this peer's local replicas: updates acknowledged
		// with wait=false that the update worker has not applied yet.
		q := &UpdateQueueInfo{}
		for _, d := range p.data[col.name] {
			q.Length += len(d.pending)
		}
		info.UpdateQueue = q
	}
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
	return aliasesIn(c.viewLocked(p), ""), nil
}

// CollectionAliases returns the aliases of one collection.
func (p *Peer) CollectionAliases(ctx context.Context, name string) ([]AliasDescription, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.viewLocked(p)
	if _, err := resolveIn(v, name); err != nil {
		return nil, err
	}
	return aliasesIn(v, name), nil
}

func aliasesIn(v *metaView, coll string) []AliasDescription {
	out := []AliasDescription{}
	for a, t := range v.aliases {
		if coll == "" || t == coll {
			out = append(out, AliasDescription{AliasName: a, CollectionName: t})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AliasName < out[j].AliasName })
	return out
}

// UpdateAliases applies alias actions atomically: all or nothing. With a
// create or rename it returns once every peer applied the change, else
// once p did (lib/storage/src/dispatcher.rs).
func (p *Peer) UpdateAliases(ctx context.Context, actions []AliasAction) error {
	mode := waitSelf
	for _, a := range actions {
		if a.CreateAlias != nil || a.RenameAlias != nil {
			mode = waitAll
		}
	}
	return p.consensusOp(ctx, mode, func() error { return p.c.updateAliasesLocked(actions) })
}

func (c *Cluster) updateAliasesLocked(actions []AliasAction) error {
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
	c.commitLocked(proposal{what: "change aliases", droppable: true})
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

// configWarnings is CollectionConfigInternal::get_warnings
// (lib/collection/src/config.rs): per vector, in name order, an
// hnsw_config.inline_storage (collection-wide or the vector's own) that
// cannot apply, with multivectors or without any quantization.
func configWarnings(cfg collectionConfig) []CollectionWarning {
	dense, _, err := vectorMaps(cfg.Params)
	if err != nil {
		return nil
	}
	var out []CollectionWarning
	for _, name := range sortedKeys(dense) {
		v := dense[name]
		inline, _ := cfg.HNSW["inline_storage"].(bool)
		if own, ok := dig(v, "hnsw_config", "inline_storage").(bool); ok {
			inline = own
		}
		if !inline {
			continue
		}
		quantized := v["quantization_config"] != nil || !isNull(cfg.Quantization)
		switch {
		case v["multivector_config"] != nil:
			out = append(out, CollectionWarning{Message: "The `hnsw_config.inline_storage` option for vector '" + name +
				"' is not compatible with multivectors. This option will be ignored."})
		case !quantized:
			out = append(out, CollectionWarning{Message: "The `hnsw_config.inline_storage` option for vector '" + name +
				"' requires quantization to be enabled. This option will be ignored."})
		}
	}
	return out
}

// indexedVectorsLocked is the indexed_vectors_count of one replica (one
// segment): the indexing optimizer (lib/collection/src/
// collection_manager/optimizers/indexing_optimizer.rs) builds the HNSW
// index of a segment once a dense vector's storage reaches
// optimizers_config.indexing_threshold kilobytes (10000 when unset, never
// when 0); the simulator indexes at once where Qdrant's optimizer takes a
// moment.
func indexedVectorsLocked(col *collection, d *replicaData) uint64 {
	threshold := 10000.0
	if v, ok := col.config.Optimizer["indexing_threshold"].(float64); ok {
		threshold = v
	}
	if threshold <= 0 || d.synthetic != nil {
		return 0
	}
	bytes, count := map[string]int{}, map[string]int{}
	for _, pt := range d.points {
		for name, v := range pt.vectors {
			if v.sparse == nil {
				bytes[name] += 4 * v.floats()
				count[name]++
			}
		}
	}
	var n uint64
	for name, b := range bytes {
		if float64(b) >= threshold*1024 {
			n += uint64(count[name])
		}
	}
	return n
}
