package qdrantsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
)

// syntheticSpec describes a shard whose content is generated, not stored:
// Bytes of deterministic data derived from Seed. It lets benchmarks stream
// multi-gigabyte snapshots without the simulator holding them in memory.
type syntheticSpec struct {
	Bytes  int64  `json:"bytes"`
	Seed   uint64 `json:"seed"`
	Points int64  `json:"points"`
}

const synthBlock = 1 << 20

// synthPattern is the 1 MiB base block for a seed; block k of the content
// is the pattern rotated by a k-dependent offset, so the data does not
// repeat with a short period yet costs no per-byte work to produce.
func synthPattern(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	b := make([]byte, synthBlock)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

func synthOffset(k int64) int { return int((uint64(k)*0x9e3779b97f4a7c15)>>44) % synthBlock &^ 63 }

// writeSynthetic writes the spec's content to w.
func writeSynthetic(w io.Writer, s syntheticSpec) error {
	pat := synthPattern(s.Seed)
	for k, left := int64(0), s.Bytes; left > 0; k++ {
		off := synthOffset(k)
		for _, part := range [][]byte{pat[off:], pat[:off]} {
			if int64(len(part)) > left {
				part = part[:left]
			}
			if len(part) == 0 {
				continue
			}
			if _, err := w.Write(part); err != nil {
				return err
			}
			left -= int64(len(part))
		}
	}
	return nil
}

// verifySynthetic consumes exactly s.Bytes from r and checks them against
// the generator.
func verifySynthetic(r io.Reader, s syntheticSpec) error {
	pat := synthPattern(s.Seed)
	buf := make([]byte, synthBlock)
	for k, left := int64(0), s.Bytes; left > 0; k++ {
		n := int64(synthBlock)
		if left < n {
			n = left
		}
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return fmt.Errorf("synthetic data: %w", err)
		}
		off := synthOffset(k)
		head := min(int64(synthBlock-off), n)
		if !bytes.Equal(buf[:head], pat[off:off+int(head)]) || (n > head && !bytes.Equal(buf[head:n], pat[:n-head])) {
			return fmt.Errorf("synthetic data differs in block %d", k)
		}
		left -= n
	}
	return nil
}

// SetSyntheticShard replaces the data of every replica of a shard with
// size bytes of synthetic content derived from seed (the same on every
// replica, so the shard stays consistent). Points reports points_count.
func (c *Cluster) SetSyntheticShard(ctx context.Context, coll string, shardID uint32, size int64, seed uint64) error {
	if size < 0 {
		return fmt.Errorf("qdrantsim: synthetic size must not be negative")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := c.resolve(coll)
	if err != nil {
		return err
	}
	s := col.shards[shardID]
	if s == nil {
		return errShardNotFound(shardID)
	}
	spec := &syntheticSpec{Bytes: size, Seed: seed, Points: max(size/4096, 1)}
	for pid := range s.replicas {
		q := c.peerLocked(pid)
		if q == nil {
			continue
		}
		d := newReplicaData(c.newUUID())
		d.synthetic = spec
		d.lineage, d.ops = lineageOf(col.uuid, shardID), uint64(spec.Points)
		q.localShardsLocked(col.name)[shardID] = d
	}
	c.commitLocked(proposal{what: "synthetic data"})
	return nil
}
