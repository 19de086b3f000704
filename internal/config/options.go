package config

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/qbackup/qbackup/internal/discovery"
	"github.com/qbackup/qbackup/internal/storage"
)

// Every flag below also reads a QBACKUP_* variable, so a CronJob sets the
// whole configuration from a ConfigMap. Secrets are not here: see Secrets.

// Source names a backup store.
type Source struct {
	Cluster     string `name:"cluster" env:"QBACKUP_CLUSTER" default:"default" help:"Logical cluster name; backups are grouped under it in storage and the catalog."`
	Storage     string `name:"storage" env:"QBACKUP_STORAGE" default:"file:///var/lib/qbackup" help:"Where backups live: s3://bucket/prefix or file:///absolute/path."`
	S3Endpoint  string `name:"s3-endpoint" env:"QBACKUP_S3_ENDPOINT" help:"S3 endpoint URL for S3-compatible stores (MinIO, Ceph...); empty for AWS."`
	S3Region    string `name:"s3-region" env:"QBACKUP_S3_REGION" default:"${default_s3_region}" help:"S3 region."`
	S3PathStyle bool   `name:"s3-path-style" env:"QBACKUP_S3_PATH_STYLE" help:"Use path-style S3 addressing (needed by most S3-compatible stores)."`
	// S3MaxAttempts bounds the SDK's retries of one S3 request (throttling,
	// 5xx, dropped connections); 0 keeps the storage default
	// (storage.DefaultMaxAttempts, the default shown). Lower it where
	// a failing store should fail the run quickly rather than after minutes
	// of backoff.
	S3MaxAttempts int `name:"s3-max-attempts" env:"QBACKUP_S3_MAX_ATTEMPTS" default:"${default_s3_max_attempts}" help:"Attempts per S3 request, first try included, with exponential backoff (1: no retries; 0 also means ${default_s3_max_attempts})."`
	// S3Timeout fails an S3 request whose connection moves no byte for
	// this long; a stalled endpoint fails a request after at most
	// S3MaxAttempts × S3Timeout plus backoff.
	S3Timeout time.Duration `name:"s3-timeout" env:"QBACKUP_S3_TIMEOUT" default:"${default_s3_timeout}" help:"Fail an S3 request when its connection sends and receives nothing for this long (then retried per --s3-max-attempts); a slow transfer that makes progress never fails (0 also means ${default_s3_timeout})."`
	// S3SSE and S3SSEKMSKeyID ask S3 to encrypt every object qbackup
	// writes. SSE-C is not here: its key is a secret (Secrets).
	S3SSE         string `name:"s3-sse" env:"QBACKUP_S3_SSE" help:"Server-side encryption of every object written to S3: AES256 (SSE-S3) or aws:kms (SSE-KMS); empty keeps the bucket's default. SSE-C takes its key from the secret QBACKUP_S3_SSE_C_KEY instead."`
	S3SSEKMSKeyID string `name:"s3-sse-kms-key-id" env:"QBACKUP_S3_SSE_KMS_KEY_ID" help:"KMS key (id, ARN or alias) for --s3-sse=aws:kms; empty: the store's default KMS key."`
	// CatalogTimeout bounds one catalog statement, its retries included.
	CatalogTimeout time.Duration `name:"catalog-timeout" env:"QBACKUP_CATALOG_TIMEOUT" default:"${default_catalog_timeout}" help:"Fail when the catalog does not complete a statement (retries included) within this time; also the driver's read and write timeouts unless QBACKUP_CATALOG_DSN sets readTimeout/writeTimeout (0 also means ${default_catalog_timeout})."`
}

// Discovery says how to find the Qdrant peers.
type Discovery struct {
	Mode              string   `name:"discovery" env:"QBACKUP_DISCOVERY" enum:"kubernetes,static" default:"kubernetes" help:"How to find Qdrant peers: kubernetes (pods by label) or static (--qdrant-url)."`
	Namespace         string   `name:"namespace" env:"QBACKUP_NAMESPACE" help:"Namespace of the Qdrant pods (default: the pod's own namespace, or the kubeconfig's)."`
	Selector          string   `name:"selector" env:"QBACKUP_SELECTOR" default:"${default_selector}" help:"Label selector of the Qdrant pods."`
	Kubeconfig        string   `name:"kubeconfig" env:"KUBECONFIG" help:"Kubeconfig file (default: in-cluster configuration)."`
	QdrantURLs        []string `name:"qdrant-url" env:"QBACKUP_QDRANT_URLS" sep:"," help:"REST URL of one Qdrant peer (repeatable) for --discovery=static; gRPC is assumed on port ${default_grpc_port} of the same host."`
	AllowNodeMismatch bool     `name:"allow-node-mismatch" env:"QBACKUP_ALLOW_NODE_MISMATCH" help:"Go on when Ready pods, peers in consensus and reachable peers disagree (not recommended)."`
	// TLS to the peers: https:// URLs (or --qdrant-scheme=https for pods)
	// are verified against the system roots plus QdrantCAFile, for REST
	// and gRPC alike; the client certificate is sent when the peers ask.
	QdrantScheme     string `name:"qdrant-scheme" env:"QBACKUP_QDRANT_SCHEME" enum:"http,https" default:"http" help:"Scheme of the Qdrant pods' REST port for --discovery=kubernetes: http or https (TLS for gRPC too)."`
	QdrantCAFile     string `name:"qdrant-ca-file" env:"QBACKUP_QDRANT_CA_FILE" help:"PEM file of the CA(s) that signed the Qdrant peers' certificates, trusted besides the system roots."`
	QdrantClientCert string `name:"qdrant-client-cert" env:"QBACKUP_QDRANT_CLIENT_CERT" help:"PEM client certificate for Qdrant peers that require one (with --qdrant-client-key)."`
	QdrantClientKey  string `name:"qdrant-client-key" env:"QBACKUP_QDRANT_CLIENT_KEY" help:"PEM private key of --qdrant-client-cert (a mounted Secret file)."`
}

