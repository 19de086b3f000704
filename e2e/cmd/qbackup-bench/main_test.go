package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the harness binary when the
// harness re-executes itself to run a baseline.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == baselineCommand {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestParseFlagsRefusesBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--sizes", "big"}, "--sizes"},
		{[]string{"--peer-rates", "fast"}, "--peer-rates"},
		{[]string{"--reps", "0"}, "--reps"},
		{[]string{"--peers", "0"}, "--peers"},
		{[]string{"--shards", "0"}, "--shards"},
		{[]string{"--skew-shards", "-1"}, "--skew-shards"},
		{[]string{"--sizes", "4B"}, "cannot fill 12 shards"},
		{[]string{"--scaling-size", "huge"}, "--scaling-size"},
		{[]string{"--scaling-rate", "fast"}, "--scaling-rate"},
		{[]string{"--scaling-shards", "1,0"}, "--scaling-shards"},
		{[]string{"--scaling-peers", "x"}, "--scaling-peers"},
		{[]string{"--scaling-peer-shards", "0"}, "--scaling-peer-shards"},
		{[]string{"--scaling-size", "10B", "--scaling-shards", "48"}, "cannot fill 48 shards"},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error with %q", tt.args, err, tt.want)
		}
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	t.Setenv("QBACKUP_BENCH_SIZES", "")
	t.Setenv("QBACKUP_BENCH_PEER_RATES", "")
	t.Setenv("QBACKUP_BENCH_REPS", "")
	t.Setenv("QBACKUP_BENCH_SCALING_SIZE", "")
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.sizes, []int64{256 << 20, 1 << 30}) || !slices.Equal(c.rates, []int64{60 << 20, 0}) ||
		c.peers != 3 || c.shardsPerPeer != 4 || c.reps != 3 || c.skewShards != 24 ||
		c.scalingSize != 256<<20 || c.scalingRate != 60<<20 || !slices.Equal(c.scalingShards, []int{1, 4, 16, 48}) ||
		!slices.Equal(c.scalingPeers, []int{1, 3, 6}) || c.scalingPeerShards != 12 {
		t.Errorf("defaults = %+v", c)
	}
}

