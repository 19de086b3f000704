package backup

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Starting a streamed shard snapshot is what fixes its content: Qdrant
// proxies the shard's segments when the request arrives and the archive
// then reflects that moment, however slowly the client reads it
// (proxy_all_segments_and_apply in
// lib/collection/src/shards/local_shard/snapshot.rs: the wrapped segments
// no longer change; the stream waits on TCP flow control meanwhile). Opening every stream of
// the set at once, before transferring any, therefore brings the shards of
// a set within milliseconds of each other, where starting each shard when
// a transfer slot frees spreads them over the whole run.
const (
	// DefaultPrestartStreams bounds the streams held open before their
	// transfer: each costs the peer a proxied shard and an idle
	// connection, and this side a connection's buffers (a few KiB).
	DefaultPrestartStreams = 128
	// DefaultPrestartMaxWait is how long an opened stream may wait for its
	// transfer. Qdrant from 1.18.2 aborts a stream the client has not read
	// for 5 minutes (the snapshot stream's write timeout); a stream that
	// waited longer than this is closed and opened again when its turn
	// comes, which moves that shard's start (the window records it).
	DefaultPrestartMaxWait = 4 * time.Minute
	// prestartOpens is how many stream requests are in flight at once
	// while opening. Every request is sent before any answer is awaited
	// (the default limit opens in one wave): at 32 in flight, 3 peers ×
	// 24 shards opened in three waves and started over 227 ms, above
	// the 100 ms goal. An open costs the peer little (it freezes the
	// shard's segments and starts the writer, lib/collection/src/shards/
	// shard_holder/mod.rs stream_shard_snapshot).
	prestartOpens = DefaultPrestartStreams
)

// prestarted is a stream opened ahead of its transfer.
type prestarted struct {
	src io.ReadCloser
	at  time.Time
	err error
	// cancel ends the stream's request, and with it a blocked read.
	cancel context.CancelFunc
	taken  atomic.Bool
}

// take hands the stream to its transfer, at most once.
func (p *prestarted) take() bool { return p != nil && p.taken.CompareAndSwap(false, true) }

// release ends a stream no transfer reads.
func (p *prestarted) release() {
	if p.src != nil {
		_ = p.src.Close()
	}
	p.cancel()
}

// prestart opens the snapshot streams of jobs, in the order the dispatch
// will take them, up to PrestartStreams, prestartOpens requests at a time.
// A stream that fails to open (after the retries of a transient refusal)
// fails its transfer with that error, as if opened in turn. started(i) is
// called once job i's stream is open or failed. The returned function
// ends every stream no transfer took.
func (r *run) prestart(ctx context.Context, jobs []job, order []int, started func(int)) ([]*prestarted, func()) {
	out := make([]*prestarted, len(jobs))
	n := min(len(order), r.opts.PrestartStreams)
	sem := make(chan struct{}, prestartOpens)
	var wg sync.WaitGroup
	for _, i := range order[:n] {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			defer started(i)
			j := jobs[i]
			// Each stream has its own request context, so that its
			// transfer can end it (a stall, a failure) without ending
			// the others.
			sctx, cancel := context.WithCancel(ctx)
			p := &prestarted{at: r.now(), cancel: cancel}
			p.err = retryStart(sctx, func() error {
				var err error
				p.src, err = r.deps.Peers[j.PeerID].StreamShardSnapshot(sctx, j.Collection, j.ShardID)
				return err
			})
			out[i] = p
		}()
	}
	wg.Wait()
	if n < len(order) {
		r.log.Info("more shards than streams opened ahead: the others start when a transfer slot frees",
			"shards", len(order), "opened_ahead", n, "limit", r.opts.PrestartStreams)
	}
	return out, func() {
		for _, p := range out {
			if p.take() {
				p.release()
			}
		}
	}
}
