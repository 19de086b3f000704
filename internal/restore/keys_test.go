package restore

import (
	"slices"
	"testing"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// The keyword "7" and the number 7 are two shard keys in Qdrant; grouping
// them by their text would create one and map both keys' shards onto it.
func TestShardKeysOfEqualTextStayApart(t *testing.T) {
	word, num := qdrant.StringKey("7"), qdrant.NumberKey(7)
	cc := &qdrant.CollectionCluster{
		LocalShards:  []qdrant.LocalShard{{ShardID: 1, ShardKey: &word, State: qdrant.StateActive}},
		RemoteShards: []qdrant.RemoteShard{{ShardID: 2, ShardKey: &num, PeerID: 9, State: qdrant.StateActive}},
	}
	got := keysOf(cc)
	if len(got) != 2 || !slices.Equal(got[word], []uint32{1}) || !slices.Equal(got[num], []uint32{2}) {
		t.Fatalf("keysOf = %v, want the keyword's shard 1 and the number's shard 2 apart", got)
	}
	if !slices.Equal(got[qdrantKey(manifest.NumberKey(7))], []uint32{2}) {
		t.Fatal("the manifest's number key does not find its shards")
	}

	c := manifest.Collection{ShardKeys: []manifest.ShardKey{
		{Key: manifest.StringKey("7"), ShardIDs: []uint32{1}, ReplicationFactor: 1},
		{Key: manifest.NumberKey(7), ShardIDs: []uint32{2}, ReplicationFactor: 3},
	}}
	rf := keyFactors(c, PlanOptions{}, 2)
	if rf[manifest.StringKey("7")] != 1 || rf[manifest.NumberKey(7)] != 3 {
		t.Fatalf("keyFactors = %v, want 1 for the keyword and 3 for the number", rf)
	}
}
