package qdrantsim

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Snapshot archives follow Qdrant's layout (§1.4, §1.5): plain tars with
// replica_state.json, shard_config.json, segments, wal/ and clock maps per
// shard; collection snapshots add version.info, config.json,
// shard_key_mapping.json and payload_index.json and put each shard under
// its id. Segment contents are the simulator's own: points.jsonl (one
// point per line) or, for synthetic shards, synthetic.json + synthetic.bin.
// Stored snapshots nest each segment as segments/<uuid>.tar ("Regular"),
// streamed ones inline it as segments/<uuid>/files/... ("Streamable"), and
// both are accepted on recovery.

// storageVersion is version.info of collection snapshots in 1.13–1.19.
const storageVersion = "0.4.2"

// segmentVersion is the segment format version Qdrant writes.
const segmentVersion = "0.6.0"

// archiveTime is the modification time of every archive entry. Fixed
// times make archives of identical data byte-identical, so checksums of
// synthetic shards are stable.
var archiveTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// shardImage is what a snapshot of one shard holds, captured under the
// cluster lock and written without it.
type shardImage struct {
	id       uint32
	local    bool
	thisPeer uint64
	peers    map[uint64]string
	segment  string
	points   []*point
	synth    *syntheticSpec
}

func (im *shardImage) replicaState() []byte {
	peers := map[string]string{}
	for id, st := range im.peers {
		peers[strconv.FormatUint(id, 10)] = st
	}
	b, _ := json.Marshal(map[string]any{"is_local": im.local, "this_peer_id": im.thisPeer, "peers": peers})
	return b
}

// tarWriter adds helpers to tar.Writer.
type tarWriter struct{ *tar.Writer }

func (t tarWriter) file(name string, data []byte) error {
	if err := t.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: archiveTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := t.Write(data)
	return err
}

func (t tarWriter) dir(name string) error {
	return t.WriteHeader(&tar.Header{Name: name, Mode: 0o755, ModTime: archiveTime, Typeflag: tar.TypeDir, Format: tar.FormatPAX})
}

func pointsJSONL(pts []*point) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, p := range pts {
		enc.Encode(p.toJSON())
	}
	return buf.Bytes()
}

func segmentInfo(im *shardImage) []byte {
	b, _ := json.Marshal(map[string]any{"version": segmentVersion, "points": len(im.points)})
	return b
}

