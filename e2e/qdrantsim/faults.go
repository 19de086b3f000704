package qdrantsim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Duration is a time.Duration written in JSON as a Go duration string
// ("150ms", "2s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string like \"150ms\" or nanoseconds, got %s", b)
	}
	*d = Duration(n)
	return nil
}

// RouteFault injects faults into the REST requests of one route.
type RouteFault struct {
	// Route is a route pattern as served, with the OpenAPI parameter names,
	// e.g. "GET /collections/{collection_name}/shards/{shard_id}/snapshot";
	// empty or "*" means every route.
	Route string `json:"route,omitempty"`
	// Latency delays the request before it is handled.
	Latency Duration `json:"latency,omitempty"`
	// ErrorRate is the probability (0..1) of answering Status instead.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// Status is the injected status (default 500); with ErrorRate 0 and a
	// Status set, every request fails with it.
	Status int `json:"status,omitempty"`
	// TruncateAfter cuts the response body (connection aborted) after this
	// many bytes; nil means never.
	TruncateAfter *int64 `json:"truncate_after,omitempty"`
	// StallAfter stops sending the body after this many bytes and holds the
	// connection open until the client gives up; nil means never.
	StallAfter *int64 `json:"stall_after,omitempty"`
}

// Faults is the fault configuration of one peer.
type Faults struct {
	Routes []RouteFault `json:"routes,omitempty"`
	// SnapshotNoSpace makes the peer's disk full (disk.go): snapshot
	// creation, upload spooling and snapshot unpacking fail with
	// "No space left on device".
	SnapshotNoSpace bool `json:"snapshot_no_space,omitempty"`
	// SnapshotDelay slows every snapshot creation down.
	SnapshotDelay Duration `json:"snapshot_delay,omitempty"`
}

type faultSet struct {
	mu sync.Mutex
	f  Faults
}

// SetFaults replaces the peer's fault configuration.
func (p *Peer) SetFaults(f Faults) {
	p.faults.mu.Lock()
	defer p.faults.mu.Unlock()
	p.faults.f = f
}

// Faults returns the peer's fault configuration.
func (p *Peer) Faults() Faults {
	p.faults.mu.Lock()
	defer p.faults.mu.Unlock()
	return p.faults.f
}

// ClearFaults removes every fault.
func (p *Peer) ClearFaults() { p.SetFaults(Faults{}) }

func (p *Peer) routeFault(pattern string) (RouteFault, bool) {
	p.faults.mu.Lock()
	defer p.faults.mu.Unlock()
	for _, rf := range p.faults.f.Routes {
		if rf.Route == "" || rf.Route == "*" || rf.Route == pattern {
			return rf, true
		}
	}
	return RouteFault{}, false
}

// snapshotFault is applied at the start of every snapshot creation; need
// is the archive's estimated size, refused when it does not fit on the
// peer's disk (disk.go).
func (p *Peer) snapshotFault(done <-chan struct{}, need int64) error {
	f := p.Faults()
	if f.SnapshotDelay > 0 {
		select {
		case <-time.After(time.Duration(f.SnapshotDelay)):
		case <-done:
		}
	}
	if f.SnapshotNoSpace || p.diskFull(need) {
		return errf(KindServiceError, "failed to create snapshot: %s", errNoSpace)
	}
	return nil
}

// withFaults applies route faults before the mux handles the request.
func (p *Peer) withFaults(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		if pattern == "" {
			// Unknown route or wrong method: Qdrant's actix route macros
			// put the method guard on the resource, so a method that no
			// resource accepts falls through to the default service — an
			// empty 404, never a 405.
			w.WriteHeader(http.StatusNotFound)
			return
		}
		rf, ok := p.routeFault(pattern)
		if !ok {
			p.withPathValidation(mux).ServeHTTP(w, r)
			return
		}
		if rf.Latency > 0 {
			select {
			case <-time.After(time.Duration(rf.Latency)):
			case <-r.Context().Done():
				return
			}
		}
		if rf.Status != 0 && (rf.ErrorRate == 0 || rand.Float64() < rf.ErrorRate) ||
			rf.Status == 0 && rf.ErrorRate > 0 && rand.Float64() < rf.ErrorRate {
			status := rf.Status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			writeError(w, time.Now(), &Error{Kind: KindServiceError, Msg: "injected fault"}, status)
			return
		}
		if rf.TruncateAfter != nil || rf.StallAfter != nil {
			w = &faultWriter{ResponseWriter: w, r: r, truncate: rf.TruncateAfter, stall: rf.StallAfter}
		}
		p.withPathValidation(mux).ServeHTTP(w, r)
	})
}

// faultWriter cuts or stalls a response body after a number of bytes.
type faultWriter struct {
	http.ResponseWriter
	r        *http.Request
	written  int64
	truncate *int64
	stall    *int64
}

func (f *faultWriter) Write(b []byte) (int, error) {
	limit := int64(-1)
	if f.truncate != nil {
		limit = *f.truncate
	}
	if f.stall != nil && (limit < 0 || *f.stall < limit) {
		limit = *f.stall
	}
	if limit >= 0 && f.written+int64(len(b)) > limit {
		n, _ := f.ResponseWriter.Write(b[:limit-f.written])
		f.written += int64(n)
		if fl, ok := f.ResponseWriter.(http.Flusher); ok {
			fl.Flush()
		}
		if f.stall != nil && limit == *f.stall {
			<-f.r.Context().Done()
		}
		// Aborting the handler closes the connection mid-body, like a
		// server that dies while streaming.
		panic(http.ErrAbortHandler)
	}
	n, err := f.ResponseWriter.Write(b)
	f.written += int64(n)
	return n, err
}

func (f *faultWriter) Flush() {
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}
