package restore

import (
	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// The manifest records shard keys in its own type and the Qdrant client
// speaks Qdrant's; the engine maps between them here.

// qdrantKey is the recorded shard key as the Qdrant client takes it.
func qdrantKey(k manifest.ShardKeyValue) qdrant.ShardKey {
	return qdrant.ShardKey{Str: k.Str, Num: k.Num, IsNum: k.IsNum}
}
