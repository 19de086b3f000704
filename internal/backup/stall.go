package backup

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultStallTimeout is how long a snapshot download may deliver no byte
// before the shard fails (--stall-timeout).
const DefaultStallTimeout = 2 * time.Minute

// stallReader fails a snapshot download that delivers no byte for
// timeout. Only time spent waiting on the peer counts: the clock runs
// while a Read is in progress, so a slow store (which reads less often)
// is not taken for a stalled peer. When the clock runs out, abort cancels
// the download's context, which unblocks the Read.
type stallReader struct {
	r       io.ReadCloser
	timeout time.Duration
	timer   *time.Timer
	// warnTimer fires at half the timeout of one wait, so the log says
	// which stream is silent before the shard fails.
	warnTimer *time.Timer

	mu      sync.Mutex
	stalled bool
}

// warn, when not nil, is called once a single wait has lasted half the
// timeout.
func newStallReader(r io.ReadCloser, timeout time.Duration, abort func(), warn func(waited, timeout time.Duration)) *stallReader {
	s := &stallReader{r: r, timeout: timeout}
	s.warnTimer = time.AfterFunc(time.Hour, func() {
		if warn != nil {
			warn(timeout/2, timeout)
		}
	})
	s.warnTimer.Stop()
	s.timer = time.AfterFunc(time.Hour, func() {
		s.mu.Lock()
		s.stalled = true
		s.mu.Unlock()
		abort()
	})
	s.timer.Stop()
	return s
}

func (s *stallReader) Read(p []byte) (int, error) {
	s.timer.Reset(s.timeout)
	s.warnTimer.Reset(s.timeout / 2)
	n, err := s.r.Read(p)
	s.timer.Stop()
	s.warnTimer.Stop()
	if s.isStalled() {
		return n, fmt.Errorf("%w: no byte received for %s", ErrStalled, s.timeout)
	}
	return n, err
}

func (s *stallReader) Close() error {
	s.timer.Stop()
	s.warnTimer.Stop()
	return s.r.Close()
}

func (s *stallReader) isStalled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stalled
}
