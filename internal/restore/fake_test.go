package restore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/qbackup/qbackup/internal/qdrant"
)

// fakeCluster is a small in-memory Qdrant cluster with the semantics the
// executor depends on (BEHAVIOR §2.3, §4): each replica holds its own
// points; recovery replaces (or adds) the receiving replica, priority
// snapshot kills the others, no_sync leaves them; Dead replicas re-sync
// through a transfer; transfers finish after a few polls and copy the
// source's points over the target's; drops keep one Active copy.
// Snapshot bytes are a JSON list of points.
type fakeCluster struct {
	mu      sync.Mutex
	peers   []uint64
	version map[uint64]string
	colls   map[string]*fakeColl
	aliases map[string]string
	// mutations logs every call that changes the cluster.
	mutations []string
	// placedAtCreation is where each collection's replicas were placed
	// when it was created, by shard id.
	placedAtCreation map[string]map[uint32][]uint64
	// uploads counts recoveries per collection/shard.
	uploads map[string]int
	// countSkew adds points to what a peer reports for its shards in
	// cluster info, as a replica that diverged would.
	countSkew map[uint64]uint64
	// failUpload makes the next n recoveries of "coll/shard" fail with
	// status (503 transient, 400 permanent).
	failUpload map[string]fakeFailure
	// loseActivation makes the next n recoveries of "coll/shard" keep the
	// receiving replica's state: their replica state proposal is lost.
	loseActivation map[string]int
	// transferPolls is how many cluster reads a transfer takes.
	transferPolls int
	consensus     string
	// hiddenPeers are in consensus but have no client.
	hiddenPeers []uint64
	// transferred counts finished shard transfers.
	transferred int
	// upserts and scrolls record the points per upsert and the limit of
	// each scroll.
	upserts []int
	scrolls []uint32
}

type fakeFailure struct {
	n      int
	status int
	// dummy leaves the receiving replica as Qdrant does after a failed
	// restore: empty and Dead (BEHAVIOR §2.3.5).
	dummy bool
}

type fakeColl struct {
	shardNumber, rf uint32
	custom          bool
	shards          map[uint32]*fakeShard
	indexes         map[string]string
	transfers       []*fakeTransfer
	// strict is the strict_mode_config, enforced as Qdrant's strict mode
	// does for scroll limits and upsert batches.
	strict map[string]any
}

// strictLimit is a strict mode limit in force, 0 for none.
func (c *fakeColl) strictLimit(key string) int {
	if on, _ := c.strict["enabled"].(bool); !on {
		return 0
	}
	n, _ := c.strict[key].(float64)
	return int(n)
}

type fakeShard struct {
	key      *qdrant.ShardKey
	replicas map[uint64]string
	// data is each replica's points.
	data map[uint64][]qdrant.Point
}

// points are the points of the shard as reads see them: those of its
// first Active replica.
func (s *fakeShard) points() []qdrant.Point {
	for _, p := range slices.Sorted(maps.Keys(s.replicas)) {
		if s.replicas[p] == qdrant.StateActive {
			return s.data[p]
		}
	}
	return nil
}

type fakeTransfer struct {
	shard    uint32
	from, to uint64
	sync     bool
	polls    int
}

func newFakeCluster(peers []uint64, version string) *fakeCluster {
	f := &fakeCluster{
		peers: peers, version: map[uint64]string{}, colls: map[string]*fakeColl{}, aliases: map[string]string{},
		uploads: map[string]int{}, failUpload: map[string]fakeFailure{}, loseActivation: map[string]int{}, transferPolls: 2, consensus: "working",
	}
	for _, p := range peers {
		f.version[p] = version
	}
	return f
}

func (f *fakeCluster) clients() map[uint64]Peer {
	out := map[uint64]Peer{}
	for _, p := range f.peers {
		out[p] = &fakePeer{f: f, id: p}
	}
	return out
}

func (f *fakeCluster) mutate(format string, args ...any) {
	f.mutations = append(f.mutations, fmt.Sprintf(format, args...))
}

func apiErr(status int, format string, args ...any) error {
	return &qdrant.APIError{Op: "fake", Peer: "fake", Status: status, Message: fmt.Sprintf(format, args...)}
}

