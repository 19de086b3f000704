package bench

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

// job is one shard on the peer that serves or receives it.
type job struct {
	shard uint32
	peer  uint64
}

// jobsOf lists the shards of a placement, interleaved by peer the way a
// bounded fan-out would start them.
func jobsOf(placement map[uint32]uint64, shards int) []job {
	out := make([]job, 0, shards)
	for id := range shards {
		out = append(out, job{shard: uint32(id), peer: placement[uint32(id)]})
	}
	return out
}

// fanOut runs fn for every job with at most global at once and at most
// perPeer at once on one peer: the same limits the product applies, so the
// plain-HTTP baseline gets the same parallelism.
func fanOut(ctx context.Context, jobs []job, global, perPeer int, fn func(context.Context, job) error) error {
	sems := map[uint64]chan struct{}{}
	for _, j := range jobs {
		if sems[j.peer] == nil {
			sems[j.peer] = make(chan struct{}, perPeer)
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(global)
	for _, j := range jobs {
		sem := sems[j.peer]
		sem <- struct{}{}
		g.Go(func() error {
			defer func() { <-sem }()
			return fn(ctx, j)
		})
	}
	return g.Wait()
}

// copyBuf copies with a 1 MiB buffer and hides ReadFrom/WriteTo so that
// the buffer size, not an implementation's default, sets the write size.
func copyBuf(w io.Writer, r io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{r}, make([]byte, 1<<20))
}

// rawStream downloads every shard's streaming snapshot with plain HTTP and
// throws the bytes away: what the peers can serve, with nothing done to
// the data.
func rawStream(ctx context.Context, urls map[uint64]string, jobs []job, global, perPeer int) (int64, error) {
	var total atomic.Int64
	err := fanOut(ctx, jobs, global, perPeer, func(ctx context.Context, j job) error {
		u := fmt.Sprintf("%s/collections/%s/shards/%d/snapshot", urls[j.peer], benchCollection, j.shard)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		n, err := copyBuf(io.Discard, resp.Body)
		total.Add(n)
		return err
	})
	return total.Load(), err
}

// upload is one snapshot file sent to a shard.
type upload struct {
	job
	file, checksum string
}

// rawUpload posts every snapshot file to its peer's upload endpoint with
// plain HTTP: multipart, 1 MiB writes, the same checksum and priority the
// product sends, so the peer does the same work for both.
func rawUpload(ctx context.Context, urls map[uint64]string, ups []upload, global, perPeer int) (int64, error) {
	byJob := map[job]upload{}
	jobs := make([]job, 0, len(ups))
	for _, u := range ups {
		byJob[u.job] = u
		jobs = append(jobs, u.job)
	}
	var total atomic.Int64
	err := fanOut(ctx, jobs, global, perPeer, func(ctx context.Context, j job) error {
		up := byJob[j]
		f, err := os.Open(up.file)
		if err != nil {
			return err
		}
		defer f.Close()
		q := url.Values{"wait": {"true"}, "priority": {"no_sync"}, "checksum": {up.checksum}}
		u := fmt.Sprintf("%s/collections/%s/shards/%d/snapshots/upload?%s", urls[j.peer], benchCollection, j.shard, q.Encode())
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			part, err := mw.CreateFormFile("snapshot", "shard.snapshot")
			if err == nil {
				var n int64
				n, err = copyBuf(part, f)
				total.Add(n)
			}
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, pr)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := http.DefaultClient.Do(req)
		pr.Close()
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("upload shard %d: %s %s", j.shard, resp.Status, body)
		}
		return nil
	})
	return total.Load(), err
}

// cpuTime is the user+system CPU time of this process. Peers and tool share
// the process, so it is the cost of both ends.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// span is the wall and CPU time of what ran between two marks.
type span struct{ wall, cpu time.Duration }

func (s *span) add(start time.Time, cpu0 time.Duration) {
	s.wall += time.Since(start)
	s.cpu += cpuTime() - cpu0
}

// heapPeak samples HeapInuse while work runs and gives the peak growth over
// the heap in use when it started (after a GC).
type heapPeak struct {
	base uint64
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func startHeapPeak() *heapPeak {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h := &heapPeak{base: ms.HeapInuse, stop: make(chan struct{}), done: make(chan struct{})}
	h.peak.Store(ms.HeapInuse)
	go func() {
		defer close(h.done)
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
		}
	}()
	return h
}

// Stop ends sampling and returns the peak growth in bytes.
func (h *heapPeak) Stop() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load() - h.base
}
