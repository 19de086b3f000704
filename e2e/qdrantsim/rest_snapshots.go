package qdrantsim

import (
	"bufio"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"time"
)

func (p *Peer) snapshotRoutes(mux *http.ServeMux) {
	const coll = "/collections/{collection_name}"
	const shard = coll + "/shards/{shard_id}"
	cname := func(r *http.Request) string { return r.PathValue("collection_name") }

	// Collection snapshots.
	mux.HandleFunc("POST "+coll+"/snapshots", func(w http.ResponseWriter, r *http.Request) {
		p.runMaybeAsync(w, r, time.Now(), func() (any, error) {
			return p.CreateCollectionSnapshot(detached(r), cname(r))
		})
	})
	mux.HandleFunc("GET "+coll+"/snapshots", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		list, err := p.ListCollectionSnapshots(r.Context(), cname(r))
		reply(w, start, list, err)
	})
	mux.HandleFunc("GET "+coll+"/snapshots/{snapshot_name}", func(w http.ResponseWriter, r *http.Request) {
		f, err := p.OpenCollectionSnapshot(r.Context(), cname(r), r.PathValue("snapshot_name"))
		serveSnapshotFile(w, r, f, err)
	})
	mux.HandleFunc("DELETE "+coll+"/snapshots/{snapshot_name}", func(w http.ResponseWriter, r *http.Request) {
		p.runMaybeAsync(w, r, time.Now(), func() (any, error) {
			return true, p.DeleteCollectionSnapshot(detached(r), cname(r), r.PathValue("snapshot_name"))
		})
	})
	mux.HandleFunc("PUT "+coll+"/snapshots/recover", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req RecoverRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		p.runMaybeAsync(w, r, start, func() (any, error) {
			return true, p.RecoverCollectionSnapshot(detached(r), cname(r), req)
		})
	})
	mux.HandleFunc("POST "+coll+"/snapshots/upload", func(w http.ResponseWriter, r *http.Request) {
		p.handleUpload(w, r, func(filename string, body io.Reader, priority, checksum string) error {
			return p.UploadCollectionSnapshot(r.Context(), cname(r), filename, body, priority, checksum)
		})
	})

	// Shard snapshots.
	mux.HandleFunc("POST "+shard+"/snapshots", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id, err := shardParam(r)
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		p.runMaybeAsync(w, r, start, func() (any, error) {
			return p.CreateShardSnapshot(detached(r), cname(r), id)
		})
	})
	mux.HandleFunc("GET "+shard+"/snapshots", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id, err := shardParam(r)
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		list, err := p.ListShardSnapshots(r.Context(), cname(r), id)
		reply(w, start, list, err)
	})
	mux.HandleFunc("GET "+shard+"/snapshots/{snapshot_name}", func(w http.ResponseWriter, r *http.Request) {
		id, err := shardParam(r)
		var f *os.File
		if err == nil {
			f, err = p.OpenShardSnapshot(r.Context(), cname(r), id, r.PathValue("snapshot_name"))
		}
		serveSnapshotFile(w, r, f, err)
	})
	mux.HandleFunc("DELETE "+shard+"/snapshots/{snapshot_name}", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id, err := shardParam(r)
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		p.runMaybeAsync(w, r, start, func() (any, error) {
			return true, p.DeleteShardSnapshot(detached(r), cname(r), id, r.PathValue("snapshot_name"))
		})
	})
	mux.HandleFunc("PUT "+shard+"/snapshots/recover", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id, err := shardParam(r)
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		var req RecoverRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		p.runMaybeAsync(w, r, start, func() (any, error) {
			return true, p.RecoverShardSnapshot(detached(r), cname(r), id, req)
		})
	})
	mux.HandleFunc("POST "+shard+"/snapshots/upload", func(w http.ResponseWriter, r *http.Request) {
		id, err := shardParam(r)
		if err != nil {
			writeError(w, time.Now(), err, 0)
			return
		}
		p.handleUpload(w, r, func(_ string, body io.Reader, priority, checksum string) error {
			return p.UploadShardSnapshot(r.Context(), cname(r), id, body, priority, checksum)
		})
	})
	mux.HandleFunc("GET "+shard+"/snapshot", p.handleShardStream)
}

