package qdrant

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
)

func TestCanonicalFormIsExactlyAsDocumented(t *testing.T) {
	p := &Point{
		ID: PointID{Num: 5},
		Payload: map[string]any{
			"z": "a<b", "a": []any{int64(1), 1.5, nil, true}, "m": map[string]any{"y": 2.0, "x": "é"},
		},
		Vectors: map[string]Vector{
			"":      {Dense: []float32{0.1, 1, -2.5e-8}},
			"kw":    {Sparse: &SparseVector{Indices: []uint32{9, 3}, Values: []float32{0.9, 0.3}}},
			"multi": {Multi: [][]float32{{1, 2}, {3, 4}}},
		},
	}
	want := `{"payload":{"a":[1,1.5,null,true],"m":{"x":"é","y":2},"z":"a\u003cb"},` +
		`"vectors":{"":[0.1,1,-2.5e-08],"kw":{"indices":[3,9],"values":[0.3,0.9]},"multi":[[1,2],[3,4]]}}`
	if got := string(canonical(p)); got != want {
		t.Fatalf("canonical form\n got %s\nwant %s", got, want)
	}
	// Pinned: a change here silently breaks every recorded sample.
	sum := sha256.Sum256([]byte(want))
	if got := ContentHash(p); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("content hash %s is not the SHA-256 of the canonical form", got)
	}
}

func TestContentHashIgnoresRepresentationButNotContent(t *testing.T) {
	base := func() *Point {
		return &Point{
			Payload: map[string]any{"n": int64(1), "s": "x", "o": map[string]any{"a": 1.25, "b": false}},
			Vectors: map[string]Vector{"v": {Dense: []float32{0.5, 0.25}}},
		}
	}
	h := ContentHash(base())
	for _, tc := range []struct {
		name   string
		mutate func(*Point)
		same   bool
	}{
		{"the same point built again", func(p *Point) {}, true},
		{"an integer read back as a whole float", func(p *Point) { p.Payload["n"] = 1.0 }, true},
		{"a number from encoding/json", func(p *Point) { p.Payload["n"] = json.Number("1") }, true},
		{"a different id", func(p *Point) { p.ID = PointID{UUID: "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"} }, true},
		{"a changed payload value", func(p *Point) { p.Payload["s"] = "y" }, false},
		{"a nested change", func(p *Point) { p.Payload["o"].(map[string]any)["b"] = true }, false},
		{"a string that looks like the number", func(p *Point) { p.Payload["n"] = "1" }, false},
		{"a vector off by one float32 step", func(p *Point) { p.Vectors["v"].Dense[1] = 0.25000003 }, false},
		{"a renamed vector", func(p *Point) { p.Vectors = map[string]Vector{"w": p.Vectors["v"]} }, false},
		{"no payload", func(p *Point) { p.Payload = nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.mutate(p)
			if got := ContentHash(p) == h; got != tc.same {
				t.Fatalf("same hash = %v, want %v (%s)", got, tc.same, canonical(p))
			}
		})
	}
}

func TestSparseVectorsHashTheSameInAnyOrder(t *testing.T) {
	a := &Point{Vectors: map[string]Vector{"s": {Sparse: &SparseVector{Indices: []uint32{1, 5, 3}, Values: []float32{0.1, 0.5, 0.3}}}}}
	b := &Point{Vectors: map[string]Vector{"s": {Sparse: &SparseVector{Indices: []uint32{5, 3, 1}, Values: []float32{0.5, 0.3, 0.1}}}}}
	if ContentHash(a) != ContentHash(b) {
		t.Fatal("order of sparse pairs changed the hash")
	}
}

