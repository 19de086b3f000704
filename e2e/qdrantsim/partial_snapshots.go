package qdrantsim

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Partial shard snapshots, the routes Qdrant's cluster manager uses to
// bring a replica up to date by copying only what changed
// (src/actix/api/snapshot_api.rs; they are not in the public OpenAPI
// document):
//
//   - GET  .../shards/{s}/snapshot/partial/manifest: the local replica's
//     snapshot manifest, a map from segment id to its SegmentManifest
//     (lib/shard/src/snapshots/snapshot_manifest.rs, serde transparent).
//   - POST .../shards/{s}/snapshot/partial/create with a manifest as body:
//     a streamed (Streamable, WAL-less) shard snapshot holding, per
//     segment, its new manifest (files/segment_manifest.json) and only the
//     files newer than the given manifest (updated_files in lib/segment/
//     src/segment/snapshot.rs); a manifest equal to the current one is
//     answered 304 Not Modified (EmptyPartialSnapshot, src/common/
//     snapshots.rs stream_shard_snapshot).
//   - POST .../shards/{s}/snapshot/partial/recover: a multipart upload of
//     such an archive, merged into the local replica
//     (restore_local_replica_from in lib/collection/src/shards/
//     replica_set/snapshots.rs with SnapshotUtils::
//     partial_snapshot_merge_plan in lib/shard/src/snapshots/
//     snapshot_utils.rs): local segments the archive does not list are
//     dropped, files the archive's manifest does not list are deleted,
//     files it carries replace the local ones, the others stay.
//   - POST .../shards/{s}/snapshot/partial/recover_from with
//     {"peer_url", "api_key"}: sends the local manifest (empty without a
//     local replica) to the peer's create route and recovers what comes
//     back; a 304 answers result false, a recovery true.
//
// A recovery holds the shard's partial recovery lock; a second one meets
// it taken and is answered 503 with status "already_in_progress"
// (PartialSnapshotMeta::try_take_recovery_lock). A recovered replica is
// activated whatever the other replicas' states (recover_shard_snapshot_
// impl activates on RecoveryType::Partial). After loading, a segment's
// version tracker is empty (it is not persisted), so its files count at
// the segment's version.

// SnapshotManifest is the manifest of a shard: segment id to manifest.
type SnapshotManifest map[string]SegmentManifest

// errNotLocalReplica is get_partial_snapshot_manifest's error for a shard
// without a local replica on this peer.
func errNotLocalReplica(coll string, shard uint32, peer uint64) error {
	return errf(KindNotFound, "local shard %s:%d does not exist on peer %d", coll, shard, peer)
}

// manifestLocked is the snapshot manifest of p's replica of the shard.
func (p *Peer) manifestLocked(col *collection, shard uint32) (SnapshotManifest, *replicaData, error) {
	s := col.shards[shard]
	if s == nil {
		return nil, nil, errShardNotFound(shard)
	}
	d := p.data[col.name][shard]
	if _, ok := s.replicas[p.id]; !ok || d == nil {
		return nil, nil, errNotLocalReplica(col.name, shard, p.id)
	}
	m := d.manifestOf(vectorNamesOf(col, p.c.ver))
	return SnapshotManifest{m.SegmentID: m}, d, nil
}

// PartialSnapshotManifest is GET .../shards/{s}/snapshot/partial/manifest.
func (p *Peer) PartialSnapshotManifest(ctx context.Context, coll string, shard uint32) (SnapshotManifest, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return nil, err
	}
	m, _, err := p.manifestLocked(col, shard)
	return m, err
}

// partialImage is what a partial snapshot holds.
type partialImage struct {
	shard    *shardImage
	manifest SegmentManifest
	include  map[string]bool
	names    []string
}

