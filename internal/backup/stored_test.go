package backup

import (
	"context"
	"testing"
	"time"
)

func TestSecondGuardKeepsSnapshotsOfOneShardInDifferentSeconds(t *testing.T) {
	var g secondGuard
	var times []time.Time
	now := func() time.Time { return time.Now() }
	for range 2 {
		if err := g.wait(context.Background(), "1/docs/0", now); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Now())
	}
	if times[0].Truncate(time.Second).Equal(times[1].Truncate(time.Second)) {
		t.Fatalf("two snapshots of one shard in the same second: %v, %v", times[0], times[1])
	}
	// Other shards and peers are not held back.
	start := time.Now()
	if err := g.wait(context.Background(), "2/docs/0", now); err != nil {
		t.Fatal(err)
	}
	if err := g.wait(context.Background(), "1/docs/1", now); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("unrelated snapshots waited %v", d)
	}
}

func TestSecondGuardGivesUpWhenCancelled(t *testing.T) {
	var g secondGuard
	now := func() time.Time { return time.Now() }
	if err := g.wait(context.Background(), "k", now); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if time.Until(time.Now().Truncate(time.Second).Add(time.Second)) < 5*time.Millisecond {
		t.Skip("too close to a second boundary to observe the wait")
	}
	if err := g.wait(ctx, "k", now); err == nil {
		t.Fatal("a cancelled wait succeeded")
	}
}

func TestSecondGuardDoesNotHoldOtherShardsWhileOneWaits(t *testing.T) {
	var g secondGuard
	now := func() time.Time { return time.Now() }
	_ = g.wait(context.Background(), "1/docs/0", now)
	waiting := make(chan struct{})
	go func() {
		_ = g.wait(context.Background(), "1/docs/0", now) // waits for the next second
		close(waiting)
	}()
	time.Sleep(5 * time.Millisecond)
	start := time.Now()
	_ = g.wait(context.Background(), "1/docs/1", now)
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("another shard waited %v behind a waiting one", d)
	}
	<-waiting
}
