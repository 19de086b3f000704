package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var (
	errTransient = errors.New("transient")
	errPermanent = errors.New("permanent")
)

func TestDo(t *testing.T) {
	transientOnly := func(err error) bool { return errors.Is(err, errTransient) }
	tests := []struct {
		name      string
		policy    Policy
		results   []error // fn's answers in order; nil ends the list
		wantCalls int
		wantErr   error
	}{
		{name: "first call succeeds", policy: Policy{Attempts: 3}, results: []error{nil}, wantCalls: 1},
		{name: "transient then success", policy: Policy{Attempts: 3, Retryable: transientOnly}, results: []error{errTransient, errTransient, nil}, wantCalls: 3},
		{name: "attempts used up", policy: Policy{Attempts: 2, Retryable: transientOnly}, results: []error{errTransient, errTransient, nil}, wantCalls: 2, wantErr: errTransient},
		{name: "permanent error stops at once", policy: Policy{Attempts: 5, Retryable: transientOnly}, results: []error{errPermanent, nil}, wantCalls: 1, wantErr: errPermanent},
		{name: "nil Retryable retries everything", policy: Policy{Attempts: 3}, results: []error{errPermanent, nil}, wantCalls: 2},
		{name: "zero attempts means one", policy: Policy{}, results: []error{errTransient, nil}, wantCalls: 1, wantErr: errTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.policy.Base = time.Millisecond
			calls, retries := 0, 0
			tt.policy.OnRetry = func(attempt int, _ time.Duration, _ error) {
				retries++
				if attempt != calls {
					t.Errorf("OnRetry attempt %d after call %d", attempt, calls)
				}
			}
			err := Do(context.Background(), tt.policy, func(context.Context) error {
				calls++
				return tt.results[calls-1]
			})
			if calls != tt.wantCalls || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Do: %d calls, err %v; want %d calls, err %v", calls, err, tt.wantCalls, tt.wantErr)
			}
			if retries != calls-1 {
				t.Errorf("OnRetry told of %d retries for %d calls", retries, calls)
			}
		})
	}
}

func TestDoStopsWaitingWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("shutting down")
	time.AfterFunc(50*time.Millisecond, func() { cancel(cause) })
	start := time.Now()
	err := Do(ctx, Policy{Attempts: 3, Base: time.Hour}, func(context.Context) error { return errTransient })
	if !errors.Is(err, errTransient) || !errors.Is(err, cause) {
		t.Fatalf("err %v, want the last error and the cause", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %s: waited out the backoff after cancellation", took)
	}
}

func TestWaitDoublesUpToTheCap(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	for i, w := range want {
		if got := p.Wait(i + 1); got != w {
			t.Errorf("Wait(%d) = %s, want %s", i+1, got, w)
		}
	}
	if d := p.Wait(70); d != time.Second {
		t.Errorf("Wait(70) = %s: a huge attempt number overflowed the cap", d)
	}
	if d := (Policy{Base: time.Second}).Wait(200); d <= 0 {
		t.Errorf("uncapped Wait(200) = %s, want a positive wait", d)
	}
	p.Jitter = true
	for attempt := 1; attempt <= 6; attempt++ {
		full := want[attempt-1]
		if got := p.Wait(attempt); got < full/2 || got > full {
			t.Errorf("jittered Wait(%d) = %s, want within [%s, %s]", attempt, got, full/2, full)
		}
	}
}
