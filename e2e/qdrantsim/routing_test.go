package qdrantsim

import (
	"encoding/binary"
	"testing"
)

func TestSipHashMatchesReferenceVectors(t *testing.T) {
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	k0, k1 := uint64(0x0706050403020100), uint64(0x0f0e0d0c0b0a0908)
	for _, tc := range []struct {
		name string
		n    int
		want uint64
	}{
		{"empty message", 0, 0x726fdb47dd0e0e31},
		{"fifteen bytes from the SipHash paper", 15, 0xa129ca6149be45e5},
	} {
		if got := sipHash24(k0, k1, msg[:tc.n]); got != tc.want {
			t.Errorf("%s: got %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

// Expectations computed by an independent implementation (Python, from
// the byte layouts of BEHAVIOR.md §6), not by this package.
func TestRoutingMatchesQdrantForKnownIDs(t *testing.T) {
	uuidA, _ := ParseUUIDID("550e8400-e29b-41d4-a716-446655440000")
	uuidZero, _ := ParseUUIDID("00000000-0000-0000-0000-000000000000")
	ids := []PointID{NumID(0), NumID(1), NumID(2), NumID(3), NumID(42), NumID(1000), NumID(1 << 63), uuidA, uuidZero}
	for _, tc := range []struct {
		name   string
		shards int
		want   []uint32
	}{
		{"one shard takes everything", 1, []uint32{0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"three shards", 3, []uint32{2, 2, 2, 2, 1, 2, 2, 1, 2}},
		{"six shards", 6, []uint32{5, 3, 4, 3, 1, 2, 3, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sh []uint32
			for i := 0; i < tc.shards; i++ {
				sh = append(sh, uint32(i))
			}
			r := newHashRing(sh)
			for i, id := range ids {
				if got, _ := r.shardFor(id); got != tc.want[i] {
					t.Errorf("id %s: shard %d, want %d", id, got, tc.want[i])
				}
			}
		})
	}
	if h := pointHash(NumID(1)); h != 0xcaf8f14cfc92c3f8 {
		t.Errorf("hash of id 1 = %#x", h)
	}
	if h := pointHash(uuidA); h != 0xfcdcf225e1db2a90 {
		t.Errorf("hash of uuid = %#x", h)
	}
}

// bruteForceShard is a second, deliberately naive ring lookup: the vnode
// with the smallest hash not below the point's hash, else the smallest.
func bruteForceShard(shards int, id PointID) uint32 {
	h := pointHash(id)
	var best, lowest uint64
	var bestShard, lowestShard uint32
	found := false
	var b [8]byte
	for s := 0; s < shards; s++ {
		for i := 0; i < vnodesPerShard; i++ {
			binary.LittleEndian.PutUint32(b[0:], uint32(s))
			binary.LittleEndian.PutUint32(b[4:], uint32(i))
			v := sipHash24(0, 0, b[:])
			if (s == 0 && i == 0) || v < lowest {
				lowest, lowestShard = v, uint32(s)
			}
			if v >= h && (!found || v < best) {
				best, bestShard, found = v, uint32(s), true
			}
		}
	}
	if !found {
		return lowestShard
	}
	return bestShard
}

func TestRoutingAgreesWithBruteForceLookup(t *testing.T) {
	for _, shards := range []int{2, 5, 12} {
		var ids []uint32
		for i := 0; i < shards; i++ {
			ids = append(ids, uint32(i))
		}
		r := newHashRing(ids)
		counts := make([]int, shards)
		for n := uint64(0); n < 3000; n++ {
			id := NumID(n * 7919)
			got, _ := r.shardFor(id)
			if want := bruteForceShard(shards, id); got != want {
				t.Fatalf("%d shards, id %d: %d, want %d", shards, n, got, want)
			}
			counts[got]++
		}
		for s, n := range counts {
			if n == 0 {
				t.Errorf("%d shards: shard %d got no points", shards, s)
			}
		}
	}
}

func TestPointsLandInTheirRoutedShard(t *testing.T) {
	c := startCluster(t, Options{Peers: 3})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "routed", 4, 1)
	upsertN(t, cl, "routed", 100)
	ring := newHashRing([]uint32{0, 1, 2, 3})
	want := map[uint32]int{}
	for i := 1; i <= 100; i++ {
		s, _ := ring.shardFor(NumID(uint64(i)))
		want[s]++
	}
	u, _ := ParseUUIDID("550e8400-e29b-41d4-a716-446655440000")
	s, _ := ring.shardFor(u)
	want[s]++
	got := map[uint32]int{}
	for _, p := range c.Peers() {
		var info CollectionClusterInfo
		newClient(t, p).ok("GET", "/collections/routed/cluster", nil, &info)
		for _, l := range info.LocalShards {
			got[l.ShardID] += l.PointsCount
		}
	}
	for s := uint32(0); s < 4; s++ {
		if got[s] != want[s] {
			t.Errorf("shard %d holds %d points, routing says %d", s, got[s], want[s])
		}
	}
}
