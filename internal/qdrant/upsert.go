package qdrant

import (
	"context"
	"fmt"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// DefaultMaxUpsertBytes bounds one upsert request. Qdrant's gRPC server
// takes messages of any size (src/tonic/mod.rs,
// max_decoding_message_size(usize::MAX)), but its REST API refuses bodies
// above 32 MiB (config/config.yaml service.max_request_size_mb) and a
// bounded request bounds memory on both ends; 30 MiB stays under both.
const DefaultMaxUpsertBytes = 30 << 20

// UpsertPoints writes points into collection through the official
// client's Points.Upsert and returns once Qdrant applied them (wait=true,
// default write ordering). Points are written as read by Scroll: every
// named, sparse and multi-vector, and the payload with its value types.
// Shard keys are not sent: Qdrant routes each point by the collection's
// own sharding, which is what a copy into a collection with another shard
// count needs. A batch whose request would exceed MaxUpsertBytes is split
// in halves, in order; upserts are idempotent, so a failed batch can be
// written again.
func (c *Client) UpsertPoints(ctx context.Context, collection string, points []Point) error {
	op := fmt.Sprintf("upsert points into %q", collection)
	g, err := c.grpcClient(op)
	if err != nil {
		return err
	}
	structs := make([]*qc.PointStruct, len(points))
	for i := range points {
		if structs[i], err = points[i].upsertProto(); err != nil {
			return fmt.Errorf("%s: point %s: %w", op, points[i].ID, err)
		}
	}
	return c.upsert(ctx, g, op, collection, structs)
}

func (c *Client) upsert(ctx context.Context, g *qc.Client, op, collection string, pts []*qc.PointStruct) error {
	req := &qc.UpsertPoints{CollectionName: collection, Wait: qc.PtrOf(true), Points: pts}
	if size := proto.Size(req); size > c.maxUpsert {
		if len(pts) == 1 {
			return fmt.Errorf("%s: point %s encodes to %d bytes, above the %d-byte request limit", op, pointIDFromProto(pts[0].GetId()), size, c.maxUpsert)
		}
		half := len(pts) / 2
		if err := c.upsert(ctx, g, op, collection, pts[:half]); err != nil {
			return err
		}
		return c.upsert(ctx, g, op, collection, pts[half:])
	}
	// A large batch with wait=true takes as long as Qdrant needs to apply
	// it: the caller's ctx bounds it, not the short request timeout.
	_, err := g.GetPointsClient().Upsert(ctx, req)
	return grpcError(ctx, op, c.grpcPeer(), err)
}

// UpsertSize is the number of bytes p adds to an UpsertPoints request,
// for callers that size batches; a point that cannot be encoded counts 1
// (UpsertPoints then fails on it with a clear error).
func UpsertSize(p *Point) int {
	ps, err := p.upsertProto()
	if err != nil {
		return 1
	}
	n := proto.Size(ps)
	// The field tag and length prefix of the repeated points entry.
	return n + 1 + protowire.SizeVarint(uint64(n))
}

// upsertProto is the point as an upsert writes it: the unnamed vector
// alone as the bare vector, named ones as a map.
func (p *Point) upsertProto() (*qc.PointStruct, error) {
	payload, err := qc.TryValueMap(p.Payload)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	var vectors *qc.Vectors
	if v, ok := p.Vectors[""]; ok && len(p.Vectors) == 1 {
		vectors = &qc.Vectors{VectorsOptions: &qc.Vectors_Vector{Vector: v.proto()}}
	} else {
		named := make(map[string]*qc.Vector, len(p.Vectors))
		for name, v := range p.Vectors {
			named[name] = v.proto()
		}
		vectors = qc.NewVectorsMap(named)
	}
	return &qc.PointStruct{Id: p.ID.proto(), Vectors: vectors, Payload: payload}, nil
}

func (v Vector) proto() *qc.Vector {
	switch {
	case v.Sparse != nil:
		return qc.NewVectorSparse(v.Sparse.Indices, v.Sparse.Values)
	case v.Multi != nil:
		return qc.NewVectorMulti(v.Multi)
	}
	return qc.NewVectorDense(v.Dense)
}
