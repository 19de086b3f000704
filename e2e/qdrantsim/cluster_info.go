package qdrantsim

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// ClusterStatus is GET /cluster in cluster mode.
type ClusterStatus struct {
	Status                string                       `json:"status"`
	PeerID                uint64                       `json:"peer_id"`
	Peers                 map[string]PeerInfo          `json:"peers"`
	RaftInfo              RaftInfo                     `json:"raft_info"`
	ConsensusThreadStatus ConsensusThreadStatus        `json:"consensus_thread_status"`
	MessageSendFailures   map[string]MessageSendErrors `json:"message_send_failures"`
}

// PeerInfo is one peer of GET /cluster.
type PeerInfo struct {
	URI string `json:"uri"`
}

// RaftInfo summarises the (simulated) raft state.
type RaftInfo struct {
	Term              uint64  `json:"term"`
	Commit            uint64  `json:"commit"`
	PendingOperations int     `json:"pending_operations"`
	Leader            *uint64 `json:"leader"`
	Role              *string `json:"role"`
	IsVoter           bool    `json:"is_voter"`
}

// ConsensusThreadStatus is always "working" for a running peer.
type ConsensusThreadStatus struct {
	ConsensusThreadStatus string `json:"consensus_thread_status"`
	LastUpdate            string `json:"last_update"`
}

// MessageSendErrors reports failed sends to a down peer.
type MessageSendErrors struct {
	Count                int     `json:"count"`
	LatestError          *string `json:"latest_error"`
	LatestErrorTimestamp *string `json:"latest_error_timestamp"`
}

// CollectionClusterInfo is GET /collections/{c}/cluster from one peer's view.
type CollectionClusterInfo struct {
	PeerID         uint64              `json:"peer_id"`
	ShardCount     int                 `json:"shard_count"`
	LocalShards    []LocalShardInfo    `json:"local_shards"`
	RemoteShards   []RemoteShardInfo   `json:"remote_shards"`
	ShardTransfers []ShardTransferInfo `json:"shard_transfers"`
	// ReshardingOperations is listed only while a resharding runs
	// (skip_serializing_if = "Option::is_none" in
	// lib/collection/src/operations/types.rs).
	ReshardingOperations []ReshardingInfo `json:"resharding_operations,omitempty"`
}

// LocalShardInfo is a replica held by the answering peer.
type LocalShardInfo struct {
	ShardID     uint32    `json:"shard_id"`
	ShardKey    *ShardKey `json:"shard_key,omitempty"`
	PointsCount int       `json:"points_count"`
	State       string    `json:"state"`
}

// RemoteShardInfo is a replica held by another peer.
type RemoteShardInfo struct {
	ShardID  uint32    `json:"shard_id"`
	ShardKey *ShardKey `json:"shard_key,omitempty"`
	PeerID   uint64    `json:"peer_id"`
	State    string    `json:"state"`
}

// ShardTransferInfo is a running transfer.
type ShardTransferInfo struct {
	ShardID uint32 `json:"shard_id"`
	// ToShardID is the target shard of a resharding transfer.
	ToShardID *uint32 `json:"to_shard_id,omitempty"`
	From      uint64  `json:"from"`
	To        uint64  `json:"to"`
	Sync      bool    `json:"sync"`
	Method    string  `json:"method,omitempty"`
	Comment   *string `json:"comment,omitempty"`
}

// ShardKeysResponse is GET /collections/{c}/shards (1.18+).
type ShardKeysResponse struct {
	ShardKeys []ShardKeyDescription `json:"shard_keys"`
}

// ShardKeyDescription names one shard key.
type ShardKeyDescription struct {
	Key ShardKey `json:"key"`
}

