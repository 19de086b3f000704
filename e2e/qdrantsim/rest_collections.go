package qdrantsim

import (
	"net/http"
	"time"
)

func (p *Peer) collectionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /collections", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		names, err := p.ListCollections(r.Context())
		list := make([]map[string]string, 0, len(names))
		for _, n := range names {
			list = append(list, map[string]string{"name": n})
		}
		reply(w, start, map[string]any{"collections": list}, err)
	})
	mux.HandleFunc("GET /collections/{collection_name}", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info, err := p.CollectionInfo(r.Context(), r.PathValue("collection_name"))
		reply(w, start, info, err)
	})
	mux.HandleFunc("GET /collections/{collection_name}/optimizations", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if !p.c.ver.atLeast(1, 17, 0) {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		res, err := p.Optimizations(r.Context(), r.PathValue("collection_name"), r.URL.Query().Get("with"))
		reply(w, start, res, err)
	})
	mux.HandleFunc("GET /collections/{collection_name}/exists", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ok, err := p.CollectionExists(r.Context(), r.PathValue("collection_name"))
		reply(w, start, map[string]bool{"exists": ok}, err)
	})
	mux.HandleFunc("PUT /collections/{collection_name}", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Extractor order of src/actix/api/collections_api.rs
		// create_collection: path (strict name), JSON body, query.
		name := r.PathValue("collection_name")
		if err := p.c.ver.validateCollectionName(name, true); err != nil {
			writeError(w, start, err, 0)
			return
		}
		var req CreateCollection
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		if _, err := buildConfig(req, 1); err != nil {
			writeError(w, start, err, 0)
			return
		}
		if _, err := timeoutParam(r); err != nil {
			writeError(w, start, err, 0)
			return
		}
		reply(w, start, true, p.CreateCollection(r.Context(), name, req))
	})
	mux.HandleFunc("PATCH /collections/{collection_name}", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req UpdateCollection
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		if err := req.validate(); err != nil {
			writeError(w, start, err, 0)
			return
		}
		if _, err := timeoutParam(r); err != nil {
			writeError(w, start, err, 0)
			return
		}
		reply(w, start, true, p.UpdateCollection(r.Context(), r.PathValue("collection_name"), req))
	})
	mux.HandleFunc("DELETE /collections/{collection_name}", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if _, err := timeoutParam(r); err != nil {
			writeError(w, start, err, 0)
			return
		}
		ok, err := p.DeleteCollection(r.Context(), r.PathValue("collection_name"))
		reply(w, start, ok, err)
	})
	mux.HandleFunc("GET /aliases", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		list, err := p.ListAliases(r.Context())
		reply(w, start, map[string]any{"aliases": list}, err)
	})
	mux.HandleFunc("GET /collections/{collection_name}/aliases", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		list, err := p.CollectionAliases(r.Context(), r.PathValue("collection_name"))
		reply(w, start, map[string]any{"aliases": list}, err)
	})
	mux.HandleFunc("POST /collections/aliases", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req struct {
			Actions []AliasAction `json:"actions"`
		}
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		reply(w, start, true, p.UpdateAliases(r.Context(), req.Actions))
	})
}
