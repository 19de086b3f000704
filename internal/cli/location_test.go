package cli

import (
	"strings"
	"testing"

	"github.com/qbackup/qbackup/internal/config"
)

func TestStoreLocation(t *testing.T) {
	tests := []struct {
		name string
		src  config.Source
		want string
	}{
		{name: "a file store", src: config.Source{Storage: "file:///var/lib/qbackup"}, want: "file:///var/lib/qbackup"},
		{name: "a file store with a trailing slash is the same store", src: config.Source{Storage: "file:///var/lib/qbackup/"}, want: "file:///var/lib/qbackup"},
		{name: "AWS S3", src: config.Source{Storage: "s3://backups/qdrant"}, want: "s3://backups/qdrant"},
		{name: "slashes around the prefix do not matter", src: config.Source{Storage: "s3://backups/qdrant/"}, want: "s3://backups/qdrant"},
		{name: "a bucket without a prefix", src: config.Source{Storage: "s3://backups"}, want: "s3://backups"},
		{name: "an S3-compatible endpoint is part of the location", src: config.Source{Storage: "s3://backups/qdrant", S3Endpoint: "http://MinIO-A:9000/"},
			want: "s3://backups/qdrant?endpoint=http%3A%2F%2Fminio-a%3A9000"},
		{name: "region and path style are not", src: config.Source{Storage: "s3://backups/qdrant", S3Endpoint: "http://minio-a:9000", S3Region: "eu-west-1", S3PathStyle: true},
			want: "s3://backups/qdrant?endpoint=http%3A%2F%2Fminio-a%3A9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StoreLocation(tt.src); got != tt.want {
				t.Errorf("StoreLocation(%+v) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
	// Two MinIOs with a bucket of the same name are two locations.
	a := StoreLocation(config.Source{Storage: "s3://bk1/p", S3Endpoint: "http://minio-a:9000"})
	b := StoreLocation(config.Source{Storage: "s3://bk1/p", S3Endpoint: "http://minio-b:9000"})
	if a == b {
		t.Errorf("two endpoints give one location %q", a)
	}
	if got := StoreLocation(config.Source{Storage: "s3://bk1/p", S3Endpoint: "http://user:secret@minio:9000"}); strings.Contains(got, "secret") || strings.Contains(got, "user") {
		t.Errorf("location %q carries the endpoint's credentials", got)
	}
}