// TLS is the TLS configuration for the Qdrant peers: nil when no TLS
// option is set (https peers are then checked against the system roots).
// Errors are bad input: an unreadable file, no certificate in the CA file,
// a certificate without its key.
func (d Discovery) TLS() (*tls.Config, error) {
	if d.QdrantCAFile == "" && d.QdrantClientCert == "" && d.QdrantClientKey == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if d.QdrantCAFile != "" {
		pem, err := os.ReadFile(d.QdrantCAFile)
		if err != nil {
			return nil, Invalidf("--qdrant-ca-file (QBACKUP_QDRANT_CA_FILE): %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, Invalidf("--qdrant-ca-file (QBACKUP_QDRANT_CA_FILE) %s holds no PEM certificate: give the CA certificate (-----BEGIN CERTIFICATE-----)", d.QdrantCAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case (d.QdrantClientCert == "") != (d.QdrantClientKey == ""):
		return nil, Invalidf("--qdrant-client-cert (QBACKUP_QDRANT_CLIENT_CERT) and --qdrant-client-key (QBACKUP_QDRANT_CLIENT_KEY) go together: set both or neither")
	case d.QdrantClientCert != "":
		cert, err := tls.LoadX509KeyPair(d.QdrantClientCert, d.QdrantClientKey)
		if err != nil {
			return nil, Invalidf("--qdrant-client-cert/--qdrant-client-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Output selects the format of a command's report on stdout.
type Output struct {
	Format string `name:"output" short:"o" env:"QBACKUP_OUTPUT" enum:"text,table,json,yaml" default:"text" help:"Output format: text, table, json or yaml."`
}

// Validate checks the storage options before anything is contacted.
func (s Source) Validate() error { return s.ValidateAs("--cluster") }

// ValidateAs is Validate for a command whose flag for the logical cluster
// name is clusterFlag (the kubectl plugin's --cluster is kubectl's).
func (s Source) ValidateAs(clusterFlag string) error {
	return All(
		ClusterNameAs(clusterFlag, s.Cluster),
		func() error {
			if _, err := storage.ParseURL(s.Storage); err != nil {
				return Invalidf("--storage (QBACKUP_STORAGE): %w", err)
			}
			return nil
		},
		zeroOr(s.S3Timeout, DurationAtLeast("s3-timeout", "QBACKUP_S3_TIMEOUT", s.S3Timeout, time.Second,
			"a healthy endpoint can pause between bytes for a while")),
		zeroOr(s.CatalogTimeout, DurationAtLeast("catalog-timeout", "QBACKUP_CATALOG_TIMEOUT", s.CatalogTimeout, time.Second,
			"a statement takes a round trip or more")),
		SSE(s.S3SSE, s.S3SSEKMSKeyID, s.Storage),
		IntAtLeast("s3-max-attempts", "QBACKUP_S3_MAX_ATTEMPTS", s.S3MaxAttempts, 0, maxS3Attempts,
			"each attempt backs off exponentially, so more only delays the failure by minutes"),
		func() error {
			if s.S3Endpoint == "" {
				return nil
			}
			u, err := url.Parse(s.S3Endpoint)
			switch {
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
				return Invalidf("--s3-endpoint (QBACKUP_S3_ENDPOINT) %q: must be an http:// or https:// URL such as http://minio:9000", redact(s.S3Endpoint))
			case u.User != nil:
				return Invalidf("--s3-endpoint (QBACKUP_S3_ENDPOINT) %q: credentials do not belong in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", u.Redacted())
			}
			return nil
		},
	)
}

// zeroOr passes a zero duration (the default) and checks any other.
func zeroOr(d time.Duration, check Check) Check {
	return func() error {
		if d == 0 {
			return nil
		}
		return check()
	}
}

// maxS3Attempts bounds --s3-max-attempts: with the SDK's exponential
// backoff (capped at 20 s a try) 20 attempts already wait minutes.
const maxS3Attempts = 20

// Validate checks the discovery options before anything is contacted:
// every static URL must parse, appear once and carry no credentials.
func (d Discovery) Validate() error {
	if d.Mode == "static" && len(d.QdrantURLs) == 0 {
		return Invalidf("--discovery=static needs at least one --qdrant-url (QBACKUP_QDRANT_URLS), e.g. --qdrant-url=http://10.0.0.1:6333")
	}
	seen := map[string]string{}
	for _, raw := range d.QdrantURLs {
		addr, err := discovery.ParseStaticURL(raw, 0)
		if err != nil {
			return Invalidf("--qdrant-url (QBACKUP_QDRANT_URLS): %w", err)
		}
		if prev, dup := seen[addr.REST]; dup {
			return Invalidf("--qdrant-url (QBACKUP_QDRANT_URLS): %q and %q name the same peer %s: give each peer once", prev, raw, addr.REST)
		}
		seen[addr.REST] = raw
	}
	if _, err := d.TLS(); err != nil {
		return err
	}
	if len(d.QdrantURLs) > 0 && d.Mode != "static" {
		return Invalidf("--qdrant-url is only used with --discovery=static (QBACKUP_DISCOVERY=static): add it, or drop --qdrant-url to find the pods by label")
	}
	return nil
}

// redact hides the user:password part of a URL-like string.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		return "xxxxx@" + raw[i+1:]
	}
	return raw
}
