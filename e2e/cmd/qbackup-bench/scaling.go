package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// The scaling cases: backup and restore with their raw baselines at one
// size and peer rate, over shard counts (at --peers peers) and over peer
// counts (at a fixed total of shards). They show how throughput follows
// the shards and peers a cluster has: with the per-peer cap, each peer
// stands for a machine of its own, so more peers should mean more
// throughput, and one shard on three peers only one peer's.
const (
	caseScaling        = "scaling"
	caseScalingRestore = "scaling-restore"
)

// describe names the cluster of a case.
func (s clusterShape) describe() string {
	return fmt.Sprintf("%d peers, %d shards", s.peers, s.shards)
}

// scalingShapes lists the clusters of the scaling cases, each once.
func (c benchConfig) scalingShapes() []clusterShape {
	var out []clusterShape
	add := func(peers, shards int) {
		s := clusterShape{name: caseScaling, restoreName: caseScalingRestore, peers: peers, shards: shards}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, n := range c.scalingShards {
		add(c.peers, n)
	}
	for _, p := range c.scalingPeers {
		add(p, c.scalingPeerShards)
	}
	return out
}

func (h *harness) scalingCases(ctx context.Context) error {
	if h.cfg.scalingSize == 0 {
		return nil
	}
	for _, shape := range h.cfg.scalingShapes() {
		if err := h.backupAndRestore(ctx, shape, h.cfg.scalingSize, h.cfg.scalingRate); err != nil {
			return fmt.Errorf("scaling: %w", err)
		}
	}
	return nil
}

// parseCounts reads a comma-separated list of positive integers.
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a count of 1 or more", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// renderScaling writes the scaling table: one row per cluster, with each
// variant's throughput and qbackup's ratio to its baseline.
func renderScaling(w io.Writer, r *results) {
	type row struct{ peers, shards int }
	var rows []row
	var size, rate int64
	get := map[string]*figure{}
	for _, f := range r.Figures {
		if f.Case != caseScaling && f.Case != caseScalingRestore {
			continue
		}
		k := row{f.Peers, f.Shards}
		if !slices.Contains(rows, k) {
			rows = append(rows, k)
		}
		size, rate = f.SizeBytes, f.PeerRate
		get[fmt.Sprintf("%s/%s/%d/%d", f.Case, f.Variant, f.Peers, f.Shards)] = f
	}
	if len(rows) == 0 {
		return
	}
	mibs := func(f *figure) string {
		if f == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f", f.Summary.MiBps)
	}
	ratio := func(num, den *figure) string {
		if num == nil || den == nil || num.Summary.WallMedianS == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", den.Summary.WallMedianS/num.Summary.WallMedianS)
	}
	fmt.Fprintf(w, "## Scaling\n\n%s of data, %s, over shard counts and peer counts; MiB/s of the median run, ratios as above.\n\n", human(size), rateLabel(rate))
	fmt.Fprintf(w, "| peers | shards | backup MiB/s | raw-backup MiB/s | backup / raw | restore MiB/s | raw-restore MiB/s | restore / raw | backup peak RSS |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range rows {
		f := func(c, v string) *figure { return get[fmt.Sprintf("%s/%s/%d/%d", c, v, k.peers, k.shards)] }
		b, rb := f(caseScaling, varBackup), f(caseScaling, varRawBackup)
		rs, rr := f(caseScalingRestore, varRestore), f(caseScalingRestore, varRawRestore)
		rss := "–"
		if b != nil {
			rss = fmt.Sprintf("%.0f MiB", b.Summary.MaxRSSMiB)
		}
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %s | %s | %s |\n", k.peers, k.shards, mibs(b), mibs(rb), ratio(b, rb), mibs(rs), mibs(rr), ratio(rs, rr), rss)
	}
	fmt.Fprintln(w)
}
