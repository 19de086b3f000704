package backup

import (
	"testing"

	"github.com/qbackup/qbackup/internal/manifest"
	"github.com/qbackup/qbackup/internal/qdrant"
)

// A sampled point is recorded with its id in Qdrant's JSON form and its
// shard key as Qdrant reported it.
func TestManifestDigestRecordsIDAndShardKey(t *testing.T) {
	tests := []struct {
		name   string
		id     qdrant.PointID
		key    *qdrant.ShardKey
		wantID string
		want   *manifest.ShardKeyValue
	}{
		{"number id, no key", qdrant.PointID{Num: 18446744073709551615}, nil, "18446744073709551615", nil},
		{"uuid id, keyword key", qdrant.PointID{UUID: "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"}, ptr(qdrant.StringKey("eu")),
			`"5c56c793-69f3-4fbf-87e6-c4bf54c28c26"`, ptr(manifest.StringKey("eu"))},
		{"numeric key", qdrant.PointID{Num: 3}, ptr(qdrant.NumberKey(7)), "3", ptr(manifest.NumberKey(7))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := qdrant.Point{ID: tt.id, ShardKey: tt.key, Payload: map[string]any{"a": 1.0}}
			d := manifestDigest(qdrant.DigestOf(&p))
			if string(d.ID) != tt.wantID {
				t.Errorf("id %s, want %s", d.ID, tt.wantID)
			}
			if (d.ShardKey == nil) != (tt.want == nil) || (d.ShardKey != nil && !d.ShardKey.Equal(*tt.want)) {
				t.Errorf("shard key %v, want %v", d.ShardKey, tt.want)
			}
			if d.SHA256 != qdrant.ContentHash(&p) {
				t.Errorf("sha256 %s, want the content hash", d.SHA256)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
