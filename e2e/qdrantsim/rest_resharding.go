package qdrantsim

import (
	"fmt"
	"net/http"
	"time"
)

// Telemetry is the part of GET /telemetry the simulator answers: the
// document's required fields and the cluster section, whose
// resharding_enabled (1.17+) tells whether the node offers resharding
// (src/common/telemetry_ops/cluster_telemetry.rs).
type Telemetry struct {
	ID          string               `json:"id"`
	App         TelemetryApp         `json:"app"`
	Collections TelemetryCollections `json:"collections"`
	Cluster     TelemetryCluster     `json:"cluster"`
}

// TelemetryApp is AppBuildTelemetry.
type TelemetryApp struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Startup string `json:"startup"`
}

// TelemetryCollections is CollectionsTelemetry without details.
type TelemetryCollections struct {
	NumberOfCollections int `json:"number_of_collections"`
}

// TelemetryCluster is ClusterTelemetry without details.
type TelemetryCluster struct {
	Enabled           bool  `json:"enabled"`
	ReshardingEnabled *bool `json:"resharding_enabled,omitempty"`
}

// Telemetry returns p's telemetry.
func (p *Peer) Telemetry() Telemetry {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	t := Telemetry{ID: p.telemetryID(), App: TelemetryApp{Name: "qdrant", Version: c.ver.text, Startup: c.started.UTC().Format(time.RFC3339Nano)},
		Collections: TelemetryCollections{NumberOfCollections: len(c.viewLocked(p).colls)},
		Cluster:     TelemetryCluster{Enabled: true}}
	if c.ver.atLeast(1, 17, 0) {
		on := c.opts.ReshardingEnabled
		t.Cluster.ReshardingEnabled = &on
	}
	return t
}

// telemetryID is a stable UUID-shaped id per peer.
func (p *Peer) telemetryID() string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(p.id>>32), p.id&0xffffffffffff)
}

func (p *Peer) reshardingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /telemetry", func(w http.ResponseWriter, r *http.Request) {
		reply(w, time.Now(), p.Telemetry(), nil)
	})
	// Not in the OpenAPI document (src/actix/api/local_shard_api.rs).
	mux.HandleFunc("POST /collections/{collection_name}/shards/{shard_id}/cleanup", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id, err := shardParam(r)
		if err != nil {
			writeError(w, start, err, 0)
			return
		}
		res, err := p.CleanupShard(r.PathValue("collection_name"), id)
		reply(w, start, res, err)
	})
}
