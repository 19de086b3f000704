package qdrantsim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Strict mode: search_allow_exact, max_query_limit, upsert_max_batchsize
// and the read/write rate limits here; the filter checks (unindexed
// filtering, filter_max_conditions, condition_max_size) in
// strict_filter.go; the collection size, sparse and multivector limits in
// strict_size.go; max_payload_index_count in payload_index.go.
// The configuration is the collection's strict_mode_config, set at
// creation and changed by PATCH; everything except the rate limits only
// applies with enabled=true (lib/storage/src/content_manager/
// collection_verification.rs filters on enabled).

// strictMode is the part of StrictModeConfig the simulator enforces.
type strictMode struct {
	enabled            bool
	searchAllowExact   *bool
	maxQueryLimit      *int
	upsertMaxBatchsize *int
	readRateLimit      *int
	writeRateLimit     *int
	// unindexedRetrieve and unindexedUpdate are unindexed_filtering_*;
	// filterMaxConditions and conditionMaxSize bound filters
	// (strict_filter.go).
	unindexedRetrieve   *bool
	unindexedUpdate     *bool
	filterMaxConditions *int
	conditionMaxSize    *int
}

func parseStrictMode(m map[string]any) strictMode {
	var s strictMode
	s.enabled, _ = m["enabled"].(bool)
	flag := func(k string) *bool {
		if b, ok := m[k].(bool); ok {
			return &b
		}
		return nil
	}
	s.searchAllowExact = flag("search_allow_exact")
	s.unindexedRetrieve = flag("unindexed_filtering_retrieve")
	s.unindexedUpdate = flag("unindexed_filtering_update")
	num := func(k string) *int {
		switch v := m[k].(type) {
		case float64:
			n := int(v)
			return &n
		case int:
			return &v
		case int64:
			n := int(v)
			return &n
		case uint64:
			n := int(v)
			return &n
		}
		return nil
	}
	s.maxQueryLimit = num("max_query_limit")
	s.upsertMaxBatchsize = num("upsert_max_batchsize")
	s.readRateLimit = num("read_rate_limit")
	s.writeRateLimit = num("write_rate_limit")
	s.filterMaxConditions = num("filter_max_conditions")
	s.conditionMaxSize = num("condition_max_size")
	return s
}

// strictError is CollectionError::strict_mode
// (lib/collection/src/operations/types.rs): "<error>. Help: <solution>",
// which the storage layer turns into a BadRequest (400, InvalidArgument).
func strictError(msg, help string) *Error {
	return errf(KindBadRequest, "%s. Help: %s", msg, help)
}

// checkLimitOpt is check_limit_opt (operations/verification/mod.rs).
func checkLimitOpt(value int, limit *int, name string) error {
	if limit == nil || value <= *limit {
		return nil
	}
	return strictError(fmt.Sprintf("Limit exceeded %d > %d for %q", value, *limit, name),
		fmt.Sprintf("Reduce the %q parameter to or below %d.", name, *limit))
}

// checkExact is check_request_exact / check_bool_opt
// (operations/verification/mod.rs): refused only when the request asks for
// an exact answer and search_allow_exact is false.
func checkExact(exact bool, allowed *bool) error {
	if allowed == nil || *allowed || !exact {
		return nil
	}
	return strictError("Exact search disabled!", "Set exact=false.")
}

// strictLocked returns the enforced strict mode of col and whether the
// request checks apply; c.mu must be held.
func strictLocked(col *collection) (strictMode, bool) {
	s := parseStrictMode(col.config.StrictMode)
	return s, s.enabled
}

// checkCountStrictLocked: CountRequestInternal's request_exact is the
// request's exact flag, which defaults to true
// (operations/verification/count.rs).
func checkCountStrictLocked(col *collection, req CountRequest) error {
	s, on := strictLocked(col)
	if !on {
		return nil
	}
	if err := checkFilterStrict(col, s, req.Filter, s.unindexedRetrieve); err != nil {
		return err
	}
	exact := req.Exact == nil || *req.Exact
	return checkExact(exact, s.searchAllowExact)
}

