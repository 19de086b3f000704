package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The worker-scaling case: one set backed up by `qbackup backup
// --workers N` run as N concurrent child processes (indexes 0..N-1, one
// set id per run), as the pods of an Indexed Job run it, for each N of
// --worker-scaling. The peers are capped (--worker-scaling-peer-rate) and
// so is each worker's own link to MinIO (--worker-rate, a throttling
// proxy per worker, throttle.go): on one machine a single worker already
// reaches what the capped peers give, so without a cap per worker more
// workers could not show what they bring a real cluster, where one pod's
// network interface is the limit.
const caseWorkers = "worker-scaling"

// workersPart is what `qbackup backup -o json` prints for a worker other
// than 0.
type workersPart struct {
	Worker int   `json:"worker"`
	Bytes  int64 `json:"bytes"`
}

// parseWorkerCounts reads --worker-scaling: worker counts of 1 to 256,
// each once; empty or 0 skips the case.
func parseWorkerCounts(s string) ([]int, error) {
	if t := strings.TrimSpace(s); t == "" || t == "0" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 256 {
			return nil, fmt.Errorf("%q is not a worker count of 1 to 256 (use 1,2,4, or 0 to skip the case)", f)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("worker count %d is listed twice", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// workersCase measures the backup of one filled cluster by each worker
// count, runs rotated between counts.
func (h *harness) workersCase(ctx context.Context) error {
	c := h.cfg
	if len(c.workerCounts) == 0 {
		return nil
	}
	target, err := endpointHost(h.s3.Endpoint)
	if err != nil {
		return err
	}
	size, rate := c.workersSize, c.workersPeerRate
	s, _, err := h.filledSim(ctx, size, rate, c.workersPeers, c.workersShards)
	if err != nil {
		return fmt.Errorf("worker scaling: %w", err)
	}
	defer s.stop()
	figs := map[int]*figure{}
	var labels []string
	for _, n := range c.workerCounts {
		figs[n] = &figure{Case: caseWorkers, Variant: varBackup, SizeBytes: size, Peers: c.workersPeers, Shards: c.workersShards,
			PeerRate: rate, Workers: n, WorkerRate: c.workerRate}
		labels = append(labels, strconv.Itoa(n))
	}
	for rep := range c.reps {
		for _, l := range rotate(labels, rep) {
			n, _ := strconv.Atoi(l)
			prefix := fmt.Sprintf("%s%s/workers-%d/%d/", h.prefix, caseWorkers, n, rep)
			smp, moved, err := h.runWorkers(ctx, s, prefix, n, target, rep)
			if err != nil {
				return fmt.Errorf("backup of %s by %d workers on %s at peer rate %s, %s per worker: %w", human(size), n,
					clusterShape{peers: c.workersPeers, shards: c.workersShards}.describe(), rateLabel(rate), workerRateLabel(c.workerRate), err)
			}
			f := figs[n]
			f.Runs = append(f.Runs, smp)
			f.DataBytes = moved
			fmt.Fprintf(h.log, "%-13s %9s %-16s %d workers      run %d: %6.2fs  %7.1f MiB/s  rss/worker %s MiB  shares %s  worker walls %ss%s\n",
				caseWorkers, human(size), rateLabel(rate), n, rep+1, smp.WallS, mibps(moved, smp.WallS), joinFloats(smp.WorkerRSSMiB), joinHuman(smp.WorkerBytes), joinSeconds(smp.WorkerWallS), skewNote(smp))
			if err := deletePrefix(ctx, h.client, h.s3.Bucket, prefix); err != nil {
				return err
			}
		}
	}
	for _, n := range c.workerCounts {
		h.res.add(figs[n])
	}
	return nil
}

// runWorkers runs the n workers of one set at once, each through its own
// bandwidth proxy, and measures the set: wall time from the first start
// to the last exit, each worker's peak RSS and share, the sum of their
// CPU and disk writes, and the peers' and MinIO's CPU over the span.
func (h *harness) runWorkers(ctx context.Context, s *sim, prefix string, n int, target string, rep int) (sample, int64, error) {
	setID := fmt.Sprintf("bench-%d-%d-%d", time.Now().UnixNano(), n, rep)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmds := make([]*exec.Cmd, n)
	for i := range n {
		px, err := startThrottle(target, h.cfg.workerRate)
		if err != nil {
			return sample{}, 0, err
		}
		defer px.close()
		endpoint, err := px.endpointVia(h.s3.Endpoint)
		if err != nil {
			return sample{}, 0, err
		}
		cmd := exec.CommandContext(ctx, h.cfg.qbackup, "backup", "-o", "json", "--workers", strconv.Itoa(n), "--worker-index", strconv.Itoa(i), "--set-id", setID)
		// The later QBACKUP_S3_ENDPOINT wins (os/exec keeps the last of a
		// repeated variable): this worker talks to MinIO through its proxy.
		cmd.Env = h.s3.childEnv(append([]string{"QBACKUP_STORAGE=s3://" + h.s3.Bucket + "/" + strings.TrimSuffix(prefix, "/"), "QBACKUP_CLUSTER=bench",
			"QBACKUP_DISCOVERY=static", "QBACKUP_QDRANT_URLS=" + s.urls(), "QBACKUP_LOG_FORMAT=json", "QBACKUP_LOG_LEVEL=warn",
			"QBACKUP_S3_ENDPOINT=" + endpoint}, h.profileEnv("backup-workers")...)...)
		cmds[i] = cmd
	}
	peers0, minio0 := cpuOf(s.pid()), cpuOf(h.minioPID)
	results := make([]measured, n)
	errs := make([]error, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = measure(ctx, cmd, nil, 0)
			if errs[i] != nil {
				cancel() // one failed worker fails the set: stop the others
			}
		}()
	}
	wg.Wait()
	var smp sample
	smp.WallS = time.Since(start).Seconds()
	smp.PeersCPUS = cpuOf(s.pid()) - peers0
	if h.minioPID > 0 {
		smp.MinIOCPUS = cpuOf(h.minioPID) - minio0
	}
	for i, e := range errs {
		if e != nil {
			return smp, 0, fmt.Errorf("worker %d: %w", i, e)
		}
	}
	var moved int64
	for i, m := range results {
		smp.MaxRSSMiB = max(smp.MaxRSSMiB, m.MaxRSSMiB)
		smp.ToolCPUS += m.ToolCPUS
		smp.DiskWriteBytes += m.DiskWriteBytes
		smp.WorkerRSSMiB = append(smp.WorkerRSSMiB, m.MaxRSSMiB)
		smp.WorkerWallS = append(smp.WorkerWallS, m.WallS)
		var part workersPart
		if i == 0 {
			var rep backupReport
			if err := json.Unmarshal([]byte(m.stdout), &rep); err != nil || rep.BackupID == "" {
				return smp, 0, fmt.Errorf("worker 0: qbackup backup -o json: %v: %q", err, m.stdout)
			}
			skew := rep.SkewMS
			smp.SkewMS = &skew
			moved = rep.Bytes
			continue
		}
		if err := json.Unmarshal([]byte(m.stdout), &part); err != nil || part.Worker != i {
			return smp, 0, fmt.Errorf("worker %d: qbackup backup -o json: %v: %q", i, err, m.stdout)
		}
		smp.WorkerBytes = append(smp.WorkerBytes, part.Bytes)
	}
	// Worker 0 reports the whole set; its own share is what the others
	// did not store.
	var others int64
	for _, b := range smp.WorkerBytes {
		others += b
	}
	smp.WorkerBytes = append([]int64{moved - others}, smp.WorkerBytes...)
	return smp, moved, nil
}

func workerRateLabel(rate int64) string {
	if rate == 0 {
		return "uncapped"
	}
	return human(rate) + "/s"
}

func joinFloats(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(parts, "/")
}

func joinSeconds(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.1f", x))
	}
	return strings.Join(parts, "/")
}

func joinHuman(xs []int64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, human(x))
	}
	return strings.Join(parts, " / ")
}