// PreparePartialSnapshot checks the shard against the given manifest and
// captures what changed since it; the returned function writes the
// archive. An unchanged shard is the 304 error.
func (p *Peer) PreparePartialSnapshot(ctx context.Context, coll string, shard uint32, old SnapshotManifest) (name string, write func(io.Writer) error, err error) {
	c := p.c
	c.mu.Lock()
	col, err := c.resolve(coll)
	if err != nil {
		c.mu.Unlock()
		return "", nil, err
	}
	cur, d, err := p.manifestLocked(col, shard)
	if err != nil {
		c.mu.Unlock()
		return "", nil, err
	}
	if reflect.DeepEqual(normalManifest(old), cur) {
		c.mu.Unlock()
		return "", nil, errf(KindEmptyPartial, "Partial snapshot for shard %d contains no changes", shard)
	}
	m := cur[d.segment]
	prev, ok := old[d.segment]
	if !ok {
		prev = SegmentManifest{SegmentID: d.segment, FileVersions: map[string]*uint64{}}
	}
	im := &partialImage{shard: p.imageOf(col, col.shards[shard], d), manifest: m, include: updatedFiles(prev, m),
		names: vectorNamesOf(col, c.ver)}
	cname := col.name
	c.mu.Unlock()
	if err := p.snapshotFault(ctx.Done(), 0); err != nil {
		return "", nil, err
	}
	return shardSnapshotName(cname, shard, time.Now()), func(w io.Writer) error {
		return writePartialSnapshot(w, im)
	}, nil
}

// normalManifest makes a decoded manifest comparable with a built one.
func normalManifest(m SnapshotManifest) SnapshotManifest {
	out := SnapshotManifest{}
	for k, v := range m {
		if v.FileVersions == nil {
			v.FileVersions = map[string]*uint64{}
		}
		out[k] = v
	}
	return out
}

// segmentLine is one line of a component file: a point id with the part
// of the point the file stores.
type segmentLine = pointJSON

// writePartialSnapshot writes the archive: replica state and shard config,
// each segment's manifest, state file and included files, an empty WAL.
func writePartialSnapshot(w io.Writer, im *partialImage) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	t := tarWriter{tar.NewWriter(bw)}
	sh := im.shard
	if err := t.file("replica_state.json", sh.replicaState()); err != nil {
		return err
	}
	if err := t.file("shard_config.json", []byte(`{"type":"ReplicaSet"}`)); err != nil {
		return err
	}
	if err := t.dir("segments/"); err != nil {
		return err
	}
	seg := "segments/" + sh.segment + "/files/"
	mj, _ := json.Marshal(im.manifest)
	if err := t.file(seg+segmentManifest, mj); err != nil {
		return err
	}
	if err := t.file(seg+"segment.json", segmentInfo(sh)); err != nil {
		return err
	}
	files := make([]string, 0, len(im.include))
	for f := range im.include {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := componentFile(sh, im.names, f)
		if err != nil {
			return err
		}
		if data == nil {
			continue
		}
		if err := t.file(seg+f, data); err != nil {
			return err
		}
	}
	if err := t.file("wal/closed-1", nil); err != nil {
		return err
	}
	if err := t.file("newest_clocks.json", []byte(`{"clocks":[]}`)); err != nil {
		return err
	}
	if err := t.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// componentFile renders one file of the simulator's segment.
