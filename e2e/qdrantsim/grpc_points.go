package qdrantsim

import (
	"context"
	"time"

	"github.com/qdrant/go-client/qdrant"
)

// grpcPoints is the Points service over the peer's methods.
type grpcPoints struct {
	qdrant.UnimplementedPointsServer
	p *Peer
}

// updateResponse reports a write as Qdrant does: Completed when the client
// waited, Acknowledged otherwise (the simulator applies writes at once).
func updateResponse(res UpdateResult, wait *bool, start time.Time) *qdrant.PointsOperationResponse {
	st := qdrant.UpdateStatus_Completed
	if wait == nil || !*wait {
		st = qdrant.UpdateStatus_Acknowledged
	}
	return &qdrant.PointsOperationResponse{Result: &qdrant.UpdateResult{OperationId: ptrU64(res.OperationID), Status: st}, Time: since(start)}
}

func (s grpcPoints) Upsert(ctx context.Context, r *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	if r.UpdateMode != nil {
		return nil, grpcError(errf(KindBadInput, "update modes over gRPC are not emulated by the simulator"))
	}
	req := UpsertRequest{Points: []PointStruct{}}
	var err error
	if r.UpdateFilter != nil {
		if req.UpdateFilter, err = filterFromProto(r.UpdateFilter); err != nil {
			return nil, grpcError(err)
		}
	}
	if req.ShardKey, err = shardSelectorFromProto(r.ShardKeySelector); err != nil {
		return nil, grpcError(err)
	}
	for _, ps := range r.GetPoints() {
		if ps.GetId() == nil {
			return nil, grpcError(errf(KindBadInput, "Empty ID is not allowed"))
		}
		id, err := pointIDFromProto(ps.GetId())
		if err != nil {
			return nil, grpcError(err)
		}
		vec, err := vectorsFromProto(ps.GetVectors())
		if err != nil {
			return nil, grpcError(err)
		}
		req.Points = append(req.Points, PointStruct{ID: id, Vector: vec, Payload: payloadFromProto(ps.GetPayload())})
	}
	res, err := s.p.Upsert(WithWait(ctx, r.GetWait()), r.GetCollectionName(), req)
	if err != nil {
		return nil, grpcError(err)
	}
	return updateResponse(res, r.Wait, start), nil
}

func (s grpcPoints) Delete(ctx context.Context, r *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	var req DeleteRequest
	var err error
	if req.ShardKey, err = shardSelectorFromProto(r.ShardKeySelector); err != nil {
		return nil, grpcError(err)
	}
	switch x := r.GetPoints().GetPointsSelectorOneOf().(type) {
	case *qdrant.PointsSelector_Points:
		if req.Points, err = pointIDsFromProto(x.Points.GetIds()); err != nil {
			return nil, grpcError(err)
		}
		if req.Points == nil {
			req.Points = []PointID{}
		}
	case *qdrant.PointsSelector_Filter:
		if req.Filter, err = filterFromProto(x.Filter); err != nil {
			return nil, grpcError(err)
		}
		if req.Filter == nil {
			req.Filter = &Filter{}
		}
	default:
		return nil, grpcError(errf(KindBadInput, "Points selector is empty"))
	}
	res, err := s.p.DeletePoints(WithWait(ctx, r.GetWait()), r.GetCollectionName(), req)
	if err != nil {
		return nil, grpcError(err)
	}
	return updateResponse(res, r.Wait, start), nil
}

func recordsToProto(records []Record, ver version) ([]*qdrant.RetrievedPoint, error) {
	out := make([]*qdrant.RetrievedPoint, 0, len(records))
	for _, rec := range records {
		p, err := recordToProto(rec, ver)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (s grpcPoints) Get(ctx context.Context, r *qdrant.GetPoints) (*qdrant.GetResponse, error) {
	start := time.Now()
	ids, err := pointIDsFromProto(r.GetIds())
	if err != nil {
		return nil, grpcError(err)
	}
	req := GetPointsRequest{IDs: ids, WithPayload: withPayloadJSON(r.WithPayload), WithVector: withVectorsJSON(r.WithVectors)}
	if req.ShardKey, err = shardSelectorFromProto(r.ShardKeySelector); err != nil {
		return nil, grpcError(err)
	}
	records, err := s.p.GetPoints(ctx, r.GetCollectionName(), req)
	if err != nil {
		return nil, grpcError(err)
	}
	out, err := recordsToProto(records, s.p.c.ver)
	if err != nil {
		return nil, grpcError(err)
	}
	return &qdrant.GetResponse{Result: out, Time: since(start)}, nil
}

func (s grpcPoints) Scroll(ctx context.Context, r *qdrant.ScrollPoints) (*qdrant.ScrollResponse, error) {
	start := time.Now()
	if r.OrderBy != nil {
		return nil, grpcError(errf(KindBadInput, "order_by is not emulated by the simulator"))
	}
	req := ScrollRequest{WithPayload: withPayloadJSON(r.WithPayload), WithVector: withVectorsJSON(r.WithVectors)}
	var err error
	if r.Offset != nil {
		off, err := pointIDFromProto(r.Offset)
		if err != nil {
			return nil, grpcError(err)
		}
		req.Offset = &off
	}
	if r.Limit != nil {
		l := int(*r.Limit)
		req.Limit = &l
	}
	if req.Filter, err = filterFromProto(r.Filter); err != nil {
		return nil, grpcError(err)
	}
	if req.ShardKey, err = shardSelectorFromProto(r.ShardKeySelector); err != nil {
		return nil, grpcError(err)
	}
	res, err := s.p.Scroll(ctx, r.GetCollectionName(), req)
	if err != nil {
		return nil, grpcError(err)
	}
	out, err := recordsToProto(res.Points, s.p.c.ver)
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &qdrant.ScrollResponse{Result: out, Time: since(start)}
	if res.NextPageOffset != nil {
		resp.NextPageOffset = pointIDToProto(*res.NextPageOffset)
	}
	return resp, nil
}

func (s grpcPoints) Count(ctx context.Context, r *qdrant.CountPoints) (*qdrant.CountResponse, error) {
	start := time.Now()
	req := CountRequest{Exact: r.Exact}
	var err error
	if req.Filter, err = filterFromProto(r.Filter); err != nil {
		return nil, grpcError(err)
	}
	if req.ShardKey, err = shardSelectorFromProto(r.ShardKeySelector); err != nil {
		return nil, grpcError(err)
	}
	n, err := s.p.Count(ctx, r.GetCollectionName(), req)
	if err != nil {
		return nil, grpcError(err)
	}
	return &qdrant.CountResponse{Result: &qdrant.CountResult{Count: n}, Time: since(start)}, nil
}
