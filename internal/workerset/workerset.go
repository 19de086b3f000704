// Package workerset is the storage format of the coordination records of
// a backup set taken by several workers (backup --workers N, the pods of
// a Kubernetes Indexed Job), under <cluster>/.sets/<set-id>/:
//
//	plan.json        written once by worker 0 (create-if-absent): the
//	                 backup id, the set's collections and each worker's share
//	parts/<i>.json   worker i's shard records, written once its share is stored
//	failed/<i>.json  worker i failed (final: the Job will not retry it)
//	started/<i>.json restore worker i started on the set
//	failed.json      the set failed; nothing of it is committed
//	commit.json      the claim of the one worker that commits (create-if-absent),
//	                 then the note that the set is committed as backup <id>
//
// A restore by several workers (restore --workers N) keeps its records
// in the same layout, its plan of kind KindRestore: worker 0 writes it
// once the collections are created, each worker a part once its share of
// the shards is recovered, and worker 0 commit.json once the restore is
// verified (a restore has no manifest: commit.json alone says it is done).
//
// The records are no backup: the set's manifest stays its commit marker.
// The backup and restore engines write and read them; prune removes them
// (Prune). They depend on this package, never on each other.
package workerset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// Format is the format of the records; a reader refuses a newer one
// rather than guess.
const Format = 1

// dir is the folder of every multi-worker set's records of a cluster.
const dir = ".sets/"

// idPattern bounds set ids to what a Kubernetes uid, a Job name or a
// hand-picked id looks like, so one is safe as a key segment.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidSetID reports whether id may name a multi-worker set.
func ValidSetID(id string) bool { return idPattern.MatchString(id) }

// Prefix is where the records of every multi-worker set of a cluster live.
func Prefix(cluster string) string { return manifest.ClusterPrefix(cluster) + dir }

// SetPrefix is where one set's records live.
func SetPrefix(cluster, setID string) string { return Prefix(cluster) + setID + "/" }

// PlanKey is plan.json of a set.
func PlanKey(cluster, setID string) string { return SetPrefix(cluster, setID) + "plan.json" }

// CommitKey is commit.json of a set.
func CommitKey(cluster, setID string) string { return SetPrefix(cluster, setID) + "commit.json" }

// FailedKey is failed.json of a set.
func FailedKey(cluster, setID string) string { return SetPrefix(cluster, setID) + "failed.json" }

// PartsPrefix is where the parts of a set live.
func PartsPrefix(cluster, setID string) string { return SetPrefix(cluster, setID) + "parts/" }

// PartKey is worker w's part.
func PartKey(cluster, setID string, w int) string {
	return PartsPrefix(cluster, setID) + strconv.Itoa(w) + ".json"
}

// WorkerFailedPrefix is where the failures of a set's workers live.
func WorkerFailedPrefix(cluster, setID string) string { return SetPrefix(cluster, setID) + "failed/" }

// WorkerFailedKey is worker w's failure.
func WorkerFailedKey(cluster, setID string, w int) string {
	return WorkerFailedPrefix(cluster, setID) + strconv.Itoa(w) + ".json"
}

// WorkerStartedKey is worker w's note that it started on the set (a
// restore worker's: progress it journals from then on is the set's).
func WorkerStartedKey(cluster, setID string, w int) string {
	return SetPrefix(cluster, setID) + "started/" + strconv.Itoa(w) + ".json"
}

// WorkerOf parses a key under PartsPrefix or WorkerFailedPrefix (the
// prefix already cut off) into the worker's index.
func WorkerOf(name string) (int, bool) {
	n, ok := cutSuffix(name, ".json")
	if !ok {
		return 0, false
	}
	w, err := strconv.Atoi(n)
	return w, err == nil && w >= 0
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) < len(suffix) || s[len(s)-len(suffix):] != suffix {
		return s, false
	}
	return s[:len(s)-len(suffix)], true
}

// Kinds of set.
const (
	// KindBackup is a backup set; plans from before the field have none.
	KindBackup = ""
	// KindRestore is a restore by several workers.
	KindRestore = "restore"
)

// Plan is plan.json.
type Plan struct {
	Format int `json:"format"`
	// Kind is KindBackup or KindRestore.
	Kind     string `json:"kind,omitempty"`
	SetID    string `json:"set_id"`
	Cluster  string `json:"cluster"`
	BackupID string `json:"backup_id"`
	Workers  int    `json:"workers"`
	// Holder is worker 0's, which holds the cluster lock for the set.
	Holder    string    `json:"holder"`
	StartedAt time.Time `json:"started_at"`
	// Compression, SnapshotMethod and Encrypted are the set's; a worker
	// configured otherwise refuses to add to it.
	Compression    string `json:"compression"`
	SnapshotMethod string `json:"snapshot_method"`
	Encrypted      bool   `json:"encrypted,omitempty"`
	// Selected are the collections a backup was asked for (sorted; none:
	// all) and AllowPartial whether it may leave shards out: what worker
	// 0 planned with, which a retried worker 0 must share.
	Selected     []string `json:"selected,omitempty"`
	AllowPartial bool     `json:"allow_partial,omitempty"`
	// Skeleton is the set's manifest without shards: collections, their
	// configuration, sample and the points counted before the snapshots.
	Skeleton *manifest.Manifest `json:"skeleton"`
	// Before is each collection's exact count before the first snapshot.
	Before map[string]uint64 `json:"before"`
	// Missing counts the shards left out of a partial set.
	Missing int `json:"missing,omitempty"`
	// Shards are every shard of the set, sorted by collection and shard
	// id, each with the worker whose share it is.
	Shards []PlannedShard `json:"shards"`
	// Restore is a restore set's plan, the restore engine's to read;
	// BackupID is then the backup it restores.
	Restore json.RawMessage `json:"restore,omitempty"`
}

