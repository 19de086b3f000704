package manifest

import (
	"encoding/json"
	"fmt"
	"time"
)

// FormatVersion is the manifest format this build writes and the newest it
// reads. Version 1 is the first format. Version 2 is taken: it marks the
// readable part of an encrypted manifest (EncryptedFormatVersion), so a
// newer manifest format is 3.
const FormatVersion = 1

// Snapshot methods recorded in Manifest.SnapshotMethod.
const (
	// MethodStream is Qdrant's streaming shard snapshot
	// (GET /collections/{c}/shards/{id}/snapshot): nothing stored on the peer.
	MethodStream = "stream"
	// MethodStored creates a shard snapshot on the peer, downloads it, then
	// deletes it.
	MethodStored = "stored"
)

// Compression values recorded per shard.
const (
	CompressionNone = "none"
	CompressionZstd = "zstd"
)

// EncryptionAge is the only client-side encryption: age
// (https://age-encryption.org/v1) to X25519 recipients.
const EncryptionAge = "age"

// Encryption records that objects were encrypted on the client and for
// whom: the recipients' public keys (age1...), never a secret. Any one
// recipient's identity opens the objects.
type Encryption struct {
	Scheme     string   `json:"scheme"`
	Recipients []string `json:"recipients"`
}

// ObjectLock records the retention of a set's objects.
type ObjectLock struct {
	Mode        string    `json:"mode"` // GOVERNANCE or COMPLIANCE
	RetainUntil time.Time `json:"retain_until"`
}

// Manifest describes one logical backup set of a whole Qdrant cluster.
type Manifest struct {
	FormatVersion int    `json:"format_version"`
	BackupID      string `json:"backup_id"`
	Cluster       string `json:"cluster"`
	// QdrantVersion is the version reported by GET / on the peers at backup
	// time; restores refuse targets older than it.
	QdrantVersion  string `json:"qdrant_version"`
	ToolVersion    string `json:"tool_version,omitempty"`
	SnapshotMethod string `json:"snapshot_method"`
	// Partial is true when the set was recorded with shards missing on
	// explicit request; a partial set never counts as a good backup.
	Partial bool `json:"partial,omitempty"`
	// ObjectLock is the S3 Object Lock retention every object of the set
	// was written with; nil when none. Prune keeps the set until then.
	ObjectLock *ObjectLock `json:"object_lock,omitempty"`
	// Encryption is the client-side encryption of the set's shard
	// objects (each shard records its own too); nil when they are
	// stored as Qdrant wrote them (possibly compressed).
	Encryption *Encryption `json:"encryption,omitempty"`
	// ManifestEncrypted is set when this manifest is stored encrypted
	// (EncryptedManifestName, to the recipients of Encryption), with its
	// readable part (Public) as ManifestName.
	ManifestEncrypted bool         `json:"manifest_encrypted,omitempty"`
	StartedAt         time.Time    `json:"started_at"`
	FinishedAt        time.Time    `json:"finished_at"`
	Window            Window       `json:"window"`
	Peers             []Peer       `json:"peers"`
	Collections       []Collection `json:"collections"`
}

// Window is the spread of the shard snapshot start times. Shards are
// snapshotted independently, so a set is only as consistent as its skew.
type Window struct {
	FirstStart time.Time `json:"first_start"`
	LastStart  time.Time `json:"last_start"`
	// SkewMillis is LastStart - FirstStart in milliseconds.
	SkewMillis int64 `json:"skew_ms"`
}

// Peer is one Qdrant peer of the source cluster.
type Peer struct {
	ID uint64 `json:"peer_id"`
	// Pod is the Kubernetes pod name; empty with static discovery.
	Pod string `json:"pod,omitempty"`
	// URI is the REST address the tool used for this peer.
	URI string `json:"uri"`
}

// Collection is everything needed to recreate one collection exactly and
// to restore its shards.
type Collection struct {
	Name string `json:"name"`
	// Config is result.config of GET /collections/{name}, kept verbatim so
	// settings this tool does not know about survive a round trip.
	Config json.RawMessage `json:"config"`
	// PayloadSchema is result.payload_schema of GET /collections/{name};
	// payload indexes are recreated from it.
	PayloadSchema json.RawMessage `json:"payload_schema,omitempty"`
	// ShardingMethod is "auto" or "custom".
	ShardingMethod         string     `json:"sharding_method"`
	ShardNumber            uint32     `json:"shard_number"`
	ReplicationFactor      uint32     `json:"replication_factor"`
	WriteConsistencyFactor uint32     `json:"write_consistency_factor"`
	ShardKeys              []ShardKey `json:"shard_keys,omitempty"`
	Aliases                []string   `json:"aliases,omitempty"`
	PointsCount            uint64     `json:"points_count"`
	// PointsCountRange is the exact point count of the collection read
	// just before the first snapshot of the set started and just after
	// the last one ended, as the smaller and the larger of the two. A
	// restore of the set holds a count in this range unless writes during
	// the backup both added and removed points (see the README, "Writes
	// during a backup"). Absent in sets of older versions.
	PointsCountRange *CountRange `json:"points_count_range,omitempty"`
	Shards           []Shard     `json:"shards"`
	// Sample holds digests of a few points read at backup time; a restore
	// compares them with what the restored cluster returns. Points whose
	// content changed (or that vanished) between the start of the first
	// snapshot and the end of the last are left out: the set may hold
	// either version of them.
	Sample []PointDigest `json:"sample,omitempty"`
	// SampleDropped counts the sampled points left out for that reason.
	SampleDropped int `json:"sample_dropped,omitempty"`
}