// ClusterInfo returns GET /cluster as seen by p. The leader is the first
// running peer in join order.
func (p *Peer) ClusterInfo(ctx context.Context) (*ClusterStatus, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &ClusterStatus{Status: "enabled", PeerID: p.id, Peers: map[string]PeerInfo{},
		MessageSendFailures: map[string]MessageSendErrors{},
		ConsensusThreadStatus: ConsensusThreadStatus{ConsensusThreadStatus: "working",
			LastUpdate: time.Now().UTC().Format(time.RFC3339Nano)}}
	var leader *uint64
	for _, q := range c.peers {
		st.Peers[strconv.FormatUint(q.id, 10)] = PeerInfo{URI: q.P2PURI()}
		if q.running && leader == nil {
			id := q.id
			leader = &id
		}
		if !q.running && q != p {
			msg := fmt.Sprintf("Failed to connect to %s: transport error", q.P2PURI())
			ts := q.stoppedAt.UTC().Format(time.RFC3339Nano)
			st.MessageSendFailures[q.P2PURI()] = MessageSendErrors{Count: 1 + int(time.Since(q.stoppedAt)/time.Second),
				LatestError: &msg, LatestErrorTimestamp: &ts}
		}
	}
	role := "Follower"
	if leader != nil && *leader == p.id {
		role = "Leader"
	}
	// The commit index is what p has applied.
	st.RaftInfo = RaftInfo{Term: 1, Commit: c.viewLocked(p).index, Leader: leader, Role: &role, IsVoter: true}
	return st, nil
}

// CollectionClusterInfo returns the shard placement of a collection from p's
// point of view, as Qdrant's cluster_info does
// (lib/collection/src/collection/collection_ops.rs): replica states are
// p's applied consensus view; a shard p holds data of is local, in state
// Dead when p's view has no replica for it yet (a recovered snapshot whose
// activation p has not applied).
func (p *Peer) CollectionClusterInfo(ctx context.Context, coll string) (*CollectionClusterInfo, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.viewLocked(p)
	col, err := resolveIn(v, coll)
	if err != nil {
		return nil, err
	}
	local := p.data[col.name]
	if cur := c.colls[col.name]; cur == nil || cur.uuid != col.uuid {
		local = nil // p's data belongs to another incarnation of the name
	}
	info := &CollectionClusterInfo{PeerID: p.id, ShardCount: len(col.shards),
		LocalShards: []LocalShardInfo{}, RemoteShards: []RemoteShardInfo{}, ShardTransfers: []ShardTransferInfo{}}
	for _, id := range col.shardIDs() {
		s := col.shards[id]
		d, hasLocal := local[id]
		if r := s.replicas[p.id]; r != nil || hasLocal {
			n, state := 0, StateDead
			if d != nil {
				n = d.count()
			}
			if r != nil {
				state = r.state
			}
			info.LocalShards = append(info.LocalShards, LocalShardInfo{ShardID: id, ShardKey: s.key, PointsCount: n, State: state})
		}
		for _, pid := range s.peerIDs() {
			if pid != p.id {
				info.RemoteShards = append(info.RemoteShards, RemoteShardInfo{ShardID: id, ShardKey: s.key, PeerID: pid, State: s.replicas[pid].state})
			}
		}
	}
	for _, t := range v.transfers {
		if t.coll != col.name {
			continue
		}
		ti := ShardTransferInfo{ShardID: t.shard, From: t.from, To: t.to, Sync: t.sync, Method: t.method}
		if t.resharding {
			to := t.toShard
			ti.ToShardID = &to
		}
		if t.from == p.id {
			done := float64(time.Since(t.started)) / float64(t.deadline.Sub(t.started))
			cm := fmt.Sprintf("Transferring records (%d%%), started %.1fs ago", int(min(done, 1)*100), time.Since(t.started).Seconds())
			ti.Comment = &cm
		}
		info.ShardTransfers = append(info.ShardTransfers, ti)
	}
	sort.Slice(info.ShardTransfers, func(i, j int) bool { return info.ShardTransfers[i].ShardID < info.ShardTransfers[j].ShardID })
	info.ReshardingOperations = reshardingInfo(col)
	return info, nil
}

// ListShardKeys returns the shard keys of a collection (1.18+ endpoint).
func (p *Peer) ListShardKeys(ctx context.Context, coll string) (*ShardKeysResponse, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	col, err := resolveIn(c.viewLocked(p), coll)
	if err != nil {
		return nil, err
	}
	res := &ShardKeysResponse{}
	if col.custom() {
		res.ShardKeys = []ShardKeyDescription{}
		for _, k := range col.keys {
			res.ShardKeys = append(res.ShardKeys, ShardKeyDescription{Key: k})
		}
	}
	return res, nil
}
