package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/listing"
	"github.com/qbackup/qbackup/internal/manifest"
)

// SummaryVersion is the format of the summary document this build
// writes and the newest it reads. Readers skip (and name) a newer one.
const SummaryVersion = 1

// MaxSummaryBytes bounds the JSON of one summary: half of the 1 MiB a
// ConfigMap may hold, so labels, annotations and the API server's own
// fields always fit. A set too large for the full summary drops detail
// (see Detail) rather than going unrecorded; the smallest form holds
// totals only and is a few KiB whatever the set.
const MaxSummaryBytes = 512 << 10

// maxSummaryText bounds free text (a reason, a verification detail) in a
// summary.
const maxSummaryText = 1 << 10

// maxSummaryRecipients bounds the encryption recipients kept in the
// smallest form; RecipientCount keeps the number.
const maxSummaryRecipients = 16

// Levels of detail of a summary, most first.
const (
	// DetailFull: peers, collections and every shard.
	DetailFull = "full"
	// DetailCollections: peers and collections, without their shards.
	DetailCollections = "collections"
	// DetailTotals: the set's totals only.
	DetailTotals = "totals"
)

// SummaryKey is the ConfigMap data key holding the summary's JSON.
const SummaryKey = "summary.json"

// Labels of the summary ConfigMaps: the plugin selects them with
// SummarySelector, and a user with kubectl -l.
const (
	ManagedByLabel    = "app.kubernetes.io/managed-by"
	ManagedBy         = "qbackup"
	SummaryComponent  = "backup-summary"
	ClusterLabel      = "qbackup.io/cluster"
	BackupIDLabel     = "qbackup.io/backup-id"
	summaryNamePrefix = "qbackup-set-"
)

// SummarySelector selects every backup summary of a namespace.
var SummarySelector = ManagedByLabel + "=" + ManagedBy + "," + ComponentLabel + "=" + SummaryComponent

// SetSummary is what kubectl qbackup list, describe, status and the
// restore preview need of a backup set, recorded by the Jobs in a
// ConfigMap of the namespace (see SummaryConfigMap) so that an operator
// with kubectl access alone, and no storage or catalog credentials,
// can read it. Storage stays the truth: a summary is written after the
// set is committed and removed when prune removes the set. Field names
// are a JSON contract: readers ignore unknown fields.
type SetSummary struct {
	Version int `json:"version"`
	// Detail says what was kept: DetailFull, or less for a set whose full
	// summary would pass MaxSummaryBytes.
	Detail         string    `json:"detail"`
	Cluster        string    `json:"cluster"`
	BackupID       string    `json:"backup_id"`
	Status         string    `json:"status"` // complete, partial or failed (catalog.Status*)
	Reason         string    `json:"reason,omitempty"`
	VerifyStatus   string    `json:"verify_status"`
	VerifyDetail   string    `json:"verify_detail,omitempty"`
	VerifiedAt     time.Time `json:"verified_at,omitzero"`
	QdrantVersion  string    `json:"qdrant_version,omitempty"`
	ToolVersion    string    `json:"tool_version,omitempty"`
	SnapshotMethod string    `json:"snapshot_method,omitempty"`
	StartedAt      time.Time `json:"started_at"`
	FinishedAt     time.Time `json:"finished_at,omitzero"`
	// Window is the spread of the shard snapshot starts (the skew).
	Window          manifest.Window      `json:"window"`
	CollectionCount int                  `json:"collection_count"`
	ShardCount      int                  `json:"shard_count"`
	TotalBytes      int64                `json:"total_bytes"`
	PointsCount     uint64               `json:"points_count"`
	PodCount        int                  `json:"pod_count"`
	Encryption      *manifest.Encryption `json:"encryption,omitempty"`
	RecipientCount  int                  `json:"recipient_count,omitempty"`
	ObjectLock      *manifest.ObjectLock `json:"object_lock,omitempty"`
	// ManifestEncrypted: the set's manifest is stored encrypted (backup
	// --encrypt-manifest). Its summary then holds only what the
	// manifest's readable part and storage show without the key — the
	// id, time, status, size and recipients — so the ConfigMap reveals no
	// more than the store does; Detail is DetailTotals.
	ManifestEncrypted bool `json:"manifest_encrypted,omitempty"`
	// StorageLocation is the store holding the set (as the catalog
	// names it, without credentials); ManifestKey its manifest there.
	StorageLocation string              `json:"storage_location,omitempty"`
	ManifestKey     string              `json:"manifest_key,omitempty"`
	UpdatedAt       time.Time           `json:"updated_at"`
	Peers           []manifest.Peer     `json:"peers,omitempty"`
	Collections     []CollectionSummary `json:"collections,omitempty"`
}

