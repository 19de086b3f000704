package restore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/qbackup/qbackup/internal/catalog"
	"github.com/qbackup/qbackup/internal/manifest"
)

// Per-shard states, in the order a shard goes through them. The values
// are the catalog's.
const (
	ShardPending   = catalog.ShardPending
	ShardRecovered = catalog.ShardRecovered
	ShardVerified  = catalog.ShardVerified
	ShardFailed    = catalog.ShardFailed
)

// Restore statuses recorded by Journal.Finish.
const (
	StatusRunning  = catalog.RestoreRunning
	StatusComplete = catalog.RestoreComplete
	StatusFailed   = catalog.RestoreFailed
)

// ShardProgress is the recorded state of one shard of one restored
// collection. ShardID is the backup's shard id (custom shard keys get new
// ids on the target; the backup's stays stable across reruns).
type ShardProgress struct {
	Collection string `json:"collection"`
	ShardID    uint32 `json:"shard_id"`
	Peer       uint64 `json:"target_peer"`
	State      string `json:"state"`
	Error      string `json:"error,omitempty"`
}

// Journal persists restore progress so a rerun of the same restore skips
// what is done. Implementations are safe for concurrent use.
type Journal interface {
	// Shards returns the recorded progress of every shard of a restore,
	// none for a restore never begun. It changes nothing, so preflight can
	// call it.
	Shards(ctx context.Context, restoreID string) ([]ShardProgress, error)
	// Status returns the recorded status of a restore (StatusRunning,
	// StatusComplete, StatusFailed), "" for a restore never begun. It
	// changes nothing.
	Status(ctx context.Context, restoreID string) (string, error)
	// Begin records the restore as running; on a rerun it keeps the shard
	// progress recorded so far. SetShard and Finish apply to the restore
	// begun last.
	Begin(ctx context.Context, restoreID string, plan *RestorePlan) error
	// SetShard records one shard's state.
	SetShard(ctx context.Context, p ShardProgress) error
	// Finish records the outcome.
	Finish(ctx context.Context, status, reason string) error
}

// RestoreID names a restore so that rerunning the same restore (same
// backup, same target collections and strategy, same target peers) finds
// its journal. The peers are part of it because the recorded progress names
// them: after a pod is lost, restoring the same backup onto the pods left
// is a new restore, not a resume of one whose shards live on the lost pod.
func RestoreID(p *RestorePlan) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", p.Cluster, p.BackupID, p.Strategy)
	for _, c := range p.Collections {
		fmt.Fprintf(h, "%s=%s\x00", c.Source, c.Target)
	}
	ids := make([]uint64, 0, len(p.Peers))
	for _, peer := range p.Peers {
		ids = append(ids, peer.ID)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(h, "peer %d\x00", id)
	}
	return p.BackupID + "-" + hex.EncodeToString(h.Sum(nil))[:8]
}

// maxReruns bounds the series of ids resolveRestoreID walks.
const maxReruns = 1000

// resolveRestoreID is the id this run of a restore works under: the
// plan's RestoreID or, once a restore under that id has completed, the
// next of the series id.2, id.3, ... that has not. A rerun after a crash
// or a failure finds the unfinished restore and resumes it; a rerun after
// a complete restore (the cluster lost data again, say) is a new restore,
// checked and carried out from scratch, where --overwrite replaces the
// collections the complete one restored instead of keeping them as its
// own.
func resolveRestoreID(ctx context.Context, j Journal, plan *RestorePlan) (string, error) {
	base := RestoreID(plan)
	id := base
	for n := 2; n <= maxReruns; n++ {
		status, err := j.Status(ctx, id)
		if err != nil {
			return "", fmt.Errorf("read status of restore %s: %w", id, err)
		}
		if status != StatusComplete {
			return id, nil
		}
		id = fmt.Sprintf("%s.%d", base, n)
	}
	return "", fmt.Errorf("restore %s completed %d times: clean up its journals", base, maxReruns)
}

// CatalogRestores is the part of the catalog a journal writes to;
// *catalog.Catalog implements it.
type CatalogRestores interface {
	RestoreStarted(ctx context.Context, r catalog.RestoreRecord) error
	SetRestoreShard(ctx context.Context, restoreID string, s catalog.RestoreShard) error
	RestoreShards(ctx context.Context, restoreID string) ([]catalog.RestoreShard, error)
	RestoreFinished(ctx context.Context, restoreID, status, reason string) error
	GetRestore(ctx context.Context, restoreID string) (*catalog.RestoreRecord, error)
}

// CatalogJournal keeps progress in the catalog's restores and
// restore_shards tables.
type CatalogJournal struct {
	Catalog CatalogRestores
	// Target describes the cluster restored onto, for people.
	Target string

	mu sync.Mutex
	id string
}

