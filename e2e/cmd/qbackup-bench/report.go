package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// results is bench/results.json.
type results struct {
	Machine   machine      `json:"machine"`
	Config    resultConfig `json:"config"`
	DurationS float64      `json:"duration_s"`
	Note      string       `json:"note,omitempty"`
	Figures   []*figure    `json:"figures"`
	Goals     []goal       `json:"goals"`
	// ControlPlane are the Go benchmarks of the control-plane goals
	// (--go-bench).
	ControlPlane []controlFigure `json:"control_plane,omitempty"`
}

type machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Date      string `json:"date"`
	LoadStart string `json:"load_avg_start"`
	LoadEnd   string `json:"load_avg_end"`
}

type resultConfig struct {
	Peers             int     `json:"peers"`
	ShardsPerPeer     int     `json:"shards_per_peer"`
	Reps              int     `json:"reps"`
	Sizes             []int64 `json:"sizes"`
	PeerRates         []int64 `json:"peer_rates"`
	SkewShardsPerPeer int     `json:"skew_shards_per_peer"`
	SkewSize          int64   `json:"skew_size"`
	ScalingSize       int64   `json:"scaling_size,omitempty"`
	ScalingPeerRate   int64   `json:"scaling_peer_rate,omitempty"`
	ScalingShards     []int   `json:"scaling_shards,omitempty"`
	ScalingPeers      []int   `json:"scaling_peers,omitempty"`
	ScalingPeerShards int     `json:"scaling_peer_shards,omitempty"`
	WorkerCounts      []int   `json:"worker_counts,omitempty"`
	WorkersSize       int64   `json:"workers_size,omitempty"`
	WorkersPeers      int     `json:"workers_peers,omitempty"`
	WorkersShards     int     `json:"workers_shards,omitempty"`
	WorkersPeerRate   int64   `json:"workers_peer_rate,omitempty"`
	WorkerRate        int64   `json:"worker_rate,omitempty"`
}

// figure is one variant of one case at one size and peer rate.
type figure struct {
	Case      string `json:"case"`
	Variant   string `json:"variant"`
	SizeBytes int64  `json:"size_bytes"`
	Peers     int    `json:"peers"`
	Shards    int    `json:"shards"`
	PeerRate  int64  `json:"peer_rate"`
	DataBytes int64  `json:"data_bytes"`
	// Workers and WorkerRate: the worker-scaling case's worker count and
	// each worker's bandwidth cap to the store (0: uncapped).
	Workers    int      `json:"workers,omitempty"`
	WorkerRate int64    `json:"worker_rate,omitempty"`
	Runs       []sample `json:"runs"`
	Summary    summary  `json:"summary"`
}

// summary: medians over the runs, with the wall time's min and max; peak
// RSS and disk writes are the largest of any run.
type summary struct {
	WallMedianS    float64 `json:"wall_median_s"`
	WallMinS       float64 `json:"wall_min_s"`
	WallMaxS       float64 `json:"wall_max_s"`
	MiBps          float64 `json:"mib_per_s"`
	MaxRSSMiB      float64 `json:"max_rss_mib"`
	DiskWriteBytes int64   `json:"disk_write_bytes"`
	ToolCPUPerGiB  float64 `json:"tool_cpu_s_per_gib"`
	PeersCPUPerGiB float64 `json:"peers_cpu_s_per_gib"`
	MinIOCPUPerGiB float64 `json:"minio_cpu_s_per_gib,omitempty"`
	SkewMedianMS   *int64  `json:"skew_median_ms,omitempty"`
	SkewMaxMS      *int64  `json:"skew_max_ms,omitempty"`
}

