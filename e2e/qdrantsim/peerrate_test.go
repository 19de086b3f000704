package qdrantsim

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"
)

// fakeRate is a peerRate on a clock that only moves when it sleeps, so the
// booked time can be checked exactly.
func fakeRate(rate int64) (*peerRate, *time.Duration) {
	var mu sync.Mutex
	var slept time.Duration
	start := time.Unix(0, 0)
	l := newPeerRate(rate)
	l.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return start.Add(slept)
	}
	l.sleep = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		if d > 0 {
			slept += d
		}
		return nil
	}
	return l, &slept
}

func TestPeerRateBooksBytesOverRate(t *testing.T) {
	tests := []struct {
		name    string
		rate    int64
		streams int
		each    int
		// want is the clock time the transfer must take at least.
		want time.Duration
	}{
		{"one stream", 1 << 20, 1, 4 << 20, 4*time.Second - rateBurst},
		{"streams share the peer's rate", 1 << 20, 4, 1 << 20, 4*time.Second - rateBurst},
		{"small writes add up", 10 << 20, 1, 1 << 20, 100*time.Millisecond - rateBurst},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, slept := fakeRate(tt.rate)
			for range tt.streams {
				w := l.writer(context.Background(), io.Discard)
				// Writes of 64 KiB, below the chunk size, as a stream does.
				for range tt.each / (64 << 10) {
					if _, err := w.Write(make([]byte, 64<<10)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if *slept < tt.want-time.Millisecond || *slept > tt.want+2*rateBurst {
				t.Errorf("slept %v, want about %v", *slept, tt.want)
			}
		})
	}
}

func TestPeerRateReaderPacesAndPassesData(t *testing.T) {
	l, slept := fakeRate(2 << 20)
	src := bytes.Repeat([]byte("q"), 3<<20)
	got, err := io.ReadAll(l.reader(context.Background(), bytes.NewReader(src)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(src))
	}
	if want := 1500*time.Millisecond - rateBurst - time.Millisecond; *slept < want {
		t.Errorf("slept %v, want at least %v for 3 MiB at 2 MiB/s", *slept, want)
	}
}

func TestPeerRateZeroIsUnlimited(t *testing.T) {
	var buf bytes.Buffer
	if w := newPeerRate(0).writer(context.Background(), &buf); w != &buf {
		t.Errorf("rate 0 wraps the writer: %T", w)
	}
	var nilRate *peerRate
	if err := nilRate.wait(context.Background(), 1<<30); err != nil {
		t.Errorf("nil limiter: %v", err)
	}
}

func TestPeerRateStopsWithContext(t *testing.T) {
	l := newPeerRate(1024) // 1 KiB/s: a 256 KiB chunk books minutes
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	w := l.writer(ctx, io.Discard)
	start := time.Now()
	if _, err := w.Write(make([]byte, rateChunk)); err == nil {
		t.Fatal("write went through a cancelled limiter")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled write returned after %v", d)
	}
}

// TestPeerRateCapsSnapshotStreams checks the knob end to end: a peer's
// streamed shard snapshot takes at least its size over the rate, and two
// streams from the same peer share that rate.
func TestPeerRateCapsSnapshotStreams(t *testing.T) {
	const rate = 8 << 20
	c := startCluster(t, Options{Peers: 1, PeerRate: rate})
	cl := newClient(t, c.Peers()[0])
	createCollection(t, cl, "bulk", 2, 1)
	const size = 2 << 20
	for id := range uint32(2) {
		if err := c.SetSyntheticShard(context.Background(), "bulk", id, size, uint64(id)+1); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	var n [2]int64
	for id := range 2 {
		wg.Go(func() {
			_, n[id] = streamSum(t, c.Peers()[0].URL()+"/collections/bulk/shards/"+itoa(int64(id))+"/snapshot")
		})
	}
	wg.Wait()
	total := n[0] + n[1]
	if want := time.Duration(float64(total)/rate*float64(time.Second)) - rateBurst; time.Since(start) < want {
		t.Errorf("%d bytes from one peer in %v, want at least %v at %d B/s", total, time.Since(start), want, rate)
	}
}
