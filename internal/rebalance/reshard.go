package rebalance

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/qbackup/qbackup/internal/restore"
)

// Reshard methods.
const (
	// ReshardQdrant is Qdrant's own resharding, one shard up or down at a
	// time, on a cluster that offers it (cluster.resharding_enabled):
	// reads and writes keep working.
	ReshardQdrant = "qdrant-resharding"
	// ReshardCopy rebuilds the collection with the new shard count by
	// copying every point through a staging collection; writes made
	// meanwhile would be lost, so it needs --writes-paused.
	ReshardCopy = "point-copy"
)

// ReshardSupport is whether the cluster offers Qdrant's resharding.
type ReshardSupport struct {
	// Enabled is cluster.resharding_enabled as the telemetry reports it.
	Enabled bool `json:"enabled"`
	// Known is false when the cluster does not report it (Qdrant before
	// 1.17, or an API key without access to the cluster telemetry).
	Known bool `json:"known"`
}

// Resharding is a resharding Qdrant reports in progress.
type Resharding struct {
	UUID      string `json:"uuid,omitempty"`
	Direction string `json:"direction"`
	ShardID   uint32 `json:"shard_id"`
	PeerID    uint64 `json:"peer_id"`
}

// ReshardPlan is the change of one collection's shard count.
type ReshardPlan struct {
	From   uint32 `json:"from_shards"`
	To     uint32 `json:"to_shards"`
	Method string `json:"method"`
	Reason string `json:"reason"`
}

// planReshard decides whether and how c's shard count changes. It returns
// a warning for a collection that keeps its shards although a change was
// asked for, and an error naming the collection when the change needs the
// point copy and the user did not confirm that writes are paused.
func planReshard(c Collection, cp *CollectionPlan, pods int, sup ReshardSupport, opts Options) (*ReshardPlan, string, error) {
	if opts.Shards == 0 && !opts.AutoShards {
		return nil, "", nil
	}
	if c.ShardingMethod == "custom" {
		return nil, fmt.Sprintf("collection %q uses custom sharding: it keeps its shard keys and their shards (--shards applies to auto-sharded collections)", c.Name), nil
	}
	cur := uint32(len(c.Shards))
	if c.Resharding != nil {
		// Qdrant lists the shard it adds (up) among the collection's.
		if c.Resharding.Direction == "up" {
			cur--
		}
	}
	to := opts.Shards
	why := fmt.Sprintf("--shards %d", to)
	if opts.AutoShards {
		to = restore.AutoShardCount(cur, cp.ReplicationFactor, pods)
		why = fmt.Sprintf("--shards auto: the smallest count from %d with count × replication factor %d ≥ %d pods", cur, cp.ReplicationFactor, pods)
	}
	if to == cur && c.Resharding == nil {
		return nil, "", nil
	}
	rp := &ReshardPlan{From: cur, To: to, Method: ReshardQdrant, Reason: why}
	if !sup.Enabled {
		rp.Method = ReshardCopy
		if !opts.WritesPaused {
			return nil, "", fmt.Errorf("collection %q: %d → %d shards", c.Name, cur, to)
		}
	}
	return rp, "", nil
}

// refusal is the invalid-input error for the collections whose shard
// count change needs the point copy without --writes-paused.
func refusal(which []string, sup ReshardSupport) error {
	why := "the cluster does not offer Qdrant's resharding (cluster.resharding_enabled is off; open-source Qdrant refuses start_resharding: \"resharding is only supported in Qdrant Cloud\")"
	if !sup.Known {
		why = "the cluster does not report that it offers Qdrant's resharding (its telemetry has no cluster.resharding_enabled: Qdrant before 1.17, or an API key without access to the cluster telemetry)"
	}
	return fmt.Errorf("cannot change the shard count on this live cluster (%s): %s. "+
		"Without it the collection is rebuilt by copying every point into a new collection, and writes made during the copy would be lost. "+
		"Stop every writer and rerun with --writes-paused, or keep the shard count (--shards keep). Nothing was changed",
		strings.Join(which, "; "), why)
}

// reshardFirst turns cp into a plan that reshards first: its replica
// operations are planned after the resharding, from the resharded
// collection.
func (cp *CollectionPlan) reshardFirst(rp *ReshardPlan) {
	cp.Reshard = rp
	cp.Ops = nil
	for i := range cp.Shards {
		cp.Shards[i].Final = nil
	}
	how := "with Qdrant's resharding, one shard at a time, while reads and writes go on"
	if rp.Method == ReshardCopy {
		how = "by copying every point through a staging collection (writes paused)"
	}
	cp.Reason = fmt.Sprintf("reshard %d → %d shards %s (%s); the replicas are then balanced over the pods by a plan made from the resharded collection", rp.From, rp.To, how, rp.Reason)
}

// ReshardProgress is the journaled progress of one collection's
// resharding, so that a rerun resumes it.
type ReshardProgress struct {
	// UUID is the Qdrant resharding this rebalance started and Stage how
	// far it got: started, migrated, read_committed, write_committed,
	// cleaned.
	UUID      string `json:"uuid,omitempty"`
	Direction string `json:"direction,omitempty"`
	Stage     string `json:"stage,omitempty"`
	// StagingCopied is true once the staging collection of a point copy
	// holds every point: from then on the collection may be recreated.
	StagingCopied bool `json:"staging_copied,omitempty"`
	// Aliases point at the collection and are recreated after a point
	// copy recreated it.
	Aliases []string `json:"aliases,omitempty"`
	// StrictMode is the collection's strict_mode_config, turned off while
	// points are copied in and set again at the end.
	StrictMode json.RawMessage `json:"strict_mode,omitempty"`
	// Steps counts the finished Qdrant resharding steps.
	Steps int `json:"steps,omitempty"`
}

// Qdrant resharding stages as the journal names them, in order.
var reshardStages = []string{"", "started", "migrated", "read_committed", "write_committed", "cleaned"}

func stageIndex(s string) int {
	for i, x := range reshardStages {
		if x == s {
			return i
		}
	}
	return 0
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// errForeignResharding is a resharding this rebalance did not start.
var errForeignResharding = errors.New("a resharding this rebalance did not start is in progress")