// CountRange is a closed range of point counts.
type CountRange struct {
	Min uint64 `json:"min"`
	Max uint64 `json:"max"`
}

// RangeOf is the range spanned by two counts.
func RangeOf(a, b uint64) *CountRange { return &CountRange{Min: min(a, b), Max: max(a, b)} }

// Contains reports whether n lies in the range.
func (r CountRange) Contains(n uint64) bool { return n >= r.Min && n <= r.Max }

func (r CountRange) String() string {
	if r.Min == r.Max {
		return fmt.Sprint(r.Min)
	}
	return fmt.Sprintf("%d..%d", r.Min, r.Max)
}

// ShardKey is one custom shard key and the shard ids created for it.
type ShardKey struct {
	Key      ShardKeyValue `json:"key"`
	ShardIDs []uint32      `json:"shard_ids"`
	// ReplicationFactor is the number of replicas the key's shards had at
	// backup time: the most any of its shards had, counting replicas in
	// every state (a Dead or Partial replica is still one the key was
	// meant to have) but not the receiving end of a running move or
	// resharding transfer, which replaces another replica. Qdrant keeps
	// no per-key factor: create-shard-key turns its replication_factor
	// into the number of peers of each shard's placement
	// (src/common/collections.rs, generate_even_placement) and stores only
	// that placement (lib/collection/src/collection/sharding_keys.rs), so
	// the replica count is all GET /collections/{name}/cluster shows of
	// it. A restore recreates the key with this factor. 0 (sets of older
	// versions) means unknown: the key gets the collection's factor.
	ReplicationFactor uint32 `json:"replication_factor,omitempty"`
}

// Shard is one shard of one collection as stored in the backup.
type Shard struct {
	ID       uint32         `json:"shard_id"`
	ShardKey *ShardKeyValue `json:"shard_key,omitempty"`
	// SourcePeer is the peer whose Active replica was snapshotted.
	SourcePeer uint64 `json:"source_peer"`
	// Replicas is the placement at backup time (peer id → state).
	Replicas []Replica `json:"replicas,omitempty"`
	// Object is the storage key of the snapshot object, relative to the
	// storage root.
	Object      string `json:"object"`
	Compression string `json:"compression"`
	// Encryption is set when the object was encrypted on the client,
	// after compression.
	Encryption *Encryption `json:"encryption,omitempty"`
	// Size and SHA256 describe the stored object bytes: the ciphertext of
	// an encrypted object, so it can be checked without the key.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// SnapshotSize and SnapshotSHA256 describe the snapshot as Qdrant
	// produced it (equal to Size/SHA256 when neither compressed nor
	// encrypted); Qdrant's recover checksum is this one.
	SnapshotSize   int64  `json:"snapshot_size"`
	SnapshotSHA256 string `json:"snapshot_sha256"`
	PointsCount    uint64 `json:"points_count"`
	// PointsCountRange is the shard's point count as the source peer's
	// cluster info reported it before and after the snapshots. Qdrant
	// reports it approximately, so it informs and is not verified; absent
	// in sets of older versions.
	PointsCountRange *CountRange `json:"points_count_range,omitempty"`
	StartedAt        time.Time   `json:"started_at"`
	FinishedAt       time.Time   `json:"finished_at"`
}

// Replica is one replica of a shard at backup time.
type Replica struct {
	PeerID uint64 `json:"peer_id"`
	State  string `json:"state"`
}

// PointDigest identifies one point and the hash of its content.
type PointDigest struct {
	// ID is the point id as Qdrant writes it: a JSON number or a UUID string.
	ID json.RawMessage `json:"id"`
	// ShardKey is set for custom-sharded collections.
	ShardKey *ShardKeyValue `json:"shard_key,omitempty"`
	// SHA256 is the hash of the point's vectors and payload in the
	// canonical form defined by the code that computes it.
	SHA256 string `json:"sha256"`
}

// TotalSize is the sum of the stored object sizes.
func (m *Manifest) TotalSize() int64 {
	var n int64
	for _, c := range m.Collections {
		for _, s := range c.Shards {
			n += s.Size
		}
	}
	return n
}

// ShardCount is the number of shard objects in the set.
func (m *Manifest) ShardCount() int {
	n := 0
	for _, c := range m.Collections {
		n += len(c.Shards)
	}
	return n
}

// Collection returns the named collection, or nil.
func (m *Manifest) Collection(name string) *Collection {
	for i := range m.Collections {
		if m.Collections[i].Name == name {
			return &m.Collections[i]
		}
	}
	return nil
}