func componentFile(sh *shardImage, names []string, file string) ([]byte, error) {
	if sh.synth != nil {
		// A synthetic shard's content is generated; its partial
		// snapshot is not modelled.
		return nil, errf(KindServiceError, "partial snapshots of synthetic shards are not emulated by the simulator")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	switch file {
	case idTrackerFile:
		for _, pt := range sh.points {
			enc.Encode(segmentLine{ID: pt.id})
		}
	case payloadFile:
		for _, pt := range sh.points {
			if pt.payload != nil {
				enc.Encode(segmentLine{ID: pt.id, Payload: pt.payload})
			}
		}
	default:
		for _, n := range names {
			if vectorFile(n) != file {
				continue
			}
			for _, pt := range sh.points {
				if v, ok := pt.vectors[n]; ok {
					enc.Encode(segmentLine{ID: pt.id, Vectors: map[string]vector{n: v}})
				}
			}
			return buf.Bytes(), nil
		}
		return nil, nil
	}
	return buf.Bytes(), nil
}

// partialSegment is one segment read from a partial snapshot.
type partialSegment struct {
	manifest *SegmentManifest
	files    map[string][]segmentLine
}

// readPartialSnapshot reads a partial snapshot archive.
func readPartialSnapshot(r io.Reader) (map[string]*partialSegment, error) {
	segs := map[string]*partialSegment{}
	sawState := false
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalidSnapshot("%v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean(h.Name), "./")
		if name == "replica_state.json" {
			sawState = true
			continue
		}
		rest, ok := strings.CutPrefix(name, "segments/")
		if !ok {
			continue
		}
		id, file, ok := strings.Cut(rest, "/")
		if !ok {
			// A Regular-format segment (segments/<id>.tar) is unpacked
			// into its directory: a segment, here without a manifest.
			if id, isTar := strings.CutSuffix(rest, ".tar"); isTar && segs[id] == nil {
				segs[id] = &partialSegment{files: map[string][]segmentLine{}}
			}
			continue
		}
		file = strings.TrimPrefix(file, "files/")
		seg := segs[id]
		if seg == nil {
			seg = &partialSegment{files: map[string][]segmentLine{}}
			segs[id] = seg
		}
		switch {
		case file == segmentManifest:
			b, err := readSmall(tr)
			if err != nil {
				return nil, err
			}
			seg.manifest = &SegmentManifest{}
			if err := json.Unmarshal(b, seg.manifest); err != nil {
				return nil, errf(KindBadInput, "Validation failed: failed to deserialize segment %s manifest: %v", id, err)
			}
		case strings.HasSuffix(file, ".jsonl"):
			var lines []segmentLine
			dec := json.NewDecoder(tr)
			for dec.More() {
				var l segmentLine
				if err := dec.Decode(&l); err != nil {
					return nil, invalidSnapshot("%s: %v", name, err)
				}
				lines = append(lines, l)
			}
			seg.files[file] = lines
		}
	}
	if !sawState {
		return nil, errf(KindBadRequest, "Invalid snapshot")
	}
	// SnapshotManifest::load_from_snapshot with RecoveryType::Partial.
	ids := make([]string, 0, len(segs))
	for id := range segs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := segs[id].manifest
		if m == nil {
			return nil, errf(KindBadInput, "Validation failed: invalid partial snapshot: segment %s does not contain segment manifest; ensure you are not recovering shard snapshot on partial snapshot endpoint", id)
		}
		if m.SegmentID != id {
			return nil, errf(KindBadInput, "Validation failed: invalid partial snapshot: segment %s contains segment manifest with segment ID %s", id, m.SegmentID)
		}
		for f, v := range m.FileVersions {
			if v != nil && *v > m.SegmentVersion {
				return nil, errf(KindBadInput, "Validation failed: invalid partial snapshot: invalid snapshot manifest: file %s/%s is newer than segment %s (Version(%d) > %d)", id, f, id, *v, m.SegmentVersion)
			}
		}
	}
	return segs, nil
}

// mergePartial builds the replica a partial snapshot leaves: local is the
// replica's data before (nil if none).
func mergePartial(local *replicaData, names []string, segs map[string]*partialSegment) (*replicaData, error) {
	if len(segs) > 1 {
		return nil, errf(KindBadRequest, "the simulator keeps one segment per replica; the partial snapshot has %d", len(segs))
	}
	if len(segs) == 0 {
		// Every local segment is dropped: an empty shard.
		return newReplicaData(""), nil
	}
	var id string
	var seg *partialSegment
	for k, v := range segs {
		id, seg = k, v
	}
	// Start from the local segment if it is the same one (its files
	// the archive does not carry stay), from nothing otherwise (the local
	// segment is deleted).
	ids := map[PointID]bool{}
	payloads := map[PointID]map[string]any{}
	vecs := map[string]map[PointID]vector{}
	var have map[string]bool
	if local != nil && local.segment == id && local.synthetic == nil {
		local.flushPending()
		have = map[string]bool{idTrackerFile: true, payloadFile: true}
		for pid, pt := range local.points {
			ids[pid] = true
			if pt.payload != nil {
				payloads[pid] = pt.payload
			}
			for n, v := range pt.vectors {
				if vecs[n] == nil {
					vecs[n] = map[PointID]vector{}
				}
				vecs[n][pid] = v
			}
		}
		for _, n := range names {
			have[vectorFile(n)] = true
		}
	}
	for f := range have {
		if _, listed := seg.manifest.FileVersions[f]; !listed {
			// Deleted: the snapshot's segment no longer has the file.
			delete(have, f)
			switch f {
			case idTrackerFile:
				ids = map[PointID]bool{}
			case payloadFile:
				payloads = map[PointID]map[string]any{}
			default:
				for _, n := range names {
					if vectorFile(n) == f {
						delete(vecs, n)
					}
				}
			}
		}
	}
	for f, lines := range seg.files {
		switch f {
		case idTrackerFile:
			ids = map[PointID]bool{}
			for _, l := range lines {
				ids[l.ID] = true
			}
		case payloadFile:
			payloads = map[PointID]map[string]any{}
			for _, l := range lines {
				payloads[l.ID] = l.Payload
			}
		default:
			for _, n := range names {
				if vectorFile(n) != f {
					continue
				}
				vecs[n] = map[PointID]vector{}
				for _, l := range lines {
					if v, ok := l.Vectors[n]; ok {
						vecs[n][l.ID] = v
					}
				}
			}
		}
		if have == nil {
			have = map[string]bool{}
		}
		have[f] = true
	}
	for f := range seg.manifest.FileVersions {
		if !have[f] {
			return nil, errf(KindServiceError, "failed to restore partial shard snapshot: segment %s misses file %s, which the local replica does not have either", id, f)
		}
	}
	d := newReplicaData(id)
	for pid := range ids {
		pt := &point{id: pid, payload: payloads[pid]}
		for n, m := range vecs {
			if v, ok := m[pid]; ok {
				if pt.vectors == nil {
					pt.vectors = map[string]vector{}
				}
				pt.vectors[n] = v
			}
		}
		d.points[pid] = pt
	}
	// The loaded segment has the manifest's version and an empty
	// version tracker.
	d.vers.version = seg.manifest.SegmentVersion
	return d, nil
}

