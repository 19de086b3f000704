package qdrantsim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SnapshotDescription describes a stored snapshot.
type SnapshotDescription struct {
	Name         string  `json:"name"`
	CreationTime *string `json:"creation_time"`
	Size         int64   `json:"size"`
	Checksum     string  `json:"checksum,omitempty"`
}

// Stored snapshots live on the peer's disk like Qdrant's snapshots_path:
// {root}/{collection}/ for collection snapshots and
// {root}/{collection}/shards/{shard}/ for shard snapshots, each file with a
// .checksum sidecar. They survive collection deletion.

func (p *Peer) collectionSnapDir(coll string) string { return filepath.Join(p.snapshotRoot(), coll) }

func (p *Peer) shardSnapDir(coll string, shard uint32) string {
	return filepath.Join(p.snapshotRoot(), coll, "shards", strconv.FormatUint(uint64(shard), 10))
}

// validSnapshotName rejects names that would leave the directory; Qdrant
// reports them as not found.
func validSnapshotName(name string) bool {
	return name != "" && !strings.ContainsAny(name, `/\`) && !strings.Contains(name, "..")
}

func snapshotTimestamp(t time.Time) string { return t.UTC().Format("2006-01-02-15-04-05") }

// storeSnapshot writes an archive produced by fill into dir/name via a temp
// file, hashing it, then moves it in and writes the sidecar. A snapshot of
// the same name (same second) is replaced.
func storeSnapshot(dir, name string, fill func(io.Writer) error) (*SnapshotDescription, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errf(KindServiceError, "failed to create snapshot directory: %v", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return nil, errf(KindServiceError, "failed to create snapshot: %v", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if err := fill(io.MultiWriter(tmp, h)); err != nil {
		tmp.Close()
		return nil, errf(KindServiceError, "failed to create snapshot: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, errf(KindServiceError, "failed to create snapshot: %v", err)
	}
	final := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return nil, errf(KindServiceError, "failed to move snapshot: %v", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := os.WriteFile(final+".checksum", []byte(sum), 0o644); err != nil {
		os.Remove(final)
		return nil, errf(KindServiceError, "failed to write snapshot checksum: %v", err)
	}
	return describeSnapshot(final)
}

func describeSnapshot(file string) (*SnapshotDescription, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, errSnapshotNotFound(filepath.Base(file))
	}
	// Qdrant reports the file's birth time; the modification time is the
	// closest portable equivalent and equal for files written once.
	ct := st.ModTime().UTC().Format("2006-01-02T15:04:05")
	d := &SnapshotDescription{Name: filepath.Base(file), CreationTime: &ct, Size: st.Size()}
	if sum, err := os.ReadFile(file + ".checksum"); err == nil {
		d.Checksum = strings.TrimSpace(string(sum))
	}
	return d, nil
}

// listSnapshots lists the .snapshot files of dir (non-recursive), in
// directory order as Qdrant does (callers sort).
func listSnapshots(dir string) ([]SnapshotDescription, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return []SnapshotDescription{}, nil
	}
	if err != nil {
		return nil, errf(KindServiceError, "failed to list snapshots: %v", err)
	}
	out := []SnapshotDescription{}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".snapshot") {
			continue
		}
		if d, err := describeSnapshot(filepath.Join(dir, e.Name())); err == nil {
			out = append(out, *d)
		}
	}
	return out, nil
}

func deleteSnapshot(dir, name string) error {
	if !validSnapshotName(name) {
		return errSnapshotNotFound(name)
	}
	file := filepath.Join(dir, name)
	if err := os.Remove(file); err != nil {
		return errSnapshotNotFound(name)
	}
	os.Remove(file + ".checksum")
	return nil
}

func openSnapshot(dir, name string) (*os.File, error) {
	if !validSnapshotName(name) {
		return nil, errSnapshotNotFound(name)
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, errSnapshotNotFound(name)
	}
	return f, nil
}

// shardImageLocked captures a shard for a snapshot; shard must exist and be
// local to p (its state does not matter). c.mu must be held.
func (p *Peer) shardImageLocked(col *collection, id uint32) (*shardImage, error) {
	s := col.shards[id]
	if s == nil {
		return nil, errShardNotFound(id)
	}
	d := p.data[col.name][id]
	if _, ok := s.replicas[p.id]; !ok || d == nil {
		return nil, errNotLocal(id)
	}
	return p.imageOf(col, s, d), nil
}

func (p *Peer) imageOf(col *collection, s *shard, d *replicaData) *shardImage {
	im := &shardImage{id: s.id, thisPeer: p.id, peers: map[uint64]string{}}
	for pid, r := range s.replicas {
		im.peers[pid] = r.state
	}
	if d == nil {
		return im
	}
	d.flushPending()
	im.local, im.segment, im.synth = true, d.segment, d.synthetic
	for _, pt := range d.points {
		im.points = append(im.points, pt)
	}
	sortPoints(im.points)
	return im
}

// shardSnapshotName is Qdrant's stored shard snapshot name.
func shardSnapshotName(coll string, shard uint32, t time.Time) string {
	return coll + "-shard-" + strconv.FormatUint(uint64(shard), 10) + "-" + snapshotTimestamp(t) + ".snapshot"
}

// CreateShardSnapshot stores a snapshot of p's replica of a shard, whatever
// its state.
func (p *Peer) CreateShardSnapshot(ctx context.Context, coll string, shard uint32) (*SnapshotDescription, error) {
	c := p.c
	c.mu.Lock()
	col, err := c.resolve(coll)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	name := col.name
	im, err := p.shardImageLocked(col, shard)
	var need int64
	if d := p.data[name][shard]; d != nil {
		need = replicaBytes(d)
	}
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := p.snapshotFault(ctx.Done(), need); err != nil {
		return nil, err
	}
	return storeSnapshot(p.shardSnapDir(name, shard), shardSnapshotName(name, shard, time.Now()), func(w io.Writer) error {
		return writeShardSnapshot(w, im, false)
	})
}

// checkLocalShard checks that a shard exists and is local to p.
func (p *Peer) checkLocalShard(coll string, shard uint32, listing bool) (string, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return "", err
	}
	s := col.shards[shard]
	if s == nil {
		return "", errShardNotFound(shard)
	}
	if _, ok := s.replicas[p.id]; !ok || p.data[col.name][shard] == nil {
		if listing {
			return "", errf(KindBadInput, "Shard %d is not a local shard", shard)
		}
		return "", errNotLocal(shard)
	}
	return col.name, nil
}

// ListShardSnapshots lists p's stored snapshots of a local shard.
func (p *Peer) ListShardSnapshots(ctx context.Context, coll string, shard uint32) ([]SnapshotDescription, error) {
	name, err := p.checkLocalShard(coll, shard, true)
	if err != nil {
		return nil, err
	}
	return listSnapshots(p.shardSnapDir(name, shard))
}

// DeleteShardSnapshot deletes a stored shard snapshot and its sidecar.
func (p *Peer) DeleteShardSnapshot(ctx context.Context, coll string, shard uint32, snapshot string) error {
	name, err := p.checkLocalShard(coll, shard, false)
	if err != nil {
		return err
	}
	return deleteSnapshot(p.shardSnapDir(name, shard), snapshot)
}

// OpenShardSnapshot opens a stored shard snapshot for download.
func (p *Peer) OpenShardSnapshot(ctx context.Context, coll string, shard uint32, snapshot string) (*os.File, error) {
	name, err := p.checkLocalShard(coll, shard, false)
	if err != nil {
		return nil, err
	}
	return openSnapshot(p.shardSnapDir(name, shard), snapshot)
}

// PrepareShardStream checks the shard and captures it for the streaming
// endpoint; the returned function writes the (Streamable, WAL-less,
// unstored) archive and the name is the Content-Disposition file name.
func (p *Peer) PrepareShardStream(ctx context.Context, coll string, shard uint32) (name string, write func(io.Writer) error, err error) {
	c := p.c
	c.mu.Lock()
	col, err := c.resolve(coll)
	if err != nil {
		c.mu.Unlock()
		return "", nil, err
	}
	im, err := p.shardImageLocked(col, shard)
	cname := col.name
	c.mu.Unlock()
	if err != nil {
		return "", nil, err
	}
	// A streamed snapshot goes to the client, not to disk.
	if err := p.snapshotFault(ctx.Done(), 0); err != nil {
		return "", nil, err
	}
	return shardSnapshotName(cname, shard, time.Now()), func(w io.Writer) error {
		return writeShardSnapshot(w, im, true)
	}, nil
}

// CreateCollectionSnapshot stores a snapshot of the collection as p holds
// it: every shard appears, with data only for p's local replicas.
func (p *Peer) CreateCollectionSnapshot(ctx context.Context, coll string) (*SnapshotDescription, error) {
	c := p.c
	c.mu.Lock()
	col, err := c.resolve(coll)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	im := &collectionImage{config: col.config, uuid: col.uuid, keys: shardKeyMappingOf(col), schema: map[string]json.RawMessage{}}
	for k, v := range col.payloadSchema {
		im.schema[k] = v
	}
	for _, id := range col.shardIDs() {
		s := col.shards[id]
		var d *replicaData
		if _, ok := s.replicas[p.id]; ok {
			d = p.data[col.name][id]
		}
		im.shards = append(im.shards, p.imageOf(col, s, d))
	}
	name := col.name
	var need int64
	for _, d := range p.data[name] {
		need += replicaBytes(d)
	}
	c.mu.Unlock()
	if err := p.snapshotFault(ctx.Done(), need); err != nil {
		return nil, err
	}
	file := name + "-" + strconv.FormatUint(p.id, 10) + "-" + snapshotTimestamp(time.Now()) + ".snapshot"
	return storeSnapshot(p.collectionSnapDir(name), file, func(w io.Writer) error {
		return writeCollectionSnapshot(w, im)
	})
}

// ListCollectionSnapshots lists p's stored snapshots of a collection.
func (p *Peer) ListCollectionSnapshots(ctx context.Context, coll string) ([]SnapshotDescription, error) {
	name, err := p.collectionName(coll)
	if err != nil {
		return nil, err
	}
	return listSnapshots(p.collectionSnapDir(name))
}

// DeleteCollectionSnapshot deletes a stored collection snapshot.
func (p *Peer) DeleteCollectionSnapshot(ctx context.Context, coll, snapshot string) error {
	name, err := p.collectionName(coll)
	if err != nil {
		return err
	}
	return deleteSnapshot(p.collectionSnapDir(name), snapshot)
}

// OpenCollectionSnapshot opens a stored collection snapshot for download.
func (p *Peer) OpenCollectionSnapshot(ctx context.Context, coll, snapshot string) (*os.File, error) {
	name, err := p.collectionName(coll)
	if err != nil {
		return nil, err
	}
	return openSnapshot(p.collectionSnapDir(name), snapshot)
}

func (p *Peer) collectionName(coll string) (string, error) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	col, err := p.c.resolve(coll)
	if err != nil {
		return "", err
	}
	return col.name, nil
}