// shareSkew is the largest worker share over the mean share (1 = even).
func shareSkew(shares []int64) float64 {
	if len(shares) == 0 {
		return 0
	}
	var sum, top int64
	for _, b := range shares {
		sum += b
		top = max(top, b)
	}
	if sum == 0 {
		return 0
	}
	return float64(top) * float64(len(shares)) / float64(sum)
}

// workerFigures are the worker-scaling figures, by worker count.
func workerFigures(r *results) []*figure {
	var out []*figure
	for _, f := range r.Figures {
		if f.Case == caseWorkers {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *figure) int { return a.Workers - b.Workers })
	return out
}

// workersGoal: at 4 workers, at least 3 × the throughput of 1 (same run).
func workersGoal(r *results) (goal, bool) {
	var one, four *figure
	for _, f := range workerFigures(r) {
		switch f.Workers {
		case 1:
			one = f
		case 4:
			four = f
		}
	}
	if one == nil || four == nil || four.Summary.WallMedianS == 0 {
		return goal{}, false
	}
	v := one.Summary.WallMedianS / four.Summary.WallMedianS
	return goal{Goal: fmt.Sprintf("backup throughput, 4 workers over 1, %s, %s, %s per worker", human(four.SizeBytes), rateLabel(four.PeerRate), workerRateLabel(four.WorkerRate)),
		Target: "≥ 3", Measured: fmt.Sprintf("%.2f (%.2fs vs %.2fs)", v, four.Summary.WallMedianS, one.Summary.WallMedianS), Met: v >= 3}, true
}

