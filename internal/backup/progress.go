package backup

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// ProgressMessage is the message of the periodic progress line; the
// kubectl plugin follows a backup Job's log and shows these lines, so the
// message and the attribute names are a contract with it.
const ProgressMessage = "backup progress"

// ShardRef names one shard of a run.
type ShardRef struct {
	Collection string
	ShardID    uint32
	PeerID     uint64
}

// Progress receives the events of a run. Implementations must be safe for
// concurrent use; calls must not block.
type Progress interface {
	// Begin is called once with the number of shards and their total
	// (approximate) points.
	Begin(shards int, points uint64)
	ShardStarted(s ShardRef)
	// Bytes reports n more snapshot bytes read from a peer.
	Bytes(s ShardRef, n int64)
	// ShardDone reports a finished shard; err is nil on success.
	ShardDone(s ShardRef, bytes int64, points uint64, err error)
	// End is called once when the run stops.
	End(err error)
}

type nopProgress struct{}

func (nopProgress) Begin(int, uint64)                        {}
func (nopProgress) ShardStarted(ShardRef)                    {}
func (nopProgress) Bytes(ShardRef, int64)                    {}
func (nopProgress) ShardDone(ShardRef, int64, uint64, error) {}
func (nopProgress) End(error)                                {}

// LogProgress logs progress (shards done/total, bytes, rate, ETA) every
// Interval while a run is going, and a line per failed shard.
type LogProgress struct {
	log      *slog.Logger
	interval time.Duration

	totalShards int
	totalPoints uint64
	start       time.Time
	bytes       atomic.Int64
	doneShards  atomic.Int64
	donePoints  atomic.Uint64

	stopOnce sync.Once
	stop     chan struct{}
	stopped  chan struct{}
}

// NewLogProgress returns a reporter logging every interval (10 s if zero).
func NewLogProgress(log *slog.Logger, interval time.Duration) *LogProgress {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	return &LogProgress{log: log, interval: interval, stop: make(chan struct{}), stopped: make(chan struct{})}
}

// Begin starts the periodic report.
func (p *LogProgress) Begin(shards int, points uint64) {
	p.totalShards, p.totalPoints, p.start = shards, points, time.Now()
	go func() {
		defer close(p.stopped)
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.report(ProgressMessage)
			case <-p.stop:
				return
			}
		}
	}()
}

// ShardStarted is not logged: starts come in a burst.
func (p *LogProgress) ShardStarted(ShardRef) {}

// Bytes counts bytes.
func (p *LogProgress) Bytes(_ ShardRef, n int64) { p.bytes.Add(n) }

// ShardDone counts a shard; failures are logged at once.
func (p *LogProgress) ShardDone(s ShardRef, _ int64, points uint64, err error) {
	if err != nil {
		p.log.Warn("shard snapshot failed", "collection", s.Collection, "shard", s.ShardID, "peer", s.PeerID, "error", err)
		return
	}
	p.doneShards.Add(1)
	p.donePoints.Add(points)
}

// End stops the periodic report and logs the totals.
func (p *LogProgress) End(error) {
	p.stopOnce.Do(func() {
		close(p.stop)
		if !p.start.IsZero() {
			<-p.stopped
		}
	})
	p.report("backup transfer finished")
}

func (p *LogProgress) report(msg string) {
	elapsed := time.Since(p.start)
	b := p.bytes.Load()
	done := p.doneShards.Load()
	attrs := []any{
		"shards_done", done, "shards_total", p.totalShards,
		"bytes", b, "elapsed", elapsed.Round(time.Second).String(),
	}
	if s := elapsed.Seconds(); s > 0 {
		attrs = append(attrs, "rate_mib_s", float64(int64(float64(b)/s/(1<<20)*100))/100)
	}
	if eta, ok := p.eta(elapsed, done); ok {
		attrs = append(attrs, "eta", eta.Round(time.Second).String())
	}
	p.log.Info(msg, attrs...)
}

// eta extrapolates from the points done so far (shards differ in size, so
// points are a better measure than shards); from shards when the cluster
// reports no points.
func (p *LogProgress) eta(elapsed time.Duration, done int64) (time.Duration, bool) {
	if dp := p.donePoints.Load(); p.totalPoints > 0 && dp > 0 {
		rest := float64(p.totalPoints-min(dp, p.totalPoints)) / float64(dp)
		return time.Duration(float64(elapsed) * rest), true
	}
	if done > 0 && p.totalShards > 0 {
		rest := float64(int64(p.totalShards)-done) / float64(done)
		return time.Duration(float64(elapsed) * rest), true
	}
	return 0, false
}
