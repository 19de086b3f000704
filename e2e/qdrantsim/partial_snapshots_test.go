package qdrantsim

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// partialPath is the partial snapshot route base of shard 0.
func partialPath(coll string) string { return "/collections/" + coll + "/shards/0/snapshot/partial" }

// manifestOf reads a shard's partial snapshot manifest.
func manifestOf(t *testing.T, c client, coll string) SnapshotManifest {
	t.Helper()
	var m SnapshotManifest
	c.ok("GET", partialPath(coll)+"/manifest", nil, &m)
	return m
}

// onlySegment returns the one segment manifest of m.
func onlySegment(t *testing.T, m SnapshotManifest) SegmentManifest {
	t.Helper()
	if len(m) != 1 {
		t.Fatalf("manifest has %d segments, want 1: %v", len(m), m)
	}
	for _, s := range m {
		return s
	}
	return SegmentManifest{}
}

// versionOf is a file's version in a segment manifest, -1 for null.
func versionOf(t *testing.T, s SegmentManifest, file string) int64 {
	t.Helper()
	v, ok := s.FileVersions[file]
	if !ok {
		t.Fatalf("manifest of %s does not list %s: %v", s.SegmentID, file, s.FileVersions)
	}
	if v == nil {
		return -1
	}
	return int64(*v)
}

// tarNames lists the regular files of an archive.
func tarNames(t *testing.T, data []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read archive: %v", err)
		}
		if h.Typeflag == tar.TypeReg {
			names = append(names, h.Name)
		}
	}
	sort.Strings(names)
	return names
}

// TestUpstreamDeleteVectorAdvancesManifest: test_shard_snapshot.py
// test_delete_vector_advances_partial_snapshot_manifest. After a vector
// update pins the vector storage's version, deleting the unnamed vector of
// the point stamps the vector storage files with the delete's operation
// id: the manifest (GET .../snapshot/partial/manifest, src/actix/api/
// snapshot_api.rs get_partial_snapshot_manifest) lists, per segment,
// file_versions whose vector_storage/ entries reach it
// (Segment::delete_vector bumps the version tracker only for a vector that
// was present, lib/segment/src/segment/entry.rs; the manifest is built by
// Segment::_get_segment_manifest, lib/segment/src/segment/snapshot.rs).
func TestUpstreamDeleteVectorAdvancesManifest(t *testing.T) {
	cl := startCluster(t, Options{Peers: 1})
	c := newValidatedClient(t, cl.Peers()[0])
	raw := newClient(t, cl.Peers()[0]) // the partial routes are not in the OpenAPI document
	const coll = "test_collection"
	basicCollectionSetup(t, c, coll)
	before := onlySegment(t, manifestOf(t, raw, coll))

	c.ok("PUT", "/collections/"+coll+"/points/vectors?wait=true", rawJSON(`{"points": [{"id": 1, "vector": [1.0, 2.0, 3.0, 4.0]}]}`), nil)
	var del UpdateResult
	c.ok("POST", "/collections/"+coll+"/points/vectors/delete?wait=true", rawJSON(`{"points": [1], "vector": [""]}`), &del)
	if v, _ := getRecord(t, c, coll, 1)["vector"].(map[string]any); v != nil {
		if _, ok := v[""]; ok {
			t.Fatalf("point 1 still has the unnamed vector: %v", v)
		}
	}

	m := manifestOf(t, raw, coll)
	seg := onlySegment(t, m)
	var vectorVersions []int64
	for path, v := range seg.FileVersions {
		if strings.HasPrefix(path, "vector_storage/") && v != nil {
			vectorVersions = append(vectorVersions, int64(*v))
		}
	}
	if len(vectorVersions) == 0 {
		t.Fatalf("no versioned vector_storage/ file in %v", seg.FileVersions)
	}
	sort.Slice(vectorVersions, func(i, j int) bool { return vectorVersions[i] < vectorVersions[j] })
	if top := vectorVersions[len(vectorVersions)-1]; top < int64(del.OperationID) {
		t.Errorf("max vector_storage/ version %d < delete operation %d", top, del.OperationID)
	}
	// What the model adds: the segment version is the last operation;
	// storages the two operations did not touch keep their versions; the
	// id tracker is unversioned.
	if seg.SegmentVersion != del.OperationID {
		t.Errorf("segment_version %d, want the delete's operation %d", seg.SegmentVersion, del.OperationID)
	}
	for _, f := range []string{vectorFile("sparse-text"), payloadFile} {
		if got, was := versionOf(t, seg, f), versionOf(t, before, f); got != was {
			t.Errorf("%s moved from %d to %d though only the unnamed vector changed", f, was, got)
		}
	}
	if v := versionOf(t, seg, idTrackerFile); v != -1 {
		t.Errorf("id tracker version %d, want null (Unversioned)", v)
	}
	if seg.SegmentID != before.SegmentID {
		t.Errorf("segment id changed from %s to %s", before.SegmentID, seg.SegmentID)
	}

	// Errors: a shard that does not exist, a collection that does not.
	raw.errorOf("GET", "/collections/"+coll+"/shards/7/snapshot/partial/manifest", nil, 404)
	raw.errorOf("GET", "/collections/missing/shards/0/snapshot/partial/manifest", nil, 404)
}

