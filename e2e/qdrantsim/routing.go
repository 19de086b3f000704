package qdrantsim

import (
	"encoding/binary"
	"math/bits"
	"sort"
)

// Routing reproduces Qdrant's point → shard function (hash_ring.rs with the
// hashring crate): a consistent-hash ring with 100 virtual nodes per shard,
// hashed with SipHash-2-4 under key (0,0) over little-endian byte layouts.
// Matching it exactly matters: shard snapshots restored into a collection
// with the same shard_number must hold the points the router expects.

const vnodesPerShard = 100

type ringNode struct {
	hash  uint64
	shard uint32
}

// hashRing maps point ids to shard ids.
type hashRing struct {
	nodes []ringNode
}

func newHashRing(shards []uint32) *hashRing {
	r := &hashRing{nodes: make([]ringNode, 0, len(shards)*vnodesPerShard)}
	var b [8]byte
	for _, s := range shards {
		for i := uint32(0); i < vnodesPerShard; i++ {
			binary.LittleEndian.PutUint32(b[0:4], s)
			binary.LittleEndian.PutUint32(b[4:8], i)
			r.nodes = append(r.nodes, ringNode{hash: sipHash24(0, 0, b[:]), shard: s})
		}
	}
	sort.SliceStable(r.nodes, func(i, j int) bool { return r.nodes[i].hash < r.nodes[j].hash })
	return r
}

// shardFor returns the shard of id; ok is false on an empty ring.
func (r *hashRing) shardFor(id PointID) (uint32, bool) {
	if len(r.nodes) == 0 {
		return 0, false
	}
	h := pointHash(id)
	i := sort.Search(len(r.nodes), func(i int) bool { return r.nodes[i].hash >= h })
	if i == len(r.nodes) {
		i = 0
	}
	return r.nodes[i].shard, true
}

// pointHash is the StableHash of ExtendedPointId: numeric ids hash
// u64 0 ‖ u64 id, UUIDs hash u64 1 ‖ u64 16 ‖ the 16 bytes.
func pointHash(id PointID) uint64 {
	if !id.IsUUID {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[8:], id.Num)
		return sipHash24(0, 0, b[:])
	}
	var b [32]byte
	binary.LittleEndian.PutUint64(b[0:], 1)
	binary.LittleEndian.PutUint64(b[8:], 16)
	copy(b[16:], id.UUID[:])
	return sipHash24(0, 0, b[:])
}

// sipHash24 is SipHash-2-4 with a 64-bit output.
func sipHash24(k0, k1 uint64, m []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(m)
	for len(m) >= 8 {
		w := binary.LittleEndian.Uint64(m)
		v3 ^= w
		round()
		round()
		v0 ^= w
		m = m[8:]
	}
	last := uint64(n) << 56
	for i, c := range m {
		last |= uint64(c) << (8 * i)
	}
	v3 ^= last
	round()
	round()
	v0 ^= last
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
