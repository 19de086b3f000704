package openapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
)

// Reporter receives contract violations; *testing.T and *testing.B satisfy
// it. Errorf must be safe for concurrent use, as testing's is.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// multipartPrefix is how much of an upload the transport keeps to check
// the form field names; the part headers come first, the snapshot follows.
const multipartPrefix = 64 << 10

type expectInvalidKey struct{}

// ExpectInvalidRequest marks a request a test sends outside the document on
// purpose (unknown route, wrong method, invalid body). The transport then
// reports the request only if it turns out to be valid, and still checks
// the response whenever the route exists.
func ExpectInvalidRequest(ctx context.Context) context.Context {
	return context.WithValue(ctx, expectInvalidKey{}, true)
}

func expectsInvalid(ctx context.Context) bool {
	v, _ := ctx.Value(expectInvalidKey{}).(bool)
	return v
}

// Transport is an http.RoundTripper that validates every request it sends
// and every response it receives, reporting each violation to its Reporter
// (which fails a test) and keeping it for Violations. Requests and
// responses pass through unchanged, violations included, so the caller
// still sees what the server did.
type Transport struct {
	reporter  Reporter
	validator *Validator
	base      http.RoundTripper

	mu         sync.Mutex
	violations []error
	checked    int
}

// NewTransport wraps base (http.DefaultTransport when nil).
func NewTransport(r Reporter, v *Validator, base http.RoundTripper) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &Transport{reporter: r, validator: v, base: base}
}

// Violations returns the violations seen so far.
func (t *Transport) Violations() []error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]error(nil), t.violations...)
}

// Checked is the number of exchanges (request and response) that went
// through the transport.
func (t *Transport) Checked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.checked
}

func (t *Transport) report(err error) {
	t.mu.Lock()
	t.violations = append(t.violations, err)
	t.mu.Unlock()
	t.reporter.Helper()
	t.reporter.Errorf("Qdrant API contract: %v", err)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	invalid := expectsInvalid(req.Context())
	out := req.Clone(req.Context())

	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	var reqBody []byte
	var prefix *prefixReader
	switch {
	case req.Body == nil || req.Body == http.NoBody:
	case strings.HasPrefix(mt, "multipart/"):
		// Streamed as is: an upload may be larger than memory.
		prefix = &prefixReader{r: req.Body, max: multipartPrefix}
		out.Body = prefix
		out.GetBody = nil
	default:
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("openapi transport: read request body: %w", err)
		}
		reqBody = b
		out.Body = io.NopCloser(bytes.NewReader(b))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		out.ContentLength = int64(len(b))
	}
	if prefix == nil {
		t.checkRequest(req, reqBody, invalid)
	}

	resp, err := t.base.RoundTrip(out)
	if prefix != nil {
		// The part headers have been sent (and kept) by now unless the
		// server answered before reading them.
		t.checkRequest(req, prefix.bytes(), invalid)
	}
	if err != nil {
		return resp, err
	}
	t.mu.Lock()
	t.checked++
	t.mu.Unlock()
	if req.Method == http.MethodHead {
		return resp, nil
	}
	if _, rerr := t.validator.Operation(req); rerr != nil {
		// No operation to hold the response against; the request has
		// been reported already unless it was sent as invalid.
		return resp, nil
	}

	rmt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if rmt == mediaBinary {
		// Snapshot streams: status and content type only, never buffered.
		if verr := t.validator.ValidateResponse(req, resp.StatusCode, resp.Header, nil); verr != nil {
			t.report(verr)
		}
		return resp, nil
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		// Hand the truncated body on with the read error, as the caller
		// would have met it reading the original body.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{rerr}))
		return resp, nil
	}
	if verr := t.validator.ValidateResponse(req, resp.StatusCode, resp.Header, body); verr != nil {
		t.report(verr)
	}
	return resp, nil
}

func (t *Transport) checkRequest(req *http.Request, body []byte, invalid bool) {
	err := t.validator.ValidateRequest(req, body)
	switch {
	case invalid && err == nil:
		t.report(fmt.Errorf("request %s %s was sent as invalid but matches the %s document", req.Method, req.URL.Path, t.validator.Spec()))
	case !invalid && err != nil:
		t.report(err)
	}
}

// prefixReader passes a body through and keeps its first max bytes.
type prefixReader struct {
	r   io.ReadCloser
	max int

	mu  sync.Mutex
	buf []byte
}

func (p *prefixReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.mu.Lock()
		if room := p.max - len(p.buf); room > 0 {
			p.buf = append(p.buf, b[:min(n, room)]...)
		}
		p.mu.Unlock()
	}
	return n, err
}

func (p *prefixReader) Close() error { return p.r.Close() }

func (p *prefixReader) bytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.buf...)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
