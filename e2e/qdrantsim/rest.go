package qdrantsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// restHandler assembles the peer's REST API: auth, then faults, then routes.
func (p *Peer) restHandler() http.Handler {
	mux := http.NewServeMux()
	p.routes(mux)
	return p.withBodyLimit(p.withAuth(p.withFaults(mux)))
}

func (p *Peer) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", p.handleRoot)
	// src/actix/api/service_api.rs: healthz and livez answer "healthz check
	// passed", readyz "all shards are ready". Approximation: readyz never
	// answers 503 "some shards are not ready" (Qdrant's HealthChecker waits
	// for consensus catch-up and local shard recovery).
	for path, text := range map[string]string{"/healthz": "healthz check passed", "/livez": "healthz check passed",
		"/readyz": "all shards are ready"} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, text)
		})
	}
	mux.HandleFunc("GET /locks", p.handleGetLocks)
	mux.HandleFunc("POST /locks", p.handlePostLocks)
	p.collectionRoutes(mux)
	p.pointRoutes(mux)
	p.vectorNameRoutes(mux)
	p.clusterRoutes(mux)
	p.reshardingRoutes(mux)
	p.snapshotRoutes(mux)
	p.partialRoutes(mux)
}

// Envelope helpers. Qdrant reports the handling time in seconds.

func elapsed(start time.Time) float64 { return time.Since(start).Seconds() }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeResult(w http.ResponseWriter, start time.Time, result any) {
	writeJSON(w, http.StatusOK, map[string]any{"result": result, "status": "ok", "time": elapsed(start)})
}

func writeAccepted(w http.ResponseWriter, start time.Time) {
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "accepted", "time": elapsed(start)})
}

// writeError writes Qdrant's error envelope; status 0 takes it from err.
func writeError(w http.ResponseWriter, start time.Time, err error, status int) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Kind: KindServiceError, Msg: err.Error()}
	}
	if status == 0 {
		status = e.HTTPStatus()
	}
	switch e.Kind {
	case KindEmptyPartial:
		w.WriteHeader(http.StatusNotModified)
		return
	case KindAlreadyInProgress:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "already_in_progress", "time": 0.0})
		return
	}
	if e.Kind == KindRateLimited && e.RetryAfter > 0 {
		// src/actix/helpers.rs: Retry-After in whole seconds, rounded up.
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.RetryAfter)))
	}
	writeJSON(w, status, map[string]any{"status": map[string]string{"error": e.Error()}, "time": elapsed(start)})
}

// reply writes result or err.
func reply(w http.ResponseWriter, start time.Time, result any, err error) {
	if err != nil {
		writeError(w, start, err, 0)
		return
	}
	writeResult(w, start, result)
}

// decodeBody parses a JSON request body into v (400 "Format error in JSON
// body" on failure, like Qdrant's actix extractor).
func decodeBody(r *http.Request, v any) error {
	b, err := readJSONBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return errf(KindFormat, "EOF while parsing a value at line 1 column 0")
	}
	if err := json.Unmarshal(b, v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return errf(KindFormat, "%v at character %d", err, syn.Offset)
		}
		return errf(KindFormat, "%v", err)
	}
	return nil
}

// waitParam reads ?wait= with the endpoint's default.
func waitParam(r *http.Request, def bool) (bool, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &Error{Kind: KindBadRequest, Msg: "Query deserialize error: wait: provided string was not `true` or `false`"}
	}
	return b, nil
}

// shardParam parses {shard_id}.
func shardParam(r *http.Request) (uint32, error) {
	v, err := strconv.ParseUint(r.PathValue("shard_id"), 10, 32)
	if err != nil {
		return 0, &Error{Kind: KindNotFound, Msg: "can not parse \"" + r.PathValue("shard_id") + "\" to a u32"}
	}
	return uint32(v), nil
}

// runMaybeAsync runs fn now (wait=true, the default) or in the background
// answering 202 accepted, as Qdrant's snapshot endpoints do.
func (p *Peer) runMaybeAsync(w http.ResponseWriter, r *http.Request, start time.Time, fn func() (any, error)) {
	wait, err := waitParam(r, true)
	if err != nil {
		writeError(w, start, err, 0)
		return
	}
	if !wait {
		go func() {
			if _, err := fn(); err != nil {
				p.c.log.Warn("background operation failed", "peer", p.id, "path", r.URL.Path, "err", err)
			}
		}()
		writeAccepted(w, start)
		return
	}
	res, err := fn()
	reply(w, start, res, err)
}

func (p *Peer) handleRoot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"title": "qdrant - vector search engine", "version": p.c.ver.text,
		"commit": "0000000000000000000000000000000000000000"})
}

// isOpenPath lists the paths Qdrant serves without authentication.
func isOpenPath(path string) bool {
	return path == "/" || path == "/healthz" || strings.HasPrefix(path, "/readyz") || strings.HasPrefix(path, "/livez")
}

// isReadRequest tells whether a read-only key may make the request.
// Streaming a shard snapshot needs write access in Qdrant, although it is a
// GET.
func isReadRequest(r *http.Request) bool {
	path := strings.TrimSuffix(r.URL.Path, "/")
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return !strings.HasSuffix(path, "/snapshot")
	}
	if r.Method != http.MethodPost {
		return false
	}
	for _, suffix := range []string{"/points", "/points/scroll", "/points/count", "/points/search", "/points/query",
		"/points/recommend", "/points/discover", "/points/search/batch", "/points/query/batch", "/facet"} {
		if strings.HasSuffix(path, suffix) {
			return true
		}
	}
	return false
}

// withAuth enforces the API keys (§7): 401 plain text without a valid key,
// 403 JSON for writes with the read-only key.
func (p *Peer) withAuth(next http.Handler) http.Handler {
	key, roKey := p.c.opts.APIKey, p.c.opts.ReadOnlyAPIKey
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (key == "" && roKey == "") || isOpenPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		given := r.Header.Get("api-key")
		if given == "" {
			if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
				given = b
			}
		}
		switch {
		case given == "":
			http.Error(w, "Must provide an API key or an Authorization bearer token", http.StatusUnauthorized)
		case key != "" && given == key:
			next.ServeHTTP(w, r)
		case roKey != "" && given == roKey:
			if !isReadRequest(r) {
				writeError(w, time.Now(), &Error{Kind: KindForbidden, Msg: "Global manage access is required"}, 0)
				return
			}
			next.ServeHTTP(w, r)
		default:
			http.Error(w, "Invalid API key or JWT", http.StatusUnauthorized)
		}
	})
}

// detached returns a context for work that outlives the request when
// wait=false; values are kept, cancellation is not.
func detached(r *http.Request) context.Context { return context.WithoutCancel(r.Context()) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