// tryPartialRecoveryLock takes the shard's partial recovery lock, checking
// the collection and the shard first (try_take_partial_snapshot_recovery_
// lock in src/common/snapshots.rs).
func (p *Peer) tryPartialRecoveryLock(coll string, shard uint32) (string, func(), error) {
	name, err := p.shardExists(coll, shard)
	if err != nil {
		return "", nil, err
	}
	m := p.partialLocks.get(name + "/" + itoa(int64(shard)))
	if !m.TryLock() {
		return "", nil, &Error{Kind: KindAlreadyInProgress, Msg: "partial snapshot recovery of shard " + itoa(int64(shard)) + " is in progress"}
	}
	return name, m.Unlock, nil
}

// recoverPartialFrom merges the partial snapshot read from r into p's
// replica of the shard and activates it.
func (p *Peer) recoverPartialFrom(coll string, shard uint32, r io.Reader, size int64) error {
	release, err := p.reserveUnpack(size)
	if err != nil {
		return err
	}
	defer release()
	segs, err := readPartialSnapshot(r)
	if err != nil {
		return err
	}
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return err
	}
	s := col.shards[shard]
	if s == nil {
		return errShardNotFound(shard)
	}
	var local *replicaData
	if _, ok := s.replicas[p.id]; ok {
		local = p.data[col.name][shard]
	}
	d, err := mergePartial(local, vectorNamesOf(col, c.ver), segs)
	if err != nil {
		return err
	}
	if d.segment == "" {
		d.segment = c.newUUID()
	}
	c.installLocalLocked(p, col, s, d)
	s.replicas[p.id] = &replica{state: StateActive, since: time.Now()}
	c.commitLocked(proposal{what: "set replica Active: partial snapshot recovery", droppable: true,
		change: &stateChange{coll: col.name, shard: shard, peer: p.id, state: StateActive}})
	return nil
}

// RecoverPartialUpload is POST .../snapshot/partial/recover for a spooled
// upload: lock, checksum, then the merge (recover_partial_snapshot).
func (p *Peer) RecoverPartialUpload(coll string, shard uint32, sp *spooled, checksum string) error {
	name, unlock, err := p.tryPartialRecoveryLock(coll, shard)
	if err != nil {
		return err
	}
	defer unlock()
	if checksum != "" && sp.sum != checksum {
		return checksumError(mismatchUpload, checksum, sp.sum)
	}
	f, err := os.Open(sp.path)
	if err != nil {
		return errf(KindServiceError, "failed to reopen upload: %v", err)
	}
	defer f.Close()
	return p.recoverPartialFrom(name, shard, f, sp.size)
}

// PartialRecoverFrom is the body of .../snapshot/partial/recover_from.
type PartialRecoverFrom struct {
	PeerURL string  `json:"peer_url"`
	APIKey  *string `json:"api_key,omitempty"`
}

