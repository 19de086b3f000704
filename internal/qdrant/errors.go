package qdrant

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors. An *APIError unwraps to the one matching its status, so
// callers test with errors.Is(err, qdrant.ErrNotFound) and the like.
var (
	// ErrNotFound: the collection, shard, snapshot or transfer does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object already exists (HTTP 409).
	ErrConflict = errors.New("already exists")
	// ErrUnauthorized: the peer rejected the API key, or none was sent.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the key is valid but lacks the permission (for example
	// a read-only key on a write, or recover without global manage access).
	ErrForbidden = errors.New("forbidden")
	// ErrNotSupported: the peer's Qdrant version does not offer the endpoint
	// (for example POST /locks on 1.16 and newer).
	ErrNotSupported = errors.New("not supported by this Qdrant version")
	// ErrTLS: the TLS handshake failed over certificates: the peer's is
	// not trusted or does not name the address, or the peer wants a client
	// certificate. A setting to fix, not an outage.
	ErrTLS = errors.New("TLS handshake refused")
	// ErrNotQdrant: the address answered, but not as a Qdrant peer.
	ErrNotQdrant = errors.New("not a Qdrant peer")
	// ErrRangeIgnored: a ranged download was answered with the whole file,
	// so it cannot resume at the requested offset.
	ErrRangeIgnored = errors.New("peer ignored the Range request")
	// ErrChecksumMismatch: the peer hashed an uploaded or downloaded
	// snapshot and it did not match the checksum it was given (400
	// "Checksum mismatch: expected …, actual …",
	// lib/storage/src/content_manager/errors.rs).
	ErrChecksumMismatch = errors.New("snapshot checksum mismatch")
)

// APIError is a non-success answer from a Qdrant peer, over REST (Status is
// the HTTP status) or gRPC (Code is the gRPC code and Status its HTTP
// equivalent, so one set of helpers covers both).
type APIError struct {
	// Op is what was being done, e.g. "create shard snapshot 3 of \"docs\"".
	Op string
	// Peer is the peer's REST base URL (or gRPC address for gRPC calls).
	Peer string
	// Status is the HTTP status code.
	Status int
	// Code is the gRPC status code; codes.OK for REST answers.
	Code codes.Code
	// Message is Qdrant's error text (status.error of the JSON envelope,
	// the plain-text body of a 401, or the gRPC status message).
	Message string
}

func (e *APIError) Error() string {
	switch e.Status {
	case http.StatusUnauthorized:
		return fmt.Sprintf("%s: Qdrant peer %s rejected the API key (401 %s): set QBACKUP_QDRANT_API_KEY to the cluster's key",
			e.Op, e.Peer, e.Message)
	case http.StatusForbidden:
		if strings.Contains(e.Message, "recovery from remote URLs is disabled") {
			// service.enable_snapshot_url_recovery is off (1.18+,
			// src/actix/api/snapshot_api.rs): no key would help.
			return fmt.Sprintf("%s: Qdrant peer %s refuses snapshot recovery from URLs (403 %s): restore with --transfer upload",
				e.Op, e.Peer, e.Message)
		}
		return fmt.Sprintf("%s: Qdrant peer %s refused the operation (403 %s): the API key lacks the permission (a read-only key?)",
			e.Op, e.Peer, e.Message)
	}
	if e.Code != codes.OK {
		return fmt.Sprintf("%s on %s: %s: %s", e.Op, e.Peer, e.Code, e.Message)
	}
	return fmt.Sprintf("%s on %s: %d %s", e.Op, e.Peer, e.Status, e.Message)
}

// Unwrap maps the status to a sentinel error.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusBadRequest && strings.Contains(e.Message, "Checksum mismatch") {
		return ErrChecksumMismatch
	}
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotImplemented:
		return ErrNotSupported
	}
	return nil
}

// IsNotFound reports whether err says the object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err says the object already exists.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsTransient reports whether retrying the same call later may succeed:
// timeouts, rate limiting, unavailable shards and server errors. Client
// errors (4xx other than 408/429), auth errors and context cancellation
// are permanent.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	// Transport failures (connection refused/reset, a body cut short).
	return !errors.Is(err, ErrNotQdrant) && !errors.Is(err, ErrRangeIgnored)
}

// maxErrorBody bounds how much of an error body is read: error bodies are
// small, and a misbehaving server must not make us buffer a snapshot.
const maxErrorBody = 64 << 10

// readAPIError builds an *APIError from a non-success REST response.
// Qdrant answers errors with the JSON envelope {"status":{"error":"..."}}
// except 401, which is plain text, and a few with {"status":"<word>"}.
func readAPIError(op, peer string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := errorMessage(body)
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &APIError{Op: op, Peer: peer, Status: resp.StatusCode, Message: msg}
}

func errorMessage(body []byte) string {
	var env struct {
		Status json.RawMessage `json:"status"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Status) > 0 {
		var obj struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(env.Status, &obj) == nil && obj.Error != "" {
			return obj.Error
		}
		var word string
		if json.Unmarshal(env.Status, &word) == nil && word != "" {
			return word
		}
	}
	s := strings.TrimSpace(string(body))
	const maxLen = 512
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return s
}

// grpcError turns a gRPC failure into an *APIError with the HTTP status
// that Qdrant's REST API would have used, so the same sentinels apply.
// Context cancellation is returned as the context's error.
func grpcError(ctx context.Context, op, peer string, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s on %s: %w", op, peer, ctxErr)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s on %s: %w", op, peer, err)
	}
	return &APIError{Op: op, Peer: peer, Status: httpStatus(st.Code()), Code: st.Code(), Message: st.Message()}
}

func httpStatus(c codes.Code) int {
	switch c {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists:
		return http.StatusConflict
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.Canceled:
		return 499
	default:
		return http.StatusInternalServerError
	}
}

// tlsError explains a transport error that is a certificate problem of
// the TLS handshake with peer, and returns nil for any other error.
func tlsError(peer string, err error) error {
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &verify):
		return fmt.Errorf("the TLS certificate of Qdrant peer %s is not accepted (%w): trust the CA that signed it with --qdrant-ca-file (QBACKUP_QDRANT_CA_FILE), and make sure the certificate names the address qbackup connects to: %w",
			peer, verify.Err, ErrTLS)
	case strings.Contains(err.Error(), "remote error: tls: certificate required"),
		strings.Contains(err.Error(), "remote error: tls: bad certificate"),
		strings.Contains(err.Error(), "remote error: tls: unknown certificate authority"):
		return fmt.Errorf("the Qdrant peer %s refused the TLS handshake (%v): it requires a client certificate it trusts: set --qdrant-client-cert and --qdrant-client-key (QBACKUP_QDRANT_CLIENT_CERT, QBACKUP_QDRANT_CLIENT_KEY): %w",
			peer, err, ErrTLS)
	}
	return nil
}