// handleShardStream serves the streaming shard snapshot: chunked, no
// Content-Length, no checksum. Errors before the first byte are JSON; a
// failure later just ends the body early.
func (p *Peer) handleShardStream(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id, err := shardParam(r)
	if err != nil {
		writeError(w, start, err, 0)
		return
	}
	name, write, err := p.PrepareShardStream(r.Context(), r.PathValue("collection_name"), id)
	if err != nil {
		writeError(w, start, err, 0)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	var out io.Writer = w
	if idle := p.c.opts.StreamIdleTimeout; idle > 0 {
		out = &idleWriter{w: w, rc: http.NewResponseController(w), idle: idle}
	}
	if err := write(out); err != nil {
		p.c.log.Debug("shard stream ended early", "peer", p.id, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// serveSnapshotFile serves a stored snapshot like a static file: Range,
// Content-Length, ETag, Last-Modified, attachment disposition.
func serveSnapshotFile(w http.ResponseWriter, r *http.Request, f *os.File, err error) {
	start := time.Now()
	if err != nil {
		writeError(w, start, err, 0)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		writeError(w, start, errf(KindServiceError, "%v", err), 0)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+st.Name()+`"`)
	w.Header().Set("ETag", `"`+st.ModTime().UTC().Format("20060102150405.000000000")+"-"+itoa(st.Size())+`"`)
	http.ServeContent(w, r, st.Name(), st.ModTime(), f)
}

// handleUpload streams the multipart field "snapshot" into fn; the
// archive is never spooled whole in memory.
func (p *Peer) handleUpload(w http.ResponseWriter, r *http.Request, fn func(filename string, body io.Reader, priority, checksum string) error) {
	start := time.Now()
	wait, err := waitParam(r, true)
	if err != nil {
		writeError(w, start, err, 0)
		return
	}
	mr, err := multipartReader(r)
	if err != nil {
		writeError(w, start, errf(KindBadRequest, "Invalid multipart form: %v", err), 0)
		return
	}
	q := r.URL.Query()
	for {
		part, err := mr.NextPart()
		if err != nil {
			writeError(w, start, errf(KindBadRequest, "Multipart form has no `snapshot` field"), 0)
			return
		}
		if part.FormName() != "snapshot" {
			part.Close()
			continue
		}
		// The body must be consumed within the request, so wait=false
		// only changes the answer: 202 once the upload is processed.
		err = fn(part.FileName(), part, q.Get("priority"), q.Get("checksum"))
		part.Close()
		if !wait && err == nil {
			writeAccepted(w, start)
			return
		}
		reply(w, start, true, err)
		return
	}
}

// multipartReader is r.MultipartReader with a 1 MiB read buffer instead of
// the 4 KiB one multipart uses by default (it keeps a *bufio.Reader that is
// large enough): with 4 KiB every read of the body was a syscall, which
// made receiving an upload the slowest step of a restore benchmark.
func multipartReader(r *http.Request) (*multipart.Reader, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "multipart/form-data" && mt != "multipart/mixed") {
		return nil, http.ErrNotMultipart
	}
	boundary, ok := params["boundary"]
	if !ok {
		return nil, http.ErrMissingBoundary
	}
	return multipart.NewReader(bufio.NewReaderSize(r.Body, 1<<20), boundary), nil
}

// idleWriter fails a write that the client does not drain within idle,
// like 1.19's abort of stalled snapshot streams.
type idleWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	idle time.Duration
}

func (i *idleWriter) Write(b []byte) (int, error) {
	// Without deadline support the stream simply never times out.
	_ = i.rc.SetWriteDeadline(time.Now().Add(i.idle))
	return i.w.Write(b)
}
