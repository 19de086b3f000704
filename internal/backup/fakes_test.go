package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// ---- storage ----------------------------------------------------------

type memObject struct {
	data []byte
	mod  time.Time
}

// fakeStore is an in-memory Store with conditional puts, a log of
// committed writes, and fault hooks.
type fakeStore struct {
	mu      sync.Mutex
	objects map[string]memObject
	// puts lists the keys of completed Puts, in order.
	puts []string
	// putErr, when set, fails the Put of matching keys after reading
	// the body.
	putErr func(key string) error
	now    func() time.Time
}

func newFakeStore() *fakeStore { return &fakeStore{objects: map[string]memObject{}} }

func (s *fakeStore) modTime() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *fakeStore) Put(ctx context.Context, key string, r io.Reader) error {
	var b bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("put %s: read body: %w", key, err)
		}
	}
	if s.putErr != nil {
		if err := s.putErr(key); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = memObject{data: b.Bytes(), mod: s.modTime()}
	s.puts = append(s.puts, key)
	return nil
}

func (s *fakeStore) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[key]; ok {
		return fmt.Errorf("put %s: %w", key, ErrObjectExists)
	}
	s.objects[key] = memObject{data: b, mod: s.modTime()}
	s.puts = append(s.puts, key)
	return nil
}

func (s *fakeStore) Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", key, ErrObjectNotFound)
	}
	return io.NopCloser(bytes.NewReader(o.data[offset:])), nil
}

func (s *fakeStore) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	s.mu.Lock()
	var infos []ObjectInfo
	for _, k := range slices.Sorted(maps.Keys(s.objects)) {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, ObjectInfo{Key: k, Size: int64(len(s.objects[k].data)), ModTime: s.objects[k].mod})
		}
	}
	s.mu.Unlock()
	for _, o := range infos {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeStore) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	return nil
}

func (s *fakeStore) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.objects))
}

func (s *fakeStore) get(t *testing.T, key string) []byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[key]
	if !ok {
		t.Fatalf("object %s not in storage (have %v)", key, slices.Sorted(maps.Keys(s.objects)))
	}
	return o.data
}

func (s *fakeStore) set(key string, data []byte, mod time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = memObject{data: data, mod: mod}
}

// ---- Qdrant cluster ----------------------------------------------------

type fakeShard struct {
	id       uint32
	key      *manifest.ShardKeyValue
	replicas map[uint64]string // peer → state
	points   uint64
	size     int // snapshot payload bytes
}

type fakeCollection struct {
	name     string
	info     qdrant.CollectionInfo
	shards   []*fakeShard
	points   []qdrant.Point
	transfer []qdrant.ShardTransfer
}

// fakeCluster is the shared state of the fake peers.
type fakeCluster struct {
	mu          sync.Mutex
	version     string
	collections map[string]*fakeCollection
	aliases     map[string]string

	// Faults and observations, keyed by "collection/shard".
	truncate     map[string]error // the stream ends with this error half way (nil error: a clean early EOF)
	block        map[string]bool  // the stream blocks half way until cancelled
	dropOnce     map[string]bool  // stored download drops once half way
	slowRead     time.Duration
	active       int
	maxActive    int
	activePeer   map[uint64]int
	maxPeer      map[uint64]int
	blocked      chan string // receives a key when a stream starts blocking
	writesLocked bool
	lockCalls    int
	unlockCalls  int
	stored       map[string][]byte // peer/collection/shard/name → bytes
	created      int
	downloads    int
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{
		version: "1.15.5", collections: map[string]*fakeCollection{}, aliases: map[string]string{},
		truncate: map[string]error{}, block: map[string]bool{}, dropOnce: map[string]bool{},
		activePeer: map[uint64]int{}, maxPeer: map[uint64]int{}, stored: map[string][]byte{},
		blocked: make(chan string, 100),
	}
}

// addCollection adds an auto-sharded collection whose shard i has
// replicas on peers placement[i] (all Active).
func (c *fakeCluster) addCollection(name string, rf uint32, placement [][]uint64) *fakeCollection {
	fc := &fakeCollection{name: name, info: qdrant.CollectionInfo{
		Status: "green", Config: []byte(fmt.Sprintf(`{"params":{"vectors":{"size":4,"distance":"Cosine"},"shard_number":%d,"replication_factor":%d}}`, len(placement), rf)),
		PayloadSchema: []byte(`{}`), ShardingMethod: "auto", ShardNumber: uint32(len(placement)), ReplicationFactor: rf, WriteConsistencyFactor: 1,
	}}
	for i, peers := range placement {
		s := &fakeShard{id: uint32(i), replicas: map[uint64]string{}, points: uint64(10 * (i + 1)), size: 20000 + 1000*i}
		for _, p := range peers {
			s.replicas[p] = qdrant.StateActive
		}
		fc.shards = append(fc.shards, s)
	}
	for i := range 5 {
		fc.points = append(fc.points, qdrant.Point{ID: qdrant.PointID{Num: uint64(i + 1)},
			Vectors: map[string]qdrant.Vector{"": {Dense: []float32{float32(i), 1, 2, 3}}}, Payload: map[string]any{"n": int64(i)}})
	}
	c.collections[name] = fc
	return fc
}