// TestPartialSnapshotRoundTrip: a partial snapshot holds what changed
// against a manifest and recovering it brings a replica up to date
// (src/common/snapshots.rs stream_shard_snapshot, lib/segment/src/segment/
// snapshot.rs updated_files, lib/collection/src/shards/replica_set/
// snapshots.rs restore_local_replica_from, lib/shard/src/snapshots/
// snapshot_utils.rs partial_snapshot_merge_plan). The source and the
// target are two single-peer clusters, as recover_from only needs the
// source's URL.
func TestPartialSnapshotRoundTrip(t *testing.T) {
	const coll = "test_collection"
	srcCl := startCluster(t, Options{Peers: 1})
	dstCl := startCluster(t, Options{Peers: 1})
	src, dst := newClient(t, srcCl.Peers()[0]), newClient(t, dstCl.Peers()[0])
	basicCollectionSetup(t, src, coll)
	basicCollectionSetup(t, dst, coll)
	src.ok("PUT", "/collections/"+coll+"/points?wait=true", rawJSON(`{"points": [{"id": 11, "vector": [1, 1, 1, 1], "payload": {"city": "Paris"}}]}`), nil)

	// A manifest equal to the current one: 304, nothing to send.
	if status, body := src.do("POST", partialPath(coll)+"/create", manifestOf(t, src, coll)); status != http.StatusNotModified || len(body) != 0 {
		t.Fatalf("create against the current manifest = %d %q, want 304 without a body", status, body)
	}

	// recover_from: the target's segment is not the source's, so the
	// whole segment comes and the target's own is dropped.
	var recovered bool
	dst.ok("POST", partialPath(coll)+"/recover_from?wait=true", map[string]any{"peer_url": src.base}, &recovered)
	if !recovered {
		t.Fatalf("recover_from a changed source = false, want true")
	}
	if got, want := allPoints(t, dst, coll), allPoints(t, src, coll); !reflect.DeepEqual(got, want) {
		t.Fatalf("after recover_from the target has\n%s\nwant\n%s", got, want)
	}
	srcSeg, dstSeg := onlySegment(t, manifestOf(t, src, coll)), onlySegment(t, manifestOf(t, dst, coll))
	if dstSeg.SegmentID != srcSeg.SegmentID || dstSeg.SegmentVersion != srcSeg.SegmentVersion {
		t.Fatalf("target segment %s@%d, want the source's %s@%d", dstSeg.SegmentID, dstSeg.SegmentVersion, srcSeg.SegmentID, srcSeg.SegmentVersion)
	}
	// The loaded segment's version tracker is empty: every file is at the
	// segment's version.
	for f, v := range dstSeg.FileVersions {
		if v != nil && *v != dstSeg.SegmentVersion {
			t.Errorf("recovered %s at %d, want null or the segment version %d", f, *v, dstSeg.SegmentVersion)
		}
	}

	// A payload change on the source: a partial snapshot against the
	// target's manifest carries the payload storage and the id tracker
	// (unversioned: it counts at the segment version, which the change
	// advanced), no vector storage.
	src.ok("PUT", "/collections/"+coll+"/points/payload?wait=true", rawJSON(`{"payload": {"city": "Rome"}, "points": [2]}`), nil)
	status, archive := src.do("POST", partialPath(coll)+"/create", manifestOf(t, dst, coll))
	if status != http.StatusOK {
		t.Fatalf("create = %d %s", status, archive)
	}
	seg := "segments/" + srcSeg.SegmentID + "/files/"
	want := []string{"newest_clocks.json", "replica_state.json", seg + idTrackerFile, seg + payloadFile, seg + segmentManifest, seg + "segment.json", "shard_config.json", "wal/closed-1"}
	sort.Strings(want)
	if got := tarNames(t, archive); !reflect.DeepEqual(got, want) {
		t.Fatalf("partial snapshot holds\n%v\nwant\n%v", got, want)
	}

	// The archive through the upload route brings the target up to date;
	// a second upload of a full snapshot there is refused, and so is the
	// partial archive on the full route.
	if status, body := postSnapshotForm(t, dst, partialPath(coll)+"/recover?wait=true", archive); status != 200 {
		t.Fatalf("partial recover = %d %s", status, body)
	}
	if got, want := allPoints(t, dst, coll), allPoints(t, src, coll); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the partial upload the target has\n%s\nwant\n%s", got, want)
	}
	if city := dig(getRecord(t, dst, coll, 2), "payload", "city"); city != "Rome" {
		t.Errorf("point 2 city = %v, want Rome", city)
	}
	if status, body := postSnapshotForm(t, dst, "/collections/"+coll+"/shards/0/snapshots/upload", archive); status != 400 ||
		!strings.Contains(string(body), "contains segment manifest; ensure you are not recovering partial snapshot on shard snapshot endpoint") {
		t.Errorf("partial archive on the full upload = %d %s", status, body)
	}
	var full SnapshotDescription
	src.ok("POST", "/collections/"+coll+"/shards/0/snapshots?wait=true", nil, &full)
	_, fullData := src.do("GET", "/collections/"+coll+"/shards/0/snapshots/"+full.Name, nil)
	if status, body := postSnapshotForm(t, dst, partialPath(coll)+"/recover", fullData); status != 400 ||
		!strings.Contains(string(body), "does not contain segment manifest; ensure you are not recovering shard snapshot on partial snapshot endpoint") {
		t.Errorf("full snapshot on the partial upload = %d %s", status, body)
	}

	// Up to date: the source answers 304 and recover_from reports false.
	src.ok("PUT", "/collections/"+coll+"/points/payload?wait=true", rawJSON(`{"payload": {"city": "Oslo"}, "points": [3]}`), nil)
	dst.ok("POST", partialPath(coll)+"/recover_from", map[string]any{"peer_url": src.base}, &recovered)
	if !recovered {
		t.Fatalf("recover_from after a change = false")
	}
	// The target's manifest now differs from the source's only by the
	// emptied version tracker, so the source sends no file; the data
	// stays equal.
	status, archive = src.do("POST", partialPath(coll)+"/create", manifestOf(t, dst, coll))
	if status != http.StatusOK {
		t.Fatalf("create = %d %s", status, archive)
	}
	for _, name := range tarNames(t, archive) {
		if strings.HasSuffix(name, ".jsonl") {
			t.Errorf("partial snapshot of an up-to-date target carries %s", name)
		}
	}
	if got, want := allPoints(t, dst, coll), allPoints(t, src, coll); !reflect.DeepEqual(got, want) {
		t.Fatalf("target differs from source after recover_from")
	}
	if status, body := src.do("POST", partialPath(coll)+"/create", manifestOf(t, src, coll)); status != http.StatusNotModified {
		t.Errorf("create against the source's own manifest = %d %s, want 304", status, body)
	}
	// recover_from a source that answers 304: result false.
	dst2Cl := startCluster(t, Options{Peers: 1})
	dst2 := newClient(t, dst2Cl.Peers()[0])
	basicCollectionSetup(t, dst2, coll)
	dst2.ok("POST", partialPath(coll)+"/recover_from", map[string]any{"peer_url": src.base}, &recovered)
	if !recovered {
		t.Fatalf("first recover_from into a fresh target = false")
	}
	// Make the source's tracker look as after a restart, so its manifest
	// equals a recovered target's: then nothing changed for it.
	srcPeer := srcCl.Peers()[0]
	srcCl.mu.Lock()
	for _, d := range srcPeer.data[coll] {
		d.vers = segmentVersions{version: d.vers.version}
	}
	srcCl.mu.Unlock()
	dst2.ok("POST", partialPath(coll)+"/recover_from", map[string]any{"peer_url": src.base}, &recovered)
	if recovered {
		t.Errorf("recover_from an unchanged source = true, want false (304)")
	}
}

