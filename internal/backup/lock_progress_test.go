package backup

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/lease"
	"github.com/qbackup/qbackup/internal/manifest"
)

func TestTheStorageLockIsRenewedWhileRunningAndLosingItStopsTheRun(t *testing.T) {
	c := testCluster()
	c.block["docs/0"] = true
	store := newFakeStore()
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), Options{Cluster: "prod", Holder: "me", LeaseTTL: 900 * time.Millisecond}, testDeps(c, store, nil))
		done <- err
	}()
	<-c.blocked
	first, err := lease.ReadRecord(context.Background(), store, "prod")
	if err != nil {
		t.Fatal(err)
	}
	// Renewed every third of the TTL (300 ms); the run gives up after
	// 600 ms without a renewal, which a loaded machine must not reach.
	time.Sleep(700 * time.Millisecond)
	renewed, err := lease.ReadRecord(context.Background(), store, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if !renewed.Expires.After(first.Expires) || renewed.Token != first.Token {
		t.Fatalf("lock not renewed: %+v then %+v", first, renewed)
	}
	// Someone else takes the lock (e.g. after a long pause of this run).
	store.set(manifest.LockKey("prod"), lockJSON(t, "intruder", time.Now(), time.Now().Add(time.Hour)), time.Now())
	select {
	case err := <-done:
		if !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "intruder") {
			t.Fatalf("error %v, want ErrLockLost naming the new holder", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run went on without its lock")
	}
	for _, k := range store.keys() {
		if k != manifest.LockKey("prod") {
			t.Errorf("object left: %s", k)
		}
	}
	if rec, _ := lease.ReadRecord(context.Background(), store, "prod"); rec == nil || rec.Holder != "intruder" {
		t.Errorf("the other run's lock was removed: %+v", rec)
	}
}

// recordingHandler keeps log records.
type recordingHandler struct {
	mu   sync.Mutex
	recs []string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, b.String())
	h.mu.Unlock()
	return nil
}

func (h *recordingHandler) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.recs...)
}

func TestLogProgressReportsPeriodicallyWithRateAndETA(t *testing.T) {
	h := &recordingHandler{}
	p := NewLogProgress(slog.New(h), 20*time.Millisecond)
	p.Begin(4, 400)
	s := ShardRef{Collection: "docs", ShardID: 0, PeerID: 1}
	p.ShardStarted(s)
	p.Bytes(s, 5<<20)
	p.ShardDone(s, 5<<20, 100, nil)
	p.ShardDone(ShardRef{Collection: "docs", ShardID: 1, PeerID: 2}, 0, 0, errBoom)
	time.Sleep(70 * time.Millisecond)
	p.End(nil)
	lines := h.lines()
	var periodic int
	for _, l := range lines {
		if strings.HasPrefix(l, "backup progress") {
			periodic++
			for _, want := range []string{"shards_done=1", "shards_total=4", "bytes=5242880", "rate_mib_s=", "eta="} {
				if !strings.Contains(l, want) {
					t.Errorf("progress line %q lacks %q", l, want)
				}
			}
		}
	}
	if periodic < 2 {
		t.Errorf("%d periodic lines in 70ms at a 20ms interval: %v", periodic, lines)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "shard snapshot failed") {
		t.Errorf("the failed shard was not logged: %v", lines)
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "backup transfer finished") {
		t.Errorf("last line %q", last)
	}
}