// checkScrollStrictLocked: ScrollRequestInternal's query_limit is the
// request's limit, unset when the client sent none
// (operations/verification/local_shard.rs).
func checkScrollStrictLocked(col *collection, req ScrollRequest) error {
	s, on := strictLocked(col)
	if !on {
		return nil
	}
	if req.Limit != nil {
		if err := checkLimitOpt(*req.Limit, s.maxQueryLimit, "limit"); err != nil {
			return err
		}
	}
	return checkFilterStrict(col, s, req.Filter, s.unindexedRetrieve)
}

// checkUpsertStrictLocked: PointInsertOperations::check_custom
// (operations/verification/update.rs) limits the number of points.
func checkUpsertStrictLocked(col *collection, points int) error {
	s, on := strictLocked(col)
	if !on {
		return nil
	}
	return checkLimitOpt(points, s.upsertMaxBatchsize, "upsert limit")
}

// rateLimiter is lib/common/common/src/rate_limiting.rs: a token bucket of
// capacity N refilled at N/60 tokens per second, starting full.
type rateLimiter struct {
	capacity  float64
	perSec    float64
	tokens    float64
	lastCheck time.Time
}

func newRateLimiter(perMinute int) *rateLimiter {
	return &rateLimiter{capacity: float64(perMinute), perSec: float64(perMinute) / 60, tokens: float64(perMinute), lastCheck: time.Now()}
}

// tryConsume is RateLimiter::try_consume; kind is "Read" or "Write" and
// the error is CollectionError::rate_limit_error.
func (r *rateLimiter) tryConsume(cost int, kind string) error {
	t := float64(cost)
	if t > r.capacity {
		return errf(KindRateLimited, "%s rate limit exceeded, request larger than rate limiter capacity, please try to split your request", kind)
	}
	now := time.Now()
	r.tokens = math.Min(r.capacity, r.tokens+r.perSec*now.Sub(r.lastCheck).Seconds())
	r.lastCheck = now
	if r.tokens >= t {
		r.tokens -= t
		return nil
	}
	retry := time.Duration((t - r.tokens) / r.perSec * float64(time.Second))
	return &Error{Kind: KindRateLimited, RetryAfter: retry,
		Msg: fmt.Sprintf("%s rate limit exceeded: Operation requires %d tokens but only %.1f were available. Retry after %ds",
			kind, cost, r.tokens, retryAfterSeconds(retry))}
}

// retryAfterSeconds rounds a wait up to whole seconds, as the REST and
// gRPC layers do for Retry-After.
func retryAfterSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// shardLimiters are one local replica's limiters. Qdrant builds them when
// the local shard is created and rebuilds them on every strict mode update
// (LocalShard::on_strict_mode_config_update, shards/local_shard/mod.rs);
// only an enabled strict mode with a limit gets one there.
type shardLimiters struct {
	gen         uint64
	read, write *rateLimiter
}

// limitersLocked returns d's limiters for the collection's current strict
// mode, rebuilding them after a strict mode change; c.mu must be held.
func limitersLocked(col *collection, d *replicaData) *shardLimiters {
	if d.limits != nil && d.limits.gen == col.strictGen {
		return d.limits
	}
	l := &shardLimiters{gen: col.strictGen}
	if s := parseStrictMode(col.config.StrictMode); s.enabled {
		if s.readRateLimit != nil {
			l.read = newRateLimiter(*s.readRateLimit)
		}
		if s.writeRateLimit != nil {
			l.write = newRateLimiter(*s.writeRateLimit)
		}
	}
	d.limits = l
	return l
}

// checkReadRateLocked consumes cost read tokens of the replica serving a
// read (LocalShard::check_read_rate_limiter).
func checkReadRateLocked(col *collection, d *replicaData, cost int) error {
	if l := limitersLocked(col, d); l.read != nil {
		return l.read.tryConsume(max(cost, 1), "Read")
	}
	return nil
}

// checkWriteRateLocked consumes write tokens of an Active replica before
// it applies an update: ShardReplicaSet::update_local checks the limiter
// with the estimated number of affected points as cost
// (replica_set/update.rs check_operation_write_rate_limiter).
func checkWriteRateLocked(col *collection, d *replicaData, cost int) error {
	if l := limitersLocked(col, d); l.write != nil {
		return l.write.tryConsume(max(cost, 1), "Write")
	}
	return nil
}