// TestPartialSnapshotErrors: the route's checks (src/actix/api/
// snapshot_api.rs recover_partial_snapshot, recover_partial_snapshot_from).
func TestPartialSnapshotErrors(t *testing.T) {
	const coll = "test_collection"
	cl := startCluster(t, Options{Peers: 1})
	p := cl.Peers()[0]
	c := newClient(t, p)
	basicCollectionSetup(t, c, coll)

	// A recovery already holding the shard's partial recovery lock: 503
	// already_in_progress, for an upload and for recover_from.
	m := p.partialLocks.get(coll + "/0")
	m.Lock()
	if status, body := postSnapshotForm(t, c, partialPath(coll)+"/recover", []byte("x")); status != http.StatusServiceUnavailable ||
		!strings.Contains(string(body), `"status":"already_in_progress"`) {
		t.Errorf("upload while locked = %d %s, want 503 already_in_progress", status, body)
	}
	if status, body := c.do("POST", partialPath(coll)+"/recover_from", map[string]any{"peer_url": c.base}); status != http.StatusServiceUnavailable {
		t.Errorf("recover_from while locked = %d %s, want 503", status, body)
	}
	m.Unlock()

	// Unknown collection or shard: 404 before anything is read.
	c.errorOf("POST", "/collections/missing/shards/0/snapshot/partial/recover_from", map[string]any{"peer_url": c.base}, 404)
	c.errorOf("POST", "/collections/"+coll+"/shards/9/snapshot/partial/recover_from", map[string]any{"peer_url": c.base}, 404)
	if status, body := postSnapshotForm(t, c, "/collections/"+coll+"/shards/9/snapshot/partial/recover", []byte("x")); status != 404 {
		t.Errorf("upload to a missing shard = %d %s, want 404", status, body)
	}
	// A wrong checksum: 400 Checksum mismatch, the shard untouched.
	before := allPoints(t, c, coll)
	if status, body := postSnapshotForm(t, c, partialPath(coll)+"/recover?checksum="+strings.Repeat("a", 64), []byte("x")); status != 400 ||
		!strings.Contains(string(body), "Checksum mismatch") {
		t.Errorf("wrong checksum = %d %s", status, body)
	}
	// Not an archive: 400.
	if status, body := postSnapshotForm(t, c, partialPath(coll)+"/recover", []byte("not a snapshot")); status != 400 {
		t.Errorf("garbage upload = %d %s, want 400", status, body)
	}
	if got := allPoints(t, c, coll); !reflect.DeepEqual(got, before) {
		t.Errorf("refused recoveries changed the shard")
	}
	// A relative peer URL is a body format error; a create body that is
	// not a manifest too.
	c.errorOf("POST", partialPath(coll)+"/recover_from", map[string]any{"peer_url": "not a url"}, 400)
	c.errorOf("POST", partialPath(coll)+"/create", `{"x": 1}`, 400)
	// A source that refuses the create request: the recovery fails with
	// the HTTP error (reqwest's error_for_status as a service error).
	msg := c.errorOf("POST", partialPath(coll)+"/recover_from", map[string]any{"peer_url": c.base + "/nowhere"}, 500)
	wantContains(t, "failing source", msg, "Http request error: HTTP status 404 Not Found")
	var raw json.RawMessage
	c.ok("GET", partialPath(coll)+"/manifest", nil, &raw)
}
