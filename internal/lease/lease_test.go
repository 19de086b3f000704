package lease

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/storage"
)

// The hook a pipeline takes: Holder must keep exactly this shape.
var _ func(context.Context) (context.Context, func(), error) = Holder(Options{})

// fakeCatalog is a catalog with one lease row per name.
type fakeCatalog struct {
	mu   sync.Mutex
	rows map[string]*fakeLease
}

type fakeLease struct {
	c       *fakeCatalog
	name    string
	holder  string
	since   time.Time
	expires time.Time
	ttl     time.Duration
	lost    bool
	// hang makes Renew wait for its context (a catalog that stopped
	// answering); failWith makes it fail at once.
	hang     bool
	failWith error
}

func newFakeCatalog() *fakeCatalog { return &fakeCatalog{rows: map[string]*fakeLease{}} }

func (c *fakeCatalog) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lock, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if l := c.rows[name]; l != nil && now.Before(l.expires) {
		return nil, &HeldError{Lock: name, Holder: l.holder, Since: l.since, Expires: l.expires}
	}
	l := &fakeLease{c: c, name: name, holder: holder, since: now, expires: now.Add(ttl), ttl: ttl}
	c.rows[name] = l
	return l, nil
}

func (l *fakeLease) Renew(ctx context.Context) error {
	l.c.mu.Lock()
	if l.hang {
		l.c.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	defer l.c.mu.Unlock()
	if l.failWith != nil {
		return l.failWith
	}
	if l.lost || l.c.rows[l.name] != l {
		return ErrLost
	}
	l.expires = time.Now().Add(l.ttl)
	return nil
}

func (l *fakeLease) Release(ctx context.Context) error {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if l.c.rows[l.name] == l {
		delete(l.c.rows, l.name)
	}
	return nil
}

// variants run a test against both places the lock can live.
func variants() []struct {
	name string
	opts func() Options
} {
	return []struct {
		name string
		opts func() Options
	}{
		{"storage lock object", func() Options {
			st := storage.NewMemory()
			return Options{Cluster: "prod", Store: st}
		}},
		{"catalog lease", func() Options {
			cat := newFakeCatalog()
			return Options{Cluster: "prod", Catalog: cat}
		}},
	}
}

func TestASecondHolderIsRefusedNamingTheFirst(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			base := v.opts()
			first := base
			first.Holder, first.Operation, first.TTL = "backup-pod", "backup 20261206T070000Z-abcd", time.Minute
			held, release, err := Hold(context.Background(), first)
			if err != nil {
				t.Fatal(err)
			}
			defer release()

			second := base
			second.Holder, second.Operation = "restore-pod", "restore of backup 20261205T000000Z-0000"
			_, _, err = Hold(context.Background(), second)
			var he *HeldError
			if !errors.Is(err, ErrHeld) || !errors.As(err, &he) {
				t.Fatalf("second Hold = %v, want a HeldError", err)
			}
			for _, want := range []string{"backup-pod", "backup 20261206T070000Z-abcd"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if held.Err() != nil {
				t.Fatalf("the first holder's context ended: %v", context.Cause(held))
			}
			release()
			release() // idempotent
			if held.Err() == nil {
				t.Error("the held context outlives release")
			}
			// Released: the second run gets it now.
			_, release2, err := Hold(context.Background(), second)
			if err != nil {
				t.Fatalf("Hold after release: %v", err)
			}
			release2()
		})
	}
}

func TestAnExpiredLockOfADeadHolderIsTakenOver(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			base := v.opts()
			dead := base
			dead.Holder, dead.TTL = "crashed-pod", 50*time.Millisecond
			// Taken and never renewed nor released: the holder crashed.
			if _, err := acquire(context.Background(), mustDefaults(t, dead)); err != nil {
				t.Fatal(err)
			}
			rerun := base
			rerun.Holder = "rerun-pod"
			if _, _, err := Hold(context.Background(), rerun); !errors.Is(err, ErrHeld) {
				t.Fatalf("Hold before expiry = %v, want ErrHeld", err)
			}
			time.Sleep(80 * time.Millisecond)
			_, release, err := Hold(context.Background(), rerun)
			if err != nil {
				t.Fatalf("Hold after expiry = %v, want the lock", err)
			}
			release()
		})
	}
}

