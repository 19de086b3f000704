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
// --workers N`, and restored by `qbackup restore --workers N`, run as N
// concurrent child processes (indexes 0..N-1, one set id per run), as the
// pods of an Indexed Job run them, for each N of --worker-scaling. The
// peers are capped (--workers-peer-rate) and
// so is each worker's own link to MinIO (--worker-rate, a throttling
// proxy per worker, throttle.go): on one machine a single worker already
// reaches what the capped peers give, so without a cap per worker more
// workers could not show what they bring a real cluster, where one pod's
// network interface is the limit.
const (
	caseWorkers        = "worker-scaling"
	caseWorkersRestore = "worker-scaling-restore"
)

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
// count, runs rotated between counts, and then (unless --no-restore) the
// restore of the last set onto a fresh cluster by each worker count.
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
	shape := clusterShape{peers: c.workersPeers, shards: c.workersShards}
	where := func(what string, n int) string {
		return fmt.Sprintf("%s of %s by %d workers on %s at peer rate %s, %s per worker", what, human(size), n, shape.describe(), rateLabel(rate), workerRateLabel(c.workerRate))
	}
	s, _, err := h.filledSim(ctx, size, rate, c.workersPeers, c.workersShards)
	if err != nil {
		return fmt.Errorf("worker scaling: %w", err)
	}
	defer s.stop()
	newFigs := func(caseName, variant string) map[int]*figure {
		figs := map[int]*figure{}
		for _, n := range c.workerCounts {
			figs[n] = &figure{Case: caseName, Variant: variant, SizeBytes: size, Peers: c.workersPeers, Shards: c.workersShards,
				PeerRate: rate, Workers: n, WorkerRate: c.workerRate}
		}
		return figs
	}
	var labels []string
	for _, n := range c.workerCounts {
		labels = append(labels, strconv.Itoa(n))
	}
	figs := newFigs(caseWorkers, varBackup)
	var kept keptBackup
	for rep := range c.reps {
		for _, l := range rotate(labels, rep) {
			n, _ := strconv.Atoi(l)
			prefix := fmt.Sprintf("%s%s/workers-%d/%d/", h.prefix, caseWorkers, n, rep)
			smp, r, err := h.runBackupWorkers(ctx, s, prefix, n, target, rep)
			if err != nil {
				return fmt.Errorf("%s: %w", where("backup", n), err)
			}
			f := figs[n]
			f.Runs = append(f.Runs, smp)
			f.DataBytes = r.Bytes
			h.logWorkers(caseWorkers, f, smp, rep)
			if !c.noRestore && kept.id == "" {
				kept = keptBackup{storage: "s3://" + h.s3.Bucket + "/" + strings.TrimSuffix(prefix, "/"), prefix: prefix, id: r.BackupID}
				if kept.manifest, err = h.readManifest(ctx, prefix, r.ManifestKey); err != nil {
					return err
				}
				continue
			}
			if err := deletePrefix(ctx, h.client, h.s3.Bucket, prefix); err != nil {
				return err
			}
		}
	}
	for _, n := range c.workerCounts {
		h.res.add(figs[n])
	}
	s.stop()
	if c.noRestore {
		return nil
	}
	defer deletePrefix(context.WithoutCancel(ctx), h.client, h.s3.Bucket, kept.prefix)
	figs = newFigs(caseWorkersRestore, varRestore)
	for rep := range c.reps {
		for _, l := range rotate(labels, rep) {
			n, _ := strconv.Atoi(l)
			fresh, err := h.newSim(ctx, c.workersPeers, rate)
			if err != nil {
				return err
			}
			smp, err := h.runRestoreWorkers(ctx, fresh, kept, n, target, rep)
			fresh.stop()
			if err != nil {
				return fmt.Errorf("%s: %w", where("restore", n), err)
			}
			f := figs[n]
			f.Runs = append(f.Runs, smp)
			f.DataBytes = kept.manifest.bytes()
			h.logWorkers(caseWorkersRestore, f, smp, rep)
		}
	}
	for _, n := range c.workerCounts {
		h.res.add(figs[n])
	}
	return nil
}

func (h *harness) logWorkers(caseName string, f *figure, smp sample, rep int) {
	fmt.Fprintf(h.log, "%-22s %9s %-16s %d workers  run %d: %6.2fs  %7.1f MiB/s  rss/worker %s MiB  shares %s  worker walls %ss%s\n",
		caseName, human(f.SizeBytes), rateLabel(f.PeerRate), f.Workers, rep+1, smp.WallS, mibps(f.DataBytes, smp.WallS), join(smp.WorkerRSSMiB, "/", func(x float64) string { return fmt.Sprintf("%.0f", x) }),
		join(smp.WorkerBytes, " / ", human), join(smp.WorkerWallS, "/", func(x float64) string { return fmt.Sprintf("%.1f", x) }), skewNote(smp))
}