// writeShard writes one shard's entries under prefix ("" or "N/").
// streamable selects inline segments instead of nested tars.
func writeShard(t tarWriter, prefix string, im *shardImage, streamable bool) error {
	if err := t.file(prefix+"replica_state.json", im.replicaState()); err != nil {
		return err
	}
	if err := t.file(prefix+"shard_config.json", []byte(`{"type":"ReplicaSet"}`)); err != nil {
		return err
	}
	if !im.local {
		return nil
	}
	if err := t.dir(prefix + "segments/"); err != nil {
		return err
	}
	switch {
	case im.synth != nil:
		// Synthetic content is always inline: it is generated while
		// streaming and never buffered.
		seg := prefix + "segments/" + im.segment + "/files/"
		spec, _ := json.Marshal(im.synth)
		if err := t.file(seg+"synthetic.json", spec); err != nil {
			return err
		}
		if err := t.WriteHeader(&tar.Header{Name: seg + "synthetic.bin", Mode: 0o644, Size: im.synth.Bytes, ModTime: archiveTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if err := writeSynthetic(t, *im.synth); err != nil {
			return err
		}
	case streamable:
		seg := prefix + "segments/" + im.segment + "/files/"
		if err := t.file(seg+"segment.json", segmentInfo(im)); err != nil {
			return err
		}
		if err := t.file(seg+"points.jsonl", pointsJSONL(im.points)); err != nil {
			return err
		}
	default:
		var inner bytes.Buffer
		it := tarWriter{tar.NewWriter(&inner)}
		if err := it.file("snapshot/files/segment.json", segmentInfo(im)); err != nil {
			return err
		}
		if err := it.file("snapshot/files/points.jsonl", pointsJSONL(im.points)); err != nil {
			return err
		}
		if err := it.Close(); err != nil {
			return err
		}
		if err := t.file(prefix+"segments/"+im.segment+".tar", inner.Bytes()); err != nil {
			return err
		}
	}
	// Shard snapshots carry an empty WAL starting at the last index.
	if err := t.file(prefix+"wal/closed-1", nil); err != nil {
		return err
	}
	return t.file(prefix+"newest_clocks.json", []byte(`{"clocks":[]}`))
}

// writeShardSnapshot writes a shard snapshot archive.
func writeShardSnapshot(w io.Writer, im *shardImage, streamable bool) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	t := tarWriter{tar.NewWriter(bw)}
	if err := writeShard(t, "", im, streamable); err != nil {
		return err
	}
	if err := t.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// collectionImage is what a collection snapshot holds.
type collectionImage struct {
	config collectionConfig
	uuid   string
	keys   []shardKeyMapping
	schema map[string]json.RawMessage
	shards []*shardImage
}

type shardKeyMapping struct {
	Key      ShardKey `json:"key"`
	ShardIDs []uint32 `json:"shard_ids"`
}

// configFile is config.json of a collection snapshot.
type configFile struct {
	collectionConfig
	UUID string `json:"uuid,omitempty"`
}

func writeCollectionSnapshot(w io.Writer, im *collectionImage) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	t := tarWriter{tar.NewWriter(bw)}
	cfg, _ := json.Marshal(configFile{collectionConfig: im.config, UUID: im.uuid})
	keys, _ := json.Marshal(im.keys)
	schema, _ := json.Marshal(map[string]any{"schema": im.schema})
	for _, f := range []struct {
		name string
		data []byte
	}{{"version.info", []byte(storageVersion)}, {"config.json", cfg}, {"shard_key_mapping.json", keys}, {"payload_index.json", schema}} {
		if err := t.file(f.name, f.data); err != nil {
			return err
		}
	}
	for _, s := range im.shards {
		prefix := strconv.FormatUint(uint64(s.id), 10) + "/"
		if err := t.dir(prefix); err != nil {
			return err
		}
		if err := writeShard(t, prefix, s, false); err != nil {
			return err
		}
	}
	if err := t.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// parsedShard is the content of one shard found in an archive.
type parsedShard struct {
	stateSeen bool
	isLocal   bool
	segments  int
	points    []*point
	synth     *syntheticSpec
}

func (s *parsedShard) hasData() bool { return s.stateSeen && s.isLocal && s.segments > 0 }

// parsedSnapshot is a read archive: collection-level fields are set only
// for collection snapshots; shards are keyed "" (shard snapshot) or by id.
type parsedSnapshot struct {
	versionInfo string
	config      *configFile
	keys        []shardKeyMapping
	schema      map[string]json.RawMessage
	shards      map[string]*parsedShard
}

func invalidSnapshot(format string, args ...any) error {
	return errf(KindBadRequest, "Invalid snapshot: "+format, args...)
}

// readSnapshot parses an archive from r, verifying synthetic content as it
// is consumed. It reads r to its end so that a checksum over r is complete.
func readSnapshot(r io.Reader) (*parsedSnapshot, error) {
	ps := &parsedSnapshot{shards: map[string]*parsedShard{}}
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
		key, rest := "", name
		if first, tail, ok := strings.Cut(name, "/"); ok {
			if _, err := strconv.ParseUint(first, 10, 32); err == nil {
				key, rest = first, tail
			}
		}
		if err := ps.entry(key, rest, tr); err != nil {
			return nil, err
		}
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, invalidSnapshot("%v", err)
	}
	return ps, nil
}

func (ps *parsedSnapshot) shard(key string) *parsedShard {
	s, ok := ps.shards[key]
	if !ok {
		s = &parsedShard{}
		ps.shards[key] = s
	}
	return s
}

func readSmall(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, invalidSnapshot("%v", err)
	}
	return b, nil
}