func mustDefaults(t *testing.T, o Options) Options {
	t.Helper()
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// lossTTL is the lifetime of the locks whose loss is tested: renewals
// come at a third of it, and each must finish within what is left of two
// thirds, so a loaded machine (a test run beside others on two cores)
// must not make a slow renewal look like the loss being tested.
const lossTTL = 600 * time.Millisecond

func TestLosingTheLockCancelsTheHeldContext(t *testing.T) {
	t.Run("storage lock object overwritten by another run", func(t *testing.T) {
		st := storage.NewMemory()
		held, release, err := Hold(context.Background(), Options{Cluster: "prod", Holder: "me", Store: st, TTL: lossTTL})
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		intruder := `{"holder":"intruder","since":"2026-12-06T07:00:00Z","expires":"2099-01-01T00:00:00Z","token":"x"}`
		if err := st.Put(context.Background(), manifest.LockKey("prod"), strings.NewReader(intruder)); err != nil {
			t.Fatal(err)
		}
		assertLost(t, held, "intruder")
		release()
		if rec, err := ReadRecord(context.Background(), st, "prod"); err != nil || rec.Holder != "intruder" {
			t.Errorf("release removed the other run's lock: %+v, %v", rec, err)
		}
	})
	t.Run("catalog lease lost", func(t *testing.T) {
		cat := newFakeCatalog()
		held, release, err := Hold(context.Background(), Options{Cluster: "prod", Holder: "me", Catalog: cat, TTL: lossTTL})
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		cat.mu.Lock()
		cat.rows[Name("prod")].lost = true
		cat.mu.Unlock()
		assertLost(t, held, "")
	})
}

func assertLost(t *testing.T, held context.Context, naming string) {
	t.Helper()
	select {
	case <-held.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the held context went on without its lock")
	}
	cause := context.Cause(held)
	if !errors.Is(cause, ErrLost) || !strings.Contains(cause.Error(), naming) {
		t.Fatalf("cause %v, want ErrLost naming %q", cause, naming)
	}
}

// TestFailingRenewalsStopTheRunBeforeTheLockExpires: renewals that fail
// or hang cancel the held context within two thirds of the ttl, naming
// the failure, so the run stops before another can take the lock.
func TestFailingRenewalsStopTheRunBeforeTheLockExpires(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(*fakeLease)
		want    string
	}{
		{"renewals fail", func(l *fakeLease) { l.failWith = errors.New("connection refused") }, "connection refused"},
		{"renewals hang", func(l *fakeLease) { l.hang = true }, "deadline exceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cat := newFakeCatalog()
			const ttl = 600 * time.Millisecond
			held, release, err := Hold(context.Background(), Options{Cluster: "prod", Holder: "me", Catalog: cat, TTL: ttl})
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			cat.mu.Lock()
			l := cat.rows[Name("prod")]
			c.breakIt(l)
			cat.mu.Unlock()
			broken := time.Now()
			select {
			case <-held.Done():
			case <-time.After(5 * ttl):
				t.Fatal("the run went on after its lock expired")
			}
			cat.mu.Lock()
			expires := l.expires
			cat.mu.Unlock()
			if stopped := time.Now(); !stopped.Before(expires) {
				t.Errorf("stopped %s after the lock expired", stopped.Sub(expires))
			}
			t.Logf("stopped %s after the renewals broke (ttl %s)", time.Since(broken).Round(time.Millisecond), ttl)
			cause := context.Cause(held)
			for _, want := range []string{c.want, "--lease-ttl"} {
				if !errors.Is(cause, ErrLost) || !strings.Contains(cause.Error(), want) {
					t.Errorf("cause %v, want ErrLost naming %q", cause, want)
				}
			}
		})
	}
}

