// Command qbackup-bench measures the performance goals of qbackup with the
// real binary as a separate process, against the MinIO of the test stack
// and a simulated cluster run as its own process (qdrant-sim), side by side
// with baselines that use the same S3 SDK, part size and parallelism:
//
//   - backup: `qbackup backup` into S3;
//   - raw backup: GET each peer's streamed shard snapshot → S3 multipart;
//   - naive backup: per shard, one after the other, create a stored
//     snapshot → download it to a local file → upload it → delete it;
//   - restore: `qbackup restore` onto a fresh simulated cluster;
//   - raw restore: S3 GET → the peer's snapshot upload endpoint.
//
// Each figure is the median of --reps runs (with min and max), the order
// of the variants rotated between runs. Per run it records wall time, the
// child's peak RSS, bytes it wrote to disk and its CPU time, the peers' and
// MinIO's CPU time, and for backups the shard-start skew from the
// manifest. It writes bench/results.json and renders BENCHMARKS.md.
//
// Baselines run as child processes of this same binary (a hidden
// "baseline" subcommand), so they are measured exactly as qbackup is.
//
// S3 settings come from the test stack's environment
// (QBACKUP_TEST_S3_ENDPOINT, _REGION, _BUCKET, _ACCESS_KEY, _SECRET_KEY)
// and reach the children only through their environment.
//
//	source "$(e2e/stack/stack.sh env-file)"
//	go run ./e2e/cmd/qbackup-bench --qbackup=bin/qbackup --sizes=256MiB,1GiB
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == baselineCommand:
		err = runBaseline(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "render":
		err = renderCommand(os.Args[2:])
	default:
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "qbackup-bench:", err)
		os.Exit(1)
	}
}

// benchConfig is one run of the harness.
type benchConfig struct {
	qbackup       string
	goBench       string
	simBin        string
	sizes         []int64
	peers         int
	shardsPerPeer int
	reps          int
	rates         []int64
	skewShards    int
	skewSize      int64
	results       string
	markdown      string
	workDir       string
	naiveDir      string
	note          string
	noRestore     bool
	noNaive       bool
	stackStatus   string
	// profileDir, when set, gets a CPU profile of every qbackup run
	// (QBACKUP_CPU_PROFILE), named by command and run.
	profileDir string
	// The scaling cases (scaling.go); scalingSize 0 skips them.
	scalingSize       int64
	scalingRate       int64
	scalingShards     []int
	scalingPeers      []int
	scalingPeerShards int
	// The worker-scaling case (workers.go); no worker counts skip it.
	workerCounts    []int
	workersSize     int64
	workersPeers    int
	workersShards   int
	workersPeerRate int64
	workerRate      int64
}

func (c benchConfig) shards() int { return c.peers * c.shardsPerPeer }

