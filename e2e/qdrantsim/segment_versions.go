package qdrantsim

import (
	"encoding/json"
	"reflect"
	"sort"
	"time"
)

// Segment versions and payload storage blocks of a local replica.
//
// Each replica is one appendable segment. Qdrant stamps a segment with the
// number of the last operation applied to it (Segment::version) and keeps,
// in memory only, the operation that last changed each part of it
// (lib/segment/src/segment/version_tracker.rs): one version per vector
// storage and one for the payload storage. The segment manifest of a
// partial snapshot reports them per file (Segment::_get_segment_manifest
// in lib/segment/src/segment/snapshot.rs): vector and payload storage
// files carry their part's version, or the segment's when the tracker has
// none; the id tracker's mutable files are Unversioned (null) and count as
// the segment version. What bumps which part follows lib/segment/src/
// segment/segment_ops.rs and entry.rs: an upsert rewrites every vector
// storage and the payload; an update of vectors only the named ones; a
// vector delete only a vector that was present; payload operations and
// point deletion the payload storage.
//
// Payload storage is Qdrant's gridstore (lib/blobstore/src/blobstore/
// gridstore): every write of a point's payload takes new 128-byte blocks
// and the blocks of the value it replaces are freed only by the next
// flush (Gridstore::flusher, flush_free_blocks), which the update worker
// runs every optimizers_config.flush_interval_sec. The storage size that
// strict mode reads (get_storage_size_bytes: occupied blocks times 128)
// therefore grows with rewrites between flushes.

// gridstoreBlock is DEFAULT_BLOCK_SIZE_BYTES of lib/blobstore/src/config.rs.
const gridstoreBlock = 128

// segmentVersions is the version tracker of one replica's segment.
type segmentVersions struct {
	// op is the number of the operation being applied; 0 outside one.
	op uint64
	// version is the segment version: the last operation applied.
	version uint64
	// vectors is the last operation that wrote each vector storage;
	// allVectors one that wrote them all (an upsert).
	vectors    map[string]uint64
	allVectors uint64
	// payload is the last operation that wrote the payload storage.
	payload uint64
}

func (v *segmentVersions) clone() segmentVersions {
	n := *v
	n.vectors = make(map[string]uint64, len(v.vectors))
	for k, x := range v.vectors {
		n.vectors[k] = x
	}
	return n
}

// vectorVersion is the tracker's version of one vector storage, 0 if none.
func (v *segmentVersions) vectorVersion(name string) uint64 {
	return max(v.vectors[name], v.allVectors)
}

func (v *segmentVersions) touchSegment() {
	if v.op > v.version {
		v.version = v.op
	}
}

func (v *segmentVersions) touchVector(name string) {
	if v.op == 0 {
		return
	}
	if v.vectors == nil {
		v.vectors = map[string]uint64{}
	}
	v.vectors[name] = max(v.vectors[name], v.op)
	v.touchSegment()
}

func (v *segmentVersions) touchPayload() {
	if v.op == 0 {
		return
	}
	v.payload = max(v.payload, v.op)
	v.touchSegment()
}

// payloadStore accounts the gridstore blocks of one replica's payloads
// that are freed but not yet flushed.
type payloadStore struct {
	freed     int64
	flushedAt time.Time
	// every is the collection's flush_interval_sec, refreshed by each
	// write.
	every time.Duration
}

// flushDue applies the flushes that happened by now: the update worker
// flushes every interval since the replica was loaded.
func (s *payloadStore) flushDue(now time.Time) {
	if s.flushedAt.IsZero() {
		s.flushedAt = now
		return
	}
	if s.every <= 0 {
		return
	}
	if since := now.Sub(s.flushedAt); since >= s.every {
		s.freed = 0
		s.flushedAt = s.flushedAt.Add(since.Truncate(s.every))
	}
}

// payloadBlocks is how many gridstore blocks a stored payload takes: its
// JSON (Blob for Payload, lib/segment/src/payload_storage/
// payload_storage_impl.rs) over 128-byte blocks. Qdrant compresses the
// JSON with LZ4 first; small payloads take one block either way. A point
// without a payload stores nothing (the upsert clears it).
func payloadBlocks(pl map[string]any) int64 {
	if pl == nil {
		return 0
	}
	b, _ := json.Marshal(pl)
	return max(1, (int64(len(b))+gridstoreBlock-1)/gridstoreBlock)
}

// payloadStorageBytes is the replica's payload storage size as
// get_storage_size_bytes reports it: live and not yet freed blocks.
// every is the collection's current flush interval.
func (d *replicaData) payloadStorageBytes(now time.Time, every time.Duration) int64 {
	d.store.every = every
	d.store.flushDue(now)
	var live int64
	for _, pt := range d.points {
		live += payloadBlocks(pt.payload)
	}
	return (live + d.store.freed) * gridstoreBlock
}

// atOp wraps a replica update so that what it changes is stamped with the
// number of the operation (the collection's next operation id) and the
// payload storage follows the collection's flush interval.
func atOp(col *collection, fn func(d *replicaData)) func(d *replicaData) {
	op := col.opID + 1
	every := flushInterval(col)
	return func(d *replicaData) {
		d.vers.op = op
		d.store.every = every
		fn(d)
		d.vers.op = 0
	}
}

// flushInterval is optimizers_config.flush_interval_sec (5 by default).
func flushInterval(col *collection) time.Duration {
	if f, ok := col.config.Optimizer["flush_interval_sec"].(float64); ok {
		return time.Duration(f * float64(time.Second))
	}
	if n, ok := col.config.Optimizer["flush_interval_sec"].(int); ok {
		return time.Duration(n) * time.Second
	}
	return 5 * time.Second
}

