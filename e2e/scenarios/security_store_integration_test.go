//go:build integration

package scenarios

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-sql-driver/mysql"
	"github.com/secure-io/sio-go"
	"golang.org/x/crypto/argon2"

	"github.com/qbackup/qbackup/e2e/stack/stacktest"
)

// privateStore is a prefix in a MinIO of the test's own (TLS, KMS, see
// stacktest.StartPrivateS3), used by qbackup with the credentials in
// accessKey/secretKey and, when sseKey is set, SSE-C. The test inspects
// it as the root user, sending the SSE-C key where reads need it.
type privateStore struct {
	p                    *stacktest.PrivateS3
	bucket, prefix       string
	accessKey, secretKey string
	sseKey               []byte // nil: no SSE-C
}

func newPrivateStore(p *stacktest.PrivateS3, prefix string, sseKey []byte) *privateStore {
	return &privateStore{p: p, bucket: p.Bucket, prefix: prefix, accessKey: p.AccessKey, secretKey: p.SecretKey, sseKey: sseKey}
}

func (s *privateStore) url() string { return "s3://" + s.bucket + "/" + s.prefix }

func (s *privateStore) flags() []string {
	return []string{"--storage=" + s.url(), "--s3-endpoint=" + s.p.Endpoint, "--s3-region=" + s.p.Region, "--s3-path-style"}
}

func (s *privateStore) env() []string {
	out := []string{"AWS_ACCESS_KEY_ID", s.accessKey, "AWS_SECRET_ACCESS_KEY", s.secretKey, "AWS_CA_BUNDLE", s.p.CAFile}
	if s.sseKey != nil {
		out = append(out, "QBACKUP_S3_SSE_C_KEY", base64.StdEncoding.EncodeToString(s.sseKey))
	}
	return out
}

func (s *privateStore) keys(t *testing.T) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(s.p.Client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
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

// customer returns the SSE-C request parameters, all nil without a key.
func (s *privateStore) customer() (alg, key, sum *string) {
	if s.sseKey == nil {
		return nil, nil, nil
	}
	m := md5.Sum(s.sseKey)
	return aws.String("AES256"), aws.String(base64.StdEncoding.EncodeToString(s.sseKey)), aws.String(base64.StdEncoding.EncodeToString(m[:]))
}

func (s *privateStore) read(t *testing.T, key string) []byte {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + "/" + key)}
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = s.customer()
	out, err := s.p.Client.GetObject(context.Background(), in)
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

// head returns what HeadObject reports about key: its encryption and its
// user metadata.
func (s *privateStore) head(t *testing.T, key string) *s3.HeadObjectOutput {
	t.Helper()
	in := &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + "/" + key)}
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = s.customer()
	out, err := s.p.Client.HeadObject(context.Background(), in)
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	return out
}

func (s *privateStore) write(t *testing.T, key string, b []byte) {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + "/" + key), Body: bytes.NewReader(b)}
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = s.customer()
	if _, err := s.p.Client.PutObject(context.Background(), in); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func (s *privateStore) remove(t *testing.T, key string) {
	t.Helper()
	if _, err := s.p.Client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + "/" + key)}); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

// minioAdmin calls MinIO's admin API (what `mc admin` uses) as the root
// user of a private MinIO, signed with SigV4 like any S3 request.
type minioAdmin struct{ p *stacktest.PrivateS3 }

func (a minioAdmin) call(t *testing.T, path string, query url.Values, body []byte) {
	t.Helper()
	u := a.p.Endpoint + "/minio/admin/v3/" + path + "?" + query.Encode()
	req, err := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: a.p.AccessKey, SecretAccessKey: a.p.SecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "s3", a.p.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := a.p.HTTP.Do(req)
	if err != nil {
		t.Fatalf("MinIO admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("MinIO admin %s: HTTP %d: %s", path, resp.StatusCode, msg)
	}
}

// userWithPolicy creates the policy name from doc and a user holding it
// and nothing else, and returns the user's keys.
func (a minioAdmin) userWithPolicy(t *testing.T, name string, doc []byte) (string, string) {
	t.Helper()
	a.call(t, "add-canned-policy", url.Values{"name": {name}}, doc)
	user, secret := "qb-"+randomHex(t, 6), randomHex(t, 20)
	body, err := json.Marshal(map[string]string{"secretKey": secret, "status": "enabled"})
	if err != nil {
		t.Fatal(err)
	}
	a.call(t, "add-user", url.Values{"accessKey": {user}}, encryptForAdmin(t, a.p.SecretKey, body))
	a.call(t, "set-user-or-group-policy", url.Values{"policyName": {name}, "userOrGroup": {user}, "isGroup": {"false"}}, nil)
	return user, secret
}

// encryptForAdmin encrypts an admin request body with the caller's secret
// key as MinIO expects for credentials (madmin's EncryptData): salt (32
// bytes) | algorithm id (0: Argon2id + AES-256-GCM) | nonce | sio stream,
// with Argon2id at time 1, 64 MiB, 4 threads.
func encryptForAdmin(t *testing.T, password string, data []byte) []byte {
	t.Helper()
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte(password), salt, 1, 64*1024, 4, 32)
	stream, err := sio.AES_256_GCM.Stream(key)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, stream.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.Write(salt)
	out.WriteByte(0x00)
	out.Write(nonce)
	w := stream.EncryptWriter(&out, nonce, nil)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// leastCatalog is a fresh catalog database and an account holding
// exactly the grants of manifests/iam/catalog-grants.sql on it, created
// with the admin DSN and dropped when the test ends. Its DSN is the
// account's; db (for inspection) is the admin's. It also returns the
// account's password.
func leastCatalog(t *testing.T) (*catalog, string) {
	t.Helper()
	adminDSN := stacktest.MySQLDSN(t)
	cfg, err := mysql.ParseDSN(adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", adminDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	doc, err := os.ReadFile("../../manifests/iam/catalog-grants.sql")
	if err != nil {
		t.Fatal(err)
	}
	user, pass := "qb_"+randomHex(t, 4), "pw-"+randomHex(t, 12)
	script := strings.NewReplacer("`qbackup`.*", "`"+cfg.DBName+"`.*", "'qbackup'@", "'"+user+"'@", "'change-me'", "'"+pass+"'").Replace(string(doc))
	var stmts []string
	for _, line := range strings.Split(script, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "--") {
			stmts = append(stmts, strings.TrimSuffix(line, ";"))
		}
	}
	if len(stmts) != 2 {
		t.Fatalf("catalog-grants.sql: %d statements, want CREATE USER and GRANT", len(stmts))
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", strings.ReplaceAll(s, pass, "***"), err)
		}
	}
	ucfg := cfg.Clone()
	ucfg.User, ucfg.Passwd = user, pass
	return &catalog{dsn: ucfg.FormatDSN(), db: db}, pass
}

// grantsOf is what SHOW GRANTS says of the account of dsn.
func grantsOf(t *testing.T, c *catalog) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := c.db.Query("SHOW GRANTS FOR '" + cfg.User + "'@'%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			t.Fatal(err)
		}
		out = append(out, g)
	}
	return fmt.Sprint(out)
}
