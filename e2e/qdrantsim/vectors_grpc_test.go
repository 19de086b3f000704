package qdrantsim_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"

	"github.com/qbackup/qbackup/e2e/qdrantsim"
)

// decodedVector is a VectorOutput read the way a client must: the typed
// oneof, else the deprecated flat fields.
type decodedVector struct {
	Dense   []float32
	Indices []uint32
	Values  []float32
	Multi   [][]float32
	// Legacy reports that the answer used the deprecated fields.
	Legacy bool
}

func decodeVectorOutput(t *testing.T, v *qdrant.VectorOutput) decodedVector {
	t.Helper()
	switch x := v.GetVector().(type) {
	case *qdrant.VectorOutput_Dense:
		//lint:ignore SA1019 the test checks the deprecated field stays empty
		if len(v.GetData()) > 0 {
			t.Errorf("both the oneof and the deprecated data are filled: %v", v)
		}
		return decodedVector{Dense: x.Dense.GetData()}
	case *qdrant.VectorOutput_Sparse:
		return decodedVector{Indices: x.Sparse.GetIndices(), Values: x.Sparse.GetValues()}
	case *qdrant.VectorOutput_MultiDense:
		var m [][]float32
		for _, d := range x.MultiDense.GetVectors() {
			m = append(m, d.GetData())
		}
		return decodedVector{Multi: m}
	}
	//lint:ignore SA1019 older servers fill only the deprecated fields
	data, idx, count := v.GetData(), v.GetIndices(), v.VectorsCount
	switch {
	case idx != nil:
		return decodedVector{Indices: idx.GetData(), Values: data, Legacy: true}
	case count != nil:
		dim := len(data) / int(*count)
		var m [][]float32
		for i := 0; i < len(data); i += dim {
			m = append(m, data[i:i+dim])
		}
		return decodedVector{Multi: m, Legacy: true}
	}
	return decodedVector{Dense: data, Legacy: true}
}

func TestGRPCSparseAndMultiVectorsPerVersion(t *testing.T) {
	for _, tt := range []struct {
		version    string
		wantLegacy bool
	}{
		{"1.15.0", true},
		{"1.16.3", true},
		{"1.17.0", false},
		{"1.19.0", false},
	} {
		t.Run(tt.version, func(t *testing.T) {
			ctx := context.Background()
			sim := startSim(t, qdrantsim.Options{Peers: 2, Version: tt.version})
			g := grpcClient(t, sim.Peers()[0], "")
			onDisk := true
			idf := qdrant.Modifier_Idf
			err := g.CreateCollection(ctx, &qdrant.CreateCollection{
				CollectionName: "mixed",
				ShardNumber:    qdrant.PtrOf(uint32(2)),
				VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
					"image":   {Size: 3, Distance: qdrant.Distance_Cosine},
					"colbert": {Size: 2, Distance: qdrant.Distance_Dot, MultivectorConfig: &qdrant.MultiVectorConfig{Comparator: qdrant.MultiVectorComparator_MaxSim}},
				}),
				SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{
					"text": {Modifier: &idf, Index: &qdrant.SparseIndexConfig{OnDisk: &onDisk}},
				}),
			})
			if err != nil {
				t.Fatal(err)
			}
			info, err := g.GetCollectionInfo(ctx, "mixed")
			if err != nil {
				t.Fatal(err)
			}
			params := info.GetConfig().GetParams()
			if mv := params.GetVectorsConfig().GetParamsMap().GetMap()["colbert"].GetMultivectorConfig(); mv == nil {
				t.Errorf("colbert lost its multivector config: %v", params.GetVectorsConfig())
			}
			if sp := params.GetSparseVectorsConfig().GetMap()["text"]; sp.GetModifier() != qdrant.Modifier_Idf || !sp.GetIndex().GetOnDisk() {
				t.Errorf("sparse config read back as %v", params.GetSparseVectorsConfig())
			}

			count := uint32(2)
			_, err = g.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "mixed", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
				// The typed oneof, as current clients send.
				{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
					"image":   qdrant.NewVectorDense([]float32{1, 2, 3}),
					"colbert": qdrant.NewVectorMulti([][]float32{{1, 2}, {3, 4}}),
					"text":    qdrant.NewVectorSparse([]uint32{9, 1}, []float32{0.9, 0.1}),
				})},
				// The deprecated flat fields, as older clients send.
				{Id: qdrant.NewIDNum(2), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
					"colbert": {Data: []float32{5, 6, 7, 8}, VectorsCount: &count},
					"text":    {Data: []float32{0.5}, Indices: &qdrant.SparseIndices{Data: []uint32{4}}},
				})},
			}})
			if err != nil {
				t.Fatal(err)
			}
			pts, err := g.Scroll(ctx, &qdrant.ScrollPoints{CollectionName: "mixed", WithVectors: qdrant.NewWithVectors(true)})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]map[string]decodedVector{
				"1": {
					"image":   {Dense: []float32{1, 2, 3}},
					"colbert": {Multi: [][]float32{{1, 2}, {3, 4}}},
					"text":    {Indices: []uint32{1, 9}, Values: []float32{0.1, 0.9}},
				},
				"2": {
					"colbert": {Multi: [][]float32{{5, 6}, {7, 8}}},
					"text":    {Indices: []uint32{4}, Values: []float32{0.5}},
				},
			}
			if len(pts) != 2 {
				t.Fatalf("scroll returned %d points", len(pts))
			}
			for _, p := range pts {
				got := map[string]decodedVector{}
				for name, v := range p.GetVectors().GetVectors().GetVectors() {
					d := decodeVectorOutput(t, v)
					if d.Legacy != tt.wantLegacy {
						t.Errorf("point %s vector %q: deprecated fields used = %v, want %v", idText(p.GetId()), name, d.Legacy, tt.wantLegacy)
					}
					d.Legacy = false
					got[name] = d
				}
				if w := want[idText(p.GetId())]; !reflect.DeepEqual(got, w) {
					t.Errorf("point %s vectors %+v, want %+v", idText(p.GetId()), got, w)
				}
			}

			// Refusals of the gRPC conversion and of validation.
			_, err = g.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "mixed", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
				{Id: qdrant.NewIDNum(3), Vectors: qdrant.NewVectorsSparse([]uint32{1}, []float32{1})}}})
			wantCode(t, err, codes.InvalidArgument, "Sparse vector must be named")
			_, err = g.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "mixed", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
				{Id: qdrant.NewIDNum(3), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
					"text": qdrant.NewVectorSparse([]uint32{1, 2}, []float32{1})})}}})
			wantCode(t, err, codes.InvalidArgument, "Validation error in body: [")
			wantCode(t, err, codes.InvalidArgument, ".values: Validation error: must be the same length as indices [{}]]")
			_, err = g.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "mixed", Wait: qdrant.PtrOf(true), Points: []*qdrant.PointStruct{
				{Id: qdrant.NewIDNum(3), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
					"colbert": {Data: []float32{1, 2, 3}, VectorsCount: &count}})}}})
			wantCode(t, err, codes.InvalidArgument, "Data length is not divisible by vectors count. Data length: 3, vectors count: 2")
		})
	}
}