// renderWorkers writes the worker-scaling table.
func renderWorkers(w io.Writer, r *results) {
	figs := workerFigures(r)
	if len(figs) == 0 {
		return
	}
	f0 := figs[0]
	var base *figure
	for _, f := range figs {
		if f.Workers == 1 {
			base = f
		}
	}
	fmt.Fprintf(w, "## Workers\n\n")
	fmt.Fprintf(w, "`qbackup backup --workers N` as N concurrent processes (indexes 0 to N−1, one set id per run), as the pods of an Indexed Job run it: %s of data on %d peers × %d shards in all, %s. ",
		human(f0.SizeBytes), f0.Peers, f0.Shards, rateLabel(f0.PeerRate))
	fmt.Fprintf(w, "**Model of a pod's network interface:** each worker reaches MinIO through a proxy of its own that caps its traffic at %s each way, ", workerRateLabel(f0.WorkerRate))
	fmt.Fprintf(w, "because what limits one pod in a real cluster is its own NIC, while on this one machine a single worker already takes all the capped peers give. ")
	fmt.Fprintf(w, "The peers' caps add up to more than 4 workers' (the peers are not the limit up to 4 workers), and the workers' caps together stay below what this machine moves into MinIO uncapped. ")
	fmt.Fprintf(w, "Wall time is from the first worker's start to the last one's exit, so it includes the workers' coordination: with more than one worker, the others wait for worker 0's plan and worker 0 for their parts, each looked for every 2 seconds, a few seconds per set whatever its size. ")
	fmt.Fprintf(w, "Peak RSS is the largest of any worker's; share skew is the largest worker's bytes over the mean.\n\n")
	fmt.Fprintf(w, "| workers | wall median (min–max) | MiB/s | speed-up over 1 worker | peak RSS per worker | share skew | CPU s/GiB all workers |\n|---|---|---|---|---|---|---|\n")
	for _, f := range figs {
		up := "–"
		if base != nil && f.Summary.WallMedianS > 0 {
			up = fmt.Sprintf("%.2f×", base.Summary.WallMedianS/f.Summary.WallMedianS)
		}
		var skews []float64
		for _, s := range f.Runs {
			skews = append(skews, shareSkew(s.WorkerBytes))
		}
		fmt.Fprintf(w, "| %d | %.2f s (%.2f–%.2f) | %.1f | %s | %.0f MiB | %.2f | %.2f |\n", f.Workers, f.Summary.WallMedianS, f.Summary.WallMinS, f.Summary.WallMaxS,
			f.Summary.MiBps, up, f.Summary.MaxRSSMiB, median(skews), f.Summary.ToolCPUPerGiB)
	}
	fmt.Fprintln(w)
}
