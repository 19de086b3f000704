package qdrant

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// PeerAddr is how to reach one Qdrant peer directly.
type PeerAddr struct {
	// REST is the base URL of the REST API, e.g. "http://10.0.0.1:6333".
	REST string
	// GRPC is host:port of the gRPC API, e.g. "10.0.0.1:6334".
	GRPC string
}

func (a PeerAddr) String() string { return a.REST }

// Options configure a Client.
type Options struct {
	// APIKey is sent as "api-key" on every REST and gRPC call. Never logged.
	APIKey string
	// HTTPClient overrides the REST transport. The default does not
	// decompress bodies (snapshot bytes and Range offsets must be the raw
	// ones) and bounds dialing, TLS and idle time, but sets no overall
	// timeout: snapshot streams last as long as the data needs.
	HTTPClient *http.Client
	// RequestTimeout bounds short metadata calls (version, cluster and
	// collection info, list and delete, locks, gRPC reads and cluster
	// setup). Calls that move or build snapshots (stream, download,
	// create, recover, upload) are bounded by the caller's context only,
	// because a large shard legitimately takes minutes. Default 30s;
	// negative disables.
	RequestTimeout time.Duration
	// UserAgent is sent on REST requests. Default "qbackup".
	UserAgent string
	// UseTLS dials gRPC with TLS; an https:// REST address implies it
	// (a peer serves both ports with the same TLS settings).
	UseTLS bool
	// TLS verifies the peers' certificates (RootCAs: nil means the system
	// roots) and carries the client certificate, for REST and gRPC alike;
	// nil means Go's defaults.
	TLS *tls.Config
	// Logger receives debug records of requests. Default slog.Default().
	Logger *slog.Logger
	// MaxUpsertBytes bounds the encoded size of one upsert request;
	// UpsertPoints splits larger batches. Default DefaultMaxUpsertBytes.
	MaxUpsertBytes int
}

// LogValue keeps the API key out of logs.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("api_key_set", o.APIKey != ""), slog.Duration("request_timeout", o.RequestTimeout),
		slog.String("user_agent", o.UserAgent), slog.Bool("tls", o.UseTLS))
}

// Client talks to one Qdrant peer. It is safe for concurrent use.
type Client struct {
	addr      PeerAddr
	base      *url.URL
	http      *http.Client
	apiKey    string
	ua        string
	timeout   time.Duration
	log       *slog.Logger
	grpc      *qc.Client
	maxUpsert int
	// ownHTTP: the http.Client was made here, so Close may drop its idle
	// connections (a caller's shared client is left alone).
	ownHTTP bool
}

// MaxReceiveBytes is the largest gRPC answer the client accepts. Callers
// that page through points size their pages well below it.
const MaxReceiveBytes = 256 << 20

// New returns a client for one peer. It does not contact the peer: gRPC
// connects lazily on the first call.
func New(ctx context.Context, addr PeerAddr, opts Options) (*Client, error) {
	_ = ctx // reserved: connection set-up is lazy today
	base, err := url.Parse(strings.TrimRight(addr.REST, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("qdrant peer REST address %q: want http(s)://host:port", addr.REST)
	}
	c := &Client{
		addr:    addr,
		base:    base,
		http:    opts.HTTPClient,
		apiKey:  opts.APIKey,
		ua:      opts.UserAgent,
		timeout: opts.RequestTimeout,
		log:     opts.Logger,
		// A batch is split when above this, so it must be positive.
		maxUpsert: cmp.Or(max(opts.MaxUpsertBytes, 0), DefaultMaxUpsertBytes),
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
		if opts.TLS != nil {
			c.http.Transport.(*http.Transport).TLSClientConfig = opts.TLS.Clone()
		}
		c.ownHTTP = true
	}
	useTLS := opts.UseTLS || base.Scheme == "https"
	var grpcTLS *tls.Config
	if opts.TLS != nil {
		grpcTLS = opts.TLS.Clone()
	}
	if c.ua == "" {
		c.ua = "qbackup"
	}
	if c.timeout == 0 {
		c.timeout = 30 * time.Second
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if addr.GRPC != "" {
		host, portStr, err := net.SplitHostPort(addr.GRPC)
		if err != nil {
			return nil, fmt.Errorf("qdrant peer gRPC address %q: %w", addr.GRPC, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("qdrant peer gRPC address %q: bad port", addr.GRPC)
		}
		c.grpc, err = qc.NewClient(&qc.Config{
			Host:      host,
			Port:      port,
			UseTLS:    useTLS,
			TLSConfig: grpcTLS,
			// One connection per peer is plenty for metadata and sample
			// reads; the bulk data goes over REST.
			PoolSize: 1,
			// The check would dial eagerly and log through slog.Default.
			SkipCompatibilityCheck: true,
			GrpcOptions: []grpc.DialOption{
				grpc.WithUserAgent(c.ua),
				// Qdrant's gRPC server sends answers of any size
				// (src/tonic/mod.rs sets no encoding limit); grpc-go's
				// default 4 MiB receive limit would fail scroll pages of
				// large vectors.
				grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxReceiveBytes)),
				// The key goes in our own interceptor rather than
				// Config.APIKey: the go-client then warns through
				// slog.Default on every client made without TLS, once per
				// peer per run, which is noise in a job's log.
				grpc.WithChainUnaryInterceptor(apiKeyInterceptor(opts.APIKey)),
			},
		})
		if err != nil {
			return nil, fmt.Errorf("qdrant peer gRPC client for %s: %w", addr.GRPC, err)
		}
	}
	return c, nil
}

// apiKeyInterceptor adds the "api-key" metadata to every unary call.
func apiKeyInterceptor(key string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if key != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "api-key", key)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

func defaultHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		// Keep bytes as the peer sent them: hashes and Range offsets are
		// over the raw snapshot, not a decoded one.
		DisableCompression: true,
	}}
}