func (ps *parsedSnapshot) entry(key, name string, r io.Reader) error {
	if key == "" {
		switch name {
		case "version.info":
			b, err := readSmall(r)
			ps.versionInfo = strings.TrimSpace(string(b))
			return err
		case "config.json":
			b, err := readSmall(r)
			if err != nil {
				return err
			}
			ps.config = &configFile{}
			if err := json.Unmarshal(b, ps.config); err != nil {
				return invalidSnapshot("config.json: %v", err)
			}
			return nil
		case "shard_key_mapping.json":
			b, err := readSmall(r)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &ps.keys); err != nil {
				return invalidSnapshot("shard_key_mapping.json: %v", err)
			}
			return nil
		case "payload_index.json":
			b, err := readSmall(r)
			if err != nil {
				return err
			}
			var pi struct {
				Schema map[string]json.RawMessage `json:"schema"`
			}
			if err := json.Unmarshal(b, &pi); err != nil {
				return invalidSnapshot("payload_index.json: %v", err)
			}
			ps.schema = pi.Schema
			return nil
		}
	}
	s := ps.shard(key)
	switch {
	case name == "replica_state.json":
		b, err := readSmall(r)
		if err != nil {
			return err
		}
		var st struct {
			IsLocal bool `json:"is_local"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return invalidSnapshot("replica_state.json: %v", err)
		}
		s.stateSeen, s.isLocal = true, st.IsLocal
	case strings.HasPrefix(name, "segments/") && strings.HasSuffix(name, ".tar") && strings.Count(name, "/") == 1:
		s.segments++
		it := tar.NewReader(r)
		for {
			h, err := it.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return invalidSnapshot("%s: %v", name, err)
			}
			if err := s.segmentFile(path.Base(h.Name), it); err != nil {
				return err
			}
		}
	case strings.HasPrefix(name, "segments/"):
		parts := strings.Split(name, "/")
		if len(parts) >= 3 && parts[len(parts)-1] == segmentManifest {
			// SnapshotManifest::load_from_snapshot with RecoveryType::Full
			// (lib/shard/src/snapshots/snapshot_manifest.rs).
			return errf(KindBadInput, "Validation failed: invalid shard snapshot: segment %s contains segment manifest; ensure you are not recovering partial snapshot on shard snapshot endpoint", parts[1])
		}
		if len(parts) >= 3 && (parts[len(parts)-1] == "segment.json" || parts[len(parts)-1] == "synthetic.json") {
			s.segments++
		}
		return s.segmentFile(parts[len(parts)-1], r)
	}
	return nil
}

// segmentFile reads one file of a segment.
func (s *parsedShard) segmentFile(base string, r io.Reader) error {
	switch base {
	case "points.jsonl":
		dec := json.NewDecoder(r)
		for dec.More() {
			var pj pointJSON
			if err := dec.Decode(&pj); err != nil {
				return invalidSnapshot("points: %v", err)
			}
			s.points = append(s.points, pj.toPoint())
		}
	case "synthetic.json":
		b, err := readSmall(r)
		if err != nil {
			return err
		}
		s.synth = &syntheticSpec{}
		if err := json.Unmarshal(b, s.synth); err != nil {
			return invalidSnapshot("synthetic.json: %v", err)
		}
	case "synthetic.bin":
		if s.synth == nil {
			return invalidSnapshot("synthetic.bin without synthetic.json")
		}
		if err := verifySynthetic(r, *s.synth); err != nil {
			return invalidSnapshot("%v", err)
		}
		// Bytes beyond the spec would be left unread and unchecked.
		if n, _ := io.CopyN(io.Discard, r, 1); n != 0 {
			return invalidSnapshot("synthetic.bin holds more than %d bytes", s.synth.Bytes)
		}
	}
	return nil
}

// shardKeyMappingOf lists a collection's shard keys with their shards.
func shardKeyMappingOf(col *collection) []shardKeyMapping {
	out := []shardKeyMapping{}
	for _, k := range col.keys {
		out = append(out, shardKeyMapping{Key: k, ShardIDs: col.keyShards(k)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })
	return out
}
