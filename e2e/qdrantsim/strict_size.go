package qdrantsim

import (
	"strconv"
	"time"
)

// Strict mode's limits on what an upsert or vector update adds
// (lib/collection/src/operations/verification/update.rs):
// max_collection_vector_size_bytes, max_collection_payload_size_bytes and
// max_points_count refuse a write once the collection has reached them
// (check_collection_size_limit, a 400 naming the limit), and
// sparse_config / multivector_config bound each named sparse vector's
// length and each multivector's number of vectors.
//
// The collection size is read from statistics each peer caches per
// collection (CollectionSizeStatsCache in lib/collection/src/common/
// collection_size_stats.rs): filled when the collection is created or
// loaded, refreshed by every UPDATE_INTERVAL-th check (32; the request
// counter starts at 1, so the 32nd, 64th, ... write checked on that peer
// refreshes first), and only writes with a size limit set count. A refusal
// therefore comes up to 31 writes after the limit was passed. The
// statistics are Qdrant's estimate (ShardHolder::
// estimate_collection_size_stats): without remote replicas the sum of the
// local shards; otherwise the first local shard times the number of
// shards, and none at all (no check) if the peer holds no shard. Per
// shard the vector size is the segment's estimate (segment read_view/
// info.rs build_size_info): for each vector name the average stored
// vector size (4 bytes per number) times the number of points; the
// payload size is its gridstore's occupied blocks, which grow with every
// rewrite until the next flush (segment_versions.go).

// sizeLimits is the part of StrictModeConfig checked on inserts.
type sizeLimits struct {
	maxVectorBytes, maxPayloadBytes, maxPoints *int
	sparseMax, multiMax                        map[string]int
}

func parseSizeLimits(m map[string]any) sizeLimits {
	num := func(v any) *int {
		if f, ok := v.(float64); ok {
			n := int(f)
			return &n
		}
		return nil
	}
	per := func(v any, field string) map[string]int {
		cfg, _ := v.(map[string]any)
		out := map[string]int{}
		for name, raw := range cfg {
			if entry, ok := raw.(map[string]any); ok {
				if n := num(entry[field]); n != nil {
					out[name] = *n
				}
			}
		}
		return out
	}
	return sizeLimits{maxVectorBytes: num(m["max_collection_vector_size_bytes"]), maxPayloadBytes: num(m["max_collection_payload_size_bytes"]),
		maxPoints: num(m["max_points_count"]), sparseMax: per(m["sparse_config"], "max_length"),
		multiMax: per(m["multivector_config"], "max_vectors")}
}

// sizeStatsUpdateInterval is UPDATE_INTERVAL of lib/collection/src/common/
// collection_size_stats.rs.
const sizeStatsUpdateInterval = 32

// sizeStats is CollectionSizeStats.
type sizeStats struct {
	vecBytes, payloadBytes, points int
}

// sizeStatsCache is one peer's CollectionSizeStatsCache of a collection;
// stats nil is None (never checked).
type sizeStatsCache struct {
	stats   *sizeStats
	counter int
}

// initSizeCacheLocked gives p a fresh cache of col as Collection::new and
// Collection::load do: the current estimate, counter at 1.
func (p *Peer) initSizeCacheLocked(col *collection) {
	if p.sizeCaches == nil {
		p.sizeCaches = map[string]*sizeStatsCache{}
	}
	p.sizeCaches[col.uuid] = &sizeStatsCache{stats: p.estimateSizeLocked(col), counter: 1}
}

// collectionStatsLocked is Collection::estimated_collection_stats: the
// cached statistics, refreshed on every 32nd call; nil means no check.
func (p *Peer) collectionStatsLocked(col *collection) *sizeStats {
	sc := p.sizeCaches[col.uuid]
	if sc == nil {
		p.initSizeCacheLocked(col)
		sc = p.sizeCaches[col.uuid]
	}
	refresh := sc.counter%sizeStatsUpdateInterval == 0
	sc.counter++
	if refresh {
		st := p.estimateSizeLocked(col)
		if st == nil {
			return nil
		}
		if sc.stats != nil {
			*sc.stats = *st
		}
	}
	return sc.stats
}

// estimateSizeLocked is ShardHolder::estimate_collection_size_stats from
// p's point of view.
func (p *Peer) estimateSizeLocked(col *collection) *sizeStats {
	distributed := false
	for _, s := range col.shards {
		for pid := range s.replicas {
			if pid != p.id {
				distributed = true
			}
		}
	}
	now := time.Now()
	var sum sizeStats
	for _, id := range col.shardIDs() {
		if _, ok := col.shards[id].replicas[p.id]; !ok {
			continue
		}
		d := p.data[col.name][id]
		if d == nil {
			continue
		}
		st := shardSizeLocked(d, now, flushInterval(col))
		if distributed {
			n := len(col.shards)
			return &sizeStats{vecBytes: st.vecBytes * n, payloadBytes: st.payloadBytes * n, points: st.points * n}
		}
		sum.vecBytes += st.vecBytes
		sum.payloadBytes += st.payloadBytes
		sum.points += st.points
	}
	if distributed {
		return nil
	}
	return &sum
}

// shardSizeLocked is calculate_local_shard_stats of one replica.
func shardSizeLocked(d *replicaData, now time.Time, every time.Duration) sizeStats {
	d.flushPending()
	bytesOf := map[string]int{}
	countOf := map[string]int{}
	for _, pt := range d.points {
		for name, v := range pt.vectors {
			bytesOf[name] += 4 * v.floats()
			countOf[name]++
		}
	}
	n := d.count()
	var st sizeStats
	for name, b := range bytesOf {
		st.vecBytes += b / countOf[name] * n
	}
	st.payloadBytes = int(d.payloadStorageBytes(now, every))
	st.points = n
	return st
}

// checkInsertLimitsLocked checks pts, about to be written into col, with
// strict mode on.
func (p *Peer) checkInsertLimitsLocked(col *collection, pts []*point) error {
	if _, on := strictLocked(col); !on {
		return nil
	}
	l := parseSizeLimits(col.config.StrictMode)
	if l.maxVectorBytes != nil || l.maxPayloadBytes != nil || l.maxPoints != nil {
		if st := p.collectionStatsLocked(col); st != nil {
			mb := func(n int) string { return strconv.FormatFloat(float64(float32(float64(n)/(1024*1024))), 'f', -1, 32) }
			if l.maxVectorBytes != nil && st.vecBytes >= *l.maxVectorBytes {
				return errf(KindBadRequest, "Max vector storage size limit of %sMB reached!", mb(*l.maxVectorBytes))
			}
			if l.maxPayloadBytes != nil && st.payloadBytes >= *l.maxPayloadBytes {
				return errf(KindBadRequest, "Max payload storage size limit of %sMB reached!", mb(*l.maxPayloadBytes))
			}
			if l.maxPoints != nil && st.points >= *l.maxPoints {
				return errf(KindBadRequest, "Max points count limit of %d reached!", *l.maxPoints)
			}
		}
	}
	for _, pt := range pts {
		for name, v := range pt.vectors {
			if max, ok := l.multiMax[name]; ok && v.multi != nil && len(v.multi) > max {
				return errf(KindBadRequest, "Multivector '%s' has a limit of %d vectors, but %d were provided!", name, max, len(v.multi))
			}
			if max, ok := l.sparseMax[name]; ok && v.sparse != nil && len(v.sparse.Indices) > max {
				return errf(KindBadRequest, "Sparse vector '%s' has a limit of %d indices, but %d were provided!", name, max, len(v.sparse.Indices))
			}
		}
	}
	return nil
}
