package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidationRefusesBadValuesAsInvalidInput(t *testing.T) {
	tests := []struct {
		name  string
		check Check
		want  string // "" when the value is fine
	}{
		{"an int at the floor", IntAtLeast("concurrency", "QBACKUP_CONCURRENCY", 1, 1, 256, "why"), ""},
		{"an int at the ceiling", IntAtLeast("concurrency", "QBACKUP_CONCURRENCY", 256, 1, 256, "why"), ""},
		{"an int below the floor", IntAtLeast("concurrency", "QBACKUP_CONCURRENCY", 0, 1, 256, "why"), "--concurrency 0 (QBACKUP_CONCURRENCY): must be at least 1"},
		{"an int above the ceiling", IntAtLeast("concurrency", "QBACKUP_CONCURRENCY", 257, 1, 256, "buffers"), "must be at most 256 (buffers)"},
		{"no ceiling", IntAtLeast("keep-last", "QBACKUP_KEEP_LAST", 1<<30, 0, 0, ""), ""},
		{"a zero duration where zero means none", DurationAtLeast("lease-wait", "QBACKUP_LEASE_WAIT", 0, 0, "no waiting"), ""},
		{"a negative duration", DurationAtLeast("lease-wait", "QBACKUP_LEASE_WAIT", -time.Second, 0, "no waiting"), "cannot be negative: use 0 for no waiting"},
		{"a duration below its floor", DurationAtLeast("lease-ttl", "QBACKUP_LEASE_TTL", 0, time.Second, "renewals"), "must be at least 1s (renewals)"},
		{"a cluster name", ClusterName("prod-eu_1.a"), ""},
		{"an empty cluster name", ClusterName(""), "--cluster is empty"},
		{"a cluster name with spaces", ClusterName(" prod"), "leading or trailing spaces"},
		{"a cluster name too long", ClusterName(strings.Repeat("c", 192)), "at most 191"},
		{"a cluster name with a newline", ClusterName("pr\nod"), "control character"},
		{"collection names", CollectionList("collections", "QBACKUP_COLLECTIONS", []string{"docs", "images"}), ""},
		{"no collection names", CollectionList("collections", "QBACKUP_COLLECTIONS", nil), ""},
		{"an empty collection name", CollectionList("collections", "QBACKUP_COLLECTIONS", []string{"docs", ""}), "--collections (QBACKUP_COLLECTIONS): entry 2 is empty"},
		{"a collection name with a space", CollectionList("collections", "QBACKUP_COLLECTIONS", []string{"docs", " images"}), `" images" has leading or trailing spaces`},
		{"a rebalance journal in the store", RebalanceJournal("auto"), ""},
		{"a rebalance journal in a directory", RebalanceJournal("file:///var/lib/j"), ""},
		{"a rebalance journal in the catalog", RebalanceJournal("catalog"), "keeps its journal in the backup store, not the catalog"},
		{"a rebalance journal nowhere known", RebalanceJournal("s3://x"), "is not a journal location"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("got %v, want an invalid-input error saying %q", err, tt.want)
			}
		})
	}
}

func TestSourceAndDiscoveryValidate(t *testing.T) {
	good := Source{Cluster: "prod", Storage: "s3://backups/prod", S3MaxAttempts: 5}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"good storage options", good.Validate(), ""},
		{"an invalid bucket", Source{Cluster: "prod", Storage: "s3://Backups/prod"}.Validate(), `bucket name "Backups"`},
		{"a relative file path", Source{Cluster: "prod", Storage: "file:backups"}.Validate(), "must be absolute"},
		{"an endpoint with credentials", Source{Cluster: "prod", Storage: "s3://backups/p", S3Endpoint: "http://a:secret@minio:9000"}.Validate(), "credentials do not belong"},
		{"too many S3 attempts", Source{Cluster: "prod", Storage: "s3://backups/p", S3MaxAttempts: 21}.Validate(), "at most 20"},
		{"an S3 timeout under a second", Source{Cluster: "prod", Storage: "s3://backups/p", S3Timeout: 500 * time.Millisecond}.Validate(), "--s3-timeout 500ms (QBACKUP_S3_TIMEOUT): must be at least 1s"},
		{"a negative catalog timeout", Source{Cluster: "prod", Storage: "s3://backups/p", CatalogTimeout: -time.Second}.Validate(), "--catalog-timeout -1s (QBACKUP_CATALOG_TIMEOUT): must be at least 1s"},
		{"timeouts of a few seconds", Source{Cluster: "prod", Storage: "s3://backups/p", S3Timeout: 2 * time.Second, CatalogTimeout: 3 * time.Second}.Validate(), ""},
		{"static URLs", Discovery{Mode: "static", QdrantURLs: []string{"http://a:6333", "http://b:6333?grpc=7000"}}.Validate(), ""},
		{"a duplicate static URL", Discovery{Mode: "static", QdrantURLs: []string{"http://a:6333", "http://a:6333/"}}.Validate(), "give each peer once"},
		{"the default port written out is the same peer", Discovery{Mode: "static", QdrantURLs: []string{"http://a", "http://a:6333"}}.Validate(), "name the same peer"},
		{"credentials in a static URL", Discovery{Mode: "static", QdrantURLs: []string{"http://u:secret@a:6333"}}.Validate(), "QBACKUP_QDRANT_API_KEY"},
		{"a static URL without scheme", Discovery{Mode: "static", QdrantURLs: []string{"a:6333"}}.Validate(), "want http(s)://"},
		{"a bad grpc port", Discovery{Mode: "static", QdrantURLs: []string{"http://a:6333?grpc=abc"}}.Validate(), `grpc="abc"`},
		{"static without URLs", Discovery{Mode: "static"}.Validate(), "needs at least one --qdrant-url"},
		{"URLs without static", Discovery{Mode: "kubernetes", QdrantURLs: []string{"http://a:6333"}}.Validate(), "only used with --discovery=static"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" {
				if tt.err != nil {
					t.Fatalf("refused: %v", tt.err)
				}
				return
			}
			if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) || !errors.Is(tt.err, ErrInvalidInput) {
				t.Fatalf("got %v, want an invalid-input error saying %q", tt.err, tt.want)
			}
			if strings.Contains(tt.err.Error(), "secret") {
				t.Fatalf("the error shows the secret: %v", tt.err)
			}
		})
	}
}
