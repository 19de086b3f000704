package qdrantsim

import (
	"encoding/json"
	"strconv"
)

// Strict mode's limits on what an upsert or vector update adds
// (lib/collection/src/operations/verification/update.rs):
// max_collection_vector_size_bytes, max_collection_payload_size_bytes and
// max_points_count refuse a write once the collection has reached them
// (check_collection_size_limit, a 400 naming the limit), and
// sparse_config / multivector_config bound each named sparse vector's
// length and each multivector's number of vectors.
//
// Qdrant reads the collection's size from statistics it refreshes every 32
// writes (common/collection_size_stats.rs), so its refusal may come a few
// writes late; the simulator measures every time, which refuses at the
// first write past the limit. The vector size is Qdrant's estimate
// (segment read_view/info.rs): for each vector name the average stored
// vector size (4 bytes per number) times the number of points. The
// payload size is the JSON size of the stored payloads, where Qdrant
// measures its payload storage on disk, which also grows with rewrites
// until compaction: a payload limit is reached later in the simulator.

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

// checkInsertLimitsLocked checks pts, about to be written into col, with
// strict mode on.
func (p *Peer) checkInsertLimitsLocked(col *collection, pts []*point) error {
	if _, on := strictLocked(col); !on {
		return nil
	}
	l := parseSizeLimits(col.config.StrictMode)
	if l.maxVectorBytes != nil || l.maxPayloadBytes != nil || l.maxPoints != nil {
		vecBytes, payloadBytes, points := p.collectionSizeLocked(col)
		mb := func(n int) string { return strconv.FormatFloat(float64(float32(float64(n)/(1024*1024))), 'f', -1, 32) }
		if l.maxVectorBytes != nil && vecBytes >= *l.maxVectorBytes {
			return errf(KindBadRequest, "Max vector storage size limit of %sMB reached!", mb(*l.maxVectorBytes))
		}
		if l.maxPayloadBytes != nil && payloadBytes >= *l.maxPayloadBytes {
			return errf(KindBadRequest, "Max payload storage size limit of %sMB reached!", mb(*l.maxPayloadBytes))
		}
		if l.maxPoints != nil && points >= *l.maxPoints {
			return errf(KindBadRequest, "Max points count limit of %d reached!", *l.maxPoints)
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

// collectionSizeLocked estimates the collection's vector bytes, payload
// bytes and points over one readable replica per shard.
func (p *Peer) collectionSizeLocked(col *collection) (vecBytes, payloadBytes, points int) {
	for _, s := range col.shardIDs() {
		d := p.readReplicaLocked(col, s)
		if d == nil {
			continue
		}
		bytesOf := map[string]int{}
		countOf := map[string]int{}
		for _, pt := range d.points {
			for name, v := range pt.vectors {
				bytesOf[name] += 4 * v.floats()
				countOf[name]++
			}
			if len(pt.payload) > 0 {
				b, _ := json.Marshal(pt.payload)
				payloadBytes += len(b)
			}
		}
		n := d.count()
		for name, b := range bytesOf {
			vecBytes += b / countOf[name] * n
		}
		points += n
	}
	return vecBytes, payloadBytes, points
}