func (c *fakeCluster) shard(collection string, id uint32) *fakeShard {
	for _, s := range c.collections[collection].shards {
		if s.id == id {
			return s
		}
	}
	return nil
}

// snapshotBytes is a real tar archive, different per shard.
func snapshotBytes(collection string, s *fakeShard) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	unit := []byte(fmt.Sprintf("%s/%d;", collection, s.id))
	payload := bytes.Repeat(unit, s.size/len(unit)+1)[:s.size]
	for _, f := range []struct {
		name string
		data []byte
	}{{"replica_state.json", []byte(`{"is_local":true}`)}, {"segments/x/data.bin", payload}} {
		_ = tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(f.data)
	}
	_ = tw.Close()
	return b.Bytes()
}

type fakePeer struct {
	id uint64
	c  *fakeCluster
}

func (p *fakePeer) Version(ctx context.Context) (string, error) { return p.c.version, nil }

func (p *fakePeer) ListCollections(ctx context.Context) ([]string, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return slices.Sorted(maps.Keys(p.c.collections)), nil
}

func (p *fakePeer) ListAliases(ctx context.Context) (map[string]string, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return maps.Clone(p.c.aliases), nil
}

func (p *fakePeer) CollectionInfo(ctx context.Context, name string) (*qdrant.CollectionInfo, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	fc, ok := p.c.collections[name]
	if !ok {
		return nil, fmt.Errorf("read collection %q: %w", name, qdrant.ErrNotFound)
	}
	info := fc.info
	return &info, nil
}

func (p *fakePeer) CollectionCluster(ctx context.Context, name string) (*qdrant.CollectionCluster, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	fc := p.c.collections[name]
	cc := &qdrant.CollectionCluster{PeerID: p.id, ShardCount: len(fc.shards), ShardTransfers: fc.transfer}
	for _, s := range fc.shards {
		for _, peer := range slices.Sorted(maps.Keys(s.replicas)) {
			if peer == p.id {
				cc.LocalShards = append(cc.LocalShards, qdrant.LocalShard{ShardID: s.id, ShardKey: s.key, PointsCount: s.points, State: s.replicas[peer]})
			} else {
				cc.RemoteShards = append(cc.RemoteShards, qdrant.RemoteShard{ShardID: s.id, ShardKey: s.key, PeerID: peer, State: s.replicas[peer]})
			}
		}
	}
	return cc, nil
}

func (p *fakePeer) local(collection string, shard uint32) (*fakeShard, error) {
	s := p.c.shard(collection, shard)
	if s == nil {
		return nil, fmt.Errorf("shard %d of %q: %w", shard, collection, qdrant.ErrNotFound)
	}
	if _, ok := s.replicas[p.id]; !ok {
		return nil, fmt.Errorf("shard %d is not a local shard of peer %d", shard, p.id)
	}
	return s, nil
}

func (p *fakePeer) StreamShardSnapshot(ctx context.Context, collection string, shard uint32) (io.ReadCloser, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	s, err := p.local(collection, shard)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s/%d", collection, shard)
	data := snapshotBytes(collection, s)
	st := &fakeStream{ctx: ctx, p: p, data: data, cut: -1, slow: p.c.slowRead}
	if err, ok := p.c.truncate[key]; ok {
		st.cut, st.cutErr = len(data)/2, err
	}
	if p.c.block[key] {
		st.blockAt, st.key = len(data)/2, key
	}
	p.c.active++
	p.c.activePeer[p.id]++
	p.c.maxActive = max(p.c.maxActive, p.c.active)
	p.c.maxPeer[p.id] = max(p.c.maxPeer[p.id], p.c.activePeer[p.id])
	return st, nil
}

// fakeStream serves snapshot bytes in small reads and honours ctx like an
// HTTP body does.
type fakeStream struct {
	ctx     context.Context
	p       *fakePeer
	data    []byte
	off     int
	cut     int
	cutErr  error
	blockAt int
	key     string
	slow    time.Duration
	closed  bool
}