// goal is one target of the issue and how this run did.
type goal struct {
	Goal     string `json:"goal"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r *results) add(f *figure) {
	var wall, tool, peers, minio, skew []float64
	gib := float64(f.DataBytes) / (1 << 30)
	for _, s := range f.Runs {
		wall = append(wall, s.WallS)
		if gib > 0 {
			tool, peers, minio = append(tool, s.ToolCPUS/gib), append(peers, s.PeersCPUS/gib), append(minio, s.MinIOCPUS/gib)
		}
		f.Summary.MaxRSSMiB = max(f.Summary.MaxRSSMiB, s.MaxRSSMiB)
		f.Summary.DiskWriteBytes = max(f.Summary.DiskWriteBytes, s.DiskWriteBytes)
		if s.SkewMS != nil {
			skew = append(skew, float64(*s.SkewMS))
		}
	}
	f.Summary.WallMedianS, f.Summary.WallMinS, f.Summary.WallMaxS = median(wall), slices.Min(wall), slices.Max(wall)
	f.Summary.MiBps = mibps(f.DataBytes, f.Summary.WallMedianS)
	f.Summary.ToolCPUPerGiB, f.Summary.PeersCPUPerGiB, f.Summary.MinIOCPUPerGiB = median(tool), median(peers), median(minio)
	if len(skew) > 0 {
		m, x := int64(median(skew)), int64(slices.Max(skew))
		f.Summary.SkewMedianMS, f.Summary.SkewMaxMS = &m, &x
	}
	r.Figures = append(r.Figures, f)
}

func (r *results) find(caseName, variant string, size, rate int64) *figure {
	for _, f := range r.Figures {
		if f.Case == caseName && f.Variant == variant && f.SizeBytes == size && f.PeerRate == rate {
			return f
		}
	}
	return nil
}

// evaluate checks every goal of the issue against the figures.
func evaluate(r *results) []goal {
	var out []goal
	ratio := func(name, target string, min float64, num, den *figure) {
		if num == nil || den == nil || num.Summary.WallMedianS == 0 {
			return
		}
		// Throughput ratio: the baseline's time over the product's.
		v := den.Summary.WallMedianS / num.Summary.WallMedianS
		out = append(out, goal{Goal: fmt.Sprintf("%s, %s, %s", name, human(num.SizeBytes), rateLabel(num.PeerRate)), Target: target,
			Measured: fmt.Sprintf("%.2f (%.2fs vs %.2fs)", v, num.Summary.WallMedianS, den.Summary.WallMedianS), Met: v >= min})
	}
	for _, rate := range r.Config.PeerRates {
		for _, size := range r.Config.Sizes {
			b := r.find("backup", varBackup, size, rate)
			ratio("backup / raw GET→S3", "≥ 0.95", 0.95, b, r.find("backup", varRawBackup, size, rate))
			ratio("backup / naive sequential", "≥ 3", 3, b, r.find("backup", varNaive, size, rate))
			ratio("restore / raw S3 GET→upload", "≥ 0.85", 0.85, r.find("restore", varRestore, size, rate), r.find("restore", varRawRestore, size, rate))
		}
		// Memory: at most 200 MiB at every size, and flat: the largest
		// size within 20 % of the smallest.
		var rss []float64
		var disk int64
		for _, size := range r.Config.Sizes {
			if b := r.find("backup", varBackup, size, rate); b != nil {
				rss = append(rss, b.Summary.MaxRSSMiB)
				disk = max(disk, b.Summary.DiskWriteBytes)
			}
		}
		if len(rss) > 0 {
			var parts []string
			for _, x := range rss {
				parts = append(parts, fmt.Sprintf("%.0f", x))
			}
			flat := rss[len(rss)-1] <= 1.2*rss[0]
			measured := strings.Join(parts, " → ") + " MiB"
			if len(rss) == 1 {
				measured += " (one size: flatness not shown)"
			}
			out = append(out, goal{Goal: "backup peak RSS over sizes, " + rateLabel(rate), Target: "≤ 200 MiB, flat (largest ≤ 1.2 × smallest)",
				Measured: measured, Met: slices.Max(rss) <= 200 && flat})
			out = append(out, goal{Goal: "backup local disk writes, " + rateLabel(rate), Target: "0", Measured: human(disk), Met: disk == 0})
		}
		if f := r.find("skew", varBackup, r.Config.SkewSize, rate); f == nil {
			for _, g := range r.Figures {
				if g.Case == "skew" && g.PeerRate == rate {
					f = g
				}
			}
			if f != nil && f.Summary.SkewMedianMS != nil {
				out = append(out, skewGoal(f))
			}
		} else if f.Summary.SkewMedianMS != nil {
			out = append(out, skewGoal(f))
		}
	}
	if g, ok := workersGoal(r); ok {
		out = append(out, g)
	}
	return append(out, controlPlaneGoals(r.ControlPlane)...)
}

func skewGoal(f *figure) goal {
	return goal{Goal: fmt.Sprintf("shard-start skew, %d peers × %d shards, %s", f.Peers, f.Shards/max(f.Peers, 1), rateLabel(f.PeerRate)),
		Target: "≤ 100 ms", Measured: fmt.Sprintf("%d ms median, %d ms max", *f.Summary.SkewMedianMS, *f.Summary.SkewMaxMS),
		Met: *f.Summary.SkewMedianMS <= 100}
}

func printGoals(w io.Writer, goals []goal) {
	for _, g := range goals {
		mark := "MISSED"
		if g.Met {
			mark = "met"
		}
		fmt.Fprintf(w, "%-6s %s: %s (goal %s)\n", mark, g.Goal, g.Measured, g.Target)
	}
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Date: time.Now().UTC().Format(time.RFC3339), LoadStart: loadAvg()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if m.CPU == "" {
		m.CPU = "unknown"
	}
	return m
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// write saves results.json and renders the markdown report.
func (h *harness) write() error {
	if h.cfg.results != "" {
		if err := os.MkdirAll(filepath.Dir(h.cfg.results), 0o755); err != nil {
			return err
		}
		b, err := json.MarshalIndent(h.res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(h.cfg.results, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", h.cfg.results, err)
		}
	}
	if h.cfg.markdown != "" {
		var sb strings.Builder
		renderMarkdown(&sb, &h.res)
		if err := os.WriteFile(h.cfg.markdown, []byte(sb.String()), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", h.cfg.markdown, err)
		}
	}
	return nil
}

// loaded reports whether the machine was busy with other work: a load
// average above half its cores at the start. The load at the end is the
// benchmark's own (the tool, the simulator and MinIO), so it says nothing
// of other work.
func loaded(m machine) bool {
	var one float64
	_, err := fmt.Sscanf(m.LoadStart, "%f", &one)
	return err == nil && one > float64(m.Cores)/2
}

func renderMarkdown(w io.Writer, r *results) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# Benchmarks\n\n")
	p("What qbackup achieves against its performance goals, measured with the real `bin/qbackup` as a separate process ")
	p("against the test stack's MinIO and a simulated cluster (`qdrant-sim`, its own process), side by side with baselines ")
	p("that use the same S3 SDK configuration, part size (16 MiB), parts in flight and shard parallelism. ")
	p("Rendered by `e2e/cmd/qbackup-bench` from `bench/results.json`; do not edit by hand.\n\n")
	p("## Machine and run\n\n")
	p("| | |\n|---|---|\n")
	p("| CPU | %s, %d cores |\n| Go | %s (%s) |\n| date | %s |\n", r.Machine.CPU, r.Machine.Cores, r.Machine.GoVersion, r.Machine.OS, r.Machine.Date)
	p("| load average (1, 5, 15 min) | %s at start, %s at end |\n", r.Machine.LoadStart, r.Machine.LoadEnd)
	p("| cluster | %d peers × %d shards, one replica each |\n", r.Config.Peers, r.Config.ShardsPerPeer)
	var sizes, rates []string
	for _, s := range r.Config.Sizes {
		sizes = append(sizes, human(s))
	}
	for _, x := range r.Config.PeerRates {
		rates = append(rates, rateLabel(x))
	}
	p("| sizes | %s |\n| peer rate caps | %s |\n| runs per figure | %d (median, min–max; order rotated) |\n| duration | %.0f s |\n\n",
		strings.Join(sizes, ", "), strings.Join(rates, ", "), r.Config.Reps, r.DurationS)
	if r.Note != "" {
		p("**Note:** %s\n\n", r.Note)
	}
	if loaded(r.Machine) {
		p("**This run was on a loaded machine** (load average above half the cores): other work competed for the CPU, ")
		p("so times and ratios are indicative only; rerun `make bench` on an idle machine for figures to rely on.\n\n")
	}
	if r.Config.Reps < 3 {
		p("**Fewer than 3 runs per figure**: the medians are single measurements.\n\n")
	}
	p("## Goals\n\n| goal | target | measured | met |\n|---|---|---|---|\n")
	for _, g := range r.Goals {
		met := "no"
		if g.Met {
			met = "yes"
		}
		p("| %s | %s | %s | %s |\n", g.Goal, g.Target, g.Measured, met)
	}
	p("\nRatios are throughput ratios: the baseline's median wall time over qbackup's (above 1: qbackup is faster).\n\n")
	renderScaling(w, r)
	renderWorkers(w, r)
	p("## Figures\n\n")
	p("| case | variant | size | peer rate | wall median (min–max) | MiB/s | peak RSS | disk written | CPU s/GiB tool · peers · MinIO | skew |\n")
	p("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range r.Figures {
		skew := ""
		if f.Summary.SkewMedianMS != nil {
			skew = fmt.Sprintf("%d ms (max %d)", *f.Summary.SkewMedianMS, *f.Summary.SkewMaxMS)
		}
		minio := "–"
		if f.Summary.MinIOCPUPerGiB > 0 {
			minio = fmt.Sprintf("%.2f", f.Summary.MinIOCPUPerGiB)
		}
		p("| %s | %s | %s, %d peers, %d shards | %s | %.2f s (%.2f–%.2f) | %.1f | %.0f MiB | %s | %.2f · %.2f · %s | %s |\n",
			f.Case, f.Variant, human(f.SizeBytes), f.Peers, f.Shards, rateLabel(f.PeerRate), f.Summary.WallMedianS, f.Summary.WallMinS, f.Summary.WallMaxS,
			f.Summary.MiBps, f.Summary.MaxRSSMiB, human(f.Summary.DiskWriteBytes), f.Summary.ToolCPUPerGiB, f.Summary.PeersCPUPerGiB, minio, skew)
	}
	p("\n")
	p(`Variants: **backup** is ` + "`qbackup backup`" + ` into MinIO; **raw-backup** GETs each peer's streamed shard snapshot into an S3 multipart upload; **naive-backup** does, shard after shard, create a stored snapshot → download it to a local file → upload it → delete it; **restore** is ` + "`qbackup restore`" + ` onto a fresh simulated cluster (plan, preflight, recovery, settle and verification, as a user runs it); **raw-restore** creates the collection and streams each object from S3 into the peer's snapshot upload endpoint. The baselines run as child processes of the harness and are measured the same way. Peak RSS is the child's ` + "`ru_maxrss`" + `; disk written is the larger of its ` + "`ru_oublock`" + ` × 512 and ` + "`/proc/<pid>/io` write_bytes" + `; CPU is user + system time per GiB moved, of the child, of the simulator process and of MinIO. The peer rate cap (` + "`qdrant-sim --peer-rate`" + `) limits each simulated peer's snapshot traffic so that the peers, which share this machine's cores, behave like separate machines.

## Reproduce

` + "```" + `
make bench                      # stack up, Go benchmarks, then this harness at 256 MiB and 1 GiB
# or the harness alone, with the stack up:
make build
source "$(e2e/stack/stack.sh env-file)"
go run ./e2e/cmd/qbackup-bench --sizes=256MiB,1GiB,4GiB --peer-rates=60MiB,0 --reps=3
` + "```" + `

The scaling table runs at ` + "`--scaling-size`" + ` (default 256 MiB, 0 skips it) and ` + "`--scaling-rate`" + ` over ` + "`--scaling-shards`" + ` (total shards at ` + "`--peers`" + ` peers, default 1,4,16,48) and ` + "`--scaling-peers`" + ` (default 1,3,6, at ` + "`--scaling-peer-shards`" + ` shards, default 12). Sizes are opt-in beyond the defaults (` + "`--sizes=4GiB,10GiB`" + ` or ` + "`QBACKUP_BENCH_SIZES`" + `); ` + "`--peers`" + ` and ` + "`--shards`" + ` (per peer) change the cluster; ` + "`--skew-shards`" + ` the skew case (default 3 × 24 shards). The workers table runs ` + "`--worker-scaling`" + ` (worker counts, default 1,2,4; 0 or empty skips it) at ` + "`--workers-size`" + ` on ` + "`--workers-peers`" + ` peers × ` + "`--workers-shards`" + ` shards in all, peers capped at ` + "`--workers-peer-rate`" + ` and each worker's link to MinIO at ` + "`--worker-rate`" + `. The work directory (simulator state, the naive baseline's files) is under /dev/shm when present.
`)
}

// renderCommand is `qbackup-bench render [--results F] [--markdown F]`:
// BENCHMARKS.md again from a results.json, without measuring (after a
// change to the report's wording or its rules).
func renderCommand(args []string) error {
	fs := flag.NewFlagSet("qbackup-bench render", flag.ContinueOnError)
	in := fs.String("results", "bench/results.json", "the figures to render (JSON)")
	out := fs.String("markdown", "BENCHMARKS.md", "where the report goes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return renderFile(*in, *out)
}

func renderFile(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var r results
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("read %s: %w", in, err)
	}
	var sb strings.Builder
	renderMarkdown(&sb, &r)
	if err := os.WriteFile(out, []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
