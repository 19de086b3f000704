//go:build integration

package scenarios

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/go-sql-driver/mysql"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// store is a backup storage location of one test, inspected directly (not
// through qbackup) to check what the binary left behind.
type store interface {
	// flags name the storage for qbackup.
	flags() []string
	// env are the variables qbackup needs for it (credentials).
	env() []string
	// keys lists every object key under the storage root, sorted.
	keys(t *testing.T) []string
	read(t *testing.T, key string) []byte
	write(t *testing.T, key string, b []byte)
	remove(t *testing.T, key string)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// s3Store is a unique prefix in the stack's MinIO bucket, emptied when the
// test ends.
type s3Store struct {
	env_   stacktest.S3Env
	prefix string
	client *s3.Client
}

func newS3Store(t *testing.T) *s3Store {
	t.Helper()
	e := stacktest.S3(t)
	client := s3.New(s3.Options{
		Region:       e.Region,
		BaseEndpoint: aws.String(e.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(e.AccessKey, e.SecretKey, ""),
	})
	st := &s3Store{env_: e, prefix: "scenarios/" + randomHex(t, 6), client: client}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, k := range st.list(t, ctx) {
			_, _ = st.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(e.Bucket), Key: aws.String(st.prefix + "/" + k)})
		}
	})
	return st
}

func (s *s3Store) url() string { return "s3://" + s.env_.Bucket + "/" + s.prefix }

func (s *s3Store) flags() []string {
	return []string{"--storage=" + s.url(), "--s3-endpoint=" + s.env_.Endpoint, "--s3-region=" + s.env_.Region, "--s3-path-style"}
}

func (s *s3Store) env() []string {
	return []string{"AWS_ACCESS_KEY_ID", s.env_.AccessKey, "AWS_SECRET_ACCESS_KEY", s.env_.SecretKey}
}

func (s *s3Store) list(t *testing.T, ctx context.Context) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.env_.Bucket), Prefix: aws.String(s.prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list %s: %v", s.url(), err)
		}
		for _, o := range page.Contents {
			out = append(out, strings.TrimPrefix(aws.ToString(o.Key), s.prefix+"/"))
		}
	}
	sort.Strings(out)
	return out
}

func (s *s3Store) keys(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.list(t, ctx)
}

// uploads lists the multipart uploads still open under the prefix: an
// aborted backup must not leave any.
func (s *s3Store) uploads(t *testing.T) []string {
	t.Helper()
	out, err := s.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(s.env_.Bucket), Prefix: aws.String(s.prefix + "/")})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

func (s *s3Store) read(t *testing.T, key string) []byte {
	t.Helper()
	out, err := s.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(s.env_.Bucket), Key: aws.String(s.prefix + "/" + key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (s *s3Store) write(t *testing.T, key string, b []byte) {
	t.Helper()
	_, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s.env_.Bucket), Key: aws.String(s.prefix + "/" + key), Body: bytes.NewReader(b)})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func (s *s3Store) remove(t *testing.T, key string) {
	t.Helper()
	_, err := s.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(s.env_.Bucket), Key: aws.String(s.prefix + "/" + key)})
	if err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

// fileStore is a temporary directory used through file://.
type fileStore struct{ dir string }

func newFileStore(t *testing.T) *fileStore { return &fileStore{dir: t.TempDir()} }

func (f *fileStore) flags() []string { return []string{"--storage=file://" + f.dir} }
func (f *fileStore) env() []string   { return nil }

func (f *fileStore) keys(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(f.dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func (f *fileStore) read(t *testing.T, key string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, key))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fileStore) write(t *testing.T, key string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, key), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fileStore) remove(t *testing.T, key string) {
	t.Helper()
	if err := os.Remove(filepath.Join(f.dir, key)); err != nil {
		t.Fatal(err)
	}
}

// objectsOf returns the keys that belong to backup sets (not the lock or
// restore journals).
func objectsOf(keys []string, suffix string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasSuffix(k, suffix) {
			out = append(out, k)
		}
	}
	return out
}

// catalog is a fresh catalog database of one test.
type catalog struct {
	dsn string
	db  *sql.DB
}

func newCatalog(t *testing.T) *catalog {
	t.Helper()
	dsn := stacktest.MySQLDSN(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return &catalog{dsn: dsn, db: db}
}

// backupRow is one row of the backups table.
type backupRow struct {
	ID, Status, Verify, Reason string
	Shards                     int
}

func (c *catalog) backups(t *testing.T, cluster string) []backupRow {
	t.Helper()
	rows, err := c.db.Query(`SELECT backup_id, status, verify_status, COALESCE(reason, ''), shards_count FROM backups WHERE cluster = ? ORDER BY backup_id`, cluster)
	if err != nil {
		t.Fatalf("query backups: %v", err)
	}
	defer rows.Close()
	var out []backupRow
	for rows.Next() {
		var r backupRow
		if err := rows.Scan(&r.ID, &r.Status, &r.Verify, &r.Reason, &r.Shards); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// countRows counts the rows of a catalog table.
func (c *catalog) countRows(t *testing.T, table string) int {
	t.Helper()
	var n int
	// table names come from the tests only
	if err := c.db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// leaseHolder returns the holder of the backup lease of cluster, "" when
// no lease row exists (a released lease is deleted).
func (c *catalog) leaseHolder(t *testing.T, cluster string) string {
	t.Helper()
	var holder string
	err := c.db.QueryRow(`SELECT holder FROM locks WHERE name = ?`, "backup/"+cluster).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return ""
	}
	if err != nil {
		t.Fatalf("query locks: %v", err)
	}
	return holder
}

// restoreStatuses lists the status of every recorded restore.
func (c *catalog) restoreStatuses(t *testing.T) []string {
	t.Helper()
	rows, err := c.db.Query(`SELECT status FROM restores ORDER BY started_at`)
	if err != nil {
		t.Fatalf("query restores: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
