package qdrantsim

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

func (p *Peer) pointRoutes(mux *http.ServeMux) {
	// Point updates default to wait=false; the simulator applies them at
	// once either way and reports "acknowledged" or "completed".
	update := func(w http.ResponseWriter, r *http.Request, fn func() (UpdateResult, error)) {
		start := time.Now()
		wait, err := waitParam(r, false)
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		res, err := fn()
		if err == nil && !wait {
			res.Status = "acknowledged"
		}
		reply(w, start, res, err)
	}
	// uctx carries ?wait= to the write path (counts.go).
	uctx := func(r *http.Request) context.Context {
		wait, _ := waitParam(r, false)
		return WithWait(r.Context(), wait)
	}
	mux.HandleFunc("PUT /collections/{collection_name}/points", func(w http.ResponseWriter, r *http.Request) {
		var req UpsertRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, time.Now(), err, 0)
			return
		}
		update(w, r, func() (UpdateResult, error) { return p.Upsert(uctx(r), r.PathValue("collection_name"), req) })
	})
	mux.HandleFunc("POST /collections/{collection_name}/points/delete", func(w http.ResponseWriter, r *http.Request) {
		var req DeleteRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, time.Now(), err, 0)
			return
		}
		update(w, r, func() (UpdateResult, error) {
			return p.DeletePoints(uctx(r), r.PathValue("collection_name"), req)
		})
	})
	mux.HandleFunc("PUT /collections/{collection_name}/index", func(w http.ResponseWriter, r *http.Request) {
		var req CreateFieldIndex
		if err := decodeBody(r, &req); err != nil {
			writeError(w, time.Now(), err, 0)
			return
		}
		update(w, r, func() (UpdateResult, error) {
			return p.CreatePayloadIndex(r.Context(), r.PathValue("collection_name"), req)
		})
	})
	mux.HandleFunc("DELETE /collections/{collection_name}/index/{field_name}", func(w http.ResponseWriter, r *http.Request) {
		update(w, r, func() (UpdateResult, error) {
			return p.DeletePayloadIndex(r.Context(), r.PathValue("collection_name"), r.PathValue("field_name"))
		})
	})
	mux.HandleFunc("POST /collections/{collection_name}/points", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req GetPointsRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		recs, err := p.GetPoints(r.Context(), r.PathValue("collection_name"), req)
		reply(w, start, recs, err)
	})
	mux.HandleFunc("GET /collections/{collection_name}/points/{id}", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var id PointID
		raw := r.PathValue("id")
		if err := id.UnmarshalJSON([]byte(raw)); err != nil {
			if err2 := id.UnmarshalJSON([]byte(`"` + raw + `"`)); err2 != nil {
				writeError(w, start, errf(KindBadRequest, "Unable to parse point id: %s", raw), 0)
				return
			}
		}
		recs, err := p.GetPoints(r.Context(), r.PathValue("collection_name"),
			GetPointsRequest{IDs: []PointID{id}, WithVector: json.RawMessage("true")})
		if err == nil && len(recs) == 0 {
			err = errf(KindNotFound, "No point with id %s found", id)
		}
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		writeResult(w, start, recs[0])
	})
	mux.HandleFunc("POST /collections/{collection_name}/points/scroll", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req ScrollRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		res, err := p.Scroll(r.Context(), r.PathValue("collection_name"), req)
		reply(w, start, res, err)
	})
	mux.HandleFunc("POST /collections/{collection_name}/points/count", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req CountRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		n, err := p.Count(r.Context(), r.PathValue("collection_name"), req)
		reply(w, start, map[string]uint64{"count": n}, err)
	})
}
