package qdrant

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// VersionInfo is the answer of GET / (not enveloped, never needs a key).
type VersionInfo struct {
	Title   string `json:"title"`
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
}

// VersionInfo asks the peer who it is. An answer that is not Qdrant's (for
// example another HTTP server on the port) is an error wrapping
// ErrNotQdrant.
func (c *Client) VersionInfo(ctx context.Context) (*VersionInfo, error) {
	const op = "read Qdrant version (GET /)"
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodGet, "/", nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.do(op, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", op, c.peer(), err)
	}
	var v VersionInfo
	if json.Unmarshal(data, &v) != nil || v.Version == "" || !strings.Contains(strings.ToLower(v.Title), "qdrant") {
		return nil, fmt.Errorf("%s on %s: %w: answer %q", op, c.peer(), ErrNotQdrant, errorMessage(data))
	}
	return &v, nil
}

// Version returns the peer's Qdrant version, e.g. "1.15.4".
func (c *Client) Version(ctx context.Context) (string, error) {
	v, err := c.VersionInfo(ctx)
	if err != nil {
		return "", err
	}
	return v.Version, nil
}

// ClusterStatus is GET /cluster as seen by one peer.
type ClusterStatus struct {
	// Enabled is false for a standalone (non-distributed) peer, which
	// answers {"status":"disabled"} and nothing else.
	Enabled bool
	// PeerID is the answering peer's own id.
	PeerID uint64
	// Peers maps every peer id in consensus to its P2P URI (port 6335,
	// usually a DNS name with a trailing slash) — not a REST address.
	Peers map[uint64]string
	Raft  RaftInfo
	// Consensus is "working", "stopped" or "stopped_with_err".
	Consensus      string
	ConsensusError string
	LastUpdate     time.Time
	// MessageSendFailures maps a peer URI to its consecutive failures.
	MessageSendFailures map[string]SendFailures
}

// RaftInfo is the raft summary of GET /cluster.
type RaftInfo struct {
	Term              uint64  `json:"term"`
	Commit            uint64  `json:"commit"`
	PendingOperations uint64  `json:"pending_operations"`
	Leader            *uint64 `json:"leader"`
	// Role is "Leader", "Follower", "Candidate", "PreCandidate" or "".
	Role    string `json:"role"`
	IsVoter bool   `json:"is_voter"`
}

// SendFailures counts a peer's failed consensus messages.
type SendFailures struct {
	Count       uint64 `json:"count"`
	LatestError string `json:"latest_error"`
}

// ConsensusWorking reports whether the peer's consensus thread runs.
func (s *ClusterStatus) ConsensusWorking() bool { return s.Consensus == "working" }

type clusterJSON struct {
	Status string `json:"status"`
	PeerID uint64 `json:"peer_id"`
	Peers  map[string]struct {
		URI string `json:"uri"`
	} `json:"peers"`
	RaftInfo  RaftInfo `json:"raft_info"`
	Consensus struct {
		Status     string `json:"consensus_thread_status"`
		LastUpdate string `json:"last_update"`
		Err        string `json:"err"`
	} `json:"consensus_thread_status"`
	MessageSendFailures map[string]SendFailures `json:"message_send_failures"`
}

// Cluster reads GET /cluster.
func (c *Client) Cluster(ctx context.Context) (*ClusterStatus, error) {
	const op = "read cluster status (GET /cluster)"
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	var raw clusterJSON
	if err := c.callJSON(ctx, jsonCall{op: op, method: http.MethodGet, path: "/cluster", out: &raw}); err != nil {
		return nil, err
	}
	s := &ClusterStatus{
		Enabled:             raw.Status == "enabled",
		PeerID:              raw.PeerID,
		Raft:                raw.RaftInfo,
		Consensus:           raw.Consensus.Status,
		ConsensusError:      raw.Consensus.Err,
		MessageSendFailures: raw.MessageSendFailures,
		Peers:               make(map[uint64]string, len(raw.Peers)),
	}
	if raw.Status != "enabled" && raw.Status != "disabled" {
		return nil, fmt.Errorf("%s on %s: unknown cluster status %q", op, c.peer(), raw.Status)
	}
	if t, err := time.Parse(time.RFC3339Nano, raw.Consensus.LastUpdate); err == nil {
		s.LastUpdate = t
	}
	for k, p := range raw.Peers {
		id, err := strconv.ParseUint(k, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: peer id %q is not a number", op, c.peer(), k)
		}
		s.Peers[id] = p.URI
	}
	return s, nil
}

