package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
)

// A set taken by several workers (Options.Workers > 1) is coordinated
// through records in storage beside the sets, under
// <cluster>/.sets/<set-id>/:
//
//	plan.json        written once by worker 0 (create-if-absent): the
//	                 backup id, the set's collections and each worker's share
//	parts/<i>.json   worker i's shard records, written once its share is stored
//	failed/<i>.json  worker i failed (final: the Job will not retry it)
//	failed.json      the set failed; nothing of it is committed
//	commit.json      the claim of the one worker that commits (create-if-absent),
//	                 then the note that the set is committed as backup <id>
//
// The records are no backup: the set's manifest is still its commit
// marker. Worker 0 deletes them once the set is committed, except
// commit.json, which tells a late attempt of an index that there is
// nothing left to do; prune removes every set's records after the orphan
// grace.

// setsDir is the folder of the coordination records of every multi-worker
// set of a cluster.
const setsDir = ".sets/"

// setRecordsFormat is the format of the records; a reader refuses a newer
// one rather than guess.
const setRecordsFormat = 1

// setIDPattern bounds set ids to what a Kubernetes uid, a Job name or a
// hand-picked id looks like, so one is safe as a key segment.
var setIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidSetID reports whether id may name a multi-worker set.
func ValidSetID(id string) bool { return setIDPattern.MatchString(id) }

// SetsPrefix is where the records of every multi-worker set of a cluster
// live.
func SetsPrefix(cluster string) string { return manifest.ClusterPrefix(cluster) + setsDir }

// setPrefix is where one set's records live.
func setPrefix(cluster, setID string) string { return SetsPrefix(cluster) + setID + "/" }

func planKey(cluster, setID string) string   { return setPrefix(cluster, setID) + "plan.json" }
func commitKey(cluster, setID string) string { return setPrefix(cluster, setID) + "commit.json" }
func setFailedKey(cluster, setID string) string {
	return setPrefix(cluster, setID) + "failed.json"
}
func partKey(cluster, setID string, worker int) string {
	return setPrefix(cluster, setID) + "parts/" + strconv.Itoa(worker) + ".json"
}
func workerFailedKey(cluster, setID string, worker int) string {
	return setPrefix(cluster, setID) + "failed/" + strconv.Itoa(worker) + ".json"
}

// setPlan is plan.json.
type setPlan struct {
	Format   int    `json:"format"`
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
	// Skeleton is the set's manifest without shards: collections, their
	// configuration, sample and the points counted before the snapshots.
	Skeleton *manifest.Manifest `json:"skeleton"`
	// Before is each collection's exact count before the first snapshot.
	Before map[string]uint64 `json:"before"`
	// Missing counts the shards left out of a partial set.
	Missing int `json:"missing,omitempty"`
	// Shards are every shard of the set, sorted by collection and shard
	// id, each with the worker whose share it is.
	Shards []plannedShard `json:"shards"`
}

// plannedShard is one shard of the plan.
type plannedShard struct {
	Collection  string                  `json:"collection"`
	ShardID     uint32                  `json:"shard_id"`
	ShardKey    *manifest.ShardKeyValue `json:"shard_key,omitempty"`
	PeerID      uint64                  `json:"peer_id"`
	PointsCount uint64                  `json:"points_count"`
	Replicas    []manifest.Replica      `json:"replicas"`
	Object      string                  `json:"object"`
	Worker      int                     `json:"worker"`
}

// setPart is parts/<i>.json.
type setPart struct {
	Format     int              `json:"format"`
	SetID      string           `json:"set_id"`
	BackupID   string           `json:"backup_id"`
	Worker     int              `json:"worker"`
	Holder     string           `json:"holder"`
	FinishedAt time.Time        `json:"finished_at"`
	Shards     []manifest.Shard `json:"shards"`
}

// setFailure is failed/<i>.json and failed.json.
type setFailure struct {
	Format int       `json:"format"`
	Worker int       `json:"worker"`
	Holder string    `json:"holder"`
	Reason string    `json:"reason"`
	Final  bool      `json:"final"`
	At     time.Time `json:"at"`
}

// setCommit is commit.json.
type setCommit struct {
	Format int       `json:"format"`
	Holder string    `json:"holder"`
	Token  string    `json:"token,omitempty"`
	At     time.Time `json:"at"`
	// BackupID and Committed are set once the manifest is written.
	BackupID  string `json:"backup_id,omitempty"`
	Committed bool   `json:"committed,omitempty"`
}

// conditional is a store that can create an object only if it is absent;
// every storage backend is one.
type conditional interface {
	PutIfAbsent(ctx context.Context, key string, r io.Reader) error
}

// putRecord writes v as JSON at key; ifAbsent fails with ErrObjectExists
// when the key exists.
func putRecord(ctx context.Context, store Store, key string, v any, ifAbsent bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if ifAbsent {
		c, ok := store.(conditional)
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

// readRecord reads the JSON record at key into v; a missing one gives an
// error matching ErrObjectNotFound.
func readRecord(ctx context.Context, store Store, key string, v any) error {
	r, err := store.Open(ctx, key, 0)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxRecordSize))
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	var f struct {
		Format int `json:"format"`
	}
	_ = json.Unmarshal(b, &f)
	if f.Format > setRecordsFormat {
		return fmt.Errorf("read %s: format %d is newer than this qbackup's %d: upgrade qbackup in every worker", key, f.Format, setRecordsFormat)
	}
	return nil
}

// recordExists reports whether key exists.
func recordExists(ctx context.Context, store Store, key string) (bool, error) {
	r, err := store.Open(ctx, key, 0)
	if errors.Is(err, ErrObjectNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	r.Close()
	return true, nil
}
