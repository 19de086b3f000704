package qdrantsim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// RecoverRequest is the body of PUT .../snapshots/recover (collection and
// shard level).
type RecoverRequest struct {
	Location string  `json:"location"`
	Priority *string `json:"priority,omitempty"`
	Checksum *string `json:"checksum,omitempty"`
	APIKey   *string `json:"api_key,omitempty"`
}

// Snapshot recovery priorities.
const (
	PrioritySnapshot = "snapshot"
	PriorityReplica  = "replica"
	PriorityNoSync   = "no_sync"
)

var sha256RE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// checkRecoverParams validates priority and checksum, returning defaults.
// in says where they came from: the query of an upload, the JSON body of a
// recovery.
func checkRecoverParams(priority, checksum string, in validationIn) (string, string, error) {
	switch priority {
	case "":
		priority = PrioritySnapshot
	case PrioritySnapshot, PriorityReplica, PriorityNoSync:
	default:
		return "", "", errf(KindFormat, "priority: unknown variant `%s`, expected one of `no_sync`, `snapshot`, `replica`", priority)
	}
	if checksum != "" {
		if err := validateSHA256(checksum, in); err != nil {
			return "", "", err
		}
	}
	return priority, strings.ToLower(checksum), nil
}

// validateSHA256 is validate_sha256_hash of lib/common/common/src/
// validation.rs: 64 hexadecimal digits of either case. A wrong length has
// no message, so describe_error prints the ValidationError itself
// (validator's Display: code and params; Qdrant prints the params map in
// hash order, the simulator in a fixed one).
func validateSHA256(v string, in validationIn) error {
	if len(v) != 64 {
		return errValidation(in, "checksum", fmt.Sprintf(
			`Validation error: invalid_sha256_hash [{"length": Number(%d), "expected_length": Number(64)}]`, len(v)))
	}
	if !sha256RE.MatchString(v) {
		return errValidation(in, "checksum", "invalid characters, expected 0-9, a-f, A-F")
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// mismatchStyle selects Qdrant's wording: recover reports a Wrong input,
// upload a bare "Checksum mismatch".
type mismatchStyle int

const (
	mismatchRecover mismatchStyle = iota
	mismatchUpload
)

func checksumError(style mismatchStyle, want, got string) error {
	if style == mismatchUpload {
		return &Error{Kind: KindChecksumMismatch, Msg: fmt.Sprintf("Checksum mismatch: expected %s, actual %s", want, got)}
	}
	return errf(KindBadInput, "Snapshot checksum mismatch: expected %s, got %s", want, got)
}

// readVerified parses an archive while hashing it; with a checksum the
// hash decides first, so a wrong file never touches the shard.
func readVerified(r io.Reader, checksum string, style mismatchStyle) (*parsedSnapshot, error) {
	h := sha256.New()
	tee := io.TeeReader(r, h)
	ps, perr := readSnapshot(tee)
	if perr != nil {
		io.Copy(io.Discard, tee)
	}
	if checksum != "" {
		if got := hex.EncodeToString(h.Sum(nil)); got != checksum {
			return nil, checksumError(style, checksum, got)
		}
	}
	return ps, perr
}

// download opens an http(s) snapshot location, sending api_key as the
// api-key header.
func (p *Peer) download(ctx context.Context, loc, apiKey string) (io.ReadCloser, error) {
	if p.c.opts.DisableSnapshotURLRecovery && p.c.ver.atLeast(1, 18, 0) {
		return nil, errf(KindForbidden, "Snapshot recovery from remote URLs is disabled in the configuration")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
	if err != nil {
		return nil, errf(KindBadInput, "Invalid snapshot URL %s: %v", loc, err)
	}
	if apiKey != "" {
		req.Header.Set("api-key", apiKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, errf(KindBadInput, "Failed to download tar from %s: %v", loc, err)
	}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		return nil, errf(KindBadInput, "Failed to download tar from %s: status - %s", loc, resp.Status)
	}
	return resp.Body, nil
}

// shardExists checks the shard id exists in the collection (404 otherwise);
// the peer does not need a replica.
func (p *Peer) shardExists(coll string, shard uint32) (string, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return "", err
	}
	if col.shards[shard] == nil {
		return "", errShardNotFound(shard)
	}
	return col.name, nil
}

// RecoverShardSnapshot is PUT /collections/{c}/shards/{s}/snapshots/recover:
// location is an http(s) URL or the name of a snapshot stored on p for
// that shard. A download is spooled to p's disk before it is unpacked
// (disk.go).
func (p *Peer) RecoverShardSnapshot(ctx context.Context, coll string, shard uint32, req RecoverRequest) error {
	priority, checksum, err := checkRecoverParams(deref(req.Priority), deref(req.Checksum), inBody)
	if err != nil {
		return err
	}
	if err := p.refuseURLRecovery(req.Location); err != nil {
		return err
	}
	name, err := p.shardExists(coll, shard)
	if err != nil {
		return err
	}
	// From 1.19 the recovery lock covers the download too.
	defer p.lockShardRecovery(name, shard)()
	var body io.ReadCloser
	var size int64
	if u, perr := url.Parse(req.Location); perr == nil && u.IsAbs() {
		switch u.Scheme {
		case "http", "https":
			dl, err := p.download(ctx, req.Location, deref(req.APIKey))
			if err != nil {
				return err
			}
			sp, err := p.spool(dl)
			dl.Close()
			if err != nil {
				return noSpaceAsService(err)
			}
			defer sp.remove()
			if body, err = os.Open(sp.path); err != nil {
				return errf(KindServiceError, "failed to reopen download: %v", err)
			}
			size = sp.size
		case "file":
			return errf(KindBadInput, "Invalid snapshot URL %s: URLs with file scheme are not supported", req.Location)
		default:
			return errf(KindBadInput, "Invalid snapshot URL %s: URL scheme %s is not supported", req.Location, u.Scheme)
		}
	} else {
		if _, err := p.checkLocalShard(name, shard, false); err != nil {
			return err
		}
		f, err := openSnapshot(p.shardSnapDir(name, shard), req.Location)
		if err != nil {
			return err
		}
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		body = f
	}
	defer body.Close()
	return p.recoverShardFrom(name, shard, body, size, priority, checksum, mismatchRecover)
}

// UploadShardSnapshot is POST .../shards/{s}/snapshots/upload: the archive
// is spooled to p's disk, checked against checksum, recovered and removed.
func (p *Peer) UploadShardSnapshot(ctx context.Context, coll string, shard uint32, r io.Reader, priority, checksum string) error {
	priority, checksum, err := checkRecoverParams(priority, checksum, inQueryParams)
	if err != nil {
		return err
	}
	sp, err := p.spool(r)
	if err != nil {
		return err
	}
	defer sp.remove()
	return p.recoverUpload(coll, shard, sp, priority, checksum)
}

// recoverUpload recovers a spooled shard upload in the order of
// snapshot_api.rs upload_shard_snapshot: checksum, collection and shard
// lookup, then the recovery under the shard's recovery lock.
func (p *Peer) recoverUpload(coll string, shard uint32, sp *spooled, priority, checksum string) error {
	if checksum != "" && sp.sum != checksum {
		return checksumError(mismatchUpload, checksum, sp.sum)
	}
	name, err := p.shardExists(coll, shard)
	if err != nil {
		return err
	}
	defer p.lockShardRecovery(name, shard)()
	f, err := os.Open(sp.path)
	if err != nil {
		return errf(KindServiceError, "failed to reopen upload: %v", err)
	}
	defer f.Close()
	return p.recoverShardFrom(name, shard, f, sp.size, priority, "", mismatchUpload)
}

// noSpaceAsService reports a spool that ran out of disk during a download
// as the recovery's service error.
func noSpaceAsService(err error) error {
	if errors.Is(err, errSpoolNoSpace) {
		return errf(KindServiceError, "failed to download snapshot: %s", errNoSpace)
	}
	return err
}

// recoverShardFrom applies §2.3: the archive replaces (or creates) p's
// replica at once, then priority decides the replica states through
// proposals that are sent, not awaited (src/common/snapshots.rs
// recover_shard_snapshot_impl, activate_shard in
// lib/storage/src/content_manager/snapshots/recover.rs): the call returns
// before any peer applied them. Until p applies its activation, p lists
// the replica as Dead and the other peers do not list a new replica at all
// (cluster_info in lib/collection/src/collection/collection_ops.rs). size
// is the archive's size on disk, reserved again while it is unpacked.
func (p *Peer) recoverShardFrom(coll string, shard uint32, r io.Reader, size int64, priority, checksum string, style mismatchStyle) error {
	release, err := p.reserveUnpack(size)
	if err != nil {
		return err
	}
	defer release()
	ps, err := readVerified(r, checksum, style)
	if err != nil {
		return err
	}
	sd := ps.shards[""]
	if sd == nil || !sd.hasData() {
		return errf(KindBadRequest, "Invalid snapshot")
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
	others := otherActive(s, p.id)
	c.replaceLocalLocked(p, col, s, sd)
	c.recoverGroup++
	group := c.recoverGroup
	set := func(pid uint64, state string) {
		s.replicas[pid] = &replica{state: state, since: time.Now()}
		c.commitLocked(proposal{what: "set replica " + state + ": shard snapshot recovery", droppable: true,
			group: group, change: &stateChange{coll: col.name, shard: shard, peer: pid, state: state}})
	}
	switch {
	case len(others) == 0, priority == PriorityNoSync:
		set(p.id, StateActive)
	case priority == PrioritySnapshot:
		set(p.id, StateActive)
		for _, pid := range others {
			if s := col.shards[shard]; s != nil && s.replicas[pid] != nil {
				set(pid, StateDead)
			}
		}
	case priority == PriorityReplica:
		set(p.id, StateDead)
	}
	return nil
}

// replaceLocalLocked installs archive data as p's replica of s, dropping
// transfers that were filling it. The data is of a history of its own, so
// no WAL delta can later be resolved against it.
func (c *Cluster) replaceLocalLocked(p *Peer, col *collection, s *shard, sd *parsedShard) {
	d := newReplicaData(c.newUUID())
	d.synthetic = sd.synth
	for _, pt := range sd.points {
		d.points[pt.id] = pt
	}
	c.installLocalLocked(p, col, s, d)
}

// installLocalLocked makes d p's replica of s, dropping transfers that were
// filling it. The data is of a history of its own, so no WAL delta can
// later be resolved against it.
func (c *Cluster) installLocalLocked(p *Peer, col *collection, s *shard, d *replicaData) {
	removed := false
	for _, t := range append([]*transfer(nil), c.transfers...) {
		if t.coll == col.name && t.shard == s.id && t.to == p.id {
			c.removeTransferLocked(t)
			removed = true
		}
	}
	if removed {
		c.commitLocked(proposal{what: "abort transfer: shard replaced by a snapshot", droppable: true})
	}
	d.lineage, d.ops = freshLineage(d.segment), uint64(d.count())
	p.localShardsLocked(col.name)[s.id] = d
}

// otherActive lists the other replicas of s that count as active.
func otherActive(s *shard, self uint64) []uint64 {
	var out []uint64
	for _, pid := range s.peerIDs() {
		if pid != self && readable(s.replicas[pid].state) {
			out = append(out, pid)
		}
	}
	return out
}

// RecoverCollectionSnapshot is PUT /collections/{c}/snapshots/recover:
// location is an http(s) URL or a file:// path (confined to the snapshots
// directory from 1.17.1).
func (p *Peer) RecoverCollectionSnapshot(ctx context.Context, coll string, req RecoverRequest) error {
	priority, checksum, err := checkRecoverParams(deref(req.Priority), deref(req.Checksum), inBody)
	if err != nil {
		return err
	}
	u, err := url.Parse(req.Location)
	if err != nil || !u.IsAbs() {
		return errf(KindFormat, "location: relative URL without a base")
	}
	var body io.ReadCloser
	switch u.Scheme {
	case "http", "https":
		if body, err = p.download(ctx, req.Location, deref(req.APIKey)); err != nil {
			return err
		}
	case "file":
		path, err := p.fileSnapshotPath(u)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return errf(KindServiceError, "failed to open snapshot %s: %v", path, err)
		}
		body = f
	default:
		return errf(KindBadInput, "Invalid snapshot URL %s: URL scheme %s is not supported", req.Location, u.Scheme)
	}
	defer body.Close()
	return p.recoverCollectionThenSync(ctx, coll, body, priority, checksum, mismatchRecover)
}

// fileSnapshotPath is the file:// branch of download_snapshot in
// lib/storage/src/content_manager/snapshots/download.rs, in its order:
// Url::to_file_path accepts only an empty host or localhost (400), the
// file must exist (400), and from 1.17.1 its canonical path must lie
// inside the snapshots directory (403, validate_snapshot_path). Paths are
// printed as Rust's Debug prints them, quoted.
func (p *Peer) fileSnapshotPath(u *url.URL) (string, error) {
	if (u.Host != "" && u.Host != "localhost") || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "", errf(KindBadRequest, "Invalid snapshot URI, file path must be absolute or on localhost")
	}
	// The url crate removes dot segments while parsing.
	path := filepath.Clean(u.Path)
	if _, err := os.Stat(path); err != nil {
		return "", errf(KindBadRequest, "Snapshot file %q does not exist", path)
	}
	if !p.c.ver.confinesFileRecovery() {
		return path, nil
	}
	canonical, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", errf(KindBadRequest, "Failed to resolve snapshot path %q: %v", path, err)
	}
	// Qdrant creates its snapshots directory at start-up.
	_ = os.MkdirAll(p.snapshotRoot(), 0o755)
	root, err := filepath.EvalSymlinks(p.snapshotRoot())
	if err != nil {
		return "", errf(KindServiceError, "Failed to resolve snapshots directory %q: %v", p.snapshotRoot(), err)
	}
	if canonical != root && !strings.HasPrefix(canonical, root+string(filepath.Separator)) {
		return "", errf(KindForbidden, "Snapshot file path must be inside the snapshots directory %q", root)
	}
	return canonical, nil
}