// CollectionSummary is one collection of a set.
type CollectionSummary struct {
	Name              string              `json:"name"`
	ShardingMethod    string              `json:"sharding_method"`
	ShardNumber       uint32              `json:"shard_number"`
	ReplicationFactor uint32              `json:"replication_factor"`
	PointsCount       uint64              `json:"points_count"`
	ShardCount        int                 `json:"shard_count"`
	Bytes             int64               `json:"bytes"`
	Aliases           []string            `json:"aliases,omitempty"`
	ShardKeys         []manifest.ShardKey `json:"shard_keys,omitempty"`
	Shards            []ShardSummary      `json:"shards,omitempty"`
}

// ShardSummary is one shard: where it came from, its replicas at backup
// time (peer ids, what the restore preview places by) and its size.
type ShardSummary struct {
	ID         uint32                  `json:"id"`
	Key        *manifest.ShardKeyValue `json:"key,omitempty"`
	SourcePeer uint64                  `json:"peer"`
	Replicas   []uint64                `json:"replicas,omitempty"`
	Points     uint64                  `json:"points"`
	Bytes      int64                   `json:"bytes"`
	// Missing: a partial set holds no object for the shard.
	Missing bool `json:"missing,omitempty"`
}

// SummarizeManifest is the full summary of a committed set in the store
// at location (cli.StoreLocation; "" when unknown); of a set whose
// manifest is encrypted, the summary of its readable part
// (SummarizePublic).
func SummarizeManifest(m *manifest.Manifest, location string, now time.Time) SetSummary {
	if m.ManifestEncrypted {
		started, err := manifest.BackupIDTime(m.BackupID)
		if err != nil {
			started = m.StartedAt
		}
		return SummarizePublic(manifest.PublicOf(m), started, m.TotalSize(), location, now)
	}
	s := SetSummary{
		Version: SummaryVersion, Detail: DetailFull, Cluster: m.Cluster, BackupID: m.BackupID,
		Status: catalog.StatusComplete, VerifyStatus: catalog.VerifyUnverified,
		QdrantVersion: m.QdrantVersion, ToolVersion: m.ToolVersion, SnapshotMethod: m.SnapshotMethod,
		StartedAt: m.StartedAt.UTC(), FinishedAt: m.FinishedAt.UTC(), Window: m.Window,
		CollectionCount: len(m.Collections), ShardCount: m.ShardCount(), TotalBytes: m.TotalSize(),
		PodCount: len(m.Peers), Encryption: m.Encryption, ObjectLock: m.ObjectLock,
		StorageLocation: location, ManifestKey: manifest.ManifestKey(m.Cluster, m.BackupID),
		UpdatedAt: now.UTC(), Peers: m.Peers,
	}
	if m.Partial {
		s.Status = catalog.StatusPartial
	}
	if m.Encryption != nil {
		s.RecipientCount = len(m.Encryption.Recipients)
	}
	for _, c := range m.Collections {
		cs := CollectionSummary{
			Name: c.Name, ShardingMethod: c.ShardingMethod, ShardNumber: c.ShardNumber,
			ReplicationFactor: c.ReplicationFactor, PointsCount: c.PointsCount, ShardCount: len(c.Shards),
			Aliases: c.Aliases, ShardKeys: c.ShardKeys,
		}
		s.PointsCount += c.PointsCount
		for _, sh := range c.Shards {
			ss := ShardSummary{ID: sh.ID, Key: sh.ShardKey, SourcePeer: sh.SourcePeer, Points: sh.PointsCount, Bytes: sh.Size, Missing: sh.Object == ""}
			for _, r := range sh.Replicas {
				ss.Replicas = append(ss.Replicas, r.PeerID)
			}
			cs.Bytes += sh.Size
			cs.Shards = append(cs.Shards, ss)
		}
		s.Collections = append(s.Collections, cs)
	}
	return s
}

