package qdrantsim

import (
	"net/http"
	"time"
)

func (p *Peer) clusterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /cluster", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st, err := p.ClusterInfo(r.Context())
		reply(w, start, st, err)
	})
	mux.HandleFunc("GET /collections/{collection_name}/cluster", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info, err := p.CollectionClusterInfo(r.Context(), r.PathValue("collection_name"))
		reply(w, start, info, err)
	})
	mux.HandleFunc("POST /collections/{collection_name}/cluster", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var op ClusterOperation
		if err := decodeBody(r, &op); err != nil {
			writeError(w, start, err, 0)
			return
		}
		reply(w, start, true, p.UpdateCollectionCluster(r.Context(), r.PathValue("collection_name"), op))
	})
	mux.HandleFunc("GET /collections/{collection_name}/shards", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if !p.c.ver.hasShardKeysList() {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		res, err := p.ListShardKeys(r.Context(), r.PathValue("collection_name"))
		reply(w, start, res, err)
	})
	mux.HandleFunc("PUT /collections/{collection_name}/shards", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req CreateShardingKey
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		reply(w, start, true, p.CreateShardKey(r.Context(), r.PathValue("collection_name"), req))
	})
	mux.HandleFunc("POST /collections/{collection_name}/shards/delete", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req DropShardingKey
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		reply(w, start, true, p.DropShardKey(r.Context(), r.PathValue("collection_name"), req.ShardKey))
	})
}
