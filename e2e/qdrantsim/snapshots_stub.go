package qdrantsim

import "net/http"

func (p *Peer) snapshotRoutes(mux *http.ServeMux) {}
