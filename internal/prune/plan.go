package prune

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/retention"
)

// Action is a plan's verdict on one set.
type Action string

// Actions.
const (
	Keep   Action = "keep"
	Remove Action = "remove"
	Skip   Action = "skip" // not decided on: possibly running, or unreadable
)

// Set statuses beyond retention's complete, partial, failed and corrupt.
const (
	Running    = "running"
	Unreadable = "unreadable"
)

// Catalog row statuses the plan tells apart.
const (
	rowRunning = "running"
	rowFailed  = "failed"
)

// StoredSet is one set found in storage.
type StoredSet struct {
	Cluster  string `json:"cluster"`
	BackupID string `json:"backup_id"`
	Objects  int    `json:"objects"`
	Bytes    int64  `json:"bytes"`
	// Newest is the time of the set's newest object.
	Newest time.Time `json:"newest"`
	// HasManifest: the set's manifest (plain, or the readable part of an
	// encrypted one) is committed.
	HasManifest bool `json:"has_manifest"`
	// ReadError, when set, is why the manifest could not be read; such a
	// set is never deleted (it may be a newer format).
	ReadError string `json:"read_error,omitempty"`
	// StartedAt is the manifest's start time; zero (e.g. an encrypted
	// manifest, read without the key) means the backup id's time.
	StartedAt time.Time `json:"started_at"`
	Partial   bool      `json:"partial"`
	// Lock is the manifest's object lock, nil when none.
	Lock *manifest.ObjectLock `json:"lock,omitempty"`
}

// CatalogRow is one catalog row.
type CatalogRow struct {
	Cluster   string    `json:"cluster"`
	BackupID  string    `json:"backup_id"`
	Status    string    `json:"status"`
	StartedAt time.Time `json:"started_at"`
	// Corrupt: verification found bad objects.
	Corrupt bool `json:"corrupt"`
	// Unlocated: recorded before the catalog kept storage locations;
	// it may be another store's set.
	Unlocated bool `json:"unlocated"`
}

// Input is everything a prune decides by.
type Input struct {
	Policy retention.Policy `json:"policy"`
	Now    time.Time        `json:"now"`
	// OrphanGrace protects sets without a manifest whose newest object
	// (or, for a row with nothing in storage, whose start) is younger; a
	// negative grace protects none.
	OrphanGrace time.Duration `json:"orphan_grace"`
	// Stored lists the sets in storage, in listing order.
	Stored []StoredSet `json:"stored"`
	// Locked maps a cluster to the backup id whose run holds its live
	// storage lock; clusters without one may be absent.
	Locked map[string]string `json:"locked,omitempty"`
	// Catalog lists the catalog's rows (nil without a catalog).
	Catalog []CatalogRow `json:"catalog,omitempty"`
}

// Item is the verdict on one set.
type Item struct {
	Cluster  string
	BackupID string
	// Status is complete, partial, corrupt, failed (no manifest, or a
	// failed catalog row), running or unreadable.
	Status  string
	Action  Action
	Reasons []string
	Objects int
	Bytes   int64
	// Stored: storage holds objects of the set (to delete on Remove).
	Stored bool
	// InCatalog: the catalog has a row for the set.
	InCatalog bool
	// Orphaned: objects without a manifest; on Remove the catalog row
	// is marked failed rather than deleted, so the killed run shows.
	Orphaned bool
	// Lock is the object lock that turned a Remove into a Skip.
	Lock *manifest.ObjectLock
}

// Plan lists every set looked at, once: the sets retention decided on,
// newest first per cluster (clusters in name order; a set it would remove
// but that is under object lock is among them, as skip), then the sets
// skipped before retention in the order they were found.
type Plan struct {
	Items []Item
}

type set struct {
	item Item
	at   time.Time
	lock *manifest.ObjectLock // while it lasts
}