// Addr returns the peer's addresses.
func (c *Client) Addr() PeerAddr { return c.addr }

// Close releases the gRPC connection and idle REST connections.
func (c *Client) Close() error {
	if c.ownHTTP {
		c.http.CloseIdleConnections()
	}
	if c.grpc != nil {
		return c.grpc.Close()
	}
	return nil
}

// peer names the peer in errors.
func (c *Client) peer() string { return c.base.String() }

// shortCtx applies RequestTimeout to a metadata call.
func (c *Client) shortCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return ctx, func() {}
}

// newRequest builds a request to path (already escaped) with the api-key
// header set.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	u := *c.base
	u.RawPath = strings.TrimRight(c.base.EscapedPath(), "/") + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, err
	}
	u.Path = p
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if c.apiKey != "" {
		req.Header.Set("api-key", c.apiKey)
	}
	req.Header.Set("User-Agent", c.ua)
	return req, nil
}

// do sends req and returns the response if its status is 2xx, else an
// *APIError. Transport errors are wrapped with op and peer.
func (c *Client) do(op string, req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		if terr := tlsError(c.peer(), err); terr != nil {
			return nil, fmt.Errorf("%s: %w", op, terr)
		}
		return nil, fmt.Errorf("%s on %s: %w", op, c.peer(), err)
	}
	c.log.Debug("qdrant request", "peer", c.peer(), "method", req.Method, "path", req.URL.Path,
		"status", resp.StatusCode, "elapsed", time.Since(start))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, readAPIError(op, c.peer(), resp)
	}
	return resp, nil
}

// envelope is Qdrant's success wrapper: {"result":..., "status":"ok", "time":...}.
type envelope struct {
	Result json.RawMessage `json:"result"`
	Status json.RawMessage `json:"status"`
}

// maxJSONBody bounds metadata answers. Collection info of a large cluster
// is a few hundred KiB; anything near this limit is not Qdrant talking.
const maxJSONBody = 32 << 20

// jsonCall is one JSON request to Qdrant's REST API.
type jsonCall struct {
	op     string // what the call does, for errors ("list shard snapshots")
	method string
	path   string
	query  url.Values
	// body is sent as JSON: nil for none, json.RawMessage as it is, any
	// other value marshalled.
	body any
	// out receives the envelope's result; nil ignores it.
	out any
}

// callJSON sends a JSON request and decodes the envelope's result.
func (c *Client) callJSON(ctx context.Context, call jsonCall) error {
	var rd io.Reader
	if call.body != nil {
		b, ok := call.body.(json.RawMessage)
		if !ok {
			var err error
			if b, err = json.Marshal(call.body); err != nil {
				return fmt.Errorf("%s: encode request: %w", call.op, err)
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, call.method, call.path, call.query, rd)
	if err != nil {
		return fmt.Errorf("%s: %w", call.op, err)
	}
	if call.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.do(call.op, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.decodeEnvelope(call.op, resp, call.out)
}

func (c *Client) decodeEnvelope(op string, resp *http.Response, out any) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody))
	if err != nil {
		return fmt.Errorf("%s on %s: read answer: %w", op, c.peer(), err)
	}
	if out == nil {
		return nil
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("%s on %s: answer is not Qdrant's JSON envelope: %w", op, c.peer(), err)
	}
	if resp.StatusCode == http.StatusAccepted || len(env.Result) == 0 {
		return fmt.Errorf("%s on %s: answer has no result (status %d)", op, c.peer(), resp.StatusCode)
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return fmt.Errorf("%s on %s: decode result: %w", op, c.peer(), err)
	}
	return nil
}

// collPath returns "/collections/{c}" with c escaped as one path segment.
func collPath(collection string) string {
	return "/collections/" + url.PathEscape(collection)
}

func shardPath(collection string, shard uint32) string {
	return collPath(collection) + "/shards/" + strconv.FormatUint(uint64(shard), 10)
}

func waitQuery() url.Values { return url.Values{"wait": {"true"}} }