// upsertPoint stores pt as an upsert does: every vector storage and the
// payload storage are written.
func (d *replicaData) upsertPoint(pt *point) {
	old := d.points[pt.id]
	d.points[pt.id] = pt
	if d.vers.op != 0 {
		d.vers.allVectors = max(d.vers.allVectors, d.vers.op)
		d.vers.touchPayload()
	}
	d.rewritePayload(old)
}

// removePoint deletes a point: the id tracker and the payload storage
// change (Segment::delete_point).
func (d *replicaData) removePoint(id PointID) {
	old, ok := d.points[id]
	if !ok {
		return
	}
	delete(d.points, id)
	d.vers.touchPayload()
	d.rewritePayload(old)
}

// replacePoint stores next, a modified copy of the stored point, and
// stamps the parts that differ: the payload if it is another map, each
// vector that was added, removed or replaced.
func (d *replicaData) replacePoint(next *point) {
	old := d.points[next.id]
	d.points[next.id] = next
	if old == nil || old == next {
		return
	}
	if !sameMap(old.payload, next.payload) {
		d.vers.touchPayload()
		d.rewritePayload(old)
	}
	names := map[string]bool{}
	for n := range old.vectors {
		names[n] = true
	}
	for n := range next.vectors {
		names[n] = true
	}
	for n := range names {
		a, inOld := old.vectors[n]
		b, inNext := next.vectors[n]
		if inOld != inNext || !sameVector(a, b) {
			d.vers.touchVector(n)
		}
	}
}

// rewritePayload frees the old value's blocks (at the next flush) when a
// point's payload is rewritten or cleared.
func (d *replicaData) rewritePayload(old *point) {
	d.store.flushDue(time.Now())
	if old != nil {
		d.store.freed += payloadBlocks(old.payload)
	}
}

// sameMap reports whether a and b are the same map (not equal contents):
// stored points are immutable and a payload operation always builds a new
// map.
func sameMap(a, b map[string]any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// sameVector reports whether a and b are the same stored vector.
func sameVector(a, b vector) bool {
	switch {
	case a.sparse != nil || b.sparse != nil:
		return a.sparse == b.sparse
	case a.multi != nil || b.multi != nil:
		return len(a.multi) == len(b.multi) && len(a.multi) > 0 && &a.multi[0] == &b.multi[0]
	}
	return len(a.dense) == len(b.dense) && (len(a.dense) == 0 || &a.dense[0] == &b.dense[0])
}

// SegmentManifest is lib/segment/src/data_types/manifest.rs SegmentManifest:
// a nil file version is FileVersion::Unversioned (the segment's version).
type SegmentManifest struct {
	SegmentID      string             `json:"segment_id"`
	SegmentVersion uint64             `json:"segment_version"`
	FileVersions   map[string]*uint64 `json:"file_versions"`
}

// fileVersion is SegmentManifest::file_version: the file's version or the
// segment's; ok is false for a file the manifest does not list.
func (m SegmentManifest) fileVersion(path string) (uint64, bool) {
	v, ok := m.FileVersions[path]
	if !ok {
		return 0, false
	}
	if v == nil {
		return m.SegmentVersion, true
	}
	return *v, true
}

// Files of the simulator's segment, named as Qdrant names the directories
// of an appendable segment (lib/segment/src/segment_constructor/
// segment_constructor_base/paths.rs: vector_storage for the unnamed
// vector, vector_storage-{name} for a named one; payload_storage of
// payload_storage_impl.rs; the id tracker): the contents are the
// simulator's own JSON lines.
const (
	idTrackerFile   = "id_tracker/mappings.jsonl"
	payloadFile     = "payload_storage/payloads.jsonl"
	vectorFileName  = "vectors.jsonl"
	vectorStorage   = "vector_storage"
	syntheticFile   = "synthetic.bin"
	segmentManifest = "segment_manifest.json"
)

func vectorFile(name string) string {
	if name == "" {
		return vectorStorage + "/" + vectorFileName
	}
	return vectorStorage + "-" + name + "/" + vectorFileName
}

// vectorNamesOf lists the collection's configured vector names, sorted.
func vectorNamesOf(col *collection, ver version) []string {
	s := schemaOf(col.config.Params, ver)
	var names []string
	for n := range s.dense {
		names = append(names, n)
	}
	for n := range s.sparse {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// manifestOf is the segment manifest of a replica.
func (d *replicaData) manifestOf(names []string) SegmentManifest {
	d.flushPending()
	m := SegmentManifest{SegmentID: d.segment, SegmentVersion: d.vers.version, FileVersions: map[string]*uint64{}}
	if d.synthetic != nil {
		m.FileVersions[syntheticFile] = nil
		return m
	}
	versioned := func(v uint64) *uint64 {
		if v == 0 {
			v = d.vers.version
		}
		if v == 0 {
			return nil // Option<SeqNumberType>::None: FileVersion::Unversioned
		}
		return &v
	}
	m.FileVersions[idTrackerFile] = nil
	for _, n := range names {
		m.FileVersions[vectorFile(n)] = versioned(d.vers.vectorVersion(n))
	}
	m.FileVersions[payloadFile] = versioned(d.vers.payload)
	return m
}

// updatedFiles is updated_files of lib/segment/src/segment/snapshot.rs:
// the files of current a partial snapshot against old must carry.
func updatedFiles(old, current SegmentManifest) map[string]bool {
	out := map[string]bool{}
	for path := range current.FileVersions {
		cur, _ := current.fileVersion(path)
		prev, ok := old.fileVersion(path)
		if !ok || prev < cur || (prev == 0 && cur == 0) {
			out[path] = true
		}
	}
	return out
}