// RecoverPartialFrom is POST .../snapshot/partial/recover_from: it asks
// peerURL for a partial snapshot against the local manifest and recovers
// it. It reports whether anything was recovered (false: the peer answered
// 304, the replica is up to date).
func (p *Peer) RecoverPartialFrom(ctx context.Context, coll string, shard uint32, req PartialRecoverFrom) (bool, error) {
	u, err := url.Parse(req.PeerURL)
	if err != nil || !u.IsAbs() {
		return false, errf(KindFormat, "peer_url: relative URL without a base")
	}
	if err := p.refuseURLRecovery(req.PeerURL); err != nil {
		return false, err
	}
	name, unlock, err := p.tryPartialRecoveryLock(coll, shard)
	if err != nil {
		return false, err
	}
	defer unlock()
	// An empty manifest lets a peer without a local replica recover.
	c := p.c
	c.mu.Lock()
	col, err := c.resolve(name)
	manifest := SnapshotManifest{}
	if err == nil {
		var m SnapshotManifest
		if m, _, err = p.manifestLocked(col, shard); err == nil {
			manifest = m
		} else if KindOf(err) == KindNotFound && col.shards[shard] != nil {
			err = nil
		}
	}
	c.mu.Unlock()
	if err != nil {
		return false, err
	}
	body, _ := json.Marshal(manifest)
	create := strings.TrimRight(req.PeerURL, "/") + "/collections/" + url.PathEscape(name) + "/shards/" + itoa(int64(shard)) + "/snapshot/partial/create"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, create, bytes.NewReader(body))
	if err != nil {
		return false, errf(KindServiceError, "Http request error: %v", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	if req.APIKey != nil {
		hreq.Header.Set("api-key", *req.APIKey)
	}
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return false, errf(KindServiceError, "Http request error: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return false, nil
	}
	if resp.StatusCode >= 400 {
		// reqwest's error_for_status.
		return false, errf(KindServiceError, "Http request error: HTTP status %s for url (%s)", statusText(resp.StatusCode), create)
	}
	sp, err := p.spool(resp.Body)
	if err != nil {
		return false, noSpaceAsService(err)
	}
	defer sp.remove()
	f, err := os.Open(sp.path)
	if err != nil {
		return false, errf(KindServiceError, "failed to reopen download: %v", err)
	}
	defer f.Close()
	if err := p.recoverPartialFrom(name, shard, f, sp.size); err != nil {
		return false, err
	}
	return true, nil
}

// statusText is reqwest's status display: "404 Not Found".
func statusText(code int) string { return fmt.Sprintf("%d %s", code, http.StatusText(code)) }

// partialRoutes registers the partial snapshot routes.
func (p *Peer) partialRoutes(mux *http.ServeMux) {
	const shard = "/collections/{collection_name}/shards/{shard_id}/snapshot/partial"
	cname := func(r *http.Request) string { return r.PathValue("collection_name") }
	mux.HandleFunc("GET "+shard+"/manifest", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id, err := shardParam(r)
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		m, err := p.PartialSnapshotManifest(r.Context(), cname(r), id)
		reply(w, start, m, err)
	})
	mux.HandleFunc("POST "+shard+"/create", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id, err := shardParam(r)
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		var m SnapshotManifest
		if err := decodeBody(r, &m); err != nil {
			writeError(w, start, err, 0)
			return
		}
		name, write, err := p.PreparePartialSnapshot(r.Context(), cname(r), id, m)
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		w.WriteHeader(http.StatusOK)
		if err := write(w); err != nil {
			p.c.log.Debug("partial snapshot stream ended early", "peer", p.id, "err", err)
			panic(http.ErrAbortHandler)
		}
	})
	mux.HandleFunc("POST "+shard+"/recover", func(w http.ResponseWriter, r *http.Request) {
		id, err := shardParam(r)
		if err != nil {
			writeError(w, time.Now(), err, 0)
			return
		}
		p.handleUpload(w, r, func(_ context.Context, _ string, sp *spooled, _, checksum string) error {
			_, checksum, err := checkRecoverParams("", checksum, inQueryParams)
			if err != nil {
				return err
			}
			return p.RecoverPartialUpload(cname(r), id, sp, checksum)
		})
	})
	mux.HandleFunc("POST "+shard+"/recover_from", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id, err := shardParam(r)
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		var req PartialRecoverFrom
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		p.runMaybeAsync(w, r, start, func() (any, error) {
			return p.RecoverPartialFrom(detached(r), cname(r), id, req)
		})
	})
}
