package qdrantsim

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
)

// PeerEndpoint is how tools reach a peer; the command prints one per line.
type PeerEndpoint struct {
	PeerID  uint64 `json:"peer_id"`
	HTTP    string `json:"http"`
	GRPC    string `json:"grpc"`
	Running bool   `json:"running"`
}

// Endpoint describes p.
func (p *Peer) Endpoint() PeerEndpoint {
	return PeerEndpoint{PeerID: p.id, HTTP: p.URL(), GRPC: p.GRPCAddr(), Running: p.Running()}
}

// SyntheticRequest is the admin body for SetSyntheticShard.
type SyntheticRequest struct {
	Collection string `json:"collection"`
	ShardID    uint32 `json:"shard_id"`
	Bytes      int64  `json:"bytes"`
	Seed       uint64 `json:"seed"`
}

// AdminHandler serves the admin and fault API as JSON:
//
//	GET    /peers                  list peers
//	POST   /peers                  add an empty peer
//	DELETE /peers/{id}             remove a peer and its data
//	POST   /peers/{id}/stop        stop a peer (connections refused)
//	POST   /peers/{id}/start       start it again
//	GET    /peers/{id}/faults      current faults
//	PUT    /peers/{id}/faults      replace faults (body: Faults)
//	DELETE /peers/{id}/faults      clear faults
//	POST   /synthetic              body: SyntheticRequest
//
// plus the live-write and disk endpoints of writeLoadRoutes.
func (c *Cluster) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, status int, err error) {
		writeJSON(w, status, map[string]string{"error": err.Error()})
	}
	peer := func(w http.ResponseWriter, r *http.Request) *Peer {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err == nil {
			if p := c.Peer(id); p != nil {
				return p
			}
		}
		fail(w, http.StatusNotFound, errors.New("no peer "+r.PathValue("id")))
		return nil
	}
	mux.HandleFunc("GET /peers", func(w http.ResponseWriter, r *http.Request) {
		out := []PeerEndpoint{}
		for _, p := range c.Peers() {
			out = append(out, p.Endpoint())
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /peers", func(w http.ResponseWriter, r *http.Request) {
		p, err := c.AddPeer(r.Context())
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, p.Endpoint())
	})
	mux.HandleFunc("DELETE /peers/{id}", func(w http.ResponseWriter, r *http.Request) {
		if p := peer(w, r); p != nil {
			if err := c.RemovePeer(p.id); err != nil {
				fail(w, http.StatusInternalServerError, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		}
	})
	mux.HandleFunc("POST /peers/{id}/stop", func(w http.ResponseWriter, r *http.Request) {
		if p := peer(w, r); p != nil {
			p.Stop()
			writeJSON(w, http.StatusOK, p.Endpoint())
		}
	})
	mux.HandleFunc("POST /peers/{id}/start", func(w http.ResponseWriter, r *http.Request) {
		if p := peer(w, r); p != nil {
			if err := p.Start(r.Context()); err != nil {
				fail(w, http.StatusInternalServerError, err)
				return
			}
			writeJSON(w, http.StatusOK, p.Endpoint())
		}
	})
	mux.HandleFunc("GET /peers/{id}/faults", func(w http.ResponseWriter, r *http.Request) {
		if p := peer(w, r); p != nil {
			writeJSON(w, http.StatusOK, p.Faults())
		}
	})
	mux.HandleFunc("PUT /peers/{id}/faults", func(w http.ResponseWriter, r *http.Request) {
		if p := peer(w, r); p != nil {
			var f Faults
			if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
				fail(w, http.StatusBadRequest, err)
				return
			}
			p.SetFaults(f)
			writeJSON(w, http.StatusOK, f)
		}
	})
	mux.HandleFunc("DELETE /peers/{id}/faults", func(w http.ResponseWriter, r *http.Request) {
		if p := peer(w, r); p != nil {
			p.ClearFaults()
			writeJSON(w, http.StatusOK, Faults{})
		}
	})
	c.writeLoadRoutes(mux, peer)
	mux.HandleFunc("POST /synthetic", func(w http.ResponseWriter, r *http.Request) {
		var req SyntheticRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		if err := c.SetSyntheticShard(r.Context(), req.Collection, req.ShardID, req.Bytes, req.Seed); err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, req)
	})
	return mux
}

// ServeAdmin serves AdminHandler on addr until ctx ends or the cluster
// closes; it returns the bound address once listening.
func (c *Cluster) ServeAdmin(ctx context.Context, addr string) (string, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: c.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		srv.Serve(l)
	}()
	go func() {
		defer c.wg.Done()
		select {
		case <-ctx.Done():
		case <-c.stop:
		}
		srv.Close()
	}()
	return l.Addr().String(), nil
}