// tick advances transfers and Dead re-syncs by one poll.
func (f *fakeCluster) tickLocked() {
	for _, c := range f.colls {
		kept := c.transfers[:0]
		for _, t := range c.transfers {
			t.polls++
			s := c.shards[t.shard]
			if t.polls < f.transferPolls {
				kept = append(kept, t)
				continue
			}
			s.replicas[t.to] = qdrant.StateActive
			s.data[t.to] = slices.Clone(s.data[t.from])
			f.transferred++
			if !t.sync {
				delete(s.replicas, t.from)
				delete(s.data, t.from)
			}
		}
		c.transfers = kept
		for id, s := range c.shards {
			for _, p := range slices.Sorted(maps.Keys(s.replicas)) {
				if s.replicas[p] != qdrant.StateDead || c.busy(id) {
					continue
				}
				for _, q := range slices.Sorted(maps.Keys(s.replicas)) {
					if s.replicas[q] == qdrant.StateActive {
						s.replicas[p] = qdrant.StatePartial
						c.transfers = append(c.transfers, &fakeTransfer{shard: id, from: q, to: p, sync: true})
						break
					}
				}
			}
		}
	}
}

func (c *fakeColl) busy(shard uint32) bool {
	return slices.ContainsFunc(c.transfers, func(t *fakeTransfer) bool { return t.shard == shard })
}

func (f *fakeCluster) coll(name string) (*fakeColl, error) {
	if t, ok := f.aliases[name]; ok {
		name = t
	}
	c, ok := f.colls[name]
	if !ok {
		return nil, apiErr(http.StatusNotFound, "Collection `%s` doesn't exist!", name)
	}
	return c, nil
}

// place gives each shard rf replicas on the least loaded peers of pool.
func (c *fakeColl) place(ids []uint32, rf int, pool []uint64, key *qdrant.ShardKey) {
	load := map[uint64]int{}
	for _, s := range c.shards {
		for p := range s.replicas {
			load[p]++
		}
	}
	for _, id := range ids {
		cand := slices.Clone(pool)
		slices.SortStableFunc(cand, func(a, b uint64) int { return load[a] - load[b] })
		s := &fakeShard{key: key, replicas: map[uint64]string{}, data: map[uint64][]qdrant.Point{}}
		for _, p := range cand[:min(rf, len(cand))] {
			s.replicas[p] = qdrant.StateActive
			load[p]++
		}
		c.shards[id] = s
	}
}

// points returns every point of the collection, sorted by id.
func (c *fakeColl) points() []qdrant.Point {
	var out []qdrant.Point
	for _, s := range c.shards {
		out = append(out, s.points()...)
	}
	slices.SortFunc(out, func(a, b qdrant.Point) int { return int(a.ID.Num) - int(b.ID.Num) })
	return out
}

type fakePeer struct {
	f  *fakeCluster
	id uint64
}

func (p *fakePeer) Version(context.Context) (string, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	return p.f.version[p.id], nil
}

func (p *fakePeer) Cluster(context.Context) (*qdrant.ClusterStatus, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	st := &qdrant.ClusterStatus{Enabled: true, PeerID: p.id, Peers: map[uint64]string{}, Consensus: p.f.consensus}
	for _, q := range append(slices.Clone(p.f.peers), p.f.hiddenPeers...) {
		st.Peers[q] = fmt.Sprintf("http://peer-%d:6335/", q)
	}
	return st, nil
}

func (p *fakePeer) ListCollections(context.Context) ([]string, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	return slices.Sorted(maps.Keys(p.f.colls)), nil
}

func (p *fakePeer) ListAliases(context.Context) (map[string]string, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	return maps.Clone(p.f.aliases), nil
}

