package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/qbackup/qbackup/internal/backup"
)

// Variants, in the order of the first run; later runs rotate it.
const (
	varBackup     = "backup"
	varRawBackup  = kindRawBackup
	varNaive      = kindNaiveBackup
	varRestore    = "restore"
	varRawRestore = kindRawRestore
)

// Restore parallelism of qbackup's defaults (restore --parallel 4, two
// per peer; internal/restore ExecOptions).
const (
	restoreParallel = 4
	restorePerPeer  = 2
)

// harness runs the cases and collects the figures.
type harness struct {
	cfg      benchConfig
	s3       s3Settings
	client   *s3.Client
	work     string
	naiveDir string // the naive baseline's files, removed at the end
	log      io.Writer
	minioPID int
	prefix   string // this run's key prefix in the bucket
	seed     int
	res      results
	profiles int // qbackup runs profiled so far, to name the files
}

// profileEnv is the environment entry that makes a qbackup run write its
// CPU profile into --cpu-profile-dir, or nothing without it.
func (h *harness) profileEnv(command string) []string {
	if h.cfg.profileDir == "" {
		return nil
	}
	h.profiles++
	return []string{fmt.Sprintf("QBACKUP_CPU_PROFILE=%s/%s-%02d.pprof", h.cfg.profileDir, command, h.profiles)}
}

// workDir is the directory for simulator state and the naive baseline's
// files: under /dev/shm when there is one, so that the peers' disk is not
// what is measured (qbackup itself must write nothing anywhere).
func workDir(dir string) (string, func(), error) {
	if dir == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			dir = "/dev/shm"
		}
	}
	d, err := os.MkdirTemp(dir, "qbackup-bench-")
	if err != nil {
		return "", nil, fmt.Errorf("work directory: %w", err)
	}
	return d, func() { os.RemoveAll(d) }, nil
}

func (h *harness) runAll(ctx context.Context) error {
	var err error
	if h.client, err = newS3Client(ctx, h.s3); err != nil {
		return err
	}
	if h.naiveDir, err = os.MkdirTemp(h.cfg.naiveDir, "qbackup-bench-naive-"); err != nil {
		return fmt.Errorf("naive baseline directory: %w", err)
	}
	defer os.RemoveAll(h.naiveDir)
	h.prefix = fmt.Sprintf("qbackup-bench/%s/", time.Now().UTC().Format("20060102T150405Z"))
	defer func() {
		if err := deletePrefix(context.WithoutCancel(ctx), h.client, h.s3.Bucket, h.prefix); err != nil {
			fmt.Fprintf(h.log, "cleanup: %v\n", err)
		}
	}()
	main := clusterShape{name: "backup", restoreName: "restore", peers: h.cfg.peers, shards: h.cfg.shards(), naive: !h.cfg.noNaive}
	for _, rate := range h.cfg.rates {
		for _, size := range h.cfg.sizes {
			if err := h.backupAndRestore(ctx, main, size, rate); err != nil {
				return err
			}
		}
		if h.cfg.skewShards > 0 {
			if err := h.skewCase(ctx, rate); err != nil {
				return err
			}
		}
	}
	if err := h.scalingCases(ctx); err != nil {
		return err
	}
	return h.workersCase(ctx)
}

// clusterShape is the cluster one backup and restore case runs on and
// the case names its figures carry.
type clusterShape struct {
	name, restoreName string
	peers, shards     int
	// naive adds the naive sequential baseline to the backup case.
	naive bool
}

// backupAndRestore measures the backup case on shape and, unless
// restores are skipped, the restore of its last product backup.
func (h *harness) backupAndRestore(ctx context.Context, shape clusterShape, size, rate int64) error {
	kept, err := h.backupCase(ctx, shape, size, rate)
	if err != nil {
		return err
	}
	if h.cfg.noRestore {
		return deletePrefix(context.WithoutCancel(ctx), h.client, h.s3.Bucket, kept.prefix)
	}
	return h.restoreCase(ctx, shape, size, rate, kept)
}

// rotate is vs started at the rep-th variant: each variant runs first,
// second... in turn, so that none always gets a cold or warm machine.
func rotate(vs []string, rep int) []string {
	if len(vs) == 0 {
		return nil
	}
	k := rep % len(vs)
	return append(append([]string{}, vs[k:]...), vs[:k]...)
}

// keptBackup is a product backup left in the bucket for the restore case.
type keptBackup struct {
	storage  string // s3://bucket/prefix
	prefix   string
	id       string
	manifest manifestView
}