// SummarizePublic is the summary of a set whose manifest is encrypted,
// from its readable part p, the time of its id and the bytes it stores:
// what a listing of the store shows without the key, and no more.
func SummarizePublic(p *manifest.Public, started time.Time, bytes int64, location string, now time.Time) SetSummary {
	s := SetSummary{
		Version: SummaryVersion, Detail: DetailTotals, Cluster: p.Cluster, BackupID: p.BackupID,
		Status: catalog.StatusComplete, VerifyStatus: catalog.VerifyUnverified, StartedAt: started.UTC(), TotalBytes: bytes,
		Encryption: p.Encryption, ObjectLock: p.ObjectLock, ManifestEncrypted: true,
		StorageLocation: location, ManifestKey: manifest.EncryptedManifestKey(p.Cluster, p.BackupID), UpdatedAt: now.UTC(),
	}
	if p.Partial {
		s.Status = catalog.StatusPartial
	}
	if p.Encryption != nil {
		s.RecipientCount = len(p.Encryption.Recipients)
	}
	return s
}

// SummarizeFailed is the summary of a run that began as set id at start
// and failed for reason: it has no manifest, and says why.
func SummarizeFailed(cluster, id string, start time.Time, reason, location string, now time.Time) SetSummary {
	return SetSummary{
		Version: SummaryVersion, Detail: DetailTotals, Cluster: cluster, BackupID: id, Status: catalog.StatusFailed,
		Reason: reason, StartedAt: start.UTC(), FinishedAt: now.UTC(), StorageLocation: location, UpdatedAt: now.UTC(),
	}
}

// Row is the summary as a row of the backup listing, so every source
// prints alike.
func (s *SetSummary) Row() listing.Backup {
	return listing.Backup{
		Cluster: s.Cluster, BackupID: s.BackupID, Status: s.Status, VerifyStatus: s.VerifyStatus,
		VerifyDetail: s.VerifyDetail, Reason: s.Reason, QdrantVersion: s.QdrantVersion, ToolVersion: s.ToolVersion,
		SnapshotMethod: s.SnapshotMethod, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt,
		WindowFirstStart: s.Window.FirstStart, WindowLastStart: s.Window.LastStart, SkewMillis: s.Window.SkewMillis,
		CollectionCount: s.CollectionCount, ShardCount: s.ShardCount, TotalBytes: s.TotalBytes, PointsCount: s.PointsCount,
		ManifestKey: s.ManifestKey, UpdatedAt: s.UpdatedAt, VerifiedAt: s.VerifiedAt, StorageLocation: s.StorageLocation,
		ManifestEncrypted: s.ManifestEncrypted,
	}
}

// Manifest rebuilds the parts of the set's manifest the summary holds:
// peers, collections and shards with their sources, replicas, sizes and
// point counts — what describe prints and the restore preview plans
// with. Object keys, checksums, collection configs and samples stay in
// storage: the shards' Object is a placeholder ("" for a missing one)
// and their SHA256 is empty. ok is false when the summary dropped the
// shards (Detail below DetailFull): the result then lacks them.
func (s *SetSummary) Manifest() (m *manifest.Manifest, ok bool) {
	m = &manifest.Manifest{
		FormatVersion: manifest.FormatVersion, BackupID: s.BackupID, Cluster: s.Cluster,
		QdrantVersion: s.QdrantVersion, ToolVersion: s.ToolVersion, SnapshotMethod: s.SnapshotMethod,
		Partial: s.Status == catalog.StatusPartial, ObjectLock: s.ObjectLock, Encryption: s.Encryption, ManifestEncrypted: s.ManifestEncrypted,
		StartedAt: s.StartedAt, FinishedAt: s.FinishedAt, Window: s.Window, Peers: s.Peers,
	}
	for _, c := range s.Collections {
		mc := manifest.Collection{
			Name: c.Name, ShardingMethod: c.ShardingMethod, ShardNumber: c.ShardNumber,
			ReplicationFactor: c.ReplicationFactor, PointsCount: c.PointsCount, Aliases: c.Aliases, ShardKeys: c.ShardKeys,
		}
		for _, sh := range c.Shards {
			ms := manifest.Shard{ID: sh.ID, ShardKey: sh.Key, SourcePeer: sh.SourcePeer, PointsCount: sh.Points, Size: sh.Bytes}
			if !sh.Missing {
				ms.Object = SummaryObjectPlaceholder
			}
			for _, r := range sh.Replicas {
				ms.Replicas = append(ms.Replicas, manifest.Replica{PeerID: r})
			}
			mc.Shards = append(mc.Shards, ms)
		}
		m.Collections = append(m.Collections, mc)
	}
	return m, s.Detail == DetailFull
}

