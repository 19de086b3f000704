package backup

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/storage"
)

// Peer is one Qdrant peer, addressed directly (never through a Service):
// snapshot calls act only on the peer that receives them. *qdrant.Client
// satisfies it.
type Peer interface {
	Version(ctx context.Context) (string, error)
	ListCollections(ctx context.Context) ([]string, error)
	// ListAliases maps alias → collection.
	ListAliases(ctx context.Context) (map[string]string, error)
	CollectionInfo(ctx context.Context, name string) (*qdrant.CollectionInfo, error)
	CollectionCluster(ctx context.Context, name string) (*qdrant.CollectionCluster, error)

	StreamShardSnapshot(ctx context.Context, collection string, shard uint32) (io.ReadCloser, error)
	CreateShardSnapshot(ctx context.Context, collection string, shard uint32) (*qdrant.SnapshotDescription, error)
	DownloadShardSnapshot(ctx context.Context, collection string, shard uint32, name string, offset int64) (io.ReadCloser, error)
	DeleteShardSnapshot(ctx context.Context, collection string, shard uint32, name string) error
	ListShardSnapshots(ctx context.Context, collection string, shard uint32) ([]qdrant.SnapshotDescription, error)

	WritesLocked(ctx context.Context) (bool, error)
	LockWrites(ctx context.Context, reason string) error
	UnlockWrites(ctx context.Context) error

	Scroll(ctx context.Context, collection string, limit uint32, offset *qdrant.PointID, withVectors, withPayload bool) ([]qdrant.Point, *qdrant.PointID, error)
	// Count counts the points of a collection (exact: a full count, not
	// Qdrant's estimate).
	Count(ctx context.Context, collection string, exact bool, shardKey *qdrant.ShardKey) (uint64, error)
}

// Store is the object storage the set is written to. The storage backends
// satisfy it. Put must be atomic: on error or cancellation nothing of that
// Put remains.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader) error
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	Delete(ctx context.Context, key string) error
}

// ObjectInfo describes one stored object; the storage backends' own type,
// so they satisfy Store as they are.
type ObjectInfo = storage.ObjectInfo

// Storage sentinels. A Store reports a missing key with an error matching
// ErrObjectNotFound and a PutIfAbsent on an existing key with one matching
// ErrObjectExists — the storage package's sentinels.
var (
	ErrObjectNotFound = storage.ErrNotFound
	ErrObjectExists   = storage.ErrExists
)

// Catalog is the catalog (an index of the sets in storage). It is
// optional: a nil Catalog means storage alone is used, with a lock object
// in storage.
type Catalog interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	BackupStarted(ctx context.Context, cluster, id, holder string, startedAt time.Time) error
	BackupCompleted(ctx context.Context, m *manifest.Manifest) error
	BackupFailed(ctx context.Context, cluster, id, reason string) error
}

// Lease is a held catalog lease.
type Lease = lease.Lock

// Clock gives the time; tests pin it.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Deps are the collaborators of Run.
type Deps struct {
	// Topology is the discovered cluster (node count already checked).
	Topology *discovery.Topology
	// Peers maps peer id → client for every peer in Topology.
	Peers   map[uint64]Peer
	Store   Store
	Catalog Catalog // nil: no catalog
	// Progress receives shard events; nil reports nothing.
	Progress Progress
	Logger   *slog.Logger
	Clock    Clock
}

// The Qdrant client is the production Peer.
var _ Peer = (*qdrant.Client)(nil)
