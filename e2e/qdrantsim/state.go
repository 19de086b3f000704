package qdrantsim

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Replica states as Qdrant names them (§3.3 of the behaviour reference).
const (
	StateActive         = "Active"
	StateDead           = "Dead"
	StatePartial        = "Partial"
	StateInitializing   = "Initializing"
	StateListener       = "Listener"
	StateRecovery       = "Recovery"
	StateActiveRead     = "ActiveRead"
	StateManualRecovery = "ManualRecovery"
)

// Shard transfer methods.
const (
	MethodStreamRecords = "stream_records"
	MethodSnapshot      = "snapshot"
	MethodWalDelta      = "wal_delta"
)

// readable reports whether reads may be served by a replica in state s.
func readable(s string) bool {
	return s == StateActive || s == StateActiveRead || s == "ReshardingScaleDown"
}

// writable reports whether a replica in state s receives updates. Dead and
// ManualRecovery replicas miss writes, which is why they need a re-sync.
func writable(s string) bool {
	switch s {
	case StateDead, StateManualRecovery, "PartialSnapshot":
		return false
	}
	return true
}

// ShardKey is a user-defined shard key: a string or an unsigned integer.
type ShardKey struct {
	Str   string
	Num   uint64
	IsNum bool
}

func (k ShardKey) String() string {
	if k.IsNum {
		return strconv.FormatUint(k.Num, 10)
	}
	return k.Str
}

// MarshalJSON writes the key as a JSON string or number.
func (k ShardKey) MarshalJSON() ([]byte, error) {
	if k.IsNum {
		return []byte(strconv.FormatUint(k.Num, 10)), nil
	}
	return json.Marshal(k.Str)
}

// UnmarshalJSON accepts a string or an unsigned integer.
func (k *ShardKey) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*k = ShardKey{Str: s}
		return nil
	}
	var n uint64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("shard key must be a string or an unsigned integer, got %s", b)
	}
	*k = ShardKey{Num: n, IsNum: true}
	return nil
}

// replica is one copy of a shard on one peer, as consensus sees it.
type replica struct {
	state string
	since time.Time
}

// shard is one shard of a collection in the consensus state.
type shard struct {
	id       uint32
	key      *ShardKey
	replicas map[uint64]*replica
}

func (s *shard) peerIDs() []uint64 {
	ids := make([]uint64, 0, len(s.replicas))
	for id := range s.replicas {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// collection is the consensus view of one collection.
type collection struct {
	name   string
	uuid   string
	config collectionConfig
	shards map[uint32]*shard
	// keys lists shard keys in creation order (custom sharding).
	keys          []ShardKey
	payloadSchema map[string]json.RawMessage
	opID          uint64
	rings         map[string]*hashRing
	// strictGen counts strict mode updates; rate limiters are rebuilt
	// when it changes (strict.go).
	strictGen uint64
	// resharding is the resharding in progress, nil when none
	// (resharding.go).
	resharding *reshardState
}

func (c *collection) shardIDs() []uint32 {
	ids := make([]uint32, 0, len(c.shards))
	for id := range c.shards {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (c *collection) custom() bool { return c.config.Params.ShardingMethod == "custom" }

func (c *collection) keyShards(k ShardKey) []uint32 {
	var ids []uint32
	for _, id := range c.shardIDs() {
		if s := c.shards[id]; s.key != nil && *s.key == k {
			ids = append(ids, id)
		}
	}
	return ids
}

func (c *collection) hasKey(k ShardKey) bool {
	for _, x := range c.keys {
		if x == k {
			return true
		}
	}
	return false
}

func (c *collection) shardsChanged() { c.rings = nil }

// replicaData is a peer's local copy of one shard.
type replicaData struct {
	points    map[PointID]*point
	synthetic *syntheticSpec
	segment   string
	// limits are the strict mode rate limiters of this local shard
	// (strict.go); a copy on another peer starts with its own.
	limits *shardLimiters
	// pending are updates acknowledged with wait=false that the update
	// worker has not applied yet (counts.go).
	pending []func(*replicaData)
	// lineage and ops stand for the replica's WAL clocks: the history its
	// data descends from and how many operations of it were applied
	// (see walDelta).
	lineage uint64
	ops     uint64
	// vers are the segment's versions and store its payload storage
	// blocks awaiting a flush (segment_versions.go).
	vers  segmentVersions
	store payloadStore
}

func newReplicaData(segment string) *replicaData {
	return &replicaData{points: map[PointID]*point{}, segment: segment}
}

func (d *replicaData) clone() *replicaData {
	d.flushPending()
	n := &replicaData{points: make(map[PointID]*point, len(d.points)), synthetic: d.synthetic, segment: d.segment,
		lineage: d.lineage, ops: d.ops, vers: d.vers.clone(), store: d.store}
	for id, p := range d.points {
		n.points[id] = p
	}
	return n
}

func (d *replicaData) count() int {
	if d.synthetic != nil {
		return int(d.synthetic.Points)
	}
	return len(d.points)
}