// SummaryObjectPlaceholder stands for a shard's object key in a manifest
// rebuilt from a summary: the object exists, its key is in storage.
const SummaryObjectPlaceholder = "(in storage)"

// Encode returns the summary's JSON within MaxSummaryBytes, dropping
// detail as needed: first the shards, then the peers and collections
// (and all but maxSummaryRecipients recipients). s.Detail is set to what
// was kept.
func (s *SetSummary) Encode() ([]byte, error) {
	s.Version = SummaryVersion
	s.Reason = clip(s.Reason, maxSummaryText)
	s.VerifyDetail = clip(s.VerifyDetail, maxSummaryText)
	if s.Detail == "" {
		s.Detail = DetailFull
	}
	for {
		b, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("encode the summary of backup %s: %w", s.BackupID, err)
		}
		if len(b) <= MaxSummaryBytes {
			return b, nil
		}
		switch s.Detail {
		case DetailFull:
			s.Detail = DetailCollections
			cols := make([]CollectionSummary, len(s.Collections))
			for i, c := range s.Collections {
				c.Shards = nil
				cols[i] = c
			}
			s.Collections = cols
		case DetailCollections:
			s.Detail = DetailTotals
			s.Collections, s.Peers = nil, nil
			if e := s.Encryption; e != nil && len(e.Recipients) > maxSummaryRecipients {
				s.Encryption = &manifest.Encryption{Scheme: e.Scheme, Recipients: e.Recipients[:maxSummaryRecipients]}
			}
		default:
			// Totals alone are a few KiB: only an absurd cluster name or
			// version string could get here.
			return nil, fmt.Errorf("the summary of backup %s is %d bytes even without its collections, more than %d", s.BackupID, len(b), MaxSummaryBytes)
		}
	}
}

// DecodeSummary reads a summary's JSON. A newer format is refused by
// name, so an old plugin says to upgrade rather than misreading it.
func DecodeSummary(b []byte) (*SetSummary, error) {
	var s SetSummary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode backup summary: %w", err)
	}
	if s.Version > SummaryVersion {
		return nil, fmt.Errorf("backup summary of %s has format version %d, this build reads up to %d: upgrade kubectl-qbackup", s.BackupID, s.Version, SummaryVersion)
	}
	if s.Version < 1 || !manifest.IsBackupID(s.BackupID) {
		return nil, fmt.Errorf("backup summary %q (format %d) is not one qbackup wrote", s.BackupID, s.Version)
	}
	return &s, nil
}

// SummaryName is the ConfigMap name of the summary of one set: the
// backup id in lower case (a valid DNS label) and a hash of the cluster
// name, as two clusters backed up into one namespace may draw the same
// id in the same second.
func SummaryName(cluster, backupID string) string {
	return summaryNamePrefix + strings.ToLower(backupID) + "-" + clusterHash(cluster)[:8]
}

// ClusterLabelValue is the cluster label of a summary: the name itself
// when it is a valid label value, else a hash of it (names are free
// text; the summary's JSON holds the name in full).
func ClusterLabelValue(cluster string) string {
	if len(validation.IsValidLabelValue(cluster)) == 0 {
		return cluster
	}
	return "sha256-" + clusterHash(cluster)[:40]
}

func clusterHash(cluster string) string {
	h := sha256.Sum256([]byte(cluster))
	return hex.EncodeToString(h[:])
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-3], "") + "..."
}
