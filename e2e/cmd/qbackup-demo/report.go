package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qbackup/qbackup/internal/printer"
)

func describeCollection(c *collection) string {
	var parts []string
	if n, ok := c.Create["shard_number"].(int); ok {
		if len(c.ShardKeys) > 0 {
			parts = append(parts, fmt.Sprintf("custom sharding, keys %s, %d shards each", strings.Join(c.ShardKeys, " and "), n))
		} else {
			parts = append(parts, fmt.Sprintf("%d shards", n))
		}
	}
	if rf, ok := c.Create["replication_factor"].(int); ok {
		parts = append(parts, fmt.Sprintf("replication factor %d", rf))
	}
	if v, ok := c.Create["vectors"].(map[string]any); ok {
		if _, single := v["size"]; single {
			parts = append(parts, fmt.Sprintf("one %v-d vector", v["size"]))
		} else {
			parts = append(parts, fmt.Sprintf("%d named vectors", len(v)))
		}
	}
	for _, idx := range c.Indexes {
		parts = append(parts, fmt.Sprintf("payload index on %v", idx["field_name"]))
	}
	for _, a := range c.Aliases {
		parts = append(parts, fmt.Sprintf("alias %q", a))
	}
	return strings.Join(parts, ", ")
}

// printPlacement shows, per collection, the shard ids each pod holds.
func printPlacement(w io.Writer, l *placement, cols []*collection) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintf(tw, "  COLLECTION\t%s\n", strings.Join(l.Pods, "\t"))
	for _, c := range cols {
		cells := []string{c.Name}
		for _, pod := range l.Pods {
			cells = append(cells, shardList(l.shards(pod, c.Name)))
		}
		fmt.Fprintf(tw, "  %s\n", strings.Join(cells, "\t"))
	}
	totals := []string{"replicas"}
	for _, pod := range l.Pods {
		totals = append(totals, strconv.Itoa(len(l.Replicas[pod])))
	}
	fmt.Fprintf(tw, "  %s\n", strings.Join(totals, "\t"))
	return tw.Flush()
}

func shardList(ids []uint32) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(s, ",")
}

// report prints the summary: steps and their times, what was checked,
// replicas per pod through the demo, and the backup size.
func (d *demo) report(total time.Duration) error {
	w := d.out
	fmt.Fprintf(w, "\n== Report\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, s := range d.steps {
		fmt.Fprintf(tw, "  %2d. %s\t%8s\n", i+1, s.Name, s.Took.Round(time.Millisecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n  Backup: %s in %d files; %d collections, %d points.\n",
		printer.Bytes(d.backupBytes), d.backupObjects, len(d.data), totalPoints(d.data))
	fmt.Fprintf(w, "  Points checked after the restores: %d (every point, twice), none different.\n", d.checked)

	fmt.Fprintf(w, "\n  Replicas per pod (all collections):\n")
	pods := map[string]bool{}
	var order []string
	for _, l := range d.placements {
		for _, p := range l.Pods {
			if !pods[p] {
				pods[p] = true
				order = append(order, p)
			}
		}
	}
	tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	head := []string{"  POD"}
	for _, l := range d.placements {
		head = append(head, strings.ToUpper(l.Title))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, p := range order {
		row := []string{"  " + p}
		for _, l := range d.placements {
			if slices.Contains(l.Pods, p) {
				row = append(row, strconv.Itoa(len(l.Replicas[p])))
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "within"
	if total > d.opts.Budget {
		verdict = "OVER"
	}
	fmt.Fprintf(w, "\n  Total wall time: %s (%s the %s budget).\n", total.Round(time.Millisecond), verdict, d.opts.Budget)
	return nil
}