func (p *fakePeer) CollectionCluster(_ context.Context, name string) (*qdrant.CollectionCluster, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	p.f.tickLocked()
	c, err := p.f.coll(name)
	if err != nil {
		return nil, err
	}
	cc := &qdrant.CollectionCluster{PeerID: p.id, ShardCount: len(c.shards)}
	for _, id := range slices.Sorted(maps.Keys(c.shards)) {
		s := c.shards[id]
		for _, q := range slices.Sorted(maps.Keys(s.replicas)) {
			if q == p.id {
				n := uint64(0)
				if s.replicas[q] == qdrant.StateActive {
					n = uint64(len(s.data[q])) + p.f.countSkew[q]
				}
				cc.LocalShards = append(cc.LocalShards, qdrant.LocalShard{ShardID: id, ShardKey: s.key, PointsCount: n, State: s.replicas[q]})
			} else {
				cc.RemoteShards = append(cc.RemoteShards, qdrant.RemoteShard{ShardID: id, ShardKey: s.key, PeerID: q, State: s.replicas[q]})
			}
		}
	}
	for _, t := range c.transfers {
		cc.ShardTransfers = append(cc.ShardTransfers, qdrant.ShardTransfer{ShardID: t.shard, From: t.from, To: t.to, Sync: t.sync})
	}
	return cc, nil
}

func (p *fakePeer) CreateCollection(_ context.Context, name string, body json.RawMessage) error {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	if _, ok := p.f.colls[name]; ok {
		return apiErr(http.StatusConflict, "Collection `%s` already exists!", name)
	}
	var req struct {
		ShardNumber       uint32         `json:"shard_number"`
		ReplicationFactor uint32         `json:"replication_factor"`
		ShardingMethod    string         `json:"sharding_method"`
		Vectors           any            `json:"vectors"`
		OptimizerConfig   any            `json:"optimizer_config"`
		StrictMode        map[string]any `json:"strict_mode_config"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return apiErr(http.StatusBadRequest, "Format error in JSON body: %v", err)
	}
	if req.Vectors == nil || req.OptimizerConfig != nil {
		return apiErr(http.StatusUnprocessableEntity, "Validation error in JSON body: bad create request %s", body)
	}
	c := &fakeColl{shardNumber: max(req.ShardNumber, 1), rf: max(req.ReplicationFactor, 1), custom: req.ShardingMethod == "custom",
		shards: map[uint32]*fakeShard{}, indexes: map[string]string{}, strict: req.StrictMode}
	if !c.custom {
		ids := make([]uint32, c.shardNumber)
		for i := range ids {
			ids[i] = uint32(i)
		}
		c.place(ids, int(c.rf), p.f.peers, nil)
	}
	p.f.colls[name] = c
	if p.f.placedAtCreation == nil {
		p.f.placedAtCreation = map[string]map[uint32][]uint64{}
	}
	p.f.placedAtCreation[name] = map[uint32][]uint64{}
	for id, s := range c.shards {
		p.f.placedAtCreation[name][id] = slices.Sorted(maps.Keys(s.replicas))
	}
	p.f.mutate("create collection %s", name)
	return nil
}

func (p *fakePeer) UpdateCollection(_ context.Context, name string, body json.RawMessage) error {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	c, err := p.f.coll(name)
	if err != nil {
		return err
	}
	var req struct {
		StrictMode map[string]any `json:"strict_mode_config"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return apiErr(http.StatusBadRequest, "Format error in JSON body: %v", err)
	}
	if c.strict == nil {
		c.strict = map[string]any{}
	}
	maps.Copy(c.strict, req.StrictMode)
	p.f.mutate("update collection %s %s", name, body)
	return nil
}

func (p *fakePeer) DeleteCollection(_ context.Context, name string) error {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	delete(p.f.colls, name)
	for a, t := range p.f.aliases {
		if t == name {
			delete(p.f.aliases, a)
		}
	}
	p.f.mutate("delete collection %s", name)
	return nil
}

func (p *fakePeer) CreatePayloadIndex(_ context.Context, coll, field string, schema json.RawMessage) error {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	c, err := p.f.coll(coll)
	if err != nil {
		return err
	}
	c.indexes[field] = string(schema)
	p.f.mutate("create index %s.%s", coll, field)
	return nil
}