// runBackupWorkers backs s up into prefix with n workers and reads their
// reports: worker 0's is the set's, the others' their parts.
func (h *harness) runBackupWorkers(ctx context.Context, s *sim, prefix string, n int, target string, rep int) (sample, backupReport, error) {
	setID := fmt.Sprintf("bench-backup-%d-%d-%d", time.Now().UnixNano(), n, rep)
	env := []string{"QBACKUP_STORAGE=s3://" + h.s3.Bucket + "/" + strings.TrimSuffix(prefix, "/"), "QBACKUP_CLUSTER=bench",
		"QBACKUP_DISCOVERY=static", "QBACKUP_QDRANT_URLS=" + s.urls(), "QBACKUP_LOG_FORMAT=json", "QBACKUP_LOG_LEVEL=warn"}
	smp, outs, err := h.runWorkerSet(ctx, s, n, target, env, "backup-workers", func(i int) []string {
		return []string{"backup", "-o", "json", "--workers", strconv.Itoa(n), "--worker-index", strconv.Itoa(i), "--set-id", setID}
	})
	if err != nil {
		return smp, backupReport{}, err
	}
	var set backupReport
	if err := json.Unmarshal([]byte(outs[0]), &set); err != nil || set.BackupID == "" {
		return smp, set, fmt.Errorf("worker 0: qbackup backup -o json: %v: %q", err, outs[0])
	}
	skew := set.SkewMS
	smp.SkewMS = &skew
	smp.WorkerBytes, err = shares(outs, set.Bytes)
	return smp, set, err
}