// CollectionInfo is GET /collections/{c}: the config verbatim plus the
// essentials a backup and a restore decide on.
type CollectionInfo struct {
	// Status is the collection status: "green", "yellow", "grey" or "red".
	Status      string
	PointsCount uint64
	// Config is result.config verbatim (params, hnsw_config,
	// optimizer_config, wal_config, quantization_config,
	// strict_mode_config, metadata, ...): settings this tool does not know
	// survive a round trip.
	Config json.RawMessage
	// PayloadSchema is result.payload_schema verbatim:
	// {field: {data_type, params?, points}}.
	PayloadSchema json.RawMessage
	// ShardingMethod is "auto" (also when Qdrant omits it) or "custom".
	ShardingMethod         string
	ShardNumber            uint32
	ReplicationFactor      uint32
	WriteConsistencyFactor uint32
	// Vectors and SparseVectors are config.params.vectors and
	// config.params.sparse_vectors verbatim (nil when absent).
	Vectors       json.RawMessage
	SparseVectors json.RawMessage
}

// CollectionInfo reads GET /collections/{name}.
func (c *Client) CollectionInfo(ctx context.Context, name string) (*CollectionInfo, error) {
	op := fmt.Sprintf("read collection %q", name)
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	var raw struct {
		Status        string          `json:"status"`
		PointsCount   *uint64         `json:"points_count"`
		Config        json.RawMessage `json:"config"`
		PayloadSchema json.RawMessage `json:"payload_schema"`
	}
	if err := c.callJSON(ctx, jsonCall{op: op, method: http.MethodGet, path: collPath(name), out: &raw}); err != nil {
		return nil, err
	}
	var cfg struct {
		Params struct {
			Vectors                json.RawMessage `json:"vectors"`
			SparseVectors          json.RawMessage `json:"sparse_vectors"`
			ShardNumber            *uint32         `json:"shard_number"`
			ShardingMethod         string          `json:"sharding_method"`
			ReplicationFactor      *uint32         `json:"replication_factor"`
			WriteConsistencyFactor *uint32         `json:"write_consistency_factor"`
		} `json:"params"`
	}
	if len(raw.Config) == 0 {
		return nil, fmt.Errorf("%s on %s: answer has no config", op, c.peer())
	}
	if err := json.Unmarshal(raw.Config, &cfg); err != nil {
		return nil, fmt.Errorf("%s on %s: decode config: %w", op, c.peer(), err)
	}
	p := cfg.Params
	info := &CollectionInfo{
		Status:                 raw.Status,
		Config:                 raw.Config,
		PayloadSchema:          raw.PayloadSchema,
		ShardingMethod:         p.ShardingMethod,
		Vectors:                p.Vectors,
		SparseVectors:          p.SparseVectors,
		ShardNumber:            1,
		ReplicationFactor:      1,
		WriteConsistencyFactor: 1,
	}
	if info.ShardingMethod == "" {
		info.ShardingMethod = "auto"
	}
	if raw.PointsCount != nil {
		info.PointsCount = *raw.PointsCount
	}
	// Qdrant always writes these three; the defaults are its own.
	if p.ShardNumber != nil {
		info.ShardNumber = *p.ShardNumber
	}
	if p.ReplicationFactor != nil {
		info.ReplicationFactor = *p.ReplicationFactor
	}
	if p.WriteConsistencyFactor != nil {
		info.WriteConsistencyFactor = *p.WriteConsistencyFactor
	}
	return info, nil
}

// CreateCollection creates a collection (PUT /collections/{name}) from a
// request body as Qdrant's API defines it. An existing collection is an
// error wrapping ErrConflict.
func (c *Client) CreateCollection(ctx context.Context, name string, body json.RawMessage) error {
	op := fmt.Sprintf("create collection %q", name)
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	var ok bool
	return c.callJSON(ctx, jsonCall{op: op, method: http.MethodPut, path: collPath(name), body: body, out: &ok})
}

// UpdateCollection changes a collection's settings (PATCH
// /collections/{name}); body is an UpdateCollection request.
func (c *Client) UpdateCollection(ctx context.Context, name string, body json.RawMessage) error {
	op := fmt.Sprintf("update collection %q", name)
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	var ok bool
	return c.callJSON(ctx, jsonCall{op: op, method: http.MethodPatch, path: collPath(name), body: body, out: &ok})
}

// DeleteCollection deletes a collection (DELETE /collections/{name}).
// Deleting a missing collection is not an error: Qdrant answers false.
func (c *Client) DeleteCollection(ctx context.Context, name string) error {
	op := fmt.Sprintf("delete collection %q", name)
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	var ok bool
	return c.callJSON(ctx, jsonCall{op: op, method: http.MethodDelete, path: collPath(name), out: &ok})
}

