package backup

import (
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// The Qdrant client speaks Qdrant's types and the manifest its own; the
// engine maps between them here.

// manifestKey records a shard key as Qdrant reported it; nil stays nil.
func manifestKey(k *qdrant.ShardKey) *manifest.ShardKeyValue {
	if k == nil {
		return nil
	}
	v := manifest.ShardKeyValue{Str: k.Str, Num: k.Num, IsNum: k.IsNum}
	return &v
}

// manifestDigest records a sampled point's digest, its id in Qdrant's
// JSON form (a number or a UUID string).
func manifestDigest(d qdrant.PointDigest) manifest.PointDigest {
	id, _ := d.ID.MarshalJSON() // a number or a string: cannot fail
	return manifest.PointDigest{ID: id, ShardKey: manifestKey(d.ShardKey), SHA256: d.SHA256}
}