// runRestoreWorkers restores kept onto s with n workers.
func (h *harness) runRestoreWorkers(ctx context.Context, s *sim, kept keptBackup, n int, target string, rep int) (sample, error) {
	setID := fmt.Sprintf("bench-restore-%d-%d-%d", time.Now().UnixNano(), n, rep)
	env := []string{"QBACKUP_STORAGE=" + kept.storage, "QBACKUP_CLUSTER=bench", "QBACKUP_DISCOVERY=static",
		"QBACKUP_QDRANT_URLS=" + s.urls(), "QBACKUP_LOG_FORMAT=json", "QBACKUP_LOG_LEVEL=warn"}
	smp, outs, err := h.runWorkerSet(ctx, s, n, target, env, "restore-workers", func(i int) []string {
		return []string{"restore", kept.id, "-o", "json", "--workers", strconv.Itoa(n), "--worker-index", strconv.Itoa(i), "--set-id", setID}
	})
	if err != nil {
		return smp, err
	}
	var done struct {
		RestoreID string `json:"restore_id"`
		Bytes     int64  `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(outs[0]), &done); err != nil || done.RestoreID == "" {
		return smp, fmt.Errorf("worker 0: qbackup restore -o json: %v: %q", err, outs[0])
	}
	smp.WorkerBytes, err = shares(outs, done.Bytes)
	return smp, err
}

// shares reads the parts of workers 1..n-1 from their -o json reports:
// worker 0 reports the whole set, so its own share is what the others
// did not move.
func shares(outs []string, total int64) ([]int64, error) {
	out := make([]int64, len(outs))
	var others int64
	for i := 1; i < len(outs); i++ {
		var p workersPart
		if err := json.Unmarshal([]byte(outs[i]), &p); err != nil || p.Worker != i {
			return nil, fmt.Errorf("worker %d: -o json report: %v: %q", i, err, outs[i])
		}
		out[i] = p.Bytes
		others += p.Bytes
	}
	out[0] = total - others
	return out, nil
}

// runWorkerSet runs the n workers of one set at once, each through its
// own bandwidth proxy, with the environment env and the arguments args(i),
// and measures the set: wall time from the first start to the last exit,
// each worker's peak RSS and wall time, the sum of their CPU and disk
// writes, and the peers' and MinIO's CPU over the span. It returns each
// worker's stdout.
func (h *harness) runWorkerSet(ctx context.Context, s *sim, n int, target string, env []string, profile string, args func(i int) []string) (sample, []string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmds := make([]*exec.Cmd, n)
	for i := range n {
		px, err := startThrottle(target, h.cfg.workerRate)
		if err != nil {
			return sample{}, nil, err
		}
		defer px.close()
		endpoint, err := px.endpointVia(h.s3.Endpoint)
		if err != nil {
			return sample{}, nil, err
		}
		cmd := exec.CommandContext(ctx, h.cfg.qbackup, args(i)...)
		// The later QBACKUP_S3_ENDPOINT wins (os/exec keeps the last of a
		// repeated variable): this worker talks to MinIO through its proxy.
		cmd.Env = h.s3.childEnv(append(append(slices.Clone(env), "QBACKUP_S3_ENDPOINT="+endpoint), h.profileEnv(profile)...)...)
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
			return smp, nil, fmt.Errorf("worker %d: %w", i, e)
		}
	}
	outs := make([]string, n)
	for i, m := range results {
		smp.MaxRSSMiB = max(smp.MaxRSSMiB, m.MaxRSSMiB)
		smp.ToolCPUS += m.ToolCPUS
		smp.DiskWriteBytes += m.DiskWriteBytes
		smp.WorkerRSSMiB = append(smp.WorkerRSSMiB, m.MaxRSSMiB)
		smp.WorkerWallS = append(smp.WorkerWallS, m.WallS)
		outs[i] = m.stdout
	}
	return smp, outs, nil
}

func workerRateLabel(rate int64) string {
	if rate == 0 {
		return "uncapped"
	}
	return human(rate) + "/s"
}

// join formats each of xs and joins them with sep (a run's per-worker
// figures on one log line).
func join[T any](xs []T, sep string, format func(T) string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = format(x)
	}
	return strings.Join(parts, sep)
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

// workerFigures are the figures of one worker-scaling case, by worker
// count.
func workerFigures(r *results, caseName string) []*figure {
	var out []*figure
	for _, f := range r.Figures {
		if f.Case == caseName {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *figure) int { return a.Workers - b.Workers })
	return out
}

// workersGoal: at 4 workers, at least 3 × the backup throughput of 1
// (same run).
func workersGoal(r *results) (goal, bool) {
	backups := workerFigures(r, caseWorkers)
	one, four := byWorkers(backups, 1), byWorkers(backups, 4)
	if one == nil || four == nil || four.Summary.WallMedianS == 0 {
		return goal{}, false
	}
	v := one.Summary.WallMedianS / four.Summary.WallMedianS
	return goal{Goal: fmt.Sprintf("backup throughput, 4 workers over 1, %s, %s, %s per worker", human(four.SizeBytes), rateLabel(four.PeerRate), workerRateLabel(four.WorkerRate)),
		Target: "≥ 3", Measured: fmt.Sprintf("%.2f (%.2fs vs %.2fs)", v, four.Summary.WallMedianS, one.Summary.WallMedianS), Met: v >= 3}, true
}

func byWorkers(figs []*figure, n int) *figure {
	for _, f := range figs {
		if f.Workers == n {
			return f
		}
	}
	return nil
}

// renderWorkers writes the worker-scaling table: one row per worker
// count, backup and (when measured) restore.
func renderWorkers(w io.Writer, r *results) {
	backups, restores := workerFigures(r, caseWorkers), workerFigures(r, caseWorkersRestore)
	if len(backups) == 0 {
		return
	}
	f0 := backups[0]
	fmt.Fprintf(w, "## Workers\n\n")
	fmt.Fprintf(w, "`qbackup backup --workers N`, and `qbackup restore --workers N` of its set onto a fresh cluster, as N concurrent processes (indexes 0 to N−1, one set id per run), as the pods of an Indexed Job run them: %s of data on %d peers × %d shards in all, %s. ",
		human(f0.SizeBytes), f0.Peers, f0.Shards, rateLabel(f0.PeerRate))
	fmt.Fprintf(w, "**Model of a pod's network interface:** each worker reaches MinIO through a proxy of its own that caps its traffic at %s each way, ", workerRateLabel(f0.WorkerRate))
	fmt.Fprintf(w, "because what limits one pod in a real cluster is its own NIC, while on this one machine a single worker already takes all the capped peers give. ")
	fmt.Fprintf(w, "The peers' caps add up to more than 4 workers' (the peers are not the limit up to 4 workers), and the workers' caps together stay below what this machine moves into MinIO uncapped. ")
	fmt.Fprintf(w, "Wall time is from the first worker's start to the last one's exit, so it includes the workers' coordination: with more than one worker, the others wait for worker 0's plan and worker 0 for their parts, each looked for after 100 ms, then after a quarter of the time waited so far (at most every 2 seconds), about a second per set whatever its size. ")
	fmt.Fprintf(w, "Peak RSS is the largest of any worker's; share skew is the largest worker's bytes over the mean (median run).\n\n")
	fmt.Fprintf(w, "| workers | backup wall median (min–max) | backup MiB/s | backup speed-up over 1 worker | backup peak RSS per worker | backup share skew | restore wall median (min–max) | restore MiB/s | restore speed-up over 1 worker | restore peak RSS per worker |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|\n")
	cols := func(f, base *figure) (wall, mib, up, rss, skew string) {
		if f == nil {
			return "–", "–", "–", "–", "–"
		}
		wall = fmt.Sprintf("%.2f s (%.2f–%.2f)", f.Summary.WallMedianS, f.Summary.WallMinS, f.Summary.WallMaxS)
		mib, up, rss = fmt.Sprintf("%.1f", f.Summary.MiBps), "–", fmt.Sprintf("%.0f MiB", f.Summary.MaxRSSMiB)
		if base != nil && f.Summary.WallMedianS > 0 {
			up = fmt.Sprintf("%.2f×", base.Summary.WallMedianS/f.Summary.WallMedianS)
		}
		var skews []float64
		for _, s := range f.Runs {
			skews = append(skews, shareSkew(s.WorkerBytes))
		}
		return wall, mib, up, rss, fmt.Sprintf("%.2f", median(skews))
	}
	for _, b := range backups {
		bw, bm, bu, br, bs := cols(b, byWorkers(backups, 1))
		rw, rm, ru, rr, _ := cols(byWorkers(restores, b.Workers), byWorkers(restores, 1))
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", b.Workers, bw, bm, bu, br, bs, rw, rm, ru, rr)
	}
	fmt.Fprintln(w)
}