func TestRotateStartsEachVariantInTurn(t *testing.T) {
	vs := []string{"a", "b", "c"}
	want := [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}}
	for rep, w := range want {
		if got := rotate(vs, rep); !slices.Equal(got, w) {
			t.Errorf("rotate(rep %d) = %v, want %v", rep, got, w)
		}
	}
	if !slices.Equal(vs, []string{"a", "b", "c"}) {
		t.Errorf("rotate changed its input: %v", vs)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func fig(caseName, variant string, size int64, walls ...float64) *figure {
	f := &figure{Case: caseName, Variant: variant, SizeBytes: size, Peers: 3, Shards: 12, DataBytes: size}
	for _, w := range walls {
		f.Runs = append(f.Runs, sample{WallS: w, MaxRSSMiB: 100})
	}
	return f
}

func TestEvaluateComparesMediansWithTheGoals(t *testing.T) {
	r := &results{Config: resultConfig{Sizes: []int64{1 << 30}, PeerRates: []int64{0}}}
	r.add(fig("backup", varBackup, 1<<30, 10, 10.5, 30)) // median 10.5: an outlier does not count
	r.add(fig("backup", varRawBackup, 1<<30, 10, 10, 10))
	r.add(fig("backup", varNaive, 1<<30, 20, 21, 22))
	r.add(fig("restore", varRestore, 1<<30, 10, 10, 10))
	r.add(fig("restore", varRawRestore, 1<<30, 9, 9, 9))
	got := map[string]bool{}
	for _, g := range evaluate(r) {
		got[strings.SplitN(g.Goal, ",", 2)[0]] = g.Met
	}
	want := map[string]bool{
		"backup / raw GET→S3":         true,  // 10/10.5 = 0.95
		"backup / naive sequential":   false, // 21/10.5 = 2
		"restore / raw S3 GET→upload": true,  // 9/10 = 0.9
		"backup peak RSS over sizes":  true,
		"backup local disk writes":    true,
	}
	for k, w := range want {
		if m, ok := got[k]; !ok || m != w {
			t.Errorf("goal %q: met=%v (present %v), want %v", k, m, ok, w)
		}
	}
}

func TestRenderMarkdownSaysWhenTheMachineWasLoaded(t *testing.T) {
	r := &results{Machine: machine{Cores: 2, LoadStart: "5.0 4.0 3.0", LoadEnd: "0.1 0.1 0.1"}, Config: resultConfig{Reps: 1}}
	var sb strings.Builder
	renderMarkdown(&sb, r)
	for _, want := range []string{"loaded machine", "Fewer than 3 runs", "## Goals", "## Reproduce"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The load at the end is the benchmark's own: an idle start is idle.
	r.Machine.LoadStart, r.Machine.LoadEnd, r.Config.Reps = "0.5 0.5 0.5", "6.4 3.3 3.2", 3
	sb.Reset()
	renderMarkdown(&sb, r)
	if strings.Contains(sb.String(), "loaded machine") || strings.Contains(sb.String(), "Fewer than") {
		t.Errorf("report of an idle run with 3 reps warns anyway")
	}
}

func TestRenderFileRendersAResultsFile(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "results.json"), filepath.Join(dir, "BENCHMARKS.md")
	b, err := json.Marshal(&results{Machine: machine{Cores: 2, LoadStart: "0.1 0.1 0.1"}, Config: resultConfig{Reps: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := renderFile(in, out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(md), "## Goals") || strings.Contains(string(md), "loaded machine") {
		t.Fatalf("rendered %q (err %v)", md, err)
	}
	if err := renderFile(filepath.Join(dir, "missing.json"), out); err == nil {
		t.Fatal("rendered a results file that does not exist")
	}
}

func TestScalingShapesListEachClusterOnce(t *testing.T) {
	c := benchConfig{peers: 3, scalingShards: []int{1, 12, 48}, scalingPeers: []int{1, 3, 6}, scalingPeerShards: 12}
	var got []string
	for _, s := range c.scalingShapes() {
		got = append(got, s.describe())
	}
	want := []string{"3 peers, 1 shards", "3 peers, 12 shards", "3 peers, 48 shards", "1 peers, 12 shards", "6 peers, 12 shards"}
	if !slices.Equal(got, want) {
		t.Errorf("shapes %q, want %q", got, want)
	}
}

func TestParseFlagsWorkerScaling(t *testing.T) {
	t.Setenv("QBACKUP_BENCH_WORKER_SCALING", "")
	t.Setenv("QBACKUP_BENCH_WORKERS_SIZE", "")
	tests := []struct {
		args []string
		want []int
	}{
		{nil, []int{1, 2, 4}},
		{[]string{"--worker-scaling", "0"}, nil},
		{[]string{"--worker-scaling", ""}, nil},
		{[]string{"--worker-scaling", " 1, 3 "}, []int{1, 3}},
		{[]string{"--worker-scaling", "256"}, []int{256}},
	}
	for _, tt := range tests {
		c, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Errorf("parseFlags(%q): %v", tt.args, err)
			continue
		}
		if !slices.Equal(c.workerCounts, tt.want) {
			t.Errorf("parseFlags(%q): worker counts %v, want %v", tt.args, c.workerCounts, tt.want)
		}
	}
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.workersSize != 1<<30 || c.workersPeers != 6 || c.workersShards != 24 || c.workersPeerRate != 60<<20 || c.workerRate != 40<<20 {
		t.Errorf("worker-scaling defaults = %+v", c)
	}
}

func TestParseFlagsRefusesBadWorkerScaling(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--worker-scaling", "1,x"}, `--worker-scaling "1,x": "x" is not a worker count`},
		{[]string{"--worker-scaling", "1,0"}, "is not a worker count of 1 to 256"},
		{[]string{"--worker-scaling", "257"}, "is not a worker count of 1 to 256"},
		{[]string{"--worker-scaling", "-1"}, "is not a worker count"},
		{[]string{"--worker-scaling", "1,2,2"}, "worker count 2 is listed twice"},
		{[]string{"--worker-scaling", "1,,2"}, `"" is not a worker count`},
		{[]string{"--workers-size", "lots"}, "--workers-size"},
		{[]string{"--workers-peer-rate", "fast"}, "--workers-peer-rate"},
		{[]string{"--worker-rate", "-5MiB"}, "--worker-rate"},
		{[]string{"--workers-peers", "0"}, "--workers-peers 0"},
		{[]string{"--workers-shards", "0"}, "--workers-shards 0"},
		{[]string{"--workers-size", "10B", "--workers-shards", "24"}, "cannot fill 24 shards"},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error with %q", tt.args, err, tt.want)
		}
	}
	// Skipped, the case's other settings are not its concern.
	if _, err := parseFlags([]string{"--worker-scaling", "0", "--workers-peers", "0"}, io.Discard); err != nil {
		t.Errorf("a skipped worker-scaling case refused its settings: %v", err)
	}
}

func workersFig(n int, walls ...float64) *figure {
	f := &figure{Case: caseWorkers, Variant: varBackup, SizeBytes: 1 << 30, Peers: 6, Shards: 24, PeerRate: 60 << 20, Workers: n, WorkerRate: 40 << 20, DataBytes: 1 << 30}
	for _, w := range walls {
		share := int64(1<<30) / int64(n)
		var shares []int64
		for range n {
			shares = append(shares, share)
		}
		shares[0] += 1 << 20 // worker 0 a little heavier
		f.Runs = append(f.Runs, sample{WallS: w, MaxRSSMiB: 150, WorkerBytes: shares})
	}
	return f
}

func TestWorkersGoalComparesFourWorkersWithOne(t *testing.T) {
	tests := []struct {
		name    string
		figs    []*figure
		present bool
		met     bool
	}{
		{"three times as fast", []*figure{workersFig(1, 30, 31, 29), workersFig(4, 10, 10, 50)}, true, true},
		{"short of three", []*figure{workersFig(4, 11, 11, 11), workersFig(1, 30, 30, 30)}, true, false},
		{"no four", []*figure{workersFig(1, 30), workersFig(2, 15)}, false, false},
		{"no one", []*figure{workersFig(2, 15), workersFig(4, 8)}, false, false},
	}
	for _, tt := range tests {
		r := &results{}
		for _, f := range tt.figs {
			r.add(f)
		}
		g, ok := workersGoal(r)
		if ok != tt.present || g.Met != tt.met {
			t.Errorf("%s: goal %+v present %v, want present %v met %v", tt.name, g, ok, tt.present, tt.met)
		}
		var found bool
		for _, eg := range evaluate(r) {
			found = found || strings.HasPrefix(eg.Goal, "backup throughput, 4 workers over 1")
		}
		if found != tt.present {
			t.Errorf("%s: evaluate lists the goal: %v, want %v", tt.name, found, tt.present)
		}
	}
}

func TestRenderWorkersTable(t *testing.T) {
	r := &results{Machine: machine{Cores: 2, LoadStart: "0.1 0.1 0.1"}, Config: resultConfig{Reps: 1}}
	r.add(workersFig(4, 10))
	r.add(workersFig(1, 30))
	r.add(workersFig(2, 16))
	for n, wall := range map[int]float64{1: 40, 4: 20} {
		f := workersFig(n, wall)
		f.Case, f.Variant = caseWorkersRestore, varRestore
		r.add(f)
	}
	var sb strings.Builder
	renderMarkdown(&sb, r)
	md := sb.String()
	for _, want := range []string{"## Workers", "a pod's network interface", "40 MiB/s each way",
		"| 1 | 30.00 s (30.00–30.00) | 34.1 | 1.00× | 150 MiB | 1.00 | 40.00 s (40.00–40.00) | 25.6 | 1.00× | 150 MiB |",
		"| 2 | 16.00 s (16.00–16.00) | 64.0 | 1.88× | 150 MiB | 1.00 | – | – | – | – |",
		"| 4 | 10.00 s (10.00–10.00) | 102.4 | 3.00× | 150 MiB | 1.00 | 20.00 s (20.00–20.00) | 51.2 | 2.00× | 150 MiB |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if i, j := strings.Index(md, "| 1 | 30"), strings.Index(md, "| 4 | 10"); i > j {
		t.Errorf("rows not by worker count:\n%s", md)
	}
}

func TestShareSkew(t *testing.T) {
	tests := []struct {
		in   []int64
		want float64
	}{{nil, 0}, {[]int64{0, 0}, 0}, {[]int64{5}, 1}, {[]int64{10, 10}, 1}, {[]int64{30, 10}, 1.5}}
	for _, tt := range tests {
		if got := shareSkew(tt.in); got != tt.want {
			t.Errorf("shareSkew(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