func TestDigestOfCarriesIDAndShardKey(t *testing.T) {
	key := NumberKey(7)
	d := DigestOf(&Point{ID: PointID{UUID: "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"}, ShardKey: &key})
	if d.ID.UUID != "5c56c793-69f3-4fbf-87e6-c4bf54c28c26" || d.ShardKey == nil || !d.ShardKey.Equal(key) || len(d.SHA256) != 64 {
		t.Fatalf("%+v", d)
	}
	d = DigestOf(&Point{ID: PointID{Num: 18446744073709551615}})
	raw, err := d.ID.MarshalJSON()
	if err != nil || string(raw) != "18446744073709551615" {
		t.Fatalf("id %s %v", raw, err)
	}
	var back PointID
	if err := json.Unmarshal(raw, &back); err != nil || back.Num != 18446744073709551615 {
		t.Fatalf("round trip %v %v", back, err)
	}
}

func TestShardKeyJSONRoundTrips(t *testing.T) {
	tests := []struct {
		json string
		want ShardKey
	}{
		{`"tenant-a"`, StringKey("tenant-a")},
		{`7`, NumberKey(7)},
		{`18446744073709551615`, NumberKey(18446744073709551615)},
		{`"7"`, StringKey("7")},
	}
	for _, tt := range tests {
		var k ShardKey
		if err := json.Unmarshal([]byte(tt.json), &k); err != nil || !k.Equal(tt.want) {
			t.Errorf("unmarshal %s: %+v %v, want %+v", tt.json, k, err, tt.want)
		}
		if b, err := json.Marshal(tt.want); err != nil || string(b) != tt.json {
			t.Errorf("marshal %+v: %s %v, want %s", tt.want, b, err, tt.json)
		}
	}
	var k ShardKey
	if err := json.Unmarshal([]byte(`-1`), &k); err == nil {
		t.Errorf("shard key -1 accepted as %+v", k)
	}
}

func TestContentHashChangesWithAnySparseOrMultiVectorValue(t *testing.T) {
	base := func() *Point {
		return &Point{Vectors: map[string]Vector{
			"text":    {Sparse: &SparseVector{Indices: []uint32{3, 9}, Values: []float32{0.3, 0.9}}},
			"colbert": {Multi: [][]float32{{1, 2}, {3, 4}}},
			"image":   {Dense: []float32{1, 2, 3, 4}},
		}}
	}
	h := ContentHash(base())
	for _, tc := range []struct {
		name   string
		mutate func(*Point)
	}{
		{"a sparse value", func(p *Point) { p.Vectors["text"].Sparse.Values[1] = 0.90000004 }},
		{"a sparse index", func(p *Point) { p.Vectors["text"].Sparse.Indices[1] = 10 }},
		{"a sparse pair dropped", func(p *Point) {
			p.Vectors["text"] = Vector{Sparse: &SparseVector{Indices: []uint32{3}, Values: []float32{0.3}}}
		}},
		{"values moved to other indices", func(p *Point) {
			p.Vectors["text"] = Vector{Sparse: &SparseVector{Indices: []uint32{3, 9}, Values: []float32{0.9, 0.3}}}
		}},
		{"an empty sparse vector", func(p *Point) { p.Vectors["text"] = Vector{Sparse: &SparseVector{}} }},
		{"a multivector value", func(p *Point) { p.Vectors["colbert"].Multi[1][0] = 3.0000002 }},
		{"a multivector split differently", func(p *Point) { p.Vectors["colbert"] = Vector{Multi: [][]float32{{1, 2, 3, 4}}} }},
		{"a multivector read as a dense vector", func(p *Point) { p.Vectors["colbert"] = Vector{Dense: []float32{1, 2, 3, 4}} }},
		{"a multivector with a vector fewer", func(p *Point) { p.Vectors["colbert"] = Vector{Multi: [][]float32{{1, 2}}} }},
		{"a dense vector read as a multivector of one", func(p *Point) { p.Vectors["image"] = Vector{Multi: [][]float32{{1, 2, 3, 4}}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.mutate(p)
			if ContentHash(p) == h {
				t.Fatalf("hash unchanged (%s)", canonical(p))
			}
		})
	}
}
