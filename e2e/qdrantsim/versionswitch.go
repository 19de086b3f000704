package qdrantsim

import (
	"net/url"
	"sync"
)

// Behaviours that appeared in a given Qdrant release, read tag by tag.

// refuseURLRecovery is service.enable_snapshot_url_recovery = false (from
// 1.18.0, src/actix/api/snapshot_api.rs recover_from_snapshot and
// recover_shard_snapshot): an http(s) location is refused with 403
// "Forbidden: Snapshot recovery from remote URLs is disabled in the
// configuration", first thing in the request's future — before the
// collection or shard is looked up, after the body was validated. With
// wait=false the request is accepted (202) and the refusal only logged.
func (p *Peer) refuseURLRecovery(location string) error {
	if !p.c.opts.DisableSnapshotURLRecovery || !p.c.ver.atLeast(1, 18, 0) {
		return nil
	}
	u, err := url.Parse(location)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") {
		return nil
	}
	return errf(KindForbidden, "Snapshot recovery from remote URLs is disabled in the configuration")
}

// hasStreamIdleTimeout: a streamed shard snapshot whose consumer stops
// reading is aborted after SNAPSHOT_STREAM_WRITE_IDLE_TIMEOUT (5 minutes)
// from 1.18.2 (lib/collection/src/common/timeout_writer.rs, used by
// shards/shard_holder/mod.rs; absent in 1.18.1).
func (v version) hasStreamIdleTimeout() bool { return v.atLeast(1, 18, 2) }

// serialisesShardRecovery: from 1.19 a shard snapshot recovery takes the
// replica set's snapshot recovery lock for its whole length (download,
// clear, restore), so a second recovery of the same shard waits
// (lib/collection/src/collection/snapshots.rs start_shard_recovery,
// shards/replica_set/mod.rs snapshot_recovery_lock). Before, nothing
// orders them and the last one to finish wins.
func (v version) serialisesShardRecovery() bool { return v.atLeast(1, 19, 0) }

// Upload checksums: every emulated version (1.15.0 to 1.19.0) hashes the
// spooled upload and compares it with ?checksum= before looking the
// collection up (snapshot_api.rs upload_shard_snapshot, upload_snapshot),
// so a mismatch is reported even for a missing collection.

// shardLocks are per-shard mutexes.
type shardLocks struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (s *shardLocks) get(key string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks == nil {
		s.locks = map[string]*sync.Mutex{}
	}
	m, ok := s.locks[key]
	if !ok {
		m = &sync.Mutex{}
		s.locks[key] = m
	}
	return m
}

// lockShardRecovery takes the shard's recovery lock where the version has
// one and returns its release.
func (p *Peer) lockShardRecovery(coll string, shard uint32) func() {
	if !p.c.ver.serialisesShardRecovery() {
		return func() {}
	}
	m := p.recoveries.get(coll + "/" + itoa(int64(shard)))
	m.Lock()
	return m.Unlock
}
