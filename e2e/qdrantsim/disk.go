package qdrantsim

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Disk accounting. Each peer has a capacity (Options.DiskCapacity,
// Peer.SetDiskCapacity; 0 is unlimited) and uses:
//   - the files under its directory: stored snapshots and upload spools;
//   - its replicas' data, estimated (synthetic shards by their size,
//     points by their vectors and a fixed overhead);
//   - archives being unpacked.
//
// Qdrant spools an upload whole before recovering it: actix-multipart's
// TempFile writes the form field to a temporary file
// (src/actix/mod.rs TempFileConfig upload_dir), a URL recovery downloads
// into a temporary file (src/common/snapshots.rs), and
// ShardHolder::restore_shard_snapshot then unpacks the archive next to it
// (lib/collection/src/shards/shard_holder/mod.rs, RecoveryStage::Unpacking)
// before the temporary file is dropped. So a recovering shard needs about
// twice its archive size on the receiving peer. The disk-full fault
// (Faults.SnapshotNoSpace) makes the disk count as full.

// errNoSpace is the OS error Qdrant reports verbatim.
const errNoSpace = "No space left on device (os error 28)"

// pointOverhead approximates a point's storage beyond its vectors (id
// tracker, version, payload offsets).
const pointOverhead = 64

// diskState is a peer's disk; guarded by c.mu.
type diskState struct {
	capacity  int64
	unpacking int64
	spooling  int64
	// peak is the highest usage seen when space was taken.
	peak int64
}

// DiskUsage is a peer's disk accounting.
type DiskUsage struct {
	Capacity  int64 `json:"capacity"`
	Used      int64 `json:"used"`
	Files     int64 `json:"files"`
	Replicas  int64 `json:"replicas"`
	Unpacking int64 `json:"unpacking"`
	// Peak is the highest Used seen when an upload, download or
	// unpacking took space.
	Peak int64 `json:"peak"`
}

// SetDiskCapacity sets p's disk size in bytes (0: unlimited).
func (p *Peer) SetDiskCapacity(bytes int64) {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	p.disk.capacity = bytes
}

// DiskUsage returns p's current disk accounting.
func (p *Peer) DiskUsage() DiskUsage {
	files := dirBytes(p.dir())
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return p.diskUsageLocked(files)
}

func (p *Peer) diskUsageLocked(files int64) DiskUsage {
	u := DiskUsage{Capacity: p.disk.capacity, Files: files, Unpacking: p.disk.unpacking, Peak: p.disk.peak}
	for _, shards := range p.data {
		for _, d := range shards {
			u.Replicas += replicaBytes(d)
		}
	}
	u.Used = u.Files + u.Replicas + u.Unpacking + p.disk.spooling
	return u
}

// replicaBytes estimates the disk size of a replica.
func replicaBytes(d *replicaData) int64 {
	if d.synthetic != nil {
		return d.synthetic.Bytes
	}
	var n int64
	for _, pt := range d.points {
		n += pointOverhead
		for _, v := range pt.vectors {
			n += 4 * int64(len(v))
		}
	}
	return n
}

// dirBytes sums the sizes of the regular files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		if info, err := e.Info(); err == nil {
			n += info.Size()
		}
		return nil
	})
	return n
}

// diskFull reports whether need more bytes do not fit on p's disk.
func (p *Peer) diskFull(need int64) bool {
	if p.Faults().SnapshotNoSpace {
		return true
	}
	files := dirBytes(p.dir())
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	u := p.diskUsageLocked(files)
	return u.Capacity > 0 && u.Used+need > u.Capacity
}

// spooled is an upload or download written whole to the peer's disk.
type spooled struct {
	path string
	size int64
	sum  string
}

func (s *spooled) remove() {
	if s != nil {
		os.Remove(s.path)
	}
}

// errSpoolNoSpace is what a spool that runs out of disk answers: the file
// I/O error of actix-multipart's TempFile reader (500), capitalised as
// Qdrant prints it.
//
//lint:ignore ST1005 the text is Qdrant's.
var errSpoolNoSpace = errors.New("File I/O error: " + errNoSpace)

// spool writes r to a temporary file under p's directory, hashing it and
// failing with errSpoolNoSpace once the disk is full.
func (p *Peer) spool(r io.Reader) (*spooled, error) {
	dir := filepath.Join(p.dir(), "tmp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errf(KindServiceError, "failed to spool upload: %v", err)
	}
	f, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return nil, errf(KindServiceError, "failed to spool upload: %v", err)
	}
	s := &spooled{path: f.Name()}
	base := dirBytes(p.dir())
	p.c.mu.Lock()
	base = p.diskUsageLocked(base).Used - p.disk.spooling
	capacity := p.disk.capacity
	p.c.mu.Unlock()
	h := sha256.New()
	w := &diskWriter{p: p, w: io.MultiWriter(f, h), base: base, capacity: capacity}
	_, err = io.CopyBuffer(w, r, make([]byte, 1<<20))
	w.release()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.remove()
		if errors.Is(err, errSpoolNoSpace) {
			return nil, err
		}
		return nil, errf(KindServiceError, "failed to spool upload: %v", err)
	}
	s.size, s.sum = w.written, hex.EncodeToString(h.Sum(nil))
	return s, nil
}

// diskWriter refuses writes beyond the capacity; other spools in flight
// count through diskState.spooling.
type diskWriter struct {
	p        *Peer
	w        io.Writer
	base     int64
	capacity int64
	written  int64
}

func (d *diskWriter) Write(b []byte) (int, error) {
	c := d.p.c
	c.mu.Lock()
	others := d.p.disk.spooling - d.written
	full := d.capacity > 0 && d.base+others+d.written+int64(len(b)) > d.capacity
	if !full {
		d.p.disk.spooling += int64(len(b))
		d.p.disk.peak = max(d.p.disk.peak, d.base+others+d.written+int64(len(b)))
	}
	c.mu.Unlock()
	if full || d.p.Faults().SnapshotNoSpace {
		return 0, errSpoolNoSpace
	}
	n, err := d.w.Write(b)
	d.written += int64(n)
	return n, err
}

// release drops the spool from the in-flight count: from now on the file
// itself counts.
func (d *diskWriter) release() {
	d.p.c.mu.Lock()
	d.p.disk.spooling -= d.written
	d.p.c.mu.Unlock()
}

// reserveUnpack reserves the space an archive of size bytes takes once
// unpacked, or fails like the unpacking would on a full disk. The returned
// function releases it after the replica is installed (from then on the
// replica itself counts).
func (p *Peer) reserveUnpack(size int64) (func(), error) {
	files := dirBytes(p.dir())
	p.c.mu.Lock()
	u := p.diskUsageLocked(files)
	if p.Faults().SnapshotNoSpace || u.Capacity > 0 && u.Used+size > u.Capacity {
		p.c.mu.Unlock()
		return nil, errf(KindServiceError, "failed to unpack snapshot: %s", errNoSpace)
	}
	p.disk.unpacking += size
	p.disk.peak = max(p.disk.peak, u.Used+size)
	p.c.mu.Unlock()
	return func() {
		p.c.mu.Lock()
		p.disk.unpacking -= size
		p.c.mu.Unlock()
	}, nil
}
