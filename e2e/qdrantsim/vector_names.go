package qdrantsim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// Named vector creation and deletion on a live collection, new in 1.19
// (src/actix/api/vector_name_api.rs, lib/collection/src/collection/
// vector_name_schema.rs). Approximation: Qdrant applies them through each
// shard's update path; the simulator changes the collection config as one
// consensus entry, answered once the receiving peer applied it.

// VectorNameConfig is the body of PUT /collections/{c}/vectors/{name}:
// {"dense": {...}} or {"sparse": {...}}.
type VectorNameConfig struct {
	Dense *struct {
		Size              *int            `json:"size"`
		Distance          string          `json:"distance"`
		MultivectorConfig json.RawMessage `json:"multivector_config,omitempty"`
		Datatype          *string         `json:"datatype,omitempty"`
	} `json:"dense,omitempty"`
	Sparse *struct {
		Modifier *string `json:"modifier,omitempty"`
		Datatype *string `json:"datatype,omitempty"`
	} `json:"sparse,omitempty"`
}

// validateVectorName is validate_vector_name of lib/common/common/src/
// validation.rs: at most 200 bytes, none of the refused characters.
func validateVectorName(name string) error {
	if len(name) > 200 {
		return errValidation(inPathParams, "vector_name", "vector name must be at most 200 bytes long")
	}
	for _, c := range invalidNameChars {
		if strings.ContainsRune(name, c) {
			return errValidation(inPathParams, "vector_name", fmt.Sprintf("vector name cannot contain %q char", string(c)))
		}
	}
	return nil
}

// validate checks the body as its Validate derive does: size 1 to 65536.
func (v VectorNameConfig) validate() error {
	switch {
	case v.Dense != nil && v.Sparse != nil, v.Dense == nil && v.Sparse == nil:
		return errf(KindFormat, "data did not match any variant of untagged enum VectorNameConfig")
	case v.Dense != nil:
		if v.Dense.Size == nil {
			return errf(KindFormat, "dense: missing field `size`")
		}
		if n := *v.Dense.Size; n < 1 || n > 65536 {
			return errValidation(inBody, "dense.size", rangeMsg(n, 1, 65536))
		}
		ok := false
		for _, d := range distances {
			ok = ok || d == v.Dense.Distance
		}
		if !ok {
			return errf(KindFormat, "dense.distance: unknown variant `%s`, expected one of `Cosine`, `Euclid`, `Dot`, `Manhattan`", v.Dense.Distance)
		}
	}
	return nil
}

// params renders the stored VectorParams or SparseVectorParams
// (dense_config_to_params, sparse_config_to_params).
func (v VectorNameConfig) params() map[string]any {
	if v.Dense != nil {
		out := map[string]any{"size": *v.Dense.Size, "distance": v.Dense.Distance}
		if !isNull(v.Dense.MultivectorConfig) {
			var mv any
			_ = json.Unmarshal(v.Dense.MultivectorConfig, &mv)
			out["multivector_config"] = mv
		}
		if v.Dense.Datatype != nil {
			out["datatype"] = *v.Dense.Datatype
		}
		return out
	}
	out := map[string]any{}
	if v.Sparse.Modifier != nil {
		out["modifier"] = *v.Sparse.Modifier
	}
	if v.Sparse.Datatype != nil {
		out["index"] = map[string]any{"datatype": *v.Sparse.Datatype}
	}
	return out
}

// CreateVectorName adds a named vector (add_vector_to_config): the same
// name with the same schema is a no-op, a different schema or kind is a
// bad input.
func (p *Peer) CreateVectorName(ctx context.Context, coll, name string, cfg VectorNameConfig) (UpdateResult, error) {
	var res UpdateResult
	err := p.consensusOp(ctx, waitSelf, func() error {
		c := p.c
		col, err := c.resolve(coll)
		if err != nil {
			return err
		}
		if err := p.lockErrorLocked(); err != nil {
			return err
		}
		dense, sparse, err := vectorMaps(col.config.Params)
		if err != nil {
			return err
		}
		want := cfg.params()
		if cfg.Dense != nil {
			if cur, ok := dense[name]; ok {
				if !sameDenseSchema(cur, want) {
					return errf(KindBadInput, "Vector `%s` already exists with a different configuration", name)
				}
				res = UpdateResult{OperationID: col.opID, Status: "completed"}
				return nil
			}
			if _, ok := sparse[name]; ok {
				return errf(KindBadInput, "Vector `%s` already exists as a sparse vector", name)
			}
			dense[name] = want
		} else {
			if cur, ok := sparse[name]; ok {
				if !reflect.DeepEqual(cur["modifier"], want["modifier"]) || !reflect.DeepEqual(dig(cur, "index", "datatype"), dig(want, "index", "datatype")) {
					return errf(KindBadInput, "Sparse vector `%s` already exists with a different configuration", name)
				}
				res = UpdateResult{OperationID: col.opID, Status: "completed"}
				return nil
			}
			if _, ok := dense[name]; ok {
				return errf(KindBadInput, "Vector `%s` already exists as a dense vector", name)
			}
			sparse[name] = want
		}
		storeVectorMaps(&col.config.Params, dense, sparse)
		col.opID++
		res = UpdateResult{OperationID: col.opID, Status: "completed"}
		c.commitLocked(proposal{what: "create vector name", droppable: true})
		return nil
	})
	return res, err
}