// Begin implements Journal.
func (j *CatalogJournal) Begin(ctx context.Context, restoreID string, plan *RestorePlan) error {
	raw, err := json.Marshal(plan)
	if err != nil {
		return fmt.Errorf("journal restore %s: encode plan: %w", restoreID, err)
	}
	j.mu.Lock()
	j.id = restoreID
	j.mu.Unlock()
	return j.Catalog.RestoreStarted(ctx, catalog.RestoreRecord{
		RestoreID: restoreID, Cluster: plan.Cluster, BackupID: plan.BackupID, Target: j.Target, Plan: raw,
	})
}

func (j *CatalogJournal) restoreID() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.id
}

// Shards implements Journal.
func (j *CatalogJournal) Shards(ctx context.Context, restoreID string) ([]ShardProgress, error) {
	rows, err := j.Catalog.RestoreShards(ctx, restoreID)
	if err != nil {
		return nil, err
	}
	out := make([]ShardProgress, 0, len(rows))
	for _, r := range rows {
		out = append(out, ShardProgress{Collection: r.Collection, ShardID: r.ShardID, Peer: r.TargetPeer, State: r.State, Error: r.Error})
	}
	return out, nil
}

// Status implements Journal.
func (j *CatalogJournal) Status(ctx context.Context, restoreID string) (string, error) {
	r, err := j.Catalog.GetRestore(ctx, restoreID)
	if errors.Is(err, catalog.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return r.Status, nil
}

// SetShard implements Journal.
func (j *CatalogJournal) SetShard(ctx context.Context, p ShardProgress) error {
	return j.Catalog.SetRestoreShard(ctx, j.restoreID(), catalog.RestoreShard{Collection: p.Collection, ShardID: p.ShardID, TargetPeer: p.Peer, State: p.State, Error: p.Error})
}

// Finish implements Journal.
func (j *CatalogJournal) Finish(ctx context.Context, status, reason string) error {
	return j.Catalog.RestoreFinished(ctx, j.restoreID(), status, reason)
}

// StoreJournal keeps progress in one JSON object in storage, at
// manifest.RestoreJournalKey, for setups without a catalog. The object
// is small (one entry per shard) and rewritten whole on every change:
// storage has no partial updates, and Put is atomic.
type StoreJournal struct {
	Store Store
	// Cluster is the backup's cluster name: journals live under it.
	Cluster string
	// NotFound tells a missing object from a read error; default as Deps.
	NotFound func(error) bool
	// Now is the clock for timestamps; default time.Now.
	Now func() time.Time

	mu  sync.Mutex
	key string
	doc journalDoc
}

type journalDoc struct {
	RestoreID string          `json:"restore_id"`
	Cluster   string          `json:"cluster"`
	BackupID  string          `json:"backup_id"`
	Status    string          `json:"status"`
	Reason    string          `json:"reason,omitempty"`
	StartedAt time.Time       `json:"started_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	Plan      json.RawMessage `json:"plan,omitempty"`
	Shards    []ShardProgress `json:"shards"`
}

func (j *StoreJournal) now() time.Time {
	if j.Now != nil {
		return j.Now().UTC()
	}
	return time.Now().UTC()
}

// read loads the journal object of a restore; ok is false when there is
// none.
func (j *StoreJournal) read(ctx context.Context, restoreID string) (doc journalDoc, ok bool, err error) {
	key := manifest.RestoreJournalKey(j.Cluster, restoreID)
	r, err := j.Store.Open(ctx, key, 0)
	if err != nil {
		if j.notFound(err) {
			return journalDoc{}, false, nil
		}
		return journalDoc{}, false, fmt.Errorf("read restore journal %s: %w", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return journalDoc{}, false, fmt.Errorf("read restore journal %s: %w", key, err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return journalDoc{}, false, fmt.Errorf("read restore journal %s: %w", key, err)
	}
	return doc, true, nil
}

// Shards implements Journal.
func (j *StoreJournal) Shards(ctx context.Context, restoreID string) ([]ShardProgress, error) {
	j.mu.Lock()
	if j.doc.RestoreID == restoreID {
		defer j.mu.Unlock()
		return slices.Clone(j.doc.Shards), nil
	}
	j.mu.Unlock()
	doc, _, err := j.read(ctx, restoreID)
	return doc.Shards, err
}

// Status implements Journal.
func (j *StoreJournal) Status(ctx context.Context, restoreID string) (string, error) {
	j.mu.Lock()
	if j.doc.RestoreID == restoreID {
		defer j.mu.Unlock()
		return j.doc.Status, nil
	}
	j.mu.Unlock()
	doc, _, err := j.read(ctx, restoreID)
	return doc.Status, err
}

// Begin implements Journal: it picks up the journal of an earlier run of
// the same restore, if any.
func (j *StoreJournal) Begin(ctx context.Context, restoreID string, plan *RestorePlan) error {
	if plan.Cluster != j.Cluster {
		return fmt.Errorf("journal restore %s: plan of cluster %q, journal of %q", restoreID, plan.Cluster, j.Cluster)
	}
	raw, err := json.Marshal(plan)
	if err != nil {
		return fmt.Errorf("journal restore %s: encode plan: %w", restoreID, err)
	}
	prev, ok, err := j.read(ctx, restoreID)
	if err != nil {
		return err
	}
	doc := journalDoc{RestoreID: restoreID, Cluster: plan.Cluster, BackupID: plan.BackupID, StartedAt: j.now()}
	if ok {
		if prev.BackupID != plan.BackupID {
			return fmt.Errorf("restore journal %s restores backup %s, not %s", restoreID, prev.BackupID, plan.BackupID)
		}
		doc.StartedAt, doc.Shards = prev.StartedAt, prev.Shards
	}
	doc.Status, doc.Plan = StatusRunning, raw
	j.mu.Lock()
	defer j.mu.Unlock()
	j.key, j.doc = manifest.RestoreJournalKey(j.Cluster, restoreID), doc
	return j.writeLocked(ctx)
}

func (j *StoreJournal) notFound(err error) bool {
	d := Deps{NotFound: j.NotFound}
	return d.notFound(err)
}

// SetShard implements Journal.
func (j *StoreJournal) SetShard(ctx context.Context, p ShardProgress) error {
	return j.SetShards(ctx, []ShardProgress{p})
}

// SetShards records several shards' progress in one write of the journal
// object: each write sends the whole object.
func (j *StoreJournal) SetShards(ctx context.Context, ps []ShardProgress) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, p := range ps {
		i := slices.IndexFunc(j.doc.Shards, func(s ShardProgress) bool { return s.Collection == p.Collection && s.ShardID == p.ShardID })
		if i < 0 {
			j.doc.Shards = append(j.doc.Shards, p)
		} else {
			j.doc.Shards[i] = p
		}
	}
	slices.SortFunc(j.doc.Shards, func(a, b ShardProgress) int {
		if c := strings.Compare(a.Collection, b.Collection); c != 0 {
			return c
		}
		return int(a.ShardID) - int(b.ShardID)
	})
	return j.writeLocked(ctx)
}

// Finish implements Journal.
func (j *StoreJournal) Finish(ctx context.Context, status, reason string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.doc.Status, j.doc.Reason = status, reason
	return j.writeLocked(ctx)
}

func (j *StoreJournal) writeLocked(ctx context.Context) error {
	j.doc.UpdatedAt = j.now()
	data, err := json.MarshalIndent(j.doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode restore journal: %w", err)
	}
	if err := j.Store.Put(ctx, j.key, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("write restore journal %s: %w", j.key, err)
	}
	return nil
}

// progressIndex looks up recorded progress by collection and shard.
type progressIndex map[string]map[uint32]ShardProgress

func indexProgress(ps []ShardProgress) progressIndex {
	out := progressIndex{}
	for _, p := range ps {
		if out[p.Collection] == nil {
			out[p.Collection] = map[uint32]ShardProgress{}
		}
		out[p.Collection][p.ShardID] = p
	}
	return out
}

func (x progressIndex) state(collection string, shard uint32) string {
	return x[collection][shard].State
}

// started reports whether this restore already created the collection in
// an earlier run (its shards were recorded before the creation).
func (x progressIndex) started(collection string) bool { return len(x[collection]) > 0 }

// shardsSetter is a journal that records several shards' progress in
// one write. A restore records a whole collection's shards at once twice
// (pending before creating it, verified after verifying it): shard by
// shard, a journal object in storage was rewritten once per shard.
type shardsSetter interface {
	SetShards(ctx context.Context, ps []ShardProgress) error
}

// setShards records ps through j, in one write when j can.
func setShards(ctx context.Context, j Journal, ps []ShardProgress) error {
	if b, ok := j.(shardsSetter); ok {
		return b.SetShards(ctx, ps)
	}
	for _, p := range ps {
		if err := j.SetShard(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// nopJournal keeps nothing: without a journal a rerun starts over.
type nopJournal struct{}

func (nopJournal) Begin(context.Context, string, *RestorePlan) error       { return nil }
func (nopJournal) Shards(context.Context, string) ([]ShardProgress, error) { return nil, nil }
func (nopJournal) Status(context.Context, string) (string, error)          { return "", nil }
func (nopJournal) SetShard(context.Context, ShardProgress) error           { return nil }
func (nopJournal) Finish(context.Context, string, string) error            { return nil }
