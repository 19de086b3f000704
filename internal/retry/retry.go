package retry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy says how often and how long to retry.
type Policy struct {
	// Attempts is the total number of calls, the first included; values
	// below 1 mean 1.
	Attempts int
	// Base is the wait after the first failure; it doubles per attempt
	// up to Max (Max zero: no cap).
	Base, Max time.Duration
	// Jitter picks each wait at random in its upper half, so clients
	// that failed together do not retry in lockstep.
	Jitter bool
	// Retryable says whether an error is worth another attempt; nil
	// retries every error.
	Retryable func(error) bool
	// OnRetry, when set, is told of each failure that will be retried
	// (attempt counts from 1) and the wait before the next call.
	OnRetry func(attempt int, wait time.Duration, err error)
}

// Wait is the pause after the given failed attempt (counting from 1).
func (p Policy) Wait(attempt int) time.Duration {
	d := p.Base
	for i := 1; i < attempt && (p.Max <= 0 || d < p.Max) && d < 1<<61; i++ {
		d *= 2
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	if p.Jitter && d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	return max(d, 0)
}

// Do calls fn until it succeeds, returns an error Retryable refuses, the
// attempts are used up, or ctx ends. It returns fn's last error; when ctx
// ended during a wait, that error joined with the context's cause.
func Do(ctx context.Context, p Policy, fn func(context.Context) error) error {
	attempts := max(p.Attempts, 1)
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || attempt >= attempts || ctx.Err() != nil || (p.Retryable != nil && !p.Retryable(err)) {
			return err
		}
		wait := p.Wait(attempt)
		if p.OnRetry != nil {
			p.OnRetry(attempt, wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (stopped retrying: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
	}
}