// filterWriteCostLocked is the write-rate cost of a filtered update of
// shard s: check_operation_write_rate_limiter (lib/collection/src/shards/
// replica_set/update.rs) charges max(1, the filter's estimated
// cardinality), estimated on the local replica.
func filterWriteCostLocked(c *Cluster, col *collection, s uint32, f *Filter) int {
	d := c.activeDataLocked(col, s)
	if d == nil {
		return 1
	}
	return max(1, int(estimateCountLocked(col, d, f)))
}

// filterCost is filter_rate_cost (lib/shard/src/operation_rate_cost.rs):
// Filter::total_conditions_count (lib/segment/src/types.rs), where a nested
// filter or nested condition counts its own conditions and every other
// condition counts one.
func filterCost(f *Filter) int {
	if f == nil {
		return 0
	}
	n := 0
	lists := [][]Condition{f.Should, f.Must, f.MustNot}
	if f.MinShould != nil {
		lists = append(lists, f.MinShould.Conditions)
	}
	for _, list := range lists {
		for i := range list {
			c := &list[i]
			switch {
			case c.Nested != nil:
				n += filterCost(&c.Nested.Filter)
			case c.Key != "" || c.HasID != nil || c.HasVector != nil || c.Slice != nil || c.IsNul != nil || c.Empty != nil:
				n++
			default:
				n += filterCost(&c.Filter)
			}
		}
	}
	return n
}

// rateLimitedStatus is a ResourceExhausted status whose retry-after goes
// into the trailers, as tonic sends a Status's metadata.
type rateLimitedStatus struct {
	st         *status.Status
	retryAfter int
}

func (r *rateLimitedStatus) Error() string              { return r.st.Err().Error() }
func (r *rateLimitedStatus) GRPCStatus() *status.Status { return r.st }

// grpcRetryAfter is a unary interceptor that sends the retry-after
// metadata of rate-limited answers
// (lib/storage/src/content_manager/conversions.rs).
func grpcRetryAfter(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	var rl *rateLimitedStatus
	if errors.As(err, &rl) {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("retry-after", strconv.Itoa(rl.retryAfter)))
	}
	return resp, err
}

// strictModeFromProto converts the enforced fields of a gRPC
// StrictModeConfig (create and update) to the REST form; nil if unset.
func strictModeFromProto(s *qdrant.StrictModeConfig) map[string]any {
	if s == nil {
		return nil
	}
	m := map[string]any{}
	if s.Enabled != nil {
		m["enabled"] = *s.Enabled
	}
	if s.SearchAllowExact != nil {
		m["search_allow_exact"] = *s.SearchAllowExact
	}
	if s.MaxQueryLimit != nil {
		m["max_query_limit"] = float64(*s.MaxQueryLimit)
	}
	if s.UpsertMaxBatchsize != nil {
		m["upsert_max_batchsize"] = float64(*s.UpsertMaxBatchsize)
	}
	if s.ReadRateLimit != nil {
		m["read_rate_limit"] = float64(*s.ReadRateLimit)
	}
	if s.WriteRateLimit != nil {
		m["write_rate_limit"] = float64(*s.WriteRateLimit)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// strictModeToProto is the reverse for collection info over gRPC.
func strictModeToProto(m map[string]any) *qdrant.StrictModeConfig {
	e := boolPtr(m, "enabled")
	if e == nil {
		return nil
	}
	s := parseStrictMode(m)
	out := &qdrant.StrictModeConfig{Enabled: e, SearchAllowExact: s.searchAllowExact}
	if s.maxQueryLimit != nil {
		out.MaxQueryLimit = ptrU32(uint32(*s.maxQueryLimit))
	}
	if s.upsertMaxBatchsize != nil {
		out.UpsertMaxBatchsize = ptrU64(uint64(*s.upsertMaxBatchsize))
	}
	if s.readRateLimit != nil {
		out.ReadRateLimit = ptrU32(uint32(*s.readRateLimit))
	}
	if s.writeRateLimit != nil {
		out.WriteRateLimit = ptrU32(uint32(*s.writeRateLimit))
	}
	return out
}