// PlannedShard is one shard of the plan.
type PlannedShard struct {
	Collection  string                  `json:"collection"`
	ShardID     uint32                  `json:"shard_id"`
	ShardKey    *manifest.ShardKeyValue `json:"shard_key,omitempty"`
	PeerID      uint64                  `json:"peer_id"`
	PointsCount uint64                  `json:"points_count"`
	Replicas    []manifest.Replica      `json:"replicas"`
	Object      string                  `json:"object"`
	Worker      int                     `json:"worker"`
}

// Selection is a --collections list as a plan records it: sorted, each
// name once, nil for all collections.
func Selection(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	return slices.Compact(slices.Sorted(slices.Values(names)))
}

// SelectionLabel names a selection in a message: its names, or "all".
func SelectionLabel(names []string) string {
	if len(names) == 0 {
		return "all"
	}
	return strings.Join(names, ",")
}

// Part is parts/<i>.json.
type Part struct {
	Format     int              `json:"format"`
	SetID      string           `json:"set_id"`
	BackupID   string           `json:"backup_id"`
	Worker     int              `json:"worker"`
	Holder     string           `json:"holder"`
	FinishedAt time.Time        `json:"finished_at"`
	Shards     []manifest.Shard `json:"shards"`
	// Restore is a restore worker's report, the restore engine's to read.
	Restore json.RawMessage `json:"restore,omitempty"`
}

// Failure is failed/<i>.json and failed.json.
type Failure struct {
	Format int       `json:"format"`
	Worker int       `json:"worker"`
	Holder string    `json:"holder"`
	Reason string    `json:"reason"`
	Final  bool      `json:"final"`
	At     time.Time `json:"at"`
	// Corrupt: the worker found a backup object corrupt (a restore
	// worker), which no retry and no rerun can get past.
	Corrupt bool `json:"corrupt,omitempty"`
}

// Commit is commit.json.
type Commit struct {
	Format int       `json:"format"`
	Holder string    `json:"holder"`
	Token  string    `json:"token,omitempty"`
	At     time.Time `json:"at"`
	// BackupID and Committed are set once the manifest is written.
	BackupID  string `json:"backup_id,omitempty"`
	Committed bool   `json:"committed,omitempty"`
}

// Store is the object storage holding the records; every storage backend
// is one.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader) error
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error
	Delete(ctx context.Context, key string) error
}

// Conditional is a store that can create an object only if it is absent;
// every storage backend is one.
type Conditional interface {
	PutIfAbsent(ctx context.Context, key string, r io.Reader) error
}

// Put writes v as JSON at key; ifAbsent fails with an error matching
// storage.ErrExists when the key exists.
func Put(ctx context.Context, store Store, key string, v any, ifAbsent bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if ifAbsent {
		c, ok := store.(Conditional)
		if !ok {
			return fmt.Errorf("write %s: the storage cannot create an object only if it is absent", key)
		}
		if err := c.PutIfAbsent(ctx, key, bytes.NewReader(b)); err != nil {
			return fmt.Errorf("write %s: %w", key, err)
		}
		return nil
	}
	if err := store.Put(ctx, key, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// maxRecordSize bounds what is read of one record (a plan of a very large
// cluster holds every shard's replicas and the sample digests).
const maxRecordSize = 256 << 20

// Read reads the JSON record at key into v; a missing one gives an error
// matching storage.ErrNotFound.
func Read(ctx context.Context, store Store, key string, v any) error {
	r, err := store.Open(ctx, key, 0)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxRecordSize))
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	var f struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	if f.Format > Format {
		return fmt.Errorf("read %s: format %d is newer than this qbackup's %d: upgrade qbackup in every worker", key, f.Format, Format)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// Exists reports whether key exists.
func Exists(ctx context.Context, store Store, key string) (bool, error) {
	r, err := store.Open(ctx, key, 0)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	r.Close()
	return true, nil
}

// BackupIDOf is the backup id a set's records name (its plan, else its
// commit note); "" when neither is left.
func BackupIDOf(ctx context.Context, store Store, cluster, setID string) (string, error) {
	var plan Plan
	err := Read(ctx, store, PlanKey(cluster, setID), &plan)
	if err == nil {
		return plan.BackupID, nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return "", err
	}
	var done Commit
	err = Read(ctx, store, CommitKey(cluster, setID), &done)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	return done.BackupID, err
}