func parseFlags(args []string, stderr io.Writer) (benchConfig, error) {
	fs := flag.NewFlagSet("qbackup-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c benchConfig
	sizes := fs.String("sizes", envOr("QBACKUP_BENCH_SIZES", "256MiB,1GiB"), "total data sizes, comma-separated (4GiB and 10GiB are the large opt-in ones) ($QBACKUP_BENCH_SIZES)")
	rates := fs.String("peer-rates", envOr("QBACKUP_BENCH_PEER_RATES", "60MiB,0"), "per-peer snapshot rate caps of the simulator to run with, comma-separated; 0 = uncapped ($QBACKUP_BENCH_PEER_RATES)")
	skewSize := fs.String("skew-size", "72MiB", "total size of the skew case (1 MiB shards at 3 × 24)")
	fs.StringVar(&c.qbackup, "qbackup", "bin/qbackup", "the qbackup binary to measure (make build)")
	fs.StringVar(&c.goBench, "go-bench", "", "output of `go test -bench` holding the control-plane benchmarks (goal-share), shown among the goals; make bench passes it; empty = none")
	fs.StringVar(&c.simBin, "sim", "", "a built qdrant-sim binary (default: built from ./e2e/cmd/qdrant-sim into the work directory)")
	fs.IntVar(&c.peers, "peers", 3, "simulated peers")
	fs.IntVar(&c.shardsPerPeer, "shards", 4, "shards per peer (one replica each)")
	fs.IntVar(&c.reps, "reps", envInt("QBACKUP_BENCH_REPS", 3), "runs per figure; the median is reported ($QBACKUP_BENCH_REPS)")
	fs.IntVar(&c.skewShards, "skew-shards", 24, "shards per peer of the skew case (0 = skip it)")
	fs.StringVar(&c.results, "results", "bench/results.json", "where the figures go (JSON)")
	fs.StringVar(&c.markdown, "markdown", "BENCHMARKS.md", "where the report goes (empty = none)")
	fs.StringVar(&c.workDir, "work-dir", "", "simulator state and the naive baseline's local files (default: a directory under /dev/shm if present, else the temp dir)")
	fs.StringVar(&c.naiveDir, "naive-dir", os.TempDir(), "where the naive baseline downloads its snapshot files: a disk, as a script would use")
	fs.StringVar(&c.note, "note", "", "a remark printed at the top of BENCHMARKS.md and stored in results.json (what else ran on the machine, why the run is partial)")
	fs.BoolVar(&c.noRestore, "no-restore", false, "skip the restore figures")
	fs.BoolVar(&c.noNaive, "no-naive", false, "skip the naive sequential baseline")
	scalingSize := fs.String("scaling-size", envOr("QBACKUP_BENCH_SCALING_SIZE", "256MiB"), "data size of the scaling cases; 0 = skip them ($QBACKUP_BENCH_SCALING_SIZE)")
	scalingRate := fs.String("scaling-rate", "60MiB", "per-peer rate cap of the scaling cases; 0 = uncapped")
	scalingShards := fs.String("scaling-shards", "1,4,16,48", "total shard counts of the scaling cases, at --peers peers")
	scalingPeers := fs.String("scaling-peers", "1,3,6", "peer counts of the scaling cases, at --scaling-peer-shards shards")
	fs.IntVar(&c.scalingPeerShards, "scaling-peer-shards", 12, "total shards of the peer-count scaling cases")
	workerCounts := fs.String("worker-scaling", envOr("QBACKUP_BENCH_WORKER_SCALING", "1,2,4"), "worker counts of the worker-scaling case (backup --workers N as N processes); 0 or empty = skip it ($QBACKUP_BENCH_WORKER_SCALING)")
	workersSize := fs.String("workers-size", envOr("QBACKUP_BENCH_WORKERS_SIZE", "1GiB"), "data size of the worker-scaling case: large enough that the workers' coordination (seconds) does not hide the scaling ($QBACKUP_BENCH_WORKERS_SIZE)")
	workersPeerRate := fs.String("workers-peer-rate", "60MiB", "per-peer rate cap of the worker-scaling case; 0 = uncapped")
	workerRate := fs.String("worker-rate", "40MiB", "each worker's bandwidth cap to the store in the worker-scaling case, each way (a pod's network interface); 0 = uncapped")
	fs.IntVar(&c.workersPeers, "workers-peers", 6, "simulated peers of the worker-scaling case")
	fs.IntVar(&c.workersShards, "workers-shards", 24, "total shards of the worker-scaling case")
	fs.StringVar(&c.profileDir, "cpu-profile-dir", "", "an existing directory that gets a CPU profile (pprof) of every qbackup backup and restore run, to see where the CPU goes; empty = none")
	fs.StringVar(&c.stackStatus, "stack", "e2e/stack/stack.sh", "the test stack script, asked for MinIO's pid (its CPU time is recorded); empty = skip")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.sizes, err = parseSizes(*sizes); err != nil || len(c.sizes) == 0 {
		return c, fmt.Errorf("--sizes %q: want sizes such as 256MiB,1GiB", *sizes)
	}
	if c.rates, err = parseSizes(*rates); err != nil || len(c.rates) == 0 {
		return c, fmt.Errorf("--peer-rates %q: want rates such as 60MiB,0 (bytes per second per peer, 0 = uncapped)", *rates)
	}
	if c.skewSize, err = parseSize(*skewSize); err != nil {
		return c, fmt.Errorf("--skew-size %q: %w", *skewSize, err)
	}
	if c.scalingSize, err = parseSize(*scalingSize); err != nil {
		return c, fmt.Errorf("--scaling-size %q: %w", *scalingSize, err)
	}
	if c.scalingRate, err = parseSize(*scalingRate); err != nil {
		return c, fmt.Errorf("--scaling-rate %q: %w", *scalingRate, err)
	}
	if c.scalingShards, err = parseCounts(*scalingShards); err != nil {
		return c, fmt.Errorf("--scaling-shards %q: %w", *scalingShards, err)
	}
	if c.scalingPeers, err = parseCounts(*scalingPeers); err != nil {
		return c, fmt.Errorf("--scaling-peers %q: %w", *scalingPeers, err)
	}
	if c.workerCounts, err = parseWorkerCounts(*workerCounts); err != nil {
		return c, fmt.Errorf("--worker-scaling %q: %w", *workerCounts, err)
	}
	if c.workersSize, err = parseSize(*workersSize); err != nil {
		return c, fmt.Errorf("--workers-size %q: %w", *workersSize, err)
	}
	if c.workersPeerRate, err = parseSize(*workersPeerRate); err != nil {
		return c, fmt.Errorf("--workers-peer-rate %q: %w (bytes per second per peer, 0 = uncapped)", *workersPeerRate, err)
	}
	if c.workerRate, err = parseSize(*workerRate); err != nil {
		return c, fmt.Errorf("--worker-rate %q: %w (bytes per second per worker, 0 = uncapped)", *workerRate, err)
	}
	if len(c.workerCounts) > 0 {
		switch {
		case c.workersPeers < 1:
			return c, fmt.Errorf("--workers-peers %d: want at least 1", c.workersPeers)
		case c.workersShards < 1:
			return c, fmt.Errorf("--workers-shards %d: want at least 1", c.workersShards)
		case c.workersSize < int64(c.workersShards):
			return c, fmt.Errorf("--workers-size: %d bytes cannot fill %d shards", c.workersSize, c.workersShards)
		}
	}
	switch {
	case c.peers < 1:
		return c, fmt.Errorf("--peers %d: want at least 1", c.peers)
	case c.shardsPerPeer < 1:
		return c, fmt.Errorf("--shards %d: want at least 1", c.shardsPerPeer)
	case c.reps < 1:
		return c, fmt.Errorf("--reps %d: want at least 1", c.reps)
	case c.skewShards < 0:
		return c, fmt.Errorf("--skew-shards %d: want 0 or more", c.skewShards)
	case c.scalingPeerShards < 1:
		return c, fmt.Errorf("--scaling-peer-shards %d: want at least 1", c.scalingPeerShards)
	}
	for _, sh := range c.scalingShapes() {
		if c.scalingSize > 0 && c.scalingSize < int64(sh.shards) {
			return c, fmt.Errorf("--scaling-size: %d bytes cannot fill %d shards", c.scalingSize, sh.shards)
		}
	}
	for _, s := range c.sizes {
		if s < int64(c.shards()) {
			return c, fmt.Errorf("--sizes: %d bytes cannot fill %d shards", s, c.shards())
		}
	}
	return c, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

// parseSize reads 256MiB, 1GiB, 500MB, 10KiB or a plain number of bytes.
func parseSize(s string) (int64, error) {
	v := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("want a size such as 256MiB, 1GiB or a number of bytes")
	}
	return int64(f * float64(mult)), nil
}

func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := parseSize(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// run measures every figure of c and writes the results.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	control, err := readGoBench(c.goBench)
	if err != nil {
		return err
	}
	s3cfg, err := s3FromStackEnv()
	if err != nil {
		return err
	}
	work, cleanup, err := workDir(c.workDir)
	if err != nil {
		return err
	}
	defer cleanup()
	if c.simBin == "" {
		if c.simBin, err = buildSim(ctx, work); err != nil {
			return err
		}
	}
	if _, err := os.Stat(c.qbackup); err != nil {
		return fmt.Errorf("qbackup binary %s: %w (run make build, or pass --qbackup)", c.qbackup, err)
	}
	h := &harness{cfg: c, s3: s3cfg, work: work, log: stdout, minioPID: minioPID(ctx, c.stackStatus)}
	h.res.Machine = describeMachine()
	h.res.Note = c.note
	h.res.ControlPlane = control
	h.res.Config = resultConfig{Peers: c.peers, ShardsPerPeer: c.shardsPerPeer, Reps: c.reps, Sizes: c.sizes, PeerRates: c.rates,
		SkewShardsPerPeer: c.skewShards, SkewSize: c.skewSize}
	if c.scalingSize > 0 {
		h.res.Config.ScalingSize, h.res.Config.ScalingPeerRate = c.scalingSize, c.scalingRate
		h.res.Config.ScalingShards, h.res.Config.ScalingPeers, h.res.Config.ScalingPeerShards = c.scalingShards, c.scalingPeers, c.scalingPeerShards
	}
	if len(c.workerCounts) > 0 {
		h.res.Config.WorkerCounts, h.res.Config.WorkersSize, h.res.Config.WorkersPeers = c.workerCounts, c.workersSize, c.workersPeers
		h.res.Config.WorkersShards, h.res.Config.WorkersPeerRate, h.res.Config.WorkerRate = c.workersShards, c.workersPeerRate, c.workerRate
	}
	fmt.Fprintf(stdout, "qbackup-bench: %s, %d cores, %s, load %s\n", h.res.Machine.CPU, h.res.Machine.Cores, runtime.Version(), h.res.Machine.LoadStart)
	start := time.Now()
	err = h.runAll(ctx)
	h.res.Machine.LoadEnd = loadAvg()
	h.res.DurationS = time.Since(start).Seconds()
	h.res.Goals = evaluate(&h.res)
	if werr := h.write(); werr != nil && err == nil {
		err = werr
	}
	printGoals(stdout, h.res.Goals)
	return err
}
