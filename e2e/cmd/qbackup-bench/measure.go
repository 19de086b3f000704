package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sample is what one run of one variant cost.
type sample struct {
	WallS float64 `json:"wall_s"`
	// MaxRSSMiB is the child's peak resident set (getrusage ru_maxrss).
	MaxRSSMiB float64 `json:"max_rss_mib"`
	// DiskWriteBytes is what the child had written to storage: the
	// larger of ru_oublock × 512 and /proc/<pid>/io write_bytes sampled
	// every 100 ms.
	DiskWriteBytes int64 `json:"disk_write_bytes"`
	// ToolCPUS, PeersCPUS and MinIOCPUS are user+system CPU seconds of
	// the child, of the simulator process(es) and of MinIO during the run.
	ToolCPUS  float64 `json:"tool_cpu_s"`
	PeersCPUS float64 `json:"peers_cpu_s"`
	MinIOCPUS float64 `json:"minio_cpu_s,omitempty"`
	// SkewMS is the backup's shard-start skew from its manifest.
	SkewMS *int64 `json:"skew_ms,omitempty"`
	// WorkerRSSMiB and WorkerBytes are, for a run by several workers,
	// each worker's peak RSS and the bytes of its share, by index.
	WorkerRSSMiB []float64 `json:"worker_rss_mib,omitempty"`
	WorkerBytes  []int64   `json:"worker_bytes,omitempty"`
	// WorkerWallS is each worker's own wall time.
	WorkerWallS []float64 `json:"worker_wall_s,omitempty"`
}

// measured is a finished child: its sample and its stdout.
type measured struct {
	sample
	stdout string
}

// measure runs cmd to completion, recording wall time, rusage and disk
// writes of the child, and the CPU time of the processes in others
// (simulators, MinIO) over the same span.
func measure(ctx context.Context, cmd *exec.Cmd, peerPIDs []int, minio int) (measured, error) {
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	peers0, minio0 := cpuOf(peerPIDs...), cpuOf(minio)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measured{}, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	stopSampling := make(chan struct{})
	sampled := make(chan int64, 1)
	go func() {
		var last int64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if n, ok := procWriteBytes(cmd.Process.Pid); ok {
				last = max(last, n)
			}
			select {
			case <-stopSampling:
				sampled <- last
				return
			case <-t.C:
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGTERM)
		err = <-done
	}
	wall := time.Since(start)
	close(stopSampling)
	written := <-sampled
	var m measured
	m.stdout = stdout.String()
	m.WallS = wall.Seconds()
	m.PeersCPUS = cpuOf(peerPIDs...) - peers0
	if minio > 0 {
		m.MinIOCPUS = cpuOf(minio) - minio0
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.MaxRSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
		m.ToolCPUS = tv(ru.Utime) + tv(ru.Stime)
		written = max(written, ru.Oublock*512)
	}
	m.DiskWriteBytes = written
	if err != nil {
		return m, fmt.Errorf("%s %s: %w\n--- stdout ---\n%s\n--- stderr (tail) ---\n%s", cmd.Path, strings.Join(cmd.Args[1:], " "), err,
			strings.TrimSpace(m.stdout), stderr)
	}
	return m, nil
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// procWriteBytes reads write_bytes of /proc/<pid>/io: bytes the process
// caused to be sent to the storage layer.
func procWriteBytes(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 100

// cpuOf is the user+system CPU seconds of processes so far (0 for those
// not found, or off Linux).
func cpuOf(pids ...int) float64 {
	if runtime.GOOS != "linux" {
		return 0
	}
	var total float64
	for _, pid := range pids {
		if pid <= 0 {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which may hold spaces, start
		// after the last ')': state is field 3, utime 14, stime 15.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		total += (u + st) / clockTick
	}
	return total
}

// minioPID asks the test stack script for MinIO's pid; 0 when unknown.
func minioPID(ctx context.Context, script string) int {
	if script == "" {
		return 0
	}
	out, _ := exec.CommandContext(ctx, script, "status").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "minio" && f[2] == "(pid" {
			n, _ := strconv.Atoi(strings.TrimSuffix(f[3], ")"))
			return n
		}
	}
	return 0
}