// manifestView is the part of the manifest the raw restore needs.
type manifestView struct {
	Window struct {
		SkewMS int64 `json:"skew_ms"`
	} `json:"window"`
	Collections []struct {
		Name   string `json:"name"`
		Shards []struct {
			ID           uint32 `json:"shard_id"`
			Object       string `json:"object"`
			Size         int64  `json:"size"`
			SnapshotSHA  string `json:"snapshot_sha256"`
			SnapshotSize int64  `json:"snapshot_size"`
		} `json:"shards"`
	} `json:"collections"`
}

func (m manifestView) bytes() int64 {
	var n int64
	for _, c := range m.Collections {
		for _, s := range c.Shards {
			n += s.Size
		}
	}
	return n
}

// backupReport is what `qbackup backup -o json` prints.
type backupReport struct {
	BackupID    string `json:"backup_id"`
	Bytes       int64  `json:"bytes"`
	SkewMS      int64  `json:"skew_ms"`
	ManifestKey string `json:"manifest_key"`
}

func (h *harness) newSim(ctx context.Context, peers int, rate int64) (*sim, error) {
	h.seed++
	return startSim(ctx, h.cfg.simBin, h.work, peers, rate, h.seed)
}

// filledSim starts a simulator of peers peers with the collection of
// shards shards holding size bytes in all.
func (h *harness) filledSim(ctx context.Context, size, rate int64, peers, shards int) (*sim, map[uint32]peer, error) {
	s, err := h.newSim(ctx, peers, rate)
	if err != nil {
		return nil, nil, err
	}
	if err := createCollection(ctx, s.peers[0], shards); err != nil {
		s.stop()
		return nil, nil, err
	}
	if err := s.fill(ctx, shards, size); err != nil {
		s.stop()
		return nil, nil, err
	}
	pl, err := s.placement(ctx)
	if err != nil {
		s.stop()
		return nil, nil, err
	}
	return s, pl, nil
}

// runBackup runs `qbackup backup` against s into storage prefix.
func (h *harness) runBackup(ctx context.Context, s *sim, prefix string) (sample, backupReport, error) {
	cmd := exec.CommandContext(ctx, h.cfg.qbackup, "backup", "-o", "json")
	cmd.Env = h.s3.childEnv(append([]string{"QBACKUP_STORAGE=s3://" + h.s3.Bucket + "/" + strings.TrimSuffix(prefix, "/"), "QBACKUP_CLUSTER=bench",
		"QBACKUP_DISCOVERY=static", "QBACKUP_QDRANT_URLS=" + s.urls(), "QBACKUP_LOG_FORMAT=json", "QBACKUP_LOG_LEVEL=warn"}, h.profileEnv("backup")...)...)
	m, err := measure(ctx, cmd, []int{s.pid()}, h.minioPID)
	if err != nil {
		return m.sample, backupReport{}, err
	}
	var rep backupReport
	if err := json.Unmarshal([]byte(m.stdout), &rep); err != nil {
		return m.sample, rep, fmt.Errorf("qbackup backup -o json: %w: %q", err, m.stdout)
	}
	skew := rep.SkewMS
	m.SkewMS = &skew
	return m.sample, rep, nil
}

// runBaselineChild runs a baseline in a child process of this binary.
func (h *harness) runBaselineChild(ctx context.Context, spec baselineSpec, peerPIDs []int) (sample, error) {
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return sample{}, err
	}
	cmd := exec.CommandContext(ctx, self, baselineCommand, string(b))
	cmd.Env = h.s3.childEnv()
	m, err := measure(ctx, cmd, peerPIDs, h.minioPID)
	return m.sample, err
}

// backupJobs lists every shard with its peer and object key under prefix.
func backupJobs(pl map[uint32]peer, shards int, prefix string) []baselineJob {
	jobs := make([]baselineJob, 0, shards)
	for id := range uint32(shards) {
		jobs = append(jobs, baselineJob{Shard: id, Peer: pl[id], Key: fmt.Sprintf("%s%s/%d.snapshot", prefix, benchCollection, id)})
	}
	return jobs
}

