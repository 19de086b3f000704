package backup

import (
	"context"
	"testing"
	"time"
)

// bigCluster has 24 one-replica shards spread over 3 peers, each read
// slowly enough that transferring them two at a time takes a while.
func bigCluster() *fakeCluster {
	c := newFakeCluster()
	var placement [][]uint64
	for i := range 24 {
		placement = append(placement, []uint64{uint64(i%3 + 1)})
	}
	c.addCollection("big", 1, placement)
	c.slowRead = time.Millisecond
	return c
}

func TestRunOpensEveryStreamBeforeTransferringAny(t *testing.T) {
	skew := map[string]time.Duration{}
	for _, tt := range []struct {
		name     string
		prestart int
		wantOpen int
	}{
		{"streams opened ahead", 0, 24},
		{"each stream opened in turn", -1, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := bigCluster()
			res, err := Run(context.Background(), Options{Cluster: "prod", Concurrency: 2, PerPeerConcurrency: 1, PrestartStreams: tt.prestart},
				testDeps(c, newFakeStore(), nil))
			if err != nil {
				t.Fatal(err)
			}
			if c.maxOpen != tt.wantOpen {
				t.Errorf("%d streams open at once, want %d", c.maxOpen, tt.wantOpen)
			}
			if c.maxActive > 2 {
				t.Errorf("%d streams transferred at once, limit 2", c.maxActive)
			}
			w := res.Manifest.Window
			skew[tt.name] = w.LastStart.Sub(w.FirstStart)
			t.Logf("window %s over %s", skew[tt.name], res.Elapsed)
		})
	}
	ahead, inTurn := skew["streams opened ahead"], skew["each stream opened in turn"]
	if ahead*5 > inTurn {
		t.Errorf("shards started within %s opened ahead, %s in turn: want far closer together ahead", ahead, inTurn)
	}
}

func TestRunBoundsTheStreamsOpenedAhead(t *testing.T) {
	c := bigCluster()
	if _, err := Run(context.Background(), Options{Cluster: "prod", Concurrency: 2, PerPeerConcurrency: 1, PrestartStreams: 5},
		testDeps(c, newFakeStore(), nil)); err != nil {
		t.Fatal(err)
	}
	if c.startCalls != 24 {
		t.Errorf("%d stream starts, want 24 (one per shard)", c.startCalls)
	}
	if c.maxOpen > 5+2 {
		t.Errorf("%d streams open at once, want at most 5 ahead plus 2 in transfer", c.maxOpen)
	}
}

func TestRunReopensAStreamThatWaitedTooLong(t *testing.T) {
	c := bigCluster()
	res, err := Run(context.Background(), Options{Cluster: "prod", Concurrency: 2, PerPeerConcurrency: 1, PrestartMaxWait: time.Nanosecond},
		testDeps(c, newFakeStore(), nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.startCalls != 2*24 {
		t.Errorf("%d stream starts, want 48: each stream opened ahead, then again when its wait was over", c.startCalls)
	}
	if c.open != 0 {
		t.Errorf("%d streams left open", c.open)
	}
	if n := len(res.Manifest.Collection("big").Shards); n != 24 {
		t.Errorf("%d shards in the set, want 24", n)
	}
}
