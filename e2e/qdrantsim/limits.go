package qdrantsim

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"

	"google.golang.org/grpc"
)

// defaultMaxRequestSizeMB is service.max_request_size_mb's default
// (config/config.yaml).
const defaultMaxRequestSizeMB = 32

// bodyLimit travels in the request context from the peer's handler to
// decodeBody.
type bodyLimitKey struct{}

type bodyLimit struct {
	bytes int64
	// prefixed: before 1.18.1 the message carries actix-web-validator's
	// "Payload error: " prefix.
	prefixed bool
}

// withBodyLimit attaches the JSON body limit of src/actix/mod.rs to every
// request: actix_web_validator::JsonConfig::limit(max_request_size_mb MiB).
// Multipart uploads are not JSON and have no limit there
// (MultipartFormConfig::total_limit(usize::MAX)).
func (p *Peer) withBodyLimit(next http.Handler) http.Handler {
	lim := bodyLimit{bytes: int64(p.c.opts.MaxRequestSizeMB) << 20, prefixed: !p.c.ver.atLeast(1, 18, 1)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyLimitKey{}, lim)))
	})
}

// readJSONBody reads a JSON body within the request's limit. An oversized
// body is refused as src/actix/mod.rs validation_error_handler answers
// actix's JsonPayloadError: 400 (not 413: the handler builds a BadRequest
// response), with OverflowKnownLength's message when Content-Length
// announces too much and Overflow's when a body without one runs over.
// Before 1.18.1 the handler printed the validator error, which prefixes
// "Payload error: "; from 1.18.1 it prints the actix error itself.
func readJSONBody(r *http.Request) ([]byte, error) {
	lim, ok := r.Context().Value(bodyLimitKey{}).(bodyLimit)
	if !ok {
		lim = bodyLimit{bytes: defaultMaxRequestSizeMB << 20}
	}
	overflow := func(msg string) error {
		if lim.prefixed {
			msg = "Payload error: " + msg
		}
		return &Error{Kind: KindRaw, Msg: msg}
	}
	if r.ContentLength > lim.bytes {
		return nil, overflow(fmt.Sprintf("JSON payload (%d bytes) is larger than allowed (limit: %d bytes).", r.ContentLength, lim.bytes))
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, lim.bytes+1))
	if err != nil {
		return nil, errf(KindFormat, "%v", err)
	}
	if int64(len(b)) > lim.bytes {
		return nil, overflow(fmt.Sprintf("JSON payload has exceeded limit (%d bytes).", lim.bytes))
	}
	return b, nil
}

// grpcSizeOptions: src/tonic/mod.rs sets max_decoding_message_size
// (usize::MAX) on every service and leaves the encoding limit at tonic's
// default, also unlimited. So the server takes requests of any size and
// sends responses as large as the data: a client keeping gRPC's default
// 4 MiB receive limit fails on a large scroll page, as it would on Qdrant.
func grpcSizeOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(math.MaxInt32), grpc.MaxSendMsgSize(math.MaxInt32)}
}