// backupCase measures backup, raw and naive on one filled cluster and
// returns the last product backup, kept for the restore case.
func (h *harness) backupCase(ctx context.Context, shape clusterShape, size, rate int64) (keptBackup, error) {
	shards := shape.shards
	s, pl, err := h.filledSim(ctx, size, rate, shape.peers, shards)
	if err != nil {
		return keptBackup{}, err
	}
	defer s.stop()
	variants := []string{varBackup, varRawBackup}
	if shape.naive {
		variants = append(variants, varNaive)
	}
	figs := map[string]*figure{}
	for _, v := range variants {
		figs[v] = &figure{Case: shape.name, Variant: v, SizeBytes: size, Peers: shape.peers, Shards: shards, PeerRate: rate}
	}
	var kept keptBackup
	for rep := range h.cfg.reps {
		for _, v := range rotate(variants, rep) {
			prefix := fmt.Sprintf("%s%s/peers-%d/shards-%d/rate-%d/size-%d/%s-%d/", h.prefix, shape.name, shape.peers, shards, rate, size, v, rep)
			var smp sample
			var err error
			var moved int64
			switch v {
			case varBackup:
				var rep backupReport
				smp, rep, err = h.runBackup(ctx, s, prefix)
				moved = rep.Bytes
				if err == nil {
					kept = keptBackup{storage: "s3://" + h.s3.Bucket + "/" + strings.TrimSuffix(prefix, "/"), prefix: prefix, id: rep.BackupID}
					kept.manifest, err = h.readManifest(ctx, prefix, rep.ManifestKey)
				}
			default:
				spec := baselineSpec{Kind: v, Bucket: h.s3.Bucket, Jobs: backupJobs(pl, shards, prefix),
					Parallel: backup.DefaultConcurrency, PerPeer: backup.DefaultPerPeerConcurrency, Dir: h.naiveDir}
				smp, err = h.runBaselineChild(ctx, spec, []int{s.pid()})
				if err == nil {
					moved, err = h.sizeUnder(ctx, prefix)
				}
			}
			if err != nil {
				return kept, fmt.Errorf("%s of %s on %s at peer rate %s: %w", v, human(size), shape.describe(), rateLabel(rate), err)
			}
			f := figs[v]
			f.Runs = append(f.Runs, smp)
			f.DataBytes = moved
			fmt.Fprintf(h.log, "%-13s %9s %-16s %-20s run %d: %6.2fs  %7.1f MiB/s  rss %6.1f MiB  disk %s  cpu %.2fs%s\n",
				v, human(size), rateLabel(rate), shape.describe(), rep+1, smp.WallS, mibps(moved, smp.WallS), smp.MaxRSSMiB, human(smp.DiskWriteBytes), smp.ToolCPUS, skewNote(smp))
			if v != varBackup || rep < h.cfg.reps-1 {
				if err := deletePrefix(ctx, h.client, h.s3.Bucket, prefix); err != nil {
					return kept, err
				}
			}
		}
	}
	for _, v := range variants {
		h.res.add(figs[v])
	}
	return kept, nil
}

func skewNote(s sample) string {
	if s.SkewMS == nil {
		return ""
	}
	return fmt.Sprintf("  skew %d ms", *s.SkewMS)
}

// readManifest reads the kept backup's manifest; qbackup reports its key
// relative to the storage prefix.
func (h *harness) readManifest(ctx context.Context, prefix, key string) (manifestView, error) {
	if !strings.HasPrefix(key, prefix) {
		key = prefix + strings.TrimPrefix(key, "/")
	}
	var m manifestView
	obj, err := h.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &h.s3.Bucket, Key: &key})
	if err != nil {
		return m, fmt.Errorf("read manifest %s: %w", key, err)
	}
	defer obj.Body.Close()
	if err := json.NewDecoder(obj.Body).Decode(&m); err != nil {
		return m, fmt.Errorf("read manifest %s: %w", key, err)
	}
	return m, nil
}

// sizeUnder is the total size of the objects under prefix.
func (h *harness) sizeUnder(ctx context.Context, prefix string) (int64, error) {
	var n int64
	p := s3.NewListObjectsV2Paginator(h.client, &s3.ListObjectsV2Input{Bucket: &h.s3.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			if o.Size != nil {
				n += *o.Size
			}
		}
	}
	return n, nil
}

