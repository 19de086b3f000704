package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// The control-plane goals are Go benchmarks (planning, the catalog's
// list and record), run by `make bench` before the harness; each reports
// goal-share, its time per operation over its goal. The harness reads
// their output (--go-bench) so that BENCHMARKS.md shows them beside the
// data-path goals.

// controlFigure is one control-plane benchmark's result.
type controlFigure struct {
	Benchmark string  `json:"benchmark"`
	NsPerOp   float64 `json:"ns_per_op"`
	GoalShare float64 `json:"goal_share"`
}

// controlGoals names what each benchmark measures and its target.
var controlGoals = []struct{ prefix, goal, target string }{
	{"BenchmarkPlan/", "plan a restore of 1,000 collections × 12 shards", "≤ 1 s"},
	{"BenchmarkChooseReplicas", "choose the replica to back up of each of 12,000 shards", "≤ 1 s"},
	{"BenchmarkListBackups", "list 10,000 catalog rows (MariaDB)", "≤ 200 ms"},
	{"BenchmarkRecordLargeSet", "record a 10,000-shard set in the catalog (MariaDB)", "≤ 5 s"},
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([0-9.e+]+) ns/op\b(.*)$`)
var goalShare = regexp.MustCompile(`([0-9.e+]+) goal-share\b`)

// parseGoBench reads `go test -bench` output and returns the benchmarks
// that report a goal-share.
func parseGoBench(r io.Reader) ([]controlFigure, error) {
	var out []controlFigure
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		g := goalShare.FindStringSubmatch(m[3])
		if g == nil {
			continue
		}
		ns, err1 := strconv.ParseFloat(m[2], 64)
		share, err2 := strconv.ParseFloat(g[1], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("benchmark line %q: cannot read its figures", sc.Text())
		}
		out = append(out, controlFigure{Benchmark: m[1], NsPerOp: ns, GoalShare: share})
	}
	return out, sc.Err()
}

// readGoBench reads the control-plane figures from path; none without a
// path. A file without any is an error: the benchmarks did not run.
func readGoBench(path string) ([]controlFigure, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--go-bench: %w", err)
	}
	defer f.Close()
	figs, err := parseGoBench(f)
	if err != nil {
		return nil, fmt.Errorf("--go-bench %s: %w", path, err)
	}
	if len(figs) == 0 {
		return nil, fmt.Errorf("--go-bench %s: no benchmark reports a goal-share: run go test -bench first", path)
	}
	return figs, nil
}

// controlPlaneGoals turns the control-plane figures into goals.
func controlPlaneGoals(figs []controlFigure) []goal {
	var out []goal
	for _, f := range figs {
		what, target := f.Benchmark, "goal-share ≤ 1"
		for _, g := range controlGoals {
			if sub, ok := strings.CutPrefix(f.Benchmark, g.prefix); ok {
				what, target = g.goal, g.target
				if sub != "" {
					what += " (" + sub + ")"
				}
				break
			}
		}
		out = append(out, goal{Goal: "control plane: " + what, Target: target,
			Measured: fmt.Sprintf("%s (%.2f of the goal)", opTime(f.NsPerOp), f.GoalShare), Met: f.GoalShare <= 1})
	}
	return out
}

// opTime is a benchmark's time per operation, in seconds from 1 s up and
// in milliseconds below.
func opTime(ns float64) string {
	if ns >= 1e9 {
		return fmt.Sprintf("%.2f s", ns/1e9)
	}
	return fmt.Sprintf("%.1f ms", ns/1e6)
}
