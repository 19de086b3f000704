package rebalance

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/qbackup/qbackup/internal/placement"
)

// WriteText prints the plan for a terminal or a Job's log: the shards
// now and after, then the operations in the order they are started.
func (p *Plan) WriteText(w io.Writer) error {
	var peers []string
	for _, peer := range p.Peers {
		peers = append(peers, p.name(peer.ID))
	}
	fmt.Fprintf(w, "Rebalance plan for cluster %q over %d Ready peers: %s\n", p.Cluster, len(p.Peers), strings.Join(peers, ", "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COLLECTION\tSHARD\tKEY\tNOW\tFINAL")
	for _, c := range p.Collections {
		for _, s := range c.Shards {
			key := s.Key
			if key == "" {
				key = "-"
			}
			var now, fin []string
			for _, r := range s.Current {
				now = append(now, fmt.Sprintf("%s(%s)", p.name(r.Peer), r.State))
			}
			for _, id := range s.Final {
				fin = append(fin, p.name(id))
			}
			final := dash(strings.Join(fin, ","))
			if c.Reshard != nil {
				final = "(after resharding)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", c.Name, s.ID, key, dash(strings.Join(now, ",")), final)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range p.Collections {
		fmt.Fprintf(w, "%s: %s\n", c.Name, c.Reason)
		if c.SetReplicationFactor > 0 {
			fmt.Fprintf(w, "  set replication_factor to %d first\n", c.SetReplicationFactor)
		}
		if r := c.Reshard; r != nil {
			fmt.Fprintf(w, "  %s\n", r.describe())
		}
		for _, op := range c.Ops {
			fmt.Fprintf(w, "  %s\n", p.describeOp(op))
		}
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if p.Empty() {
		fmt.Fprintln(w, "Nothing to do: every collection is balanced and has its replication factor.")
	}
	return nil
}

func (p *Plan) describeOp(op placement.Op) string {
	switch op.Kind {
	case placement.Drop:
		return fmt.Sprintf("drop_replica     shard %d on %s", op.ShardID, p.name(op.From))
	default:
		return fmt.Sprintf("%-16s shard %d from %s to %s", op.Kind, op.ShardID, p.name(op.From), p.name(op.To))
	}
}

// name is a peer's pod name with its id, or its id alone.
func (p *Plan) name(id uint64) string {
	for _, peer := range p.Peers {
		if peer.ID == id && peer.Pod != "" {
			return peer.Pod + "/" + strconv.FormatUint(id, 10)
		}
	}
	return strconv.FormatUint(id, 10)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describe is the plan line of a shard count change.
func (r *ReshardPlan) describe() string {
	if r.Method == ReshardCopy {
		return fmt.Sprintf("reshard %d → %d shards by point copy: copy every point into %d-shard staging collection, recreate the collection with %d shards, copy back (writes paused)", r.From, r.To, r.To, r.To)
	}
	steps := int(r.To) - int(r.From)
	dir := "up"
	if steps < 0 {
		steps, dir = -steps, "down"
	}
	return fmt.Sprintf("reshard %d → %d shards with Qdrant's resharding: %d steps %s, one shard each (start, migrate points, activate, commit read and write hash rings, clean up, finish)", r.From, r.To, steps, dir)
}
