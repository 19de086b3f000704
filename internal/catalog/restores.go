package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Restore statuses.
const (
	RestoreRunning  = "running"
	RestoreComplete = "complete"
	RestoreFailed   = "failed"
)

// Per-shard restore states, in the order a shard goes through them.
const (
	ShardPending   = "pending"
	ShardRecovered = "recovered"
	ShardVerified  = "verified"
	ShardFailed    = "failed"
)

// RestoreRecord is one restore run. Times are UTC.
type RestoreRecord struct {
	RestoreID string `json:"restore_id"`
	Cluster   string `json:"cluster"`
	BackupID  string `json:"backup_id"`
	// Target describes the cluster restored onto (for people, not parsed).
	Target string `json:"target,omitempty"`
	// Plan is the restore plan as JSON, stored as given.
	Plan       json.RawMessage `json:"plan,omitempty"`
	Status     string          `json:"status"`
	Reason     string          `json:"reason,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// RestoreShard is the progress of one shard restored onto one peer.
type RestoreShard struct {
	Collection string `json:"collection"`
	ShardID    uint32 `json:"shard_id"`
	TargetPeer uint64 `json:"target_peer"`
	State      string `json:"state"`
	// Attempts counts recorded outcomes (recovered or failed).
	Attempts  int       `json:"attempts"`
	Error     string    `json:"error,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RestoreStarted records a restore as running. Called again with the same
// id (a rerun), it sets it running again and keeps its shard progress and
// start time; the rerun must restore the same backup of the same cluster.
// Status, Reason, FinishedAt and UpdatedAt of r are ignored.
func (c *Catalog) RestoreStarted(ctx context.Context, r RestoreRecord) error {
	switch {
	case r.RestoreID == "" || len(r.RestoreID) > 64:
		return fmt.Errorf("record restore %q: id must be 1 to 64 bytes", r.RestoreID)
	case len(r.Target) > 1024:
		return fmt.Errorf("record restore %s: target description longer than 1024 bytes", r.RestoreID)
	case len(r.Plan) > 0 && !json.Valid(r.Plan):
		return fmt.Errorf("record restore %s: plan is not valid JSON", r.RestoreID)
	}
	if err := checkBackupKey(r.Cluster, r.BackupID); err != nil {
		return fmt.Errorf("record restore %s: %w", r.RestoreID, err)
	}
	var cluster, backupID string
	err := c.withRetry(ctx, func(ctx context.Context) error {
		return c.db.QueryRowContext(ctx, sqlSelectRestoreOrigin, r.RestoreID).Scan(&cluster, &backupID)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("record restore %s: %w", r.RestoreID, err)
	case cluster != r.Cluster || backupID != r.BackupID:
		return fmt.Errorf("record restore %s: that id already restores backup %s/%s, not %s/%s",
			r.RestoreID, cluster, backupID, r.Cluster, r.BackupID)
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now()
	}
	var plan any
	if len(r.Plan) > 0 {
		plan = string(r.Plan)
	}
	err = c.withRetry(ctx, func(ctx context.Context) error {
		_, err := c.db.ExecContext(ctx, sqlUpsertRestore,
			r.RestoreID, r.Cluster, r.BackupID, r.Target, plan, dbTime(r.StartedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("record restore %s: %w", r.RestoreID, err)
	}
	return nil
}

// SetRestoreShard records the state of one shard on one target peer (s's
// Collection, ShardID, TargetPeer and State); s.Error is kept for the
// failed state, Attempts and UpdatedAt are the catalog's to keep. The row
// is created on first use.
func (c *Catalog) SetRestoreShard(ctx context.Context, restoreID string, s RestoreShard) error {
	attempt := 0
	switch s.State {
	case ShardPending, ShardVerified:
	case ShardRecovered, ShardFailed:
		attempt = 1
	default:
		return fmt.Errorf("record restore %s shard %d of %q: unknown state %q", restoreID, s.ShardID, s.Collection, s.State)
	}
	// A retry after a lost reply can count one attempt twice; attempts is
	// for people reading progress, not for decisions.
	err := c.withRetry(ctx, func(ctx context.Context) error {
		_, err := c.db.ExecContext(ctx, sqlUpsertRestoreShard,
			restoreID, s.Collection, s.ShardID, s.TargetPeer, s.State, attempt, nullString(clip(s.Error)))
		return err
	})
	if err != nil {
		return fmt.Errorf("record restore %s shard %d of %q on peer %d: %w", restoreID, s.ShardID, s.Collection, s.TargetPeer, err)
	}
	return nil
}

// RestoreShards returns the recorded progress of a restore, ordered by
// collection, shard id and target peer. A restore without shard rows gives
// an empty slice.
func (c *Catalog) RestoreShards(ctx context.Context, restoreID string) ([]RestoreShard, error) {
	out, err := queryAll(ctx, c, scanRestoreShard, sqlSelectRestoreShards, restoreID)
	if err != nil {
		return nil, fmt.Errorf("read progress of restore %s: %w", restoreID, err)
	}
	return out, nil
}

// RestoreFinished records the outcome of a restore: complete or failed,
// with reason.
func (c *Catalog) RestoreFinished(ctx context.Context, restoreID, status, reason string) error {
	if status != RestoreComplete && status != RestoreFailed {
		return fmt.Errorf("finish restore %s: status %q is neither %q nor %q", restoreID, status, RestoreComplete, RestoreFailed)
	}
	var n int64
	err := c.withRetry(ctx, func(ctx context.Context) error {
		res, err := c.db.ExecContext(ctx, sqlFinishRestore, status, nullString(clip(reason)), restoreID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("finish restore %s: %w", restoreID, err)
	}
	if n == 0 {
		// updated_at always changes, so no row matched.
		return fmt.Errorf("finish restore %s: %w", restoreID, ErrNotFound)
	}
	return nil
}

// GetRestore returns one restore, or an error matching ErrNotFound.
func (c *Catalog) GetRestore(ctx context.Context, restoreID string) (*RestoreRecord, error) {
	var r *RestoreRecord
	err := c.withRetry(ctx, func(ctx context.Context) error {
		var err error
		r, err = scanRestore(c.db.QueryRowContext(ctx, sqlGetRestore, restoreID))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get restore %s: %w", restoreID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get restore %s: %w", restoreID, err)
	}
	return r, nil
}

// ListRestores lists the restores of cluster (every cluster when empty),
// newest first.
func (c *Catalog) ListRestores(ctx context.Context, cluster string) ([]RestoreRecord, error) {
	query, args := sqlListRestores, []any(nil)
	if cluster != "" {
		query, args = sqlListRestoresOfCluster, []any{cluster}
	}
	out, err := queryAll(ctx, c, scanRestore, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list restores: %w", err)
	}
	return out, nil
}

func scanRestoreShard(r scanner) (*RestoreShard, error) {
	var s RestoreShard
	var msg sql.NullString
	if err := r.Scan(&s.Collection, &s.ShardID, &s.TargetPeer, &s.State, &s.Attempts, &msg, &s.UpdatedAt); err != nil {
		return nil, err
	}
	s.Error = msg.String
	return &s, nil
}

func scanRestore(s scanner) (*RestoreRecord, error) {
	var (
		r            RestoreRecord
		plan, reason sql.NullString
		finished     sql.NullTime
	)
	err := s.Scan(&r.RestoreID, &r.Cluster, &r.BackupID, &r.Target, &plan, &r.Status, &reason,
		&r.StartedAt, &finished, &r.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if plan.Valid {
		r.Plan = json.RawMessage(plan.String)
	}
	r.Reason, r.FinishedAt = reason.String, finished.Time
	return &r, nil
}
