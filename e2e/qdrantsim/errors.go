package qdrantsim

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind is Qdrant's error category; it decides the HTTP status (and gRPC
// code) and the message prefix.
type Kind int

// Error kinds, after Qdrant's StorageError/CollectionError variants.
const (
	KindBadInput Kind = iota + 1
	KindAlreadyExists
	KindNotFound
	KindBadRequest
	KindServiceError
	KindForbidden
	KindTimeout
	KindChecksumMismatch
	KindUnavailable
	KindInsufficientStorage
	// KindFormat is a request body that is not valid JSON for the endpoint.
	KindFormat
	// KindValidation is a body or path parameter that parsed but failed
	// validation (422).
	KindValidation
	// KindLocked is StorageError::Locked, the 1.15 write lock (locks.go).
	KindLocked
	// KindPreconditionFailed is StorageError::PreconditionFailed, e.g. a
	// forwarded write refused by a locked peer.
	KindPreconditionFailed
	// KindRateLimited is StorageError::RateLimitExceeded (strict mode rate
	// limits); Error.RetryAfter becomes the Retry-After header.
	KindRateLimited
	// KindRaw is a 400 whose message has no kind prefix (an actix
	// extractor error printed as is, limits.go).
	KindRaw
	// KindEmptyPartial is StorageError::EmptyPartialSnapshot: 304 Not
	// Modified, no body (partial_snapshots.go).
	KindEmptyPartial
	// KindAlreadyInProgress is helpers::already_in_progress_response: 503
	// with status "already_in_progress" and no error message.
	KindAlreadyInProgress
)

// Error is an error as Qdrant reports it. Error() gives the full message
// that appears in the REST envelope's status.error.
type Error struct {
	Kind Kind
	// Msg is the message without Qdrant's kind prefix.
	Msg string
	// inPath and inQuery mark a validation error of a path or query
	// parameter (the JSON body otherwise).
	inPath, inQuery bool
	// RetryAfter is the wait a rate-limited client is told (KindRateLimited).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	switch e.Kind {
	case KindBadInput, KindAlreadyExists:
		return "Wrong input: " + e.Msg
	case KindNotFound:
		return "Not found: " + e.Msg
	case KindBadRequest:
		return "Bad request: " + e.Msg
	case KindServiceError:
		return "Service internal error: " + e.Msg
	case KindForbidden:
		return "Forbidden: " + e.Msg
	case KindTimeout:
		return "Timeout: " + e.Msg
	case KindUnavailable:
		return "Shard temporarily unavailable: " + e.Msg
	case KindInsufficientStorage:
		return "Insufficient storage: " + e.Msg
	case KindFormat:
		return "Format error in JSON body: " + e.Msg
	case KindLocked:
		return "Storage locked: " + e.Msg
	case KindPreconditionFailed:
		return "Pre-condition failure: " + e.Msg
	case KindRateLimited:
		return "Rate limiting exceeded: " + e.Msg
	case KindValidation:
		if e.inPath {
			return "Validation error in path parameters: " + e.Msg
		}
		if e.inQuery {
			return "Validation error in query parameters: " + e.Msg
		}
		return "Validation error in JSON body: " + e.Msg
	}
	return e.Msg
}

// HTTPStatus is the status code Qdrant answers for this kind.
func (e *Error) HTTPStatus() int {
	switch e.Kind {
	case KindAlreadyExists:
		return http.StatusConflict
	case KindNotFound:
		return http.StatusNotFound
	case KindServiceError:
		return http.StatusInternalServerError
	case KindForbidden, KindLocked:
		return http.StatusForbidden
	case KindPreconditionFailed:
		return http.StatusInternalServerError
	case KindRateLimited:
		return http.StatusTooManyRequests
	case KindTimeout:
		return http.StatusRequestTimeout
	case KindUnavailable, KindAlreadyInProgress:
		return http.StatusServiceUnavailable
	case KindEmptyPartial:
		return http.StatusNotModified
	case KindInsufficientStorage:
		return http.StatusInsufficientStorage
	case KindValidation:
		return http.StatusUnprocessableEntity
	}
	return http.StatusBadRequest
}

// KindOf returns the Kind of err, or KindServiceError for foreign errors.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindServiceError
}

func errf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

func errCollectionNotFound(name string) *Error {
	return errf(KindNotFound, "Collection `%s` doesn't exist!", name)
}

func errShardNotFound(shard uint32) *Error {
	return errf(KindNotFound, "shard %d not found", shard)
}

func errNotLocal(shard uint32) *Error {
	return errf(KindBadInput, "Shard %d is not a local or queue proxy shard", shard)
}

func errSnapshotNotFound(name string) *Error {
	return errf(KindNotFound, "Snapshot %s not found", name)
}
