package qdrantsim

import (
	"bufio"
	"context"
	"errors"
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
		serveSnapshotFile(p.rate.responseWriter(r.Context(), w), r, f, err)
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
		p.handleUpload(w, r, func(ctx context.Context, filename string, sp *spooled, priority, checksum string) error {
			f, err := os.Open(sp.path)
			if err != nil {
				return errf(KindServiceError, "failed to reopen upload: %v", err)
			}
			defer f.Close()
			return p.UploadCollectionSnapshot(ctx, cname(r), filename, f, priority, checksum)
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
		serveSnapshotFile(p.rate.responseWriter(r.Context(), w), r, f, err)
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
		p.handleUpload(w, r, func(_ context.Context, _ string, sp *spooled, priority, checksum string) error {
			priority, checksum, err := checkRecoverParams(priority, checksum, inQueryParams)
			if err != nil {
				return err
			}
			return p.recoverUpload(cname(r), id, sp, priority, checksum)
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
	// The cap paces around the idle check, so that its waits never count
	// as the client stalling.
	out = p.rate.writer(r.Context(), out)
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

// handleUpload spools the multipart field "snapshot" to the peer's disk,
// as actix-multipart's TempFile does before Qdrant's handler runs
// (disk.go), then hands it to fn: within the request with wait=true, in
// the background after answering 202 with wait=false
// (helpers::time_or_accept). A disk that fills up while spooling fails
// the request with 500 and the file I/O error as plain text.
func (p *Peer) handleUpload(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, filename string, sp *spooled, priority, checksum string) error) {
	start := time.Now()
	wait, err := waitParam(r, true)
	if err != nil {
		writeError(w, start, err, 0)
		return
	}
	q := r.URL.Query()
	if _, _, err := checkRecoverParams(q.Get("priority"), q.Get("checksum"), inQueryParams); err != nil {
		writeError(w, start, err, 0)
		return
	}
	if p.rate.rate > 0 {
		r.Body = struct {
			io.Reader
			io.Closer
		}{p.rate.reader(r.Context(), r.Body), r.Body}
	}
	mr, err := multipartReader(r)
	if err != nil {
		writeError(w, start, errf(KindBadRequest, "Invalid multipart form: %v", err), 0)
		return
	}
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
		sp, err := p.spool(part)
		filename := part.FileName()
		part.Close()
		if errors.Is(err, errSpoolNoSpace) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		if !wait {
			ctx := detached(r)
			go func() {
				defer sp.remove()
				if err := fn(ctx, filename, sp, q.Get("priority"), q.Get("checksum")); err != nil {
					p.c.log.Warn("background upload recovery failed", "peer", p.id, "path", r.URL.Path, "err", err)
				}
			}()
			writeAccepted(w, start)
			return
		}
		defer sp.remove()
		reply(w, start, true, fn(r.Context(), filename, sp, q.Get("priority"), q.Get("checksum")))
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
// like the abort of stalled snapshot streams from 1.18.2.
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
