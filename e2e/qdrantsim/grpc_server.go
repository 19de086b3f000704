package qdrantsim

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// serveGRPC serves Qdrant's gRPC API for p on lis until ctx is cancelled
// (peer stopped or cluster closed), then stops the server, closing every
// connection as a crashed pod would, and returns. Peer.Start runs it in its
// own goroutine.
//
// The services are the Go client's generated server interfaces; RPCs the
// simulator does not emulate answer Unimplemented.
func (p *Peer) serveGRPC(ctx context.Context, lis net.Listener) error {
	srv := grpc.NewServer(append(grpcSizeOptions(), grpc.ChainUnaryInterceptor(p.grpcAuth, grpcRetryAfter))...)
	qdrant.RegisterQdrantServer(srv, grpcQdrant{p: p})
	qdrant.RegisterCollectionsServer(srv, grpcCollections{p: p})
	qdrant.RegisterPointsServer(srv, grpcPoints{p: p})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		srv.Stop()
	}()
	err := srv.Serve(lis)
	if ctx.Err() != nil || errors.Is(err, grpc.ErrServerStopped) {
		<-stopped
		return nil
	}
	return err
}

// grpcReadOnlyMethods are the RPCs a read-only API key may call.
var grpcReadOnlyMethods = map[string]bool{
	qdrant.Qdrant_HealthCheck_FullMethodName:                true,
	qdrant.Collections_Get_FullMethodName:                   true,
	qdrant.Collections_List_FullMethodName:                  true,
	qdrant.Collections_ListAliases_FullMethodName:           true,
	qdrant.Collections_ListCollectionAliases_FullMethodName: true,
	qdrant.Collections_CollectionExists_FullMethodName:      true,
	qdrant.Collections_CollectionClusterInfo_FullMethodName: true,
	qdrant.Collections_ListShardKeys_FullMethodName:         true,
	qdrant.Points_Get_FullMethodName:                        true,
	qdrant.Points_Scroll_FullMethodName:                     true,
	qdrant.Points_Count_FullMethodName:                      true,
	qdrant.Points_Search_FullMethodName:                     true,
	qdrant.Points_Query_FullMethodName:                      true,
}

// grpcAuth enforces the API keys like Qdrant's gRPC auth layer (§7): the
// api-key metadata (or "authorization: Bearer <key>"), Unauthenticated
// when missing or wrong, PermissionDenied for writes with the read-only
// key. The health check needs no key.
func (p *Peer) grpcAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	key, roKey := p.c.opts.APIKey, p.c.opts.ReadOnlyAPIKey
	if (key == "" && roKey == "") || info.FullMethod == qdrant.Qdrant_HealthCheck_FullMethodName {
		return handler(ctx, req)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	given := ""
	if v := md.Get("api-key"); len(v) > 0 {
		given = v[0]
	} else if v := md.Get("authorization"); len(v) > 0 {
		given, _ = strings.CutPrefix(v[0], "Bearer ")
	}
	switch {
	case given == "":
		return nil, status.Error(codes.Unauthenticated, "Must provide an API key or an Authorization bearer token")
	case key != "" && given == key:
		return handler(ctx, req)
	case roKey != "" && given == roKey:
		if !grpcReadOnlyMethods[info.FullMethod] {
			return nil, grpcError(&Error{Kind: KindForbidden, Msg: "Global manage access is required"})
		}
		return handler(ctx, req)
	}
	return nil, status.Error(codes.Unauthenticated, "Invalid API key or JWT")
}

// grpcError maps an error to the status Qdrant's gRPC layer returns: the
// code from the error kind, the message as in REST (with its prefix).
func grpcError(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Kind: KindServiceError, Msg: err.Error()}
	}
	code := codes.Internal
	switch e.Kind {
	case KindBadInput, KindBadRequest, KindFormat, KindValidation:
		code = codes.InvalidArgument
	case KindAlreadyExists:
		code = codes.AlreadyExists
	case KindNotFound:
		code = codes.NotFound
	case KindForbidden:
		code = codes.PermissionDenied
	case KindTimeout:
		code = codes.DeadlineExceeded
	case KindChecksumMismatch:
		code = codes.DataLoss
	case KindUnavailable:
		code = codes.Unavailable
	case KindInsufficientStorage:
		code = codes.ResourceExhausted
	case KindLocked, KindPreconditionFailed:
		// lib/storage/src/content_manager/conversions.rs: Locked and
		// PreconditionFailed both map to FailedPrecondition.
		code = codes.FailedPrecondition
	case KindRateLimited:
		// conversions.rs: ResourceExhausted with the wait, rounded up to
		// whole seconds, in the retry-after metadata.
		st := status.New(codes.ResourceExhausted, e.Error())
		if e.RetryAfter > 0 {
			return &rateLimitedStatus{st: st, retryAfter: retryAfterSeconds(e.RetryAfter)}
		}
		return st.Err()
	}
	return status.Error(code, e.Error())
}

func since(start time.Time) float64 { return time.Since(start).Seconds() }

// grpcQdrant is the Qdrant service (health check).
type grpcQdrant struct {
	qdrant.UnimplementedQdrantServer
	p *Peer
}

// HealthCheck answers like GET /: title, version and commit.
func (s grpcQdrant) HealthCheck(ctx context.Context, _ *qdrant.HealthCheckRequest) (*qdrant.HealthCheckReply, error) {
	commit := "0000000000000000000000000000000000000000"
	return &qdrant.HealthCheckReply{Title: "qdrant - vector search engine", Version: s.p.c.ver.text, Commit: &commit}, nil
}