// CreatePayloadIndex creates a payload index (PUT /collections/{c}/index,
// wait=true). schema is a PayloadFieldSchema: a type name such as
// "keyword" or a params object such as {"type":"text","tokenizer":"word"};
// PayloadIndexSchema derives it from a payload_schema entry.
func (c *Client) CreatePayloadIndex(ctx context.Context, collection, field string, schema json.RawMessage) error {
	op := fmt.Sprintf("create payload index %q of collection %q", field, collection)
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	body := struct {
		FieldName   string          `json:"field_name"`
		FieldSchema json.RawMessage `json:"field_schema,omitempty"`
	}{field, schema}
	var res json.RawMessage
	return c.callJSON(ctx, jsonCall{op: op, method: http.MethodPut, path: collPath(collection) + "/index", query: waitQuery(), body: body, out: &res})
}

// PayloadIndexSchema turns one entry of CollectionInfo.PayloadSchema
// ({"data_type":"keyword","params":{...},"points":N}) into the
// field_schema that CreatePayloadIndex takes: the params object when
// present (it carries the type), else the data type name.
func PayloadIndexSchema(entry json.RawMessage) (json.RawMessage, error) {
	var e struct {
		DataType string          `json:"data_type"`
		Params   json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(entry, &e); err != nil {
		return nil, fmt.Errorf("payload schema entry: %w", err)
	}
	if len(e.Params) > 0 && string(e.Params) != "null" {
		return e.Params, nil
	}
	if e.DataType == "" {
		return nil, fmt.Errorf("payload schema entry %s: no data_type", entry)
	}
	return json.Marshal(e.DataType)
}

// Replica states as Qdrant names them (v1.19 set; 1.15 lacks ActiveRead
// and ManualRecovery).
const (
	StateActive              = "Active"
	StateDead                = "Dead"
	StatePartial             = "Partial"
	StateInitializing        = "Initializing"
	StateListener            = "Listener"
	StatePartialSnapshot     = "PartialSnapshot"
	StateRecovery            = "Recovery"
	StateResharding          = "Resharding"
	StateReshardingScaleDown = "ReshardingScaleDown"
	StateActiveRead          = "ActiveRead"
	StateManualRecovery      = "ManualRecovery"
)

// CollectionCluster is GET /collections/{c}/cluster from one peer's point
// of view.
type CollectionCluster struct {
	PeerID uint64 `json:"peer_id"`
	// ShardCount is the number of shards that exist (custom sharding: the
	// sum over shard keys).
	ShardCount     int             `json:"shard_count"`
	LocalShards    []LocalShard    `json:"local_shards"`
	RemoteShards   []RemoteShard   `json:"remote_shards"`
	ShardTransfers []ShardTransfer `json:"shard_transfers"`
	// ReshardingOperations is verbatim; absent when none runs.
	ReshardingOperations json.RawMessage `json:"resharding_operations,omitempty"`
}

// LocalShard is a replica held by the answering peer. PointsCount is
// Qdrant's approximate count.
type LocalShard struct {
	ShardID     uint32    `json:"shard_id"`
	ShardKey    *ShardKey `json:"shard_key,omitempty"`
	PointsCount uint64    `json:"points_count"`
	State       string    `json:"state"`
}

// RemoteShard is a replica held by another peer.
type RemoteShard struct {
	ShardID  uint32    `json:"shard_id"`
	ShardKey *ShardKey `json:"shard_key,omitempty"`
	PeerID   uint64    `json:"peer_id"`
	State    string    `json:"state"`
}

// ShardTransfer is a running shard transfer.
type ShardTransfer struct {
	ShardID   uint32  `json:"shard_id"`
	ToShardID *uint32 `json:"to_shard_id,omitempty"`
	From      uint64  `json:"from"`
	To        uint64  `json:"to"`
	// Sync is true for replication, false for a move.
	Sync    bool   `json:"sync"`
	Method  string `json:"method,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// Replica is one replica of a shard in a CollectionCluster.
type Replica struct {
	ShardID  uint32
	ShardKey *ShardKey
	PeerID   uint64
	State    string
}

// Replicas returns every replica, local and remote, sorted by shard id
// then peer id.
func (cc *CollectionCluster) Replicas() []Replica {
	out := make([]Replica, 0, len(cc.LocalShards)+len(cc.RemoteShards))
	for _, s := range cc.LocalShards {
		out = append(out, Replica{ShardID: s.ShardID, ShardKey: s.ShardKey, PeerID: cc.PeerID, State: s.State})
	}
	for _, s := range cc.RemoteShards {
		out = append(out, Replica(s))
	}
	sortReplicas(out)
	return out
}

// CollectionCluster reads GET /collections/{name}/cluster.
func (c *Client) CollectionCluster(ctx context.Context, name string) (*CollectionCluster, error) {
	op := fmt.Sprintf("read cluster info of collection %q", name)
	ctx, cancel := c.shortCtx(ctx)
	defer cancel()
	var cc CollectionCluster
	if err := c.callJSON(ctx, jsonCall{op: op, method: http.MethodGet, path: collPath(name) + "/cluster", out: &cc}); err != nil {
		return nil, err
	}
	return &cc, nil
}