func (s *fakeStream) Read(b []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	if s.blockAt > 0 && s.off >= s.blockAt {
		s.p.c.blocked <- s.key
		<-s.ctx.Done()
		return 0, s.ctx.Err()
	}
	if s.cut >= 0 && s.off >= s.cut {
		if s.cutErr == nil {
			return 0, io.EOF
		}
		return 0, s.cutErr
	}
	if s.off >= len(s.data) {
		return 0, io.EOF
	}
	if s.slow > 0 {
		time.Sleep(s.slow)
	}
	end := min(len(s.data), s.off+min(len(b), 4096))
	if s.cut >= 0 {
		end = min(end, s.cut)
	}
	if s.blockAt > 0 {
		end = min(end, s.blockAt)
	}
	n := copy(b, s.data[s.off:end])
	s.off += n
	return n, nil
}

func (s *fakeStream) Close() error {
	s.p.c.mu.Lock()
	defer s.p.c.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.p.c.active--
		s.p.c.activePeer[s.p.id]--
	}
	return nil
}

func (p *fakePeer) storedKey(collection string, shard uint32, name string) string {
	return fmt.Sprintf("%d/%s/%d/%s", p.id, collection, shard, name)
}

func (p *fakePeer) CreateShardSnapshot(ctx context.Context, collection string, shard uint32) (*qdrant.SnapshotDescription, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	s, err := p.local(collection, shard)
	if err != nil {
		return nil, err
	}
	p.c.created++
	name := fmt.Sprintf("%s-shard-%d-%s.snapshot", collection, shard, time.Now().UTC().Format("2006-01-02-15-04-05"))
	data := snapshotBytes(collection, s)
	p.c.stored[p.storedKey(collection, shard, name)] = data
	return &qdrant.SnapshotDescription{Name: name, Size: int64(len(data))}, nil
}

func (p *fakePeer) DownloadShardSnapshot(ctx context.Context, collection string, shard uint32, name string, offset int64) (io.ReadCloser, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	data, ok := p.c.stored[p.storedKey(collection, shard, name)]
	if !ok {
		return nil, fmt.Errorf("snapshot %s: %w", name, qdrant.ErrNotFound)
	}
	p.c.downloads++
	key := fmt.Sprintf("%s/%d", collection, shard)
	st := &fakeStream{ctx: ctx, p: p, data: data[offset:], cut: -1}
	if p.c.dropOnce[key] {
		delete(p.c.dropOnce, key)
		st.cut, st.cutErr = len(st.data)/2, io.ErrUnexpectedEOF
	}
	if err, ok := p.c.truncate[key]; ok {
		st.cut, st.cutErr = len(st.data)/2, err
	}
	p.c.active++
	p.c.activePeer[p.id]++
	return st, nil
}

func (p *fakePeer) DeleteShardSnapshot(ctx context.Context, collection string, shard uint32, name string) error {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	k := p.storedKey(collection, shard, name)
	if _, ok := p.c.stored[k]; !ok {
		return fmt.Errorf("snapshot %s: %w", name, qdrant.ErrNotFound)
	}
	delete(p.c.stored, k)
	return nil
}

func (p *fakePeer) WritesLocked(ctx context.Context) (bool, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return p.c.writesLocked, nil
}

func (p *fakePeer) LockWrites(ctx context.Context, reason string) error {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	p.c.writesLocked = true
	p.c.lockCalls++
	return nil
}

func (p *fakePeer) UnlockWrites(ctx context.Context) error {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	p.c.writesLocked = false
	p.c.unlockCalls++
	return nil
}

func (p *fakePeer) Scroll(ctx context.Context, collection string, limit uint32, offset *qdrant.PointID, withVectors, withPayload bool) ([]qdrant.Point, *qdrant.PointID, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	pts := p.c.collections[collection].points
	return pts[:min(int(limit), len(pts))], nil, nil
}

// ---- catalogue ----------------------------------------------------------

type fakeLease struct {
	cat      *fakeCatalog
	released bool
}

func (l *fakeLease) Renew(ctx context.Context) error { return nil }
func (l *fakeLease) Release(ctx context.Context) error {
	l.cat.mu.Lock()
	defer l.cat.mu.Unlock()
	l.released = true
	l.cat.holder = ""
	return nil
}

type fakeCatalog struct {
	mu        sync.Mutex
	holder    string
	since     time.Time
	rows      map[string]*CatalogEntry // cluster/id
	reasons   map[string]string
	completed []*manifest.Manifest
	startErr  error
	leases    []*fakeLease
}

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{rows: map[string]*CatalogEntry{}, reasons: map[string]string{}}
}

