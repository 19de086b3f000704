// Package listing is the contract of the backup listing: one Backup per
// set, as `list -o json|yaml` of both binaries (qbackup and kubectl
// qbackup) print it, and as `describe -o json|yaml` carries the
// catalog's view of a set ("catalog") and `kubectl qbackup status -o
// json` the last complete set. It is documented field by field in the
// README and pinned by golden tests: fields are added, never renamed or
// removed.
//
// Its rows come from three sources, each mapped here or by its owner:
// the catalog's rows (FromCatalog), the manifests in storage when there
// is no catalog (inventory), and the backup summaries the Jobs record in
// ConfigMaps (kube.SetSummary.Row). The catalog's own row type is its SQL
// row, free to change with its schema.
package listing

import (
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
)

// Backup is one backup set in a listing. Times are UTC; a zero time is
// left out (a running set has no finished_at, a set read from storage
// has no updated_at).
type Backup struct {
	// Cluster is the logical cluster name the set was taken of.
	Cluster string `json:"cluster"`
	// BackupID is the set's id: its start time and a random suffix.
	BackupID string `json:"backup_id"`
	// Status is running, complete, partial, failed or missing (catalog),
	// or, read from storage, incomplete (no manifest) or unreadable.
	Status string `json:"status"`
	// VerifyStatus is unverified, verified or corrupt; "" where nothing
	// records it (a listing read from storage).
	VerifyStatus string `json:"verify_status"`
	// VerifyDetail says what verify found wrong.
	VerifyDetail string `json:"verify_detail,omitempty"`
	// Reason says why a set failed, is incomplete or unreadable.
	Reason string `json:"reason,omitempty"`
	// QdrantVersion is the oldest Qdrant version among the peers backed
	// up, ToolVersion the qbackup version that took the set.
	QdrantVersion string `json:"qdrant_version,omitempty"`
	ToolVersion   string `json:"tool_version,omitempty"`
	// SnapshotMethod is how the shards were read: stream or download.
	SnapshotMethod string `json:"snapshot_method,omitempty"`
	// Holder is the run holding the cluster lock of a running set.
	Holder     string    `json:"holder,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// WindowFirstStart and WindowLastStart are when the first and the
	// last shard snapshot began; SkewMillis is the time between them.
	WindowFirstStart time.Time `json:"window_first_start,omitzero"`
	WindowLastStart  time.Time `json:"window_last_start,omitzero"`
	SkewMillis       int64     `json:"skew_ms"`
	CollectionCount  int       `json:"collection_count"`
	ShardCount       int       `json:"shard_count"`
	// TotalBytes is the size of the shard objects in storage.
	TotalBytes  int64  `json:"total_bytes"`
	PointsCount uint64 `json:"points_count"`
	// ManifestKey is the manifest's key relative to the storage root.
	ManifestKey string `json:"manifest_key,omitempty"`
	// ManifestEncrypted: the manifest is encrypted (backup
	// --encrypt-manifest); without the key a listing shows only the id,
	// time, status and size of the set, and zeros for its counts.
	ManifestEncrypted bool `json:"manifest_encrypted,omitempty"`
	// UpdatedAt is when the catalog row or summary last changed.
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	// StorageLocation is the canonical URL (no credentials) of the store
	// holding the set; empty for rows recorded before it was kept.
	StorageLocation string `json:"storage_location,omitempty"`
}

// Duration is the wall time of a finished set, 0 while it runs.
func (b *Backup) Duration() time.Duration {
	if b.FinishedAt.IsZero() {
		return 0
	}
	return b.FinishedAt.Sub(b.StartedAt)
}

// FromCatalog is a catalog row in the listing.
func FromCatalog(r catalog.BackupSummary) Backup {
	return Backup{
		Cluster: r.Cluster, BackupID: r.BackupID, Status: r.Status, VerifyStatus: r.VerifyStatus, VerifyDetail: r.VerifyDetail,
		Reason: r.Reason, QdrantVersion: r.QdrantVersion, ToolVersion: r.ToolVersion, SnapshotMethod: r.SnapshotMethod,
		Holder: r.Holder, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		WindowFirstStart: r.WindowFirstStart, WindowLastStart: r.WindowLastStart, SkewMillis: r.SkewMillis,
		CollectionCount: r.CollectionCount, ShardCount: r.ShardCount, TotalBytes: r.TotalBytes, PointsCount: r.PointsCount,
		ManifestKey: r.ManifestKey, ManifestEncrypted: r.ManifestEncrypted, UpdatedAt: r.UpdatedAt, VerifiedAt: r.VerifiedAt,
		StorageLocation: r.StorageLocation,
	}
}

// FromCatalogRows maps catalog rows, in order; never nil, so an empty
// listing prints as [].
func FromCatalogRows(rows []catalog.BackupSummary) []Backup {
	out := make([]Backup, len(rows))
	for i, r := range rows {
		out[i] = FromCatalog(r)
	}
	return out
}
