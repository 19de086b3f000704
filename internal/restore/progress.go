package restore

import (
	"log/slog"
	"sync"
	"time"
)

// ProgressMessage is the message of the periodic progress line; the
// kubectl plugin follows a restore Job's log and shows these lines, so the
// message and the attribute names below are a contract with it.
const ProgressMessage = "restore progress"

// PhaseProgress is a Progress that is also told when a phase starts and
// which shards an earlier run of the same restore recovered, so that what
// it shows adds up to the whole restore.
type PhaseProgress interface {
	Progress
	PhaseStarted(name string)
	ShardSkipped(collection string, shard uint32)
}

// LogProgress logs a progress line (phase, shards and bytes done and in
// all, elapsed, ETA) when a phase starts and every interval while the
// shards are recovered, the long part of a restore. Bytes are counted per
// recovered shard: recovery is a single call per shard on the peer's side,
// so there is nothing finer to count.
type LogProgress struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu          sync.Mutex
	phase       string
	start       time.Time
	shardsTotal int
	bytesTotal  int64
	shardsDone  int
	bytesDone   int64
	// recoverStart and the bytes done before it (by an earlier run) give
	// the rate the ETA extrapolates.
	recoverStart time.Time
	bytesSkipped int64
	failed       int
	sizes        map[progressShard]int64

	stopOnce sync.Once
	stop     chan struct{}
	ticking  bool
	stopped  chan struct{}
}

var _ PhaseProgress = (*LogProgress)(nil)

// NewLogProgress returns a reporter for a restore of plan, logging every
// interval (10 s if zero) while shards are recovered.
func NewLogProgress(log *slog.Logger, interval time.Duration, plan *RestorePlan) *LogProgress {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	p := &LogProgress{
		log: log, interval: interval, now: time.Now,
		sizes: map[progressShard]int64{},
		stop:  make(chan struct{}), stopped: make(chan struct{}),
	}
	for _, c := range plan.Collections {
		for _, s := range c.Shards {
			if s.Object != "" {
				p.shardsTotal++
				p.bytesTotal += s.Size
				p.sizes[progressShard{c.Target, s.ID}] = s.Size
			}
		}
	}
	p.start = p.now()
	return p
}

// PhaseStarted logs the new phase at once and starts the periodic line
// for the recover phase.
func (p *LogProgress) PhaseStarted(name string) {
	p.mu.Lock()
	p.phase = name
	startTicker := name == PhaseRecover && !p.ticking
	if startTicker {
		p.ticking = true
		p.recoverStart = p.now()
	}
	p.mu.Unlock()
	p.report()
	if startTicker {
		go p.tick()
	}
}

func (p *LogProgress) tick() {
	defer close(p.stopped)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.report()
		case <-p.stop:
			return
		}
	}
}

// ShardStarted is not logged: starts come in a burst.
func (p *LogProgress) ShardStarted(string, uint32, uint64, int64) {}

// ShardDone counts a recovered shard; a failed one is counted apart (the
// executor logs the failure itself).
func (p *LogProgress) ShardDone(collection string, shard uint32, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failed++
		return
	}
	p.shardsDone++
	p.bytesDone += p.sizes[progressShard{collection, shard}]
}

// progressShard names a shard as the executor reports it: the
// collection's target name and the backup's shard id.
type progressShard struct {
	collection string
	shard      uint32
}

// ShardSkipped counts a shard an earlier run recovered as done.
func (p *LogProgress) ShardSkipped(collection string, shard uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.sizes[progressShard{collection, shard}]
	p.shardsDone++
	p.bytesDone += n
	p.bytesSkipped += n
}

// PhaseFinished is the phase of the last progress line, logged when the
// run stops (whether or not it succeeded).
const PhaseFinished = "finished"

// Stop ends the periodic line and logs a last one.
func (p *LogProgress) Stop() {
	p.stopOnce.Do(func() {
		close(p.stop)
		p.mu.Lock()
		ticking := p.ticking
		p.mu.Unlock()
		if ticking {
			<-p.stopped
		}
	})
	p.mu.Lock()
	p.phase = PhaseFinished
	p.mu.Unlock()
	p.report()
}

func (p *LogProgress) report() {
	p.mu.Lock()
	now := p.now()
	attrs := []any{
		"phase", p.phase,
		"shards_done", p.shardsDone, "shards_total", p.shardsTotal,
		"bytes_done", p.bytesDone, "bytes_total", p.bytesTotal,
		"elapsed", now.Sub(p.start).Round(time.Second).String(),
	}
	if p.failed > 0 {
		attrs = append(attrs, "shards_failed", p.failed)
	}
	if eta, ok := p.eta(now); ok {
		attrs = append(attrs, "eta", eta.Round(time.Second).String())
	}
	p.mu.Unlock()
	p.log.Info(ProgressMessage, attrs...)
}

// eta extrapolates the rest of the recover phase from the bytes this run
// recovered so far; none before the first shard is done or outside the
// recover phase.
func (p *LogProgress) eta(now time.Time) (time.Duration, bool) {
	moved := p.bytesDone - p.bytesSkipped
	if p.phase != PhaseRecover || moved <= 0 || p.recoverStart.IsZero() {
		return 0, false
	}
	rest := float64(p.bytesTotal-p.bytesDone) / float64(moved)
	return time.Duration(float64(now.Sub(p.recoverStart)) * max(rest, 0)), true
}
