package rebalance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// Status values of a journal record.
const (
	StatusRunning  = "running"
	StatusComplete = "complete"
	StatusFailed   = "failed"
)

// Record is the journal of the last rebalance of a cluster.
type Record struct {
	ID        string    `json:"rebalance_id"`
	Status    string    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Peers are the Ready peers the plan spreads over; a rerun resumes
	// only with the same ones.
	Peers []uint64 `json:"peers"`
	// Collections is the --collections filter of the run.
	Collections []string `json:"collections_filter,omitempty"`
	Plan        *Plan    `json:"plan"`
	// Done lists the collections that reached their final placement.
	Done []string `json:"done,omitempty"`
	// Reshard is the progress of the collections whose shard count
	// changes.
	Reshard map[string]*ReshardProgress `json:"reshard,omitempty"`
}

// resumable tells whether a run over peers with filter continues rec.
func (rec *Record) resumable(peers []uint64, filter []string) bool {
	if rec == nil || rec.Plan == nil || rec.Status == StatusComplete {
		return false
	}
	a, b := slices.Sorted(slices.Values(rec.Peers)), slices.Sorted(slices.Values(peers))
	f, g := slices.Sorted(slices.Values(rec.Collections)), slices.Sorted(slices.Values(filter))
	return slices.Equal(a, b) && slices.Equal(f, g)
}

// Journal keeps the record of a cluster's last rebalance.
type Journal interface {
	// Load returns the record, nil when there is none.
	Load(ctx context.Context) (*Record, error)
	Save(ctx context.Context, rec *Record) error
}

// Store reads and writes objects; a storage.Backend implements it.
type Store interface {
	Open(ctx context.Context, key string, offset int64) (io.ReadCloser, error)
	Put(ctx context.Context, key string, r io.Reader) error
}

// StoreJournal keeps the record as one object of the backup store (or a
// separate directory), rewritten whole at each change: storage has no
// partial updates, and Put is atomic.
type StoreJournal struct {
	Store   Store
	Cluster string
}

// Load implements Journal.
func (j *StoreJournal) Load(ctx context.Context) (*Record, error) {
	key := manifest.RebalanceJournalKey(j.Cluster)
	r, err := j.Store.Open(ctx, key, 0)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read rebalance journal %s: %w", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read rebalance journal %s: %w", key, err)
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("read rebalance journal %s: %w", key, err)
	}
	return &rec, nil
}

// Save implements Journal.
func (j *StoreJournal) Save(ctx context.Context, rec *Record) error {
	key := manifest.RebalanceJournalKey(j.Cluster)
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode rebalance journal: %w", err)
	}
	if err := j.Store.Put(ctx, key, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("write rebalance journal %s: %w", key, err)
	}
	return nil
}

// FallbackJournal is a journal that gives up, once and with a warning,
// when its store refuses writes (read-only credentials, object lock, a
// full disk): the rebalance goes on without resume rather than failing,
// as a restore does with --journal=auto.
type FallbackJournal struct {
	Journal
	// Refused tells a refused write from other errors.
	Refused func(error) bool
	Logger  *slog.Logger
	off     bool
}

// Load implements Journal.
func (j *FallbackJournal) Load(ctx context.Context) (*Record, error) {
	if j.off {
		return nil, nil
	}
	return j.Journal.Load(ctx)
}

// Save implements Journal.
func (j *FallbackJournal) Save(ctx context.Context, rec *Record) error {
	if j.off {
		return nil
	}
	err := j.Journal.Save(ctx, rec)
	if err != nil && j.Refused != nil && j.Refused(err) {
		j.off = true
		if j.Logger != nil {
			j.Logger.Warn("the rebalance journal cannot be written: continuing without a journal, so a rerun after a kill plans anew", "error", err.Error())
		}
		return nil
	}
	return err
}
