package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// A stored snapshot (--snapshot-method=stored) lives on the peer's disk
// from its creation until the run deletes it after the download. A run
// killed in between (SIGKILL, a node lost, OOM) cannot delete it, and
// Qdrant names shard snapshots by collection, shard and second only, so
// nothing on the peer says that qbackup made it. Each run therefore
// records, in storage, every snapshot it is about to create (before the
// create call, so a kill during the call is covered too) and removes the
// record once the snapshot is deleted on the peer. The next backup of the
// cluster, holding the cluster lock (so no other backup of it runs),
// deletes the snapshots its predecessors recorded and left.

// storedRecord is the record of one stored snapshot.
type storedRecord struct {
	BackupID   string `json:"backup_id"`
	PeerID     uint64 `json:"peer_id"`
	Collection string `json:"collection"`
	ShardID    uint32 `json:"shard_id"`
	// RequestedAt is when the first create call was sent.
	RequestedAt time.Time `json:"requested_at"`
	// Name is the snapshot's name once Qdrant answered; empty when the
	// run died during the call.
	Name string `json:"name,omitempty"`
	// Existing are the snapshots of the shard on the peer before the
	// create call: without a Name, every other snapshot of the shard
	// made up to unnamedSnapshotAfter after RequestedAt is the run's.
	Existing []string `json:"existing,omitempty"`
}

// unnamedSnapshotAfter bounds, after RequestedAt, when a snapshot of the
// shard counts as the one a record without a name stands for: the create
// call and its retries take far less. It is generous because the clocks
// of the run and of the peer may disagree.
const unnamedSnapshotAfter = 15 * time.Minute

type storedLedger struct {
	store   Store
	cluster string
}

func (l storedLedger) key(rec storedRecord) string {
	return manifest.StoredSnapshotKey(l.cluster, rec.BackupID, rec.PeerID, rec.Collection, rec.ShardID)
}

func (l storedLedger) put(ctx context.Context, rec storedRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := l.store.Put(ctx, l.key(rec), bytes.NewReader(b)); err != nil {
		return fmt.Errorf("record the stored snapshot of shard %d of %q on peer %d in storage: %w", rec.ShardID, rec.Collection, rec.PeerID, err)
	}
	return nil
}

func (l storedLedger) remove(ctx context.Context, rec storedRecord) error {
	return l.store.Delete(ctx, l.key(rec))
}

// sweepLeftSnapshots deletes the stored snapshots that earlier, killed
// backups of the cluster recorded and left on the peers, and their
// records. The caller holds the cluster lock; records of currentID are
// its own. A snapshot that cannot be deleted now (its peer gone or
// failing) keeps its record for the next run. It returns how many
// snapshots were deleted.
func sweepLeftSnapshots(ctx context.Context, store Store, cluster, currentID string, peers map[uint64]Peer, log *slog.Logger) (int, error) {
	l := storedLedger{store: store, cluster: cluster}
	var recs []storedRecord
	var errs []error
	err := store.List(ctx, manifest.StoredSnapshotsPrefix(cluster), func(o ObjectInfo) error {
		if !strings.HasSuffix(o.Key, ".json") {
			return nil
		}
		rec, err := readStoredRecord(ctx, store, o.Key)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if rec.BackupID != currentID {
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("list the records of stored snapshots: %w", err)
	}
	deleted := 0
	for _, rec := range recs {
		peer, ok := peers[rec.PeerID]
		if !ok {
			log.Warn("a killed backup left a stored snapshot on a peer that is not in the cluster now; kept its record",
				"peer", rec.PeerID, "collection", rec.Collection, "shard", rec.ShardID, "snapshot", rec.Name, "left_by", rec.BackupID)
			continue
		}
		n, err := deleteLeftSnapshot(ctx, peer, rec)
		deleted += n
		if err != nil {
			errs = append(errs, fmt.Errorf("peer %d, shard %d of %q (left by backup %s): %w", rec.PeerID, rec.ShardID, rec.Collection, rec.BackupID, err))
			continue
		}
		if n > 0 {
			log.Info("deleted a stored snapshot a killed backup left on the peer",
				"peer", rec.PeerID, "collection", rec.Collection, "shard", rec.ShardID, "snapshots", n, "left_by", rec.BackupID)
		}
		if err := l.remove(ctx, rec); err != nil {
			errs = append(errs, err)
		}
	}
	return deleted, errors.Join(errs...)
}

// deleteLeftSnapshot deletes the snapshot rec stands for: by name, or,
// when the run died before Qdrant named it, every snapshot of the shard
// that was not there before the request and is not much younger.
func deleteLeftSnapshot(ctx context.Context, peer Peer, rec storedRecord) (int, error) {
	if rec.Name != "" {
		err := peer.DeleteShardSnapshot(ctx, rec.Collection, rec.ShardID, rec.Name)
		if errors.Is(err, qdrant.ErrNotFound) {
			return 0, nil // deleted after all, or the collection is gone
		}
		if err != nil {
			return 0, err
		}
		return 1, nil
	}
	list, err := peer.ListShardSnapshots(ctx, rec.Collection, rec.ShardID)
	if errors.Is(err, qdrant.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	before := map[string]bool{}
	for _, name := range rec.Existing {
		before[name] = true
	}
	n := 0
	for _, s := range list {
		if before[s.Name] || s.CreationTime.IsZero() || s.CreationTime.After(rec.RequestedAt.Add(unnamedSnapshotAfter)) {
			continue
		}
		if err := peer.DeleteShardSnapshot(ctx, rec.Collection, rec.ShardID, s.Name); err != nil && !errors.Is(err, qdrant.ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

func readStoredRecord(ctx context.Context, store Store, key string) (storedRecord, error) {
	var rec storedRecord
	rc, err := store.Open(ctx, key, 0)
	if err != nil {
		return rec, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return rec, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.BackupID == "" || rec.Collection == "" {
		return rec, fmt.Errorf("record %s is unreadable (%v): delete it by hand", key, err)
	}
	return rec, nil
}
