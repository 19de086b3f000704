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
	// Payload, vector and batch updates (src/actix/api/update_api.rs).
	bodyUpdate := func(pattern string, newReq func() any, fn func(r *http.Request, req any) (UpdateResult, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			req := newReq()
			if err := decodeBody(r, req); err != nil {
				writeError(w, time.Now(), err, 0)
				return
			}
			update(w, r, func() (UpdateResult, error) { return fn(r, req) })
		})
	}
	for method, overwrite := range map[string]bool{"POST": false, "PUT": true} {
		bodyUpdate(method+" /collections/{collection_name}/points/payload", func() any { return &SetPayloadRequest{} },
			func(r *http.Request, req any) (UpdateResult, error) {
				return p.SetPayload(uctx(r), r.PathValue("collection_name"), *req.(*SetPayloadRequest), overwrite)
			})
	}
	bodyUpdate("POST /collections/{collection_name}/points/payload/delete", func() any { return &DeletePayloadRequest{} },
		func(r *http.Request, req any) (UpdateResult, error) {
			return p.DeletePayload(uctx(r), r.PathValue("collection_name"), *req.(*DeletePayloadRequest))
		})
	bodyUpdate("POST /collections/{collection_name}/points/payload/clear", func() any { return &PointsTarget{} },
		func(r *http.Request, req any) (UpdateResult, error) {
			return p.ClearPayload(uctx(r), r.PathValue("collection_name"), *req.(*PointsTarget))
		})
	bodyUpdate("PUT /collections/{collection_name}/points/vectors", func() any { return &UpdateVectorsRequest{} },
		func(r *http.Request, req any) (UpdateResult, error) {
			return p.UpdateVectors(uctx(r), r.PathValue("collection_name"), *req.(*UpdateVectorsRequest))
		})
	bodyUpdate("POST /collections/{collection_name}/points/vectors/delete", func() any { return &DeleteVectorsRequest{} },
		func(r *http.Request, req any) (UpdateResult, error) {
			return p.DeleteVectors(uctx(r), r.PathValue("collection_name"), *req.(*DeleteVectorsRequest))
		})
	mux.HandleFunc("POST /collections/{collection_name}/points/batch", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req struct {
			Operations []map[string]json.RawMessage `json:"operations"`
		}
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		wait, err := waitParam(r, false)
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		res, err := p.UpdateBatch(uctx(r), r.PathValue("collection_name"), req.Operations)
		for i := range res {
			if !wait {
				res[i].Status = "acknowledged"
			}
		}
		if res == nil {
			res = []UpdateResult{}
		}
		reply(w, start, res, err)
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
	mux.HandleFunc("POST /collections/{collection_name}/facet", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var req FacetRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, start, err, 0)
			return
		}
		res, err := p.Facet(r.Context(), r.PathValue("collection_name"), req)
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