// DeleteVectorName removes a named vector from the config and from every
// stored point (remove_vector_from_config; the unnamed vector of a
// single-vector collection leaves an empty map).
func (p *Peer) DeleteVectorName(ctx context.Context, coll, name string) (UpdateResult, error) {
	var res UpdateResult
	err := p.consensusOp(ctx, waitSelf, func() error {
		c := p.c
		col, err := c.resolve(coll)
		if err != nil {
			return err
		}
		dense, sparse, err := vectorMaps(col.config.Params)
		if err != nil {
			return err
		}
		delete(dense, name)
		delete(sparse, name)
		storeVectorMaps(&col.config.Params, dense, sparse)
		for _, q := range c.peers {
			for _, d := range q.data[col.name] {
				for id, pt := range d.points {
					if _, ok := pt.vectors[name]; ok {
						vs := make(map[string]vector, len(pt.vectors))
						for n, v := range pt.vectors {
							if n != name {
								vs[n] = v
							}
						}
						d.points[id] = &point{id: pt.id, vectors: vs, payload: pt.payload}
					}
				}
			}
		}
		col.opID++
		res = UpdateResult{OperationID: col.opID, Status: "completed"}
		c.commitLocked(proposal{what: "delete vector name", droppable: true})
		return nil
	})
	return res, err
}

// vectorMaps returns the dense vectors by name (the unnamed one under "")
// and the sparse ones as JSON objects.
func vectorMaps(p collectionParams) (map[string]map[string]any, map[string]map[string]any, error) {
	dense := map[string]map[string]any{}
	if !isNull(p.Vectors) {
		var probe map[string]any
		if err := json.Unmarshal(p.Vectors, &probe); err != nil {
			return nil, nil, errf(KindServiceError, "stored vectors config: %v", err)
		}
		if _, single := probe["size"]; single {
			dense[""] = probe
		} else {
			for n, v := range probe {
				m, _ := v.(map[string]any)
				dense[n] = m
			}
		}
	}
	sparse := map[string]map[string]any{}
	if !isNull(p.SparseVectors) {
		if err := json.Unmarshal(p.SparseVectors, &sparse); err != nil {
			return nil, nil, errf(KindServiceError, "stored sparse vectors config: %v", err)
		}
	}
	return dense, sparse, nil
}

// storeVectorMaps writes the maps back: a lone unnamed vector stays the
// single form, anything else is the named map (VectorsConfig::insert and
// remove of lib/collection/src/operations/types.rs).
func storeVectorMaps(p *collectionParams, dense, sparse map[string]map[string]any) {
	var b []byte
	if v, ok := dense[""]; ok && len(dense) == 1 {
		b, _ = json.Marshal(v)
	} else {
		b, _ = json.Marshal(dense)
	}
	p.Vectors = b
	if len(sparse) == 0 && isNull(p.SparseVectors) {
		return
	}
	p.SparseVectors, _ = json.Marshal(sparse)
}

// sameDenseSchema is dense_schema_matches: size, distance, multivector
// config and datatype; tuning fields are ignored.
func sameDenseSchema(cur, want map[string]any) bool {
	num := func(v any) float64 {
		switch x := v.(type) {
		case float64:
			return x
		case int:
			return float64(x)
		}
		return -1
	}
	return num(cur["size"]) == num(want["size"]) && cur["distance"] == want["distance"] &&
		reflect.DeepEqual(jsonNormal(cur["multivector_config"]), jsonNormal(want["multivector_config"])) &&
		cur["datatype"] == want["datatype"]
}

// dig walks nested JSON objects.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func jsonNormal(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func (p *Peer) vectorNameRoutes(mux *http.ServeMux) {
	const path = "/collections/{collection_name}/vectors/{vector_name}"
	handle := func(w http.ResponseWriter, r *http.Request, fn func() (UpdateResult, error)) {
		start := time.Now()
		if !p.c.ver.atLeast(1, 19, 0) {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if err := validateVectorName(r.PathValue("vector_name")); err != nil {
			writeError(w, start, err, 0)
			return
		}
		res, err := fn()
		if wait, _ := waitParam(r, false); err == nil && !wait {
			res.Status = "acknowledged"
		}
		reply(w, start, res, err)
	}
	mux.HandleFunc("PUT "+path, func(w http.ResponseWriter, r *http.Request) {
		handle(w, r, func() (UpdateResult, error) {
			var cfg VectorNameConfig
			if err := decodeBody(r, &cfg); err != nil {
				return UpdateResult{}, err
			}
			if err := cfg.validate(); err != nil {
				return UpdateResult{}, err
			}
			if _, err := waitParam(r, false); err != nil {
				return UpdateResult{}, err
			}
			return p.CreateVectorName(r.Context(), r.PathValue("collection_name"), r.PathValue("vector_name"), cfg)
		})
	})
	mux.HandleFunc("DELETE "+path, func(w http.ResponseWriter, r *http.Request) {
		handle(w, r, func() (UpdateResult, error) {
			if _, err := waitParam(r, false); err != nil {
				return UpdateResult{}, err
			}
			return p.DeleteVectorName(r.Context(), r.PathValue("collection_name"), r.PathValue("vector_name"))
		})
	})
}