func (p *fakePeer) CreateShardKey(_ context.Context, coll string, key qdrant.ShardKey, n, rf uint32, placement []uint64) error {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	c, err := p.f.coll(coll)
	if err != nil {
		return err
	}
	next := uint32(0)
	for id, s := range c.shards {
		if s.key != nil && s.key.Equal(key) {
			return apiErr(http.StatusBadRequest, "Shard key %s already exists", key)
		}
		next = max(next, id+1)
	}
	ids := make([]uint32, max(n, 1))
	for i := range ids {
		// Start past the backup's ids so that a wrong mapping shows.
		ids[i] = next + 10 + uint32(i)
	}
	pool := placement
	if len(pool) == 0 {
		pool = p.f.peers
	}
	k := key
	c.place(ids, int(max(rf, 1)), pool, &k)
	p.f.mutate("create shard key %s/%s", coll, key)
	return nil
}

func (p *fakePeer) UpdateAliases(_ context.Context, actions []qdrant.AliasAction) error {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	for _, a := range actions {
		if a.Collection == "" {
			delete(p.f.aliases, a.Alias)
			continue
		}
		if _, ok := p.f.colls[a.Collection]; !ok {
			return apiErr(http.StatusNotFound, "Collection `%s` doesn't exist!", a.Collection)
		}
		p.f.aliases[a.Alias] = a.Collection
	}
	p.f.mutate("update aliases %v", actions)
	return nil
}

func (p *fakePeer) RecoverShard(ctx context.Context, coll string, shard uint32, r qdrant.RecoverRequest) error {
	return apiErr(http.StatusBadRequest, "fake cluster cannot download %s", r.Location)
}

func (p *fakePeer) UploadShardSnapshot(_ context.Context, coll string, shard uint32, r io.Reader, opts qdrant.UploadOptions) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("upload: read snapshot source: %w", err)
	}
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	ref := fmt.Sprintf("%s/%d", coll, shard)
	if fl := p.f.failUpload[ref]; fl.n > 0 {
		fl.n--
		p.f.failUpload[ref] = fl
		if c, ok := p.f.colls[coll]; ok && fl.dummy && c.shards[shard] != nil {
			c.shards[shard].replicas[p.id] = qdrant.StateDead
			c.shards[shard].data[p.id] = nil
		}
		return apiErr(fl.status, "injected failure")
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != opts.Checksum {
		return apiErr(http.StatusBadRequest, "Checksum mismatch: expected %s, actual %s", opts.Checksum, got)
	}
	if opts.Priority != qdrant.PrioritySnapshot && opts.Priority != qdrant.PriorityNoSync {
		return apiErr(http.StatusBadRequest, "fake knows priorities snapshot and no_sync")
	}
	c, err := p.f.coll(coll)
	if err != nil {
		return err
	}
	s, ok := c.shards[shard]
	if !ok {
		return apiErr(http.StatusNotFound, "shard %d not found", shard)
	}
	var pts []qdrant.Point
	if err := json.Unmarshal(data, &pts); err != nil {
		return apiErr(http.StatusBadRequest, "Invalid snapshot")
	}
	s.data[p.id] = pts
	for q, st := range s.replicas {
		if q != p.id && st == qdrant.StateActive && opts.Priority == qdrant.PrioritySnapshot {
			s.replicas[q] = qdrant.StateDead
		}
	}
	if p.f.loseActivation[ref] > 0 {
		p.f.loseActivation[ref]--
		if _, ok := s.replicas[p.id]; !ok {
			delete(s.data, p.id)
		}
	} else {
		s.replicas[p.id] = qdrant.StateActive
	}
	p.f.uploads[ref]++
	p.f.mutate("recover %s on %d", ref, p.id)
	return nil
}

func (p *fakePeer) transfer(coll string, shard uint32, from, to uint64, sync bool) error {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	c, err := p.f.coll(coll)
	if err != nil {
		return err
	}
	s, ok := c.shards[shard]
	switch {
	case !ok:
		return apiErr(http.StatusBadRequest, "Shard %d of %s does not exist", shard, coll)
	case s.replicas[from] != qdrant.StateActive:
		return apiErr(http.StatusBadRequest, "Shard %d is not active on peer %d", shard, from)
	case c.busy(shard):
		return apiErr(http.StatusBadRequest, "Shard %d is already involved in a transfer", shard)
	case s.replicas[to] != "" && s.replicas[to] != qdrant.StateDead:
		return apiErr(http.StatusBadRequest, "Shard %d already exists on peer %d", shard, to)
	}
	s.replicas[to] = qdrant.StatePartial
	c.transfers = append(c.transfers, &fakeTransfer{shard: shard, from: from, to: to, sync: sync})
	p.f.mutate("transfer %s/%d %d->%d sync=%v", coll, shard, from, to, sync)
	return nil
}