func (c *fakeCatalog) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holder != "" {
		return nil, &LockHeldError{Lock: name, Holder: c.holder, Since: c.since, Expires: c.since.Add(ttl)}
	}
	c.holder, c.since = holder, time.Now()
	l := &fakeLease{cat: c}
	c.leases = append(c.leases, l)
	return l, nil
}

func (c *fakeCatalog) BackupStarted(ctx context.Context, cluster, id, holder string, startedAt time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.startErr != nil {
		return c.startErr
	}
	c.rows[cluster+"/"+id] = &CatalogEntry{Cluster: cluster, BackupID: id, Status: StatusRunning, StartedAt: startedAt}
	return nil
}

func (c *fakeCatalog) BackupCompleted(ctx context.Context, m *manifest.Manifest) error {
	return c.SyncManifest(ctx, m)
}

func (c *fakeCatalog) SyncManifest(ctx context.Context, m *manifest.Manifest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := StatusComplete
	if m.Partial {
		st = StatusPartial
	}
	c.rows[m.Cluster+"/"+m.BackupID] = &CatalogEntry{Cluster: m.Cluster, BackupID: m.BackupID, Status: st, StartedAt: m.StartedAt}
	c.completed = append(c.completed, m)
	return nil
}

func (c *fakeCatalog) BackupFailed(ctx context.Context, cluster, id, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	row, ok := c.rows[cluster+"/"+id]
	if !ok {
		t, _ := manifest.BackupIDTime(id)
		row = &CatalogEntry{Cluster: cluster, BackupID: id, StartedAt: t}
		c.rows[cluster+"/"+id] = row
	}
	row.Status = StatusFailed
	c.reasons[cluster+"/"+id] = reason
	return nil
}

func (c *fakeCatalog) ListBackups(ctx context.Context, cluster string) ([]CatalogEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []CatalogEntry
	for _, k := range slices.Sorted(maps.Keys(c.rows)) {
		if cluster == "" || c.rows[k].Cluster == cluster {
			out = append(out, *c.rows[k])
		}
	}
	return out, nil
}

func (c *fakeCatalog) DeleteBackup(ctx context.Context, cluster, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.rows, cluster+"/"+id)
	return nil
}

func (c *fakeCatalog) row(cluster, id string) (CatalogEntry, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rows[cluster+"/"+id]
	if !ok {
		return CatalogEntry{}, "", false
	}
	return *r, c.reasons[cluster+"/"+id], true
}

// ---- fixtures -------------------------------------------------------------

// testCluster is three peers: "docs" (3 shards, rf 2, alias "current"),
// "images" (named vectors, 2 shards, rf 1) and "tenants" (custom sharding,
// keys "a" with 1 shard and 7 with 2 shards).
func testCluster() *fakeCluster {
	c := newFakeCluster()
	c.addCollection("docs", 2, [][]uint64{{1, 2}, {2, 3}, {3, 1}})
	img := c.addCollection("images", 1, [][]uint64{{1}, {2}})
	img.info.Config = []byte(`{"params":{"vectors":{"image":{"size":8,"distance":"Dot"},"text":{"size":4,"distance":"Cosine"}},"shard_number":2}}`)
	ten := c.addCollection("tenants", 1, [][]uint64{{1}, {2}, {3}})
	ten.info.ShardingMethod, ten.info.ShardNumber = "custom", 1
	ka, k7 := manifest.StringKey("a"), manifest.NumberKey(7)
	ten.shards[0].key, ten.shards[1].key, ten.shards[2].key = &ka, &k7, &k7
	c.aliases["current"] = "docs"
	return c
}

func testDeps(c *fakeCluster, store Store, cat Catalog) Deps {
	d := Deps{Peers: map[uint64]Peer{}, Store: store, Topology: &discovery.Topology{}}
	if cat != nil {
		d.Catalog = cat
	}
	for _, id := range []uint64{1, 2, 3} {
		d.Topology.Peers = append(d.Topology.Peers, discovery.Peer{ID: id, Pod: fmt.Sprintf("qdrant-%d", id-1),
			Addr: qdrant.PeerAddr{REST: fmt.Sprintf("http://127.0.0.%d:6333", id+1), GRPC: fmt.Sprintf("127.0.0.%d:6334", id+1)}})
		d.Peers[id] = &fakePeer{id: id, c: c}
	}
	return d
}

var errBoom = errors.New("boom")
