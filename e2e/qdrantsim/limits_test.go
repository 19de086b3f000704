package qdrantsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestRESTBodyLimit checks src/actix/mod.rs: JSON bodies over
// max_request_size_mb are refused with 400 and actix's overflow message,
// prefixed "Payload error: " before 1.18.1.
func TestRESTBodyLimit(t *testing.T) {
	big := `{"points":[{"id":1,"vector":[1,2,3,4],"payload":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}]}`
	limit := 1 << 20
	for _, tc := range []struct {
		version, prefix string
	}{{"1.15.0", "Payload error: "}, {"1.18.0", "Payload error: "}, {"1.18.1", ""}, {"1.19.0", ""}} {
		t.Run(tc.version, func(t *testing.T) {
			c := startCluster(t, Options{Peers: 1, Version: tc.version, MaxRequestSizeMB: 1})
			cl := newClient(t, c.Peers()[0])
			createCollection(t, cl, "c", 1, 1)
			want := fmt.Sprintf("%sJSON payload (%d bytes) is larger than allowed (limit: %d bytes).", tc.prefix, len(big), limit)
			if got := cl.errorOf("PUT", "/collections/c/points", big, http.StatusBadRequest); got != want {
				t.Errorf("with Content-Length: %q, want %q", got, want)
			}
			// Without Content-Length (chunked) the body runs over instead.
			req, _ := http.NewRequest("PUT", cl.base+"/collections/c/points", io.MultiReader(strings.NewReader(big)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want = fmt.Sprintf(`%sJSON payload has exceeded limit (%d bytes).`, tc.prefix, limit)
			if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(raw, []byte(want)) {
				t.Errorf("chunked: %d %s, want 400 %q", resp.StatusCode, raw, want)
			}
			// Just under the limit passes.
			cl.ok("PUT", "/collections/c/points", `{"points":[{"id":1,"vector":[1,2,3,4],"payload":{"pad":"`+strings.Repeat("x", limit-100)+`"}}]}`, nil)
		})
	}
}

// TestGRPCMessageSizes checks src/tonic/mod.rs: the server takes requests
// beyond gRPC's default 4 MiB and sends responses as large as the data, so
// a client with the default receive limit fails on a large page.
func TestGRPCMessageSizes(t *testing.T) {
	c := startCluster(t, Options{Peers: 1})
	p := c.Peers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(p.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	colls, points := qdrant.NewCollectionsClient(conn), qdrant.NewPointsClient(conn)
	const dim, n = 1024, 1400 // about 5.7 MiB of vectors
	if _, err := colls.Create(ctx, &qdrant.CreateCollection{CollectionName: "big",
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: dim, Distance: qdrant.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	vec := make([]float32, dim)
	for i := range vec {
		vec[i] = float32(i)
	}
	var pts []*qdrant.PointStruct
	for i := 1; i <= n; i++ {
		pts = append(pts, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(i)), Vectors: qdrant.NewVectors(vec...)})
	}
	if _, err := points.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "big", Points: pts, Wait: qdrant.PtrOf(true)}); err != nil {
		t.Fatalf("5.7 MiB upsert refused: %v", err)
	}
	scroll := &qdrant.ScrollPoints{CollectionName: "big", Limit: qdrant.PtrOf(uint32(n)), WithVectors: qdrant.NewWithVectors(true)}
	_, err = points.Scroll(ctx, scroll)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "received message larger than max") {
		t.Fatalf("scroll with the default receive limit: %v, want the client's ResourceExhausted", err)
	}
	res, err := points.Scroll(ctx, scroll, grpc.MaxCallRecvMsgSize(64<<20))
	if err != nil || len(res.Result) != n {
		t.Fatalf("scroll with a large receive limit: %v", err)
	}
}
