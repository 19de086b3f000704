package qdrant

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/proto"
)

// A batch whose request exceeds the limit is split so that each request
// is accepted, every point arrives once, in the order given, and every
// request waits for Qdrant to apply it.
func TestGRPCUpsertSplitsLargeBatchesInOrder(t *testing.T) {
	const limit = 4 << 10
	c, f := grpcPeer(t, testKey, func(o *Options) { o.MaxUpsertBytes = limit })
	f.upsertLimit = limit
	var pts []Point
	for i := range 200 {
		pts = append(pts, Point{ID: PointID{Num: uint64(i)}, Vectors: map[string]Vector{"": {Dense: []float32{float32(i), 0.25, -1}}},
			Payload: map[string]any{"text": fmt.Sprintf("point number %d", i)}})
	}
	if err := c.UpsertPoints(ctx(t), "docs", pts); err != nil {
		t.Fatalf("upsert: %v", err)
	}
	var got []uint64
	for _, r := range f.upserts {
		if r.GetCollectionName() != "docs" || !r.GetWait() || r.GetShardKeySelector() != nil {
			t.Errorf("request to %q wait=%v shard keys %v, want docs, wait=true, no selector", r.GetCollectionName(), r.GetWait(), r.GetShardKeySelector())
		}
		for _, p := range r.GetPoints() {
			got = append(got, p.GetId().GetNum())
		}
	}
	want := make([]uint64, len(pts))
	for i := range want {
		want[i] = uint64(i)
	}
	if !slices.Equal(got, want) {
		t.Errorf("received ids %v, want 0..199 in order", got)
	}
	if len(f.upserts) < 2 {
		t.Errorf("%d requests, want the batch split", len(f.upserts))
	}
}

// A single point above the limit cannot be split: the error names it.
func TestGRPCUpsertRefusesAPointAboveTheLimit(t *testing.T) {
	c, f := grpcPeer(t, testKey, func(o *Options) { o.MaxUpsertBytes = 64 })
	big := Point{ID: PointID{Num: 9}, Vectors: map[string]Vector{"": {Dense: make([]float32, 100)}}}
	err := c.UpsertPoints(ctx(t), "docs", []Point{big})
	if err == nil || !strings.Contains(err.Error(), "point 9") || !strings.Contains(err.Error(), "above the 64-byte request limit") {
		t.Fatalf("err %v, want the point named and the limit", err)
	}
	if len(f.upserts) != 0 {
		t.Errorf("%d requests sent", len(f.upserts))
	}
}

// Points are written as Scroll read them: the unnamed vector bare, named
// dense, sparse and multi-vectors by name, payload values with their
// types; UpsertSize counts the bytes each adds to the request.
func TestGRPCUpsertWritesPointsAsScrollReadThem(t *testing.T) {
	c, f := grpcPeer(t, testKey)
	pts, _, err := c.Scroll(ctx(t), "docs", 10, nil, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UpsertPoints(ctx(t), "copy", pts); err != nil {
		t.Fatalf("upsert: %v", err)
	}
	if len(f.upserts) != 1 || len(f.upserts[0].GetPoints()) != 2 {
		t.Fatalf("requests %v", f.upserts)
	}
	sent := f.upserts[0].GetPoints()
	if d := sent[0].GetVectors().GetVector().GetDense().GetData(); !slices.Equal(d, []float32{0.1, 0.2}) {
		t.Errorf("unnamed vector %v", sent[0].GetVectors())
	}
	pl := sent[0].GetPayload()
	if pl["n"].GetIntegerValue() != 3 || pl["city"].GetStringValue() != "Oslo" || len(pl["tags"].GetListValue().GetValues()) != 2 ||
		pl["geo"].GetStructValue().GetFields()["lat"].GetDoubleValue() != 59.9 {
		t.Errorf("payload %v", pl)
	}
	named := sent[1].GetVectors().GetVectors().GetVectors()
	if sent[1].GetId().GetUuid() != "5c56c793-69f3-4fbf-87e6-c4bf54c28c26" {
		t.Errorf("id %v", sent[1].GetId())
	}
	if d := named["text"].GetDense().GetData(); !slices.Equal(d, []float32{0.5, -1}) {
		t.Errorf("dense %v", named["text"])
	}
	if s := named["kw"].GetSparse(); !slices.Equal(s.GetIndices(), []uint32{7, 2}) || !slices.Equal(s.GetValues(), []float32{0.7, 0.2}) {
		t.Errorf("sparse %v", named["kw"])
	}
	for _, name := range []string{"colbert", "legacy"} {
		m := named[name].GetMultiDense().GetVectors()
		if len(m) != 2 || !slices.Equal(m[0].GetData(), []float32{1, 2}) || !slices.Equal(m[1].GetData(), []float32{3, 4}) {
			t.Errorf("multi %s %v", name, named[name])
		}
	}
	total := 0
	for i := range pts {
		total += UpsertSize(&pts[i])
	}
	if want := len(mustMarshal(t, &qc.UpsertPoints{Points: sent})); total != want {
		t.Errorf("UpsertSize sums to %d, the points encode to %d", total, want)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
