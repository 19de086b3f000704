package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/qbackup/qbackup/internal/crypt"
	"github.com/qbackup/qbackup/internal/qdrant"
	"github.com/qbackup/qbackup/internal/storage"
)

// ClusterReader reads the state of the cluster through one peer.
type ClusterReader interface {
	Version(ctx context.Context) (string, error)
	Cluster(ctx context.Context) (*qdrant.ClusterStatus, error)
	ListCollections(ctx context.Context) ([]string, error)
	ListAliases(ctx context.Context) (map[string]string, error)
	CollectionCluster(ctx context.Context, name string) (*qdrant.CollectionCluster, error)
}

// CollectionAdmin creates what a restore recreates: collections, shard
// keys, payload indexes and aliases.
type CollectionAdmin interface {
	CreateCollection(ctx context.Context, name string, body json.RawMessage) error
	DeleteCollection(ctx context.Context, name string) error
	// UpdateCollection sends PATCH /collections/{name}.
	UpdateCollection(ctx context.Context, name string, body json.RawMessage) error
	CreatePayloadIndex(ctx context.Context, collection, field string, schema json.RawMessage) error
	CreateShardKey(ctx context.Context, collection string, key qdrant.ShardKey, shardsNumber, replicationFactor uint32, placement []uint64) error
	UpdateAliases(ctx context.Context, actions []qdrant.AliasAction) error
}

// ShardRecoverer recovers a shard on the peer it talks to.
type ShardRecoverer interface {
	RecoverShard(ctx context.Context, collection string, shard uint32, r qdrant.RecoverRequest) error
	UploadShardSnapshot(ctx context.Context, collection string, shard uint32, r io.Reader, opts qdrant.UploadOptions) error
}

// ShardMover changes replica placement through consensus.
type ShardMover interface {
	MoveShard(ctx context.Context, collection string, shard uint32, from, to uint64) error
	ReplicateShard(ctx context.Context, collection string, shard uint32, from, to uint64) error
	DropReplica(ctx context.Context, collection string, shard uint32, peer uint64) error
}

// PointReader reads points back for verification.
type PointReader interface {
	Count(ctx context.Context, collection string, exact bool, shardKey *qdrant.ShardKey) (uint64, error)
	Scroll(ctx context.Context, collection string, limit uint32, offset *qdrant.PointID, withVectors, withPayload bool) ([]qdrant.Point, *qdrant.PointID, error)
}

// PointWriter writes points; only resharding needs it.
type PointWriter interface {
	UpsertPoints(ctx context.Context, collection string, points []qdrant.Point) error
}

// Peer is everything a restore asks of one Qdrant peer; *qdrant.Client
// implements it.
type Peer interface {
	ClusterReader
	CollectionAdmin
	ShardRecoverer
	ShardMover
	PointReader
}

// The Qdrant client and the storage backends are the production
// implementations.
var (
	_ Peer        = (*qdrant.Client)(nil)
	_ PointWriter = (*qdrant.Client)(nil)
	_ Store       = (storage.Backend)(nil)
	_ Presigner   = (storage.Presigner)(nil)
)

// Store reads backup objects and writes the journal object. A
// storage.Backend implements it.
type Store interface {
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	Put(ctx context.Context, key string, r io.Reader) error
}

// Presigner hands out URLs Qdrant can pull an object from
// (--transfer presigned).
type Presigner interface {
	Presign(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Deps are the outside world of a restore.
type Deps struct {
	// Peers maps every target peer id of the plan to its client.
	Peers map[uint64]Peer
	Store Store
	// Points writes points; only resharding needs it (a *qdrant.Client).
	Points PointWriter
	// Journal records per-shard progress; nil keeps none (no resume).
	Journal Journal
	// NotFound tells a missing storage object from other read errors;
	// default: storage.ErrNotFound or fs.ErrNotExist.
	NotFound func(error) bool
	Logger   *slog.Logger
	// Progress is told about shards as they go; nil ignores.
	Progress Progress
	// Now is the clock for phase times; default time.Now.
	Now func() time.Time
	// Identities decrypt the objects of an encrypted set; nil for none.
	Identities *crypt.Identities
}

// Progress receives per-shard events for a live display.
type Progress interface {
	ShardStarted(collection string, shard uint32, peer uint64, bytes int64)
	ShardDone(collection string, shard uint32, err error)
}

func (d *Deps) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deps) notFound(err error) bool {
	if d.NotFound != nil {
		return d.NotFound(err)
	}
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}

func (d *Deps) started(c string, s uint32, p uint64, n int64) {
	if d.Progress != nil {
		d.Progress.ShardStarted(c, s, p, n)
	}
}

func (d *Deps) done(c string, s uint32, err error) {
	if d.Progress != nil {
		d.Progress.ShardDone(c, s, err)
	}
}

func (d *Deps) phaseStarted(name string) {
	if p, ok := d.Progress.(PhaseProgress); ok {
		p.PhaseStarted(name)
	}
}

func (d *Deps) skipped(c string, s uint32) {
	if p, ok := d.Progress.(PhaseProgress); ok {
		p.ShardSkipped(c, s)
	}
}

func (d *Deps) journal() Journal {
	if d.Journal != nil {
		return d.Journal
	}
	return nopJournal{}
}

// coordinator is the peer collection-wide calls go to: any peer would do,
// the first of the plan keeps runs reproducible.
func (d *Deps) coordinator(p *RestorePlan) (Peer, uint64, error) {
	for _, tp := range p.Peers {
		if c, ok := d.Peers[tp.ID]; ok && c != nil {
			return c, tp.ID, nil
		}
	}
	return nil, 0, fmt.Errorf("no client for any peer of the plan: %w", ErrNoPeers)
}

func (d *Deps) peer(id uint64) (Peer, error) {
	c, ok := d.Peers[id]
	if !ok || c == nil {
		return nil, fmt.Errorf("no client for peer %d: %w", id, ErrNoPeers)
	}
	return c, nil
}