func TestTheLockIsRenewedWhileHeld(t *testing.T) {
	st := storage.NewMemory()
	ttl := 90 * time.Millisecond
	held, release, err := Hold(context.Background(), Options{Cluster: "prod", Holder: "me", Operation: "restore of backup x", Store: st, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	first, err := ReadRecord(context.Background(), st, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if first.Operation != "restore of backup x" {
		t.Errorf("recorded operation %q", first.Operation)
	}
	time.Sleep(3 * ttl)
	if held.Err() != nil {
		t.Fatalf("held context ended: %v", context.Cause(held))
	}
	renewed, err := ReadRecord(context.Background(), st, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if !renewed.Expires.After(first.Expires) || renewed.Token != first.Token {
		t.Fatalf("lock not renewed: %+v then %+v", first, renewed)
	}
	release()
	if _, err := ReadRecord(context.Background(), st, "prod"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("lock object after release: %v, want none", err)
	}
}

func TestCatalogHolderNamesTheOperation(t *testing.T) {
	cat := newFakeCatalog()
	_, release, err := Hold(context.Background(), Options{Cluster: "prod", Holder: "pod-a", Operation: "restore of backup b1", Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, _, err = Hold(context.Background(), Options{Cluster: "prod", Holder: "pod-b", Operation: "backup b2", Catalog: cat})
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "pod-a (restore of backup b1)") {
		t.Fatalf("error %v, want ErrHeld naming pod-a and its restore", err)
	}
}

func TestWaitingForAHeldLock(t *testing.T) {
	tests := []struct {
		name string
		// holder is what the first run does with its lock while the
		// second waits.
		holder    func(release func())
		wait      time.Duration
		wantTaken bool
	}{
		{name: "a dead holder's lock is taken over once it expires", holder: nil, wait: 2 * time.Second, wantTaken: true},
		{name: "a released lock is taken", holder: func(release func()) { time.AfterFunc(100*time.Millisecond, release) }, wait: 10 * time.Second, wantTaken: true},
		{name: "a live holder outlasts the wait", holder: func(func()) {}, wait: 400 * time.Millisecond},
	}
	for _, v := range variants() {
		for _, tt := range tests {
			t.Run(v.name+"/"+tt.name, func(t *testing.T) {
				base := v.opts()
				first := base
				first.Holder, first.TTL = "first-pod", 150*time.Millisecond
				if tt.holder == nil {
					// Taken and never renewed nor released: the holder died.
					if _, err := acquire(context.Background(), mustDefaults(t, first)); err != nil {
						t.Fatal(err)
					}
				} else {
					_, release, err := Hold(context.Background(), first)
					if err != nil {
						t.Fatal(err)
					}
					defer release()
					tt.holder(release)
				}
				second := base
				second.Holder, second.Wait = "second-pod", tt.wait
				start := time.Now()
				_, release, err := Hold(context.Background(), second)
				took := time.Since(start)
				if !tt.wantTaken {
					if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "waited") {
						t.Fatalf("Hold = %v, want ErrHeld saying how long it waited", err)
					}
					if took < tt.wait {
						t.Errorf("gave up after %s, before the %s wait", took, tt.wait)
					}
					return
				}
				if err != nil {
					t.Fatalf("Hold = %v, want the lock within %s", err, tt.wait)
				}
				release()
				if took >= tt.wait {
					t.Errorf("took %s, the whole wait", took)
				}
			})
		}
	}
	t.Run("cancelled while waiting", func(t *testing.T) {
		st := storage.NewMemory()
		_, release, err := Hold(context.Background(), Options{Cluster: "prod", Holder: "first", Store: st})
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, _, err = Hold(ctx, Options{Cluster: "prod", Holder: "second", Store: st, Wait: time.Minute})
		if !errors.Is(err, ErrHeld) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Hold = %v, want ErrHeld and the cancellation", err)
		}
	})
}