// Decide applies the policy. Complete sets outside the policy and
// partial, failed and corrupt sets are removed; sets without a manifest
// are removed once older than the grace period and not held by a live
// storage lock; a set under a live object lock is kept until it ends.
func Decide(in Input) Plan {
	sets := map[string]*set{} // cluster/id
	var order []string
	add := func(cluster, id string) *set {
		k := cluster + "/" + id
		if s, ok := sets[k]; ok {
			return s
		}
		s := &set{item: Item{Cluster: cluster, BackupID: id}}
		s.at, _ = manifest.BackupIDTime(id)
		sets[k] = s
		order = append(order, k)
		return s
	}
	for _, st := range in.Stored {
		s := add(st.Cluster, st.BackupID)
		s.item.Stored, s.item.Objects, s.item.Bytes = true, st.Objects, st.Bytes
		if !st.HasManifest {
			s.item.Status = string(retention.Failed)
			switch {
			case in.Locked[st.Cluster] != "" && in.Locked[st.Cluster] == st.BackupID:
				s.item.Action, s.item.Reasons = Skip, []string{"no manifest yet; its run holds the backup lock"}
			case in.Now.Sub(st.Newest) < in.OrphanGrace:
				s.item.Action = Skip
				s.item.Reasons = []string{fmt.Sprintf("no manifest yet; newest object is %s old, within the %s grace period",
					in.Now.Sub(st.Newest).Round(time.Second), in.OrphanGrace)}
			default:
				s.item.Orphaned = true
				s.item.Reasons = []string{"orphaned objects: no manifest (the run failed or was killed)"}
			}
			continue
		}
		if st.ReadError != "" {
			// Never delete what cannot be read: it may be a newer format.
			s.item.Status, s.item.Action, s.item.Reasons = Unreadable, Skip, []string{st.ReadError}
			continue
		}
		if !st.StartedAt.IsZero() {
			s.at = st.StartedAt
		}
		if st.Lock != nil && in.Now.Before(st.Lock.RetainUntil) {
			s.lock = st.Lock
		}
		s.item.Status = string(retention.Complete)
		if st.Partial {
			s.item.Status = string(retention.Partial)
		}
	}

	for _, r := range in.Catalog {
		s := add(r.Cluster, r.BackupID)
		s.item.InCatalog = true
		if s.item.Stored {
			if r.Corrupt && s.item.Action != Skip && s.item.Status != string(retention.Failed) {
				s.item.Status = string(retention.Corrupt)
				s.item.Reasons = append(s.item.Reasons, "verification found bad objects")
			}
			continue
		}
		// A row with nothing in storage.
		if r.Unlocated {
			// It may be another store's set: not this store's to judge.
			s.item.Status, s.item.Action = r.Status, Skip
			s.item.Reasons = []string{"recorded before the catalog kept storage locations and not in this store: run qbackup catalog sync against the store that holds it"}
			continue
		}
		if !r.StartedAt.IsZero() {
			s.at = r.StartedAt
		}
		switch r.Status {
		case rowRunning:
			if in.Now.Sub(s.at) < in.OrphanGrace {
				s.item.Status, s.item.Action, s.item.Reasons = Running, Skip, []string{"running, within the grace period"}
				continue
			}
			s.item.Status = string(retention.Failed)
			s.item.Reasons = []string{"recorded as running but nothing in storage (the run was killed)"}
		case rowFailed:
			s.item.Status = string(retention.Failed)
		default:
			// Storage is the truth: the set is gone.
			s.item.Status = string(retention.Failed)
			s.item.Reasons = []string{fmt.Sprintf("catalog says %s but storage has no manifest", r.Status)}
		}
	}

	// Retention per cluster over the sets decided on.
	byCluster := map[string][]retention.Set{}
	for _, k := range order {
		s := sets[k]
		if s.item.Action == Skip {
			continue
		}
		byCluster[s.item.Cluster] = append(byCluster[s.item.Cluster], retention.Set{ID: k, Time: s.at, Status: retention.Status(s.item.Status)})
	}
	var p Plan
	for _, cluster := range slices.Sorted(maps.Keys(byCluster)) {
		for _, d := range retention.Apply(in.Policy, byCluster[cluster]) {
			s := sets[d.Set.ID]
			s.item.Action = Remove
			if d.Keep {
				s.item.Action = Keep
			}
			if len(s.item.Reasons) == 0 || d.Keep {
				s.item.Reasons = append(s.item.Reasons, d.Reasons...)
			}
			if !d.Keep && s.lock != nil {
				s.item.Action = Skip
				s.item.Lock = s.lock
				s.item.Reasons = append(s.item.Reasons, fmt.Sprintf("under object lock (%s) until %s: kept until then",
					s.lock.Mode, s.lock.RetainUntil.UTC().Format(time.RFC3339)))
			}
			p.Items = append(p.Items, s.item)
		}
	}
	for _, k := range order {
		// A set kept for its object lock is listed above already.
		if s := sets[k]; s.item.Action == Skip && s.item.Lock == nil {
			p.Items = append(p.Items, s.item)
		}
	}
	return p
}