// UploadCollectionSnapshot is POST /collections/{c}/snapshots/upload: the
// upload is kept in the collection's snapshot directory under its base
// name (a random name if none) and recovered from there.
func (p *Peer) UploadCollectionSnapshot(ctx context.Context, coll, filename string, r io.Reader, priority, checksum string) error {
	priority, checksum, err := checkRecoverParams(priority, checksum, inQueryParams)
	if err != nil {
		return err
	}
	base := filepath.Base(filepath.Clean("/" + filename))
	if base == "/" || base == "." || !validSnapshotName(base) {
		p.c.mu.Lock()
		base = p.c.newUUID()
		p.c.mu.Unlock()
	}
	dir := p.collectionSnapDir(coll)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errf(KindServiceError, "failed to store upload: %v", err)
	}
	file := filepath.Join(dir, base)
	f, err := os.Create(file)
	if err != nil {
		return errf(KindServiceError, "failed to store upload: %v", err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return errf(KindServiceError, "failed to store upload: %v", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); checksum != "" && got != checksum {
		os.Remove(file)
		return checksumError(mismatchUpload, checksum, got)
	}
	in, err := os.Open(file)
	if err != nil {
		return errf(KindServiceError, "failed to reopen upload: %v", err)
	}
	defer in.Close()
	return p.recoverCollectionThenSync(ctx, coll, in, priority, "", mismatchUpload)
}

// recoverCollectionThenSync recovers a collection snapshot. A collection
// it creates is created through the dispatcher, which returns once every
// peer applied the creation (lib/storage/src/content_manager/snapshots/
// recover.rs _do_recover_from_snapshot); the replica state proposals that
// follow are sent without waiting.
func (p *Peer) recoverCollectionThenSync(ctx context.Context, coll string, r io.Reader, priority, checksum string, style mismatchStyle) error {
	var created time.Time
	if err := p.recoverCollectionFrom(coll, r, priority, checksum, style, &created); err != nil {
		return err
	}
	return sleepCtx(ctx, time.Until(created))
}

// recoverCollectionFrom applies §2.4; if it creates the collection,
// created is set to when every peer will have applied the creation.
func (p *Peer) recoverCollectionFrom(coll string, r io.Reader, priority, checksum string, style mismatchStyle, created *time.Time) error {
	p.recoverMu.Lock()
	defer p.recoverMu.Unlock()
	c := p.c
	// p's replicas of an existing collection are in recovery while the
	// archive is read: ManualRecovery from 1.17, Partial before.
	prev := p.markRecovering(coll)
	ps, err := readVerified(r, checksum, style)
	if err == nil && ps.config == nil {
		err = errf(KindBadRequest, "Invalid snapshot: config.json not found")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		p.restoreStatesLocked(coll, prev, nil)
		return err
	}
	col, ok := c.colls[coll]
	if !ok {
		if err := c.ver.validateCollectionName(coll, true); err != nil {
			return err
		}
		col = c.createLocked(coll, ps.config.collectionConfig, ps.schema)
		for _, q := range c.peers {
			if q.view.lastAt.After(*created) {
				*created = q.view.lastAt
			}
		}
	}
	if err := compatible(col.config, ps.config.collectionConfig); err != nil {
		p.restoreStatesLocked(coll, prev, nil)
		return err
	}
	now := time.Now()
	for _, id := range col.shardIDs() {
		s := col.shards[id]
		sd := ps.shards[strconv.FormatUint(uint64(id), 10)]
		if sd == nil || !sd.hasData() {
			// Before 1.17.1 a skipped shard stayed in the recovery state
			// (issues #6575, #7851); later versions restore its state.
			if c.ver.restoresSkippedShards() {
				p.restoreStatesLocked(coll, prev, &id)
			}
			continue
		}
		c.replaceLocalLocked(p, col, s, sd)
		others := otherActive(s, p.id)
		switch {
		case len(others) == 0, priority == PriorityNoSync:
			s.replicas[p.id] = &replica{state: StateActive, since: now}
		case priority == PrioritySnapshot:
			s.replicas[p.id] = &replica{state: StateActive, since: now}
			drop := len(others) - (int(col.config.Params.ReplicationFactor) - 1)
			for i, pid := range others {
				if i < drop {
					delete(s.replicas, pid)
					if q := c.peerLocked(pid); q != nil {
						delete(q.localShardsLocked(col.name), id)
					}
					continue
				}
				s.replicas[pid] = &replica{state: StateDead, since: now}
			}
		case priority == PriorityReplica:
			c.beginTransferLocked(col, s, others[0], p.id, true, c.ver.defaultTransferMethod())
		}
	}
	c.commitLocked(proposal{what: "collection snapshot recovery: replica states", droppable: true})
	return nil
}

// compatible checks what Qdrant compares before recovering into an
// existing collection: vectors and shard_number.
func compatible(have, snap collectionConfig) error {
	if have.Params.ShardNumber != snap.Params.ShardNumber {
		return errf(KindBadInput, "Snapshot is not compatible with existing collection: Collection shard number mismatch: expected %d, got %d",
			have.Params.ShardNumber, snap.Params.ShardNumber)
	}
	var a, b any
	json.Unmarshal(bytes.TrimSpace(have.Params.Vectors), &a)
	json.Unmarshal(bytes.TrimSpace(snap.Params.Vectors), &b)
	if !reflect.DeepEqual(a, b) {
		return errf(KindBadInput, "Snapshot is not compatible with existing collection: Vectors configuration mismatch: expected %s, got %s",
			have.Params.Vectors, snap.Params.Vectors)
	}
	return nil
}

// recoveringState is the state of replicas under collection recovery.
func (c *Cluster) recoveringState() string {
	if c.ver.hasManualRecovery() {
		return StateManualRecovery
	}
	return StatePartial
}

// markRecovering switches p's replicas of coll to the recovering state and
// returns their previous states.
func (p *Peer) markRecovering(coll string) map[uint32]string {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := map[uint32]string{}
	col, ok := c.colls[coll]
	if !ok {
		return prev
	}
	now := time.Now()
	for id, s := range col.shards {
		if r := s.replicas[p.id]; r != nil {
			prev[id] = r.state
			s.replicas[p.id] = &replica{state: c.recoveringState(), since: now}
		}
	}
	c.commitLocked(proposal{what: "collection snapshot recovery: mark recovering", droppable: true})
	return prev
}

// restoreStatesLocked puts p's replicas back to their states before the
// recovery (only that shard, if given) unless something else changed them.
func (p *Peer) restoreStatesLocked(coll string, prev map[uint32]string, only *uint32) {
	col, ok := p.c.colls[coll]
	if !ok {
		return
	}
	changed := false
	for id, st := range prev {
		if only != nil && id != *only {
			continue
		}
		if s := col.shards[id]; s != nil {
			if r := s.replicas[p.id]; r != nil && r.state == p.c.recoveringState() {
				s.replicas[p.id] = &replica{state: st, since: r.since}
				changed = true
			}
		}
	}
	if changed {
		p.c.commitLocked(proposal{what: "collection snapshot recovery: restore states", droppable: true})
	}
}