// restoreCase measures `qbackup restore` of the kept backup onto a fresh
// cluster against the raw S3 GET → upload of the same objects.
func (h *harness) restoreCase(ctx context.Context, shape clusterShape, size, rate int64, kept keptBackup) error {
	if kept.id == "" {
		return fmt.Errorf("restore of %s: no backup was kept", human(size))
	}
	defer deletePrefix(context.WithoutCancel(ctx), h.client, h.s3.Bucket, kept.prefix)
	shards := shape.shards
	variants := []string{varRestore, varRawRestore}
	figs := map[string]*figure{}
	for _, v := range variants {
		figs[v] = &figure{Case: shape.restoreName, Variant: v, SizeBytes: size, Peers: shape.peers, Shards: shards, PeerRate: rate, DataBytes: kept.manifest.bytes()}
	}
	var jobs []baselineJob
	for _, c := range kept.manifest.Collections {
		for _, sh := range c.Shards {
			jobs = append(jobs, baselineJob{Shard: sh.ID, Key: kept.prefix + strings.TrimPrefix(sh.Object, "/"), Checksum: sh.SnapshotSHA})
		}
	}
	for rep := range h.cfg.reps {
		for _, v := range rotate(variants, rep) {
			s, err := h.newSim(ctx, shape.peers, rate)
			if err != nil {
				return err
			}
			var smp sample
			switch v {
			case varRestore:
				cmd := exec.CommandContext(ctx, h.cfg.qbackup, "restore", kept.id, "-o", "json")
				cmd.Env = h.s3.childEnv(append([]string{"QBACKUP_STORAGE=" + kept.storage, "QBACKUP_CLUSTER=bench", "QBACKUP_DISCOVERY=static",
					"QBACKUP_QDRANT_URLS=" + s.urls(), "QBACKUP_LOG_FORMAT=json", "QBACKUP_LOG_LEVEL=warn"}, h.profileEnv("restore")...)...)
				var m measured
				m, err = measure(ctx, cmd, []int{s.pid()}, h.minioPID)
				smp = m.sample
			default:
				spec := baselineSpec{Kind: kindRawRestore, Bucket: h.s3.Bucket, Jobs: jobs, Parallel: restoreParallel, PerPeer: restorePerPeer,
					Peers: s.peers, Shards: shards}
				smp, err = h.runBaselineChild(ctx, spec, []int{s.pid()})
			}
			s.stop()
			if err != nil {
				return fmt.Errorf("%s of %s on %s at peer rate %s: %w", v, human(size), shape.describe(), rateLabel(rate), err)
			}
			figs[v].Runs = append(figs[v].Runs, smp)
			fmt.Fprintf(h.log, "%-13s %9s %-16s %-20s run %d: %6.2fs  %7.1f MiB/s  rss %6.1f MiB  disk %s  cpu %.2fs\n",
				v, human(size), rateLabel(rate), shape.describe(), rep+1, smp.WallS, mibps(figs[v].DataBytes, smp.WallS), smp.MaxRSSMiB, human(smp.DiskWriteBytes), smp.ToolCPUS)
		}
	}
	for _, v := range variants {
		h.res.add(figs[v])
	}
	return nil
}

// skewCase backs up peers × skewShards small shards with qbackup's
// defaults and records the shard-start skew.
func (h *harness) skewCase(ctx context.Context, rate int64) error {
	shards := h.cfg.peers * h.cfg.skewShards
	size := max(h.cfg.skewSize, int64(shards))
	s, _, err := h.filledSim(ctx, size, rate, h.cfg.peers, shards)
	if err != nil {
		return err
	}
	defer s.stop()
	f := &figure{Case: "skew", Variant: varBackup, SizeBytes: size, Peers: h.cfg.peers, Shards: shards, PeerRate: rate}
	for rep := range h.cfg.reps {
		prefix := path.Join(strings.TrimSuffix(h.prefix, "/"), "skew", rateLabelKey(rate), fmt.Sprint(rep)) + "/"
		smp, r, err := h.runBackup(ctx, s, prefix)
		if err != nil {
			return fmt.Errorf("skew case at peer rate %s: %w", rateLabel(rate), err)
		}
		f.DataBytes = r.Bytes
		f.Runs = append(f.Runs, smp)
		fmt.Fprintf(h.log, "%-13s %9s %-16s run %d: %6.2fs  skew %d ms (%d shards)\n", "skew", human(size), rateLabel(rate), rep+1, smp.WallS, r.SkewMS, shards)
		if err := deletePrefix(ctx, h.client, h.s3.Bucket, prefix); err != nil {
			return err
		}
	}
	h.res.add(f)
	return nil
}

func rateLabel(rate int64) string {
	if rate == 0 {
		return "uncapped"
	}
	return human(rate) + "/s per peer"
}

func rateLabelKey(rate int64) string { return fmt.Sprintf("rate-%d", rate) }

func mibps(bytes int64, s float64) float64 {
	if s <= 0 {
		return 0
	}
	return float64(bytes) / (1 << 20) / s
}

// human prints a byte count in binary units.
func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