func (p *fakePeer) MoveShard(_ context.Context, coll string, shard uint32, from, to uint64) error {
	return p.transfer(coll, shard, from, to, false)
}

func (p *fakePeer) ReplicateShard(_ context.Context, coll string, shard uint32, from, to uint64) error {
	return p.transfer(coll, shard, from, to, true)
}

func (p *fakePeer) DropReplica(_ context.Context, coll string, shard uint32, peer uint64) error {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	c, err := p.f.coll(coll)
	if err != nil {
		return err
	}
	s := c.shards[shard]
	if s == nil || s.replicas[peer] == "" {
		return apiErr(http.StatusBadRequest, "Peer %d has no replica of shard %d", peer, shard)
	}
	active := 0
	for q, st := range s.replicas {
		if q != peer && st == qdrant.StateActive {
			active++
		}
	}
	if active == 0 {
		return apiErr(http.StatusBadRequest, "Shard %d must have at least one active replica after removing %d", shard, peer)
	}
	delete(s.replicas, peer)
	delete(s.data, peer)
	c.transfers = slices.DeleteFunc(c.transfers, func(t *fakeTransfer) bool { return t.shard == shard && (t.to == peer || t.from == peer) })
	p.f.mutate("drop %s/%d on %d", coll, shard, peer)
	return nil
}

func (p *fakePeer) Count(_ context.Context, coll string, exact bool, key *qdrant.ShardKey) (uint64, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	c, err := p.f.coll(coll)
	if err != nil {
		return 0, err
	}
	return uint64(len(c.points())), nil
}

func (p *fakePeer) Scroll(_ context.Context, coll string, limit uint32, offset *qdrant.PointID, vec, payload bool) ([]qdrant.Point, *qdrant.PointID, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	c, err := p.f.coll(coll)
	if err != nil {
		return nil, nil, err
	}
	p.f.scrolls = append(p.f.scrolls, limit)
	if n := c.strictLimit("max_query_limit"); n > 0 && int(limit) > n {
		return nil, nil, apiErr(http.StatusForbidden, "Forbidden: Limit exceeded %d > %d for \"limit\"", limit, n)
	}
	all := c.points()
	i := 0
	if offset != nil {
		i, _ = slices.BinarySearchFunc(all, offset.Num, func(pt qdrant.Point, n uint64) int { return int(pt.ID.Num) - int(n) })
	}
	end := min(i+int(limit), len(all))
	var next *qdrant.PointID
	if end < len(all) {
		id := all[end].ID
		next = &id
	}
	return slices.Clone(all[i:end]), next, nil
}

// UpsertPoints routes by id modulo the shard count (enough for a fake).
func (p *fakePeer) UpsertPoints(_ context.Context, coll string, pts []qdrant.Point) error {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	c, err := p.f.coll(coll)
	if err != nil {
		return err
	}
	p.f.upserts = append(p.f.upserts, len(pts))
	if n := c.strictLimit("upsert_max_batchsize"); n > 0 && len(pts) > n {
		return apiErr(http.StatusForbidden, "Forbidden: Limit exceeded %d > %d for \"upsert limit\"", len(pts), n)
	}
	for _, pt := range pts {
		s := c.shards[uint32(pt.ID.Num%uint64(c.shardNumber))]
		for r := range s.replicas {
			s.data[r] = slices.DeleteFunc(s.data[r], func(q qdrant.Point) bool { return q.ID == pt.ID })
			s.data[r] = append(s.data[r], pt)
		}
	}
	p.f.mutate("upsert %d points into %s", len(pts), coll)
	return nil
}

// memStore is an in-memory Store.
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
}

func newMemStore() *memStore { return &memStore{objects: map[string][]byte{}} }

func (m *memStore) Open(_ context.Context, key string, offset int64) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", key, fs.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(b[offset:])), nil
}

func (m *memStore) Put(_ context.Context, key string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = b
	return nil
}

func (m *memStore) keys(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
