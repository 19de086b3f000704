package config

// Every flag below also reads a QBACKUP_* variable, so a CronJob sets the
// whole configuration from a ConfigMap. Secrets are not here: see Secrets.

// Source names a backup store.
type Source struct {
	Cluster     string `name:"cluster" env:"QBACKUP_CLUSTER" default:"default" help:"Logical cluster name; backups are grouped under it in storage and the catalogue."`
	Storage     string `name:"storage" env:"QBACKUP_STORAGE" default:"file:///var/lib/qbackup" help:"Where backups live: s3://bucket/prefix or file:///absolute/path."`
	S3Endpoint  string `name:"s3-endpoint" env:"QBACKUP_S3_ENDPOINT" help:"S3 endpoint URL for S3-compatible stores (MinIO, Ceph...); empty for AWS."`
	S3Region    string `name:"s3-region" env:"QBACKUP_S3_REGION" default:"us-east-1" help:"S3 region."`
	S3PathStyle bool   `name:"s3-path-style" env:"QBACKUP_S3_PATH_STYLE" help:"Use path-style S3 addressing (needed by most S3-compatible stores)."`
	// S3MaxAttempts bounds the SDK's retries of one S3 request (throttling,
	// 5xx, dropped connections); 0 keeps the storage default. Lower it where
	// a failing store should fail the run quickly rather than after minutes
	// of backoff.
	S3MaxAttempts int `name:"s3-max-attempts" env:"QBACKUP_S3_MAX_ATTEMPTS" default:"0" help:"Attempts per S3 request, first try included, with exponential backoff (0: the default of 5; 1: no retries)."`
}

// Discovery says how to find the Qdrant peers.
type Discovery struct {
	Mode              string   `name:"discovery" env:"QBACKUP_DISCOVERY" enum:"kubernetes,static" default:"kubernetes" help:"How to find Qdrant peers: kubernetes (pods by label) or static (--qdrant-url)."`
	Namespace         string   `name:"namespace" env:"QBACKUP_NAMESPACE" help:"Namespace of the Qdrant pods (default: the pod's own namespace, or the kubeconfig's)."`
	Selector          string   `name:"selector" env:"QBACKUP_SELECTOR" default:"app.kubernetes.io/name=qdrant" help:"Label selector of the Qdrant pods."`
	Kubeconfig        string   `name:"kubeconfig" env:"KUBECONFIG" help:"Kubeconfig file (default: in-cluster configuration)."`
	QdrantURLs        []string `name:"qdrant-url" env:"QBACKUP_QDRANT_URLS" sep:"," help:"REST URL of one Qdrant peer (repeatable) for --discovery=static; gRPC is assumed on port 6334 of the same host."`
	AllowNodeMismatch bool     `name:"allow-node-mismatch" env:"QBACKUP_ALLOW_NODE_MISMATCH" help:"Go on when Ready pods, peers in consensus and reachable peers disagree (not recommended)."`
}

// Output selects the format of a command's report on stdout.
type Output struct {
	Format string `name:"output" short:"o" env:"QBACKUP_OUTPUT" enum:"text,table,json,yaml" default:"text" help:"Output format: text, table, json or yaml."`
}
